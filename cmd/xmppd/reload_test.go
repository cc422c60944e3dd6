package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// writeCert writes a new self-signed certificate for localhost and its key
// as the files an ACME client renews: written aside, then renamed over.
func writeCert(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(name+".new", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(name+".new", name); err != nil {
			t.Fatal(err)
		}
	}
}

// fingerprint opens a client stream with STARTTLS and returns it with
// the SHA-256 of the certificate the server presented.
func dialFingerprint(t *testing.T, addr string) (*testutil.Client, [32]byte) {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, addr))
	c.Open("localhost")
	c.StartTLS("localhost")
	return c, sha256.Sum256(c.TLS.PeerCertificates[0].Raw)
}

// TestSIGHUPReload runs xmppd as a process, replaces its certificate
// files and sends SIGHUP: a new connection gets the new certificate, a
// session from before still answers, the changed log level applies, a
// setting that needs a restart is named in the log, and SIGTERM still
// stops the server without an error line.
func TestSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "localhost.crt"), filepath.Join(dir, "localhost.key")
	writeCert(t, certFile, keyFile)
	conf := func(level, format string) string {
		return fmt.Sprintf(`data_dir = %q
log_level = %q
log_format = %q

[[host]]
domain = "localhost"
cert_file = %q
key_file = %q

[[listen]]
type = "c2s"
address = "127.0.0.1:0"
tls = "starttls"

[s2s]
enabled = false
`, filepath.Join(dir, "data"), level, format, certFile, keyFile)
	}
	cfgPath := filepath.Join(dir, "xmppd.toml")
	if err := os.WriteFile(cfgPath, []byte(conf("info", "text")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "alice pass\n", "user", "add", "-config", cfgPath, "alice@localhost"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}

	p := startServe(t, cfgPath)
	logs, addr, next := p.logs, p.c2s, p.next

	// A session from before the reload.
	old, before := dialFingerprint(t, addr)
	if r := old.AuthSCRAM("SCRAM-SHA-256", "alice", "alice pass", "", nil); !r.OK {
		t.Fatalf("login: %s", r.Condition)
	}
	old.Restart("localhost")
	old.Bind("before")

	writeCert(t, certFile, keyFile)
	if err := os.WriteFile(cfgPath, []byte(conf("debug", "json")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	_, next = logs.wait(t, next, `msg="configuration reloaded"`)
	if l, _ := logs.wait(t, 0, `setting=log_format`); !strings.Contains(l, "restart") {
		t.Errorf("log_format change: %s", l)
	}

	c, after := dialFingerprint(t, addr)
	if after == before {
		t.Fatal("a new connection still gets the old certificate")
	}
	old.Send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if el := old.NextNamed("iq"); el.Attr("type") != "result" || el.Attr("id") != "p1" {
		t.Fatalf("ping on the session from before the reload: %s", el)
	}
	// log_level = "debug" is in force: enabling push logs at debug.
	old.Send("<iq type='set' id='e1'><enable xmlns='urn:xmpp:push:0' jid='push.example' node='n1'/></iq>")
	if el := old.NextNamed("iq"); el.Attr("type") != "result" || el.Attr("id") != "e1" {
		t.Fatalf("push enable: %s", el)
	}
	logs.wait(t, next, `level=DEBUG msg="push enabled"`)
	c.Close()

	// alice's session is still open at SIGTERM, as in a normal shutdown.

	if err := p.stop(t); err != nil {
		t.Fatalf("xmppd exited: %v\n%s", err, logs.all())
	}
	logs.wait(t, next, `msg="xmppd stopped"`)
	if out := logs.all(); strings.Contains(out, "level=ERROR") {
		t.Errorf("errors logged:\n%s", out)
	}
}
