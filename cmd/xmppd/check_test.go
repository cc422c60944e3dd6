package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/internal/testutil/certtest"
)

// fakeDNS answers over UDP on loopback from fixed tables: SRV records by
// "_service._proto.domain", A records by name, NS for the root zone (the
// check's "is there DNS at all" probe). Anything else is NXDOMAIN.
type fakeDNS struct {
	srv map[string][]dnsmessage.SRVResource
	a   map[string][4]byte
}

func startFakeDNS(t *testing.T, d fakeDNS) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if err := q.Unpack(buf[:n]); err != nil || len(q.Questions) != 1 {
				continue
			}
			qq := q.Questions[0]
			name := strings.ToLower(strings.TrimSuffix(qq.Name.String(), "."))
			hdr := dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: 60}
			r := dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError}, Questions: q.Questions}
			switch {
			case qq.Type == dnsmessage.TypeNS && name == "":
				r.RCode = dnsmessage.RCodeSuccess
				r.Answers = append(r.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.NSResource{NS: dnsmessage.MustNewName("a.root-servers.net.")}})
			case qq.Type == dnsmessage.TypeSRV && d.srv[name] != nil:
				r.RCode = dnsmessage.RCodeSuccess
				for _, s := range d.srv[name] {
					r.Answers = append(r.Answers, dnsmessage.Resource{Header: hdr, Body: &s})
				}
			case d.a[name] != [4]byte{}:
				r.RCode = dnsmessage.RCodeSuccess // AAAA: the name exists, no record
				if qq.Type == dnsmessage.TypeA {
					r.Answers = append(r.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: d.a[name]}})
				}
			}
			out, err := r.Pack()
			if err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// checkConfig writes a configuration with the c2s listeners on fixed
// ports (the check reads addresses from the file) plus extra.
func checkConfig(t *testing.T, extra string) (dir, cfgText, cfgPath, starttls, direct string) {
	dir = t.TempDir()
	os.Chmod(dir, 0o700)
	starttls, direct = freePort(t), freePort(t)
	cfgText = strings.Replace(strings.Replace(testutil.BaseConfig(dir),
		`address = "127.0.0.1:0"
tls = "starttls"`, `address = "`+starttls+`"
tls = "starttls"`, 1), `address = "127.0.0.1:0"
tls = "direct"`, `address = "`+direct+`"
tls = "direct"`, 1) + extra
	cfgPath = filepath.Join(t.TempDir(), "xmppd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfgText, cfgPath, starttls, direct
}

func srvRecords(hosts []string, starttls, direct string) fakeDNS {
	port := func(a string) uint16 {
		_, p, _ := net.SplitHostPort(a)
		var n uint16
		for _, c := range p {
			n = n*10 + uint16(c-'0')
		}
		return n
	}
	d := fakeDNS{srv: map[string][]dnsmessage.SRVResource{}, a: map[string][4]byte{"xmpp.example.test": {127, 0, 0, 1}}}
	for _, h := range hosts {
		target := dnsmessage.MustNewName("xmpp.example.test.")
		d.srv["_xmpp-client._tcp."+h] = []dnsmessage.SRVResource{{Priority: 5, Port: port(starttls), Target: target}}
		d.srv["_xmpps-client._tcp."+h] = []dnsmessage.SRVResource{{Priority: 5, Port: port(direct), Target: target}}
	}
	return d
}

// Against a running server with its DNS in order, check passes, names
// each listener in a self-test that passed, and leaves no account behind.
func TestCheckPassesAgainstARunningServer(t *testing.T) {
	dir, cfgText, cfgPath, starttls, direct := checkConfig(t, "")
	srv := testutil.StartIn(t, dir, cfgText)
	dns := startFakeDNS(t, srvRecords([]string{"localhost", "example.test"}, starttls, direct))
	code, out, errs := cli(t, "", "check", "-config", cfgPath, "-dns", dns)
	if code != 0 || !strings.Contains(out, " 0 FAIL, ") || strings.Contains(out, "FAIL ") {
		t.Fatalf("check: code %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"ok    self-test c2s starttls " + starttls + ": xmppd-check-",
		"ok    self-test c2s direct " + direct + ": xmppd-check-",
		"ok    dns       _xmpp-client._tcp.localhost -> xmpp.example.test:",
		"ok    dns       _xmpps-client._tcp.example.test -> xmpp.example.test:",
		"skip  dns       _xmpp-server._tcp.localhost: no listener",
		"ok    port      c2s direct " + direct,
		"ok    data      ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in\n%s", want, out)
		}
	}
	names, err := srv.Accounts().ListAccounts(t.Context(), "localhost")
	if err != nil || len(names) != 0 {
		t.Fatalf("accounts left behind: %v %v", names, err)
	}

	// -config after the command or before it.
	if code, out2, _ := cli(t, "", "-config", cfgPath, "-dns", dns, "check"); code != 0 || !strings.Contains(out2, "self-test c2s direct") {
		t.Fatalf("xmppd -config F check: %d\n%s", code, out2)
	}
}

// Without the SRV records, each one missing is a FAIL saying which
// record to add; without DNS at all, the DNS lines are skipped.
func TestCheckDNS(t *testing.T) {
	dir, cfgText, cfgPath, starttls, _ := checkConfig(t, "")
	testutil.StartIn(t, dir, cfgText)
	d := srvRecords([]string{"localhost"}, starttls, freePort(t)) // example.test has none; a wrong direct port
	d.srv["_xmpp-client._tcp.localhost"] = append(d.srv["_xmpp-client._tcp.localhost"], dnsmessage.SRVResource{Priority: 10, Port: d.srv["_xmpp-client._tcp.localhost"][0].Port, Target: dnsmessage.MustNewName("far.example.test.")})
	d.a["far.example.test"] = [4]byte{192, 0, 2, 1}
	code, out, _ := cli(t, "", "check", "-config", cfgPath, "-dns", startFakeDNS(t, d))
	if code != 1 {
		t.Fatalf("check: code %d\n%s", code, out)
	}
	for _, want := range []string{
		"ok    dns       _xmpp-client._tcp.localhost -> xmpp.example.test:",
		"FAIL  dns       _xmpps-client._tcp.localhost -> xmpp.example.test:",
		"FAIL  dns       _xmpp-client._tcp.example.test: no SRV record; fix: add the record _xmpp-client._tcp.example.test. 3600 IN SRV 5 0 " + strings.TrimPrefix(starttls, "127.0.0.1:"),
		"FAIL  dns       _xmpps-client._tcp.example.test: no SRV record; fix: add the record",
		"warn  dns       _xmpp-client._tcp.localhost -> far.example.test:" + strings.TrimPrefix(starttls, "127.0.0.1:") + " (192.0.2.1): not an address of this machine",
		"ok    self-test c2s starttls",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in\n%s", want, out)
		}
	}

	// A DNS server that does not answer: skipped, not failed.
	dead := freePort(t)
	code, out, _ = cli(t, "", "check", "-config", cfgPath, "-dns", dead)
	if code != 0 || !strings.Contains(out, "skip  dns       DNS checks skipped: no working DNS here") || strings.Contains(out, "FAIL ") {
		t.Fatalf("check without DNS: code %d\n%s", code, out)
	}
}

// writeCACert writes a certificate for names signed by a CA it also
// writes, valid from notBefore to notAfter; it returns the files.
func writeCACert(t *testing.T, dir string, names []string, notBefore, notAfter time.Time) (certFile, keyFile, caFile string) {
	t.Helper()
	iss := certtest.Issue(t, names, notBefore, notAfter)
	certFile, keyFile, caFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	for name, data := range map[string][]byte{certFile: iss.CertPEM, keyFile: iss.KeyPEM, caFile: iss.CAPEM} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile, caFile
}

func certConfig(t *testing.T, names []string, notBefore, notAfter time.Time) string {
	dir := t.TempDir()
	certFile, keyFile, caFile := writeCACert(t, t.TempDir(), names, notBefore, notAfter)
	cfg := filepath.Join(t.TempDir(), "xmppd.toml")
	os.WriteFile(cfg, []byte(`data_dir = "`+dir+`"
[[host]]
domain = "localhost"
cert_file = "`+certFile+`"
key_file = "`+keyFile+`"
[[listen]]
address = "`+freePort(t)+`"
[s2s]
ca_file = "`+caFile+`"
`), 0o600)
	return cfg
}

func TestCheckCertificates(t *testing.T) {
	now := time.Now()
	dead := freePort(t) // no DNS: those lines are skipped
	for _, c := range []struct {
		name                string
		names               []string
		notBefore, notAfter time.Time
		want                []string
	}{
		{"conference not covered", []string{"localhost", "upload.localhost", "pubsub.localhost"}, now.Add(-time.Hour), now.Add(90 * 24 * time.Hour), []string{
			"ok    cert      localhost: ",
			"warn  cert      localhost: the certificate does not cover conference.localhost: ",
			"ok    cert      localhost: the chain verifies (issuer Test CA)",
		}},
		{"all covered", []string{"localhost", "*.localhost"}, now.Add(-time.Hour), now.Add(90 * 24 * time.Hour), []string{
			"ok    cert      localhost: covers the host and its services conference.localhost, pubsub.localhost, upload.localhost",
		}},
		{"expired", []string{"localhost", "*.localhost"}, now.Add(-90 * 24 * time.Hour), now.Add(-time.Hour), []string{
			"FAIL  cert      localhost: ",
			" expired on " + now.Add(-time.Hour).UTC().Format(time.DateOnly) + "; fix: renew the certificate",
		}},
		{"wrong name", []string{"example.test"}, now.Add(-time.Hour), now.Add(90 * 24 * time.Hour), []string{
			"FAIL  cert      localhost: the certificate does not cover localhost (it covers example.test); fix: get a certificate that includes localhost",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, _ := cli(t, "", "check", "-config", certConfig(t, c.names, c.notBefore, c.notAfter), "-dns", dead)
			if code != 1 { // always: nothing listens on the port
				t.Fatalf("code %d\n%s", code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in\n%s", w, out)
				}
			}
		})
	}
}

// An expired certificate alone makes the exit status 1, with a running
// server and everything else in order.
func TestCheckExpiredCertificateFails(t *testing.T) {
	now := time.Now()
	certFile, keyFile, caFile := writeCACert(t, t.TempDir(), []string{"localhost", "*.localhost"}, now.Add(-90*24*time.Hour), now.Add(-time.Hour))
	dir, cfgText, cfgPath, _, _ := checkConfig(t, "")
	testutil.StartIn(t, dir, cfgText) // with its self-signed certificates
	bad := strings.Replace(cfgText, `domain = "localhost"`, `domain = "localhost"
cert_file = "`+certFile+`"
key_file = "`+keyFile+`"`, 1) + "[s2s]\nca_file = \"" + caFile + "\"\n"
	os.WriteFile(cfgPath, []byte(bad), 0o600)
	code, out, _ := cli(t, "", "check", "-config", cfgPath, "-dns", freePort(t))
	if code != 1 || strings.Count(out, "FAIL ") != 1 || !strings.HasSuffix(out, ", 1 FAIL, 1 skip\n") || !strings.Contains(out, "FAIL  cert      localhost: "+certFile+" expired on") {
		t.Fatalf("code %d\n%s", code, out)
	}
}

func TestCheckConfigErrorsAllAtOnce(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(cfgPath, []byte("data_dir = \"x\"\n\n[limits]\nmax_stanza_bytes = \"big\"\nbogus = 1\n"), 0o600)
	code, out, _ := cli(t, "", "check", "-config", cfgPath)
	if code != 1 {
		t.Fatalf("code %d\n%s", code, out)
	}
	for _, want := range []string{"FAIL  config    " + cfgPath + ":4", "limits.max_stanza_bytes", "FAIL  config    " + cfgPath + ":5", "bogus", "; fix: correct the file", "skip  other"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

// When a login fails, the temporary account is deleted all the same.
func TestCheckSelfTestCleansUpOnFailure(t *testing.T) {
	dir, cfgText, cfgPath, starttls, _ := checkConfig(t, "")
	srv := testutil.StartIn(t, dir, cfgText)
	srv.Stop(t) // the database exists now
	// Something that accepts connections and says nothing XMPP.
	testutil.Peer(t, starttls, func(c net.Conn) {
		c.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
		c.Close()
	})
	code, out, _ := cli(t, "", "check", "-config", cfgPath, "-dns", freePort(t))
	if code != 1 || !strings.Contains(out, "FAIL  self-test c2s starttls "+starttls+": xmppd-check-") || !strings.Contains(out, "could not log in") {
		t.Fatalf("code %d\n%s", code, out)
	}
	if code, out, _ := cli(t, "", "user", "list", "-config", cfgPath); code != 0 || out != "" {
		t.Fatalf("accounts after the check: %d %q", code, out)
	}
}

// With federation, the services' names need an _xmpp-server SRV record
// or an address of their own.
func TestCheckServiceDNS(t *testing.T) {
	_, _, cfgPath, starttls, direct := checkConfig(t, "[[listen]]\ntype = \"s2s\"\naddress = \"127.0.0.1:5269\"\n")
	d := srvRecords([]string{"example.test"}, starttls, direct)
	d.srv["_xmpp-server._tcp.example.test"] = []dnsmessage.SRVResource{{Priority: 5, Port: 5269, Target: dnsmessage.MustNewName("xmpp.example.test.")}}
	d.srv["_xmpp-server._tcp.conference.example.test"] = d.srv["_xmpp-server._tcp.example.test"]
	d.a["upload.example.test"] = [4]byte{127, 0, 0, 1}
	_, out, _ := cli(t, "", "check", "-config", cfgPath, "-dns", startFakeDNS(t, d))
	for _, want := range []string{
		"ok    dns       _xmpp-server._tcp.example.test -> xmpp.example.test:5269 (127.0.0.1, this machine)",
		"ok    dns       _xmpp-server._tcp.conference.example.test: xmpp.example.test:5269",
		"ok    dns       upload.example.test: no _xmpp-server SRV record, other servers use its address 127.0.0.1",
		"warn  dns       pubsub.example.test: neither an _xmpp-server._tcp SRV record nor an address",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}
