package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil/certtest"
)

// letsEncryptLive writes dir/live/<name>/fullchain.pem and privkey.pem
// for names, signed by a throwaway CA, and returns the leaf's DER.
func letsEncryptLive(t *testing.T, dir, name string, names ...string) []byte {
	t.Helper()
	iss := certtest.Issue(t, names, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	certtest.WriteLive(t, filepath.Join(dir, "live", name), iss.ChainPEM(), iss.KeyPEM)
	return iss.Leaf
}

// TestCertImportSIGHUP: "xmppd cert import /etc/letsencrypt" while the
// server runs, then SIGHUP: new connections get the imported certificate
// instead of the self-signed one. A host with cert_file is skipped.
func TestCertImportSIGHUP(t *testing.T) {
	dir := t.TempDir()
	otherCert, otherKey := filepath.Join(dir, "other.crt"), filepath.Join(dir, "other.key")
	writeCert(t, otherCert, otherKey)
	cfgPath := filepath.Join(dir, "xmppd.toml")
	conf := fmt.Sprintf(`data_dir = %q

[[host]]
domain = "localhost"

[[host]]
domain = "other.test"
cert_file = %q
key_file = %q

[[listen]]
type = "c2s"
address = "127.0.0.1:0"
tls = "starttls"

[s2s]
enabled = false
`, filepath.Join(dir, "data"), otherCert, otherKey)
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, cfgPath)
	logs, addr, next := p.logs, p.c2s, p.next
	c, before := dialFingerprint(t, addr)
	c.Close()

	etc := filepath.Join(dir, "letsencrypt")
	leaf := letsEncryptLive(t, etc, "localhost", "localhost", "conference.localhost")
	code, out, errs := cli(t, "", "cert", "import", "-config", cfgPath, etc)
	if code != 0 {
		t.Fatalf("cert import: exit %d: %s%s", code, out, errs)
	}
	for _, want := range []string{"localhost: imported " + filepath.Join(etc, "live", "localhost"), "other.test: skipped: cert_file is set", "systemctl reload xmppd"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, next, `msg="configuration reloaded"`)
	c, after := dialFingerprint(t, addr)
	c.Close()
	if after == before || after != sha256.Sum256(leaf) {
		t.Fatal("after the import and SIGHUP a new connection does not get the imported certificate")
	}

	p.stop(t)
}

// TestCertImportErrors: nothing to import is an error naming the host
// and the folder.
func TestCertImportErrors(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "xmppd.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("data_dir = %q\n[[host]]\ndomain = \"example.test\"\n", filepath.Join(dir, "data"))), 0o600)
	letsEncryptLive(t, dir, "other.test", "other.test")
	code, _, errs := cli(t, "", "cert", "import", "-config", cfgPath, filepath.Join(dir, "live"))
	if code != 1 || !strings.Contains(errs, "example.test: no valid certificate for example.test in "+filepath.Join(dir, "live")) {
		t.Errorf("exit %d: %s", code, errs)
	}
	if code, _, _ := cli(t, "", "cert", "import", "-config", cfgPath); code != 2 {
		t.Errorf("without DIR: exit %d, want 2 (usage)", code)
	}
}

// TestCheckImportedAndACME: xmppd check treats a certificate that cert
// import put in the data folder as the CA's it is (chain checked, no
// "self-signed" warning), and a host under [acme] as managed.
func TestCheckImportedAndACME(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "xmppd.toml")
	certFile, keyFile, caFile := writeCACert(t, t.TempDir(), []string{"localhost", "*.localhost"}, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
	live := filepath.Join(dir, "live", "localhost")
	os.MkdirAll(live, 0o700)
	for from, to := range map[string]string{certFile: "fullchain.pem", keyFile: "privkey.pem"} {
		b, _ := os.ReadFile(from)
		os.WriteFile(filepath.Join(live, to), b, 0o600)
	}
	conf := fmt.Sprintf("data_dir = %q\n[[host]]\ndomain = \"localhost\"\n[[listen]]\naddress = %q\n[s2s]\nca_file = %q\n", data, freePort(t), caFile)
	os.WriteFile(cfgPath, []byte(conf), 0o600)
	if code, out, errs := cli(t, "", "cert", "import", "-config", cfgPath, filepath.Join(dir, "live")); code != 0 {
		t.Fatalf("cert import: %s%s", out, errs)
	}
	if _, out, _ := cli(t, "", "cert", "import", "-config", cfgPath, filepath.Join(dir, "live")); strings.Contains(out, "[acme]") {
		t.Errorf("a note about [acme] without it:\n%s", out)
	}
	_, out, _ := cli(t, "", "check", "-config", cfgPath, "-dns", freePort(t))
	if !strings.Contains(out, "ok    cert      localhost: the chain verifies (issuer Test CA)") || strings.Contains(out, "self-signed") {
		t.Errorf("imported certificate:\n%s", out)
	}

	os.WriteFile(cfgPath, []byte(strings.Replace(conf, "[[listen]]", "[[listen]]\ntls = \"direct\"", 1)+"[acme]\nemail = \"admin@example.test\"\ndirectory = \"https://ca.example.test/acme/directory\"\n"), 0o600)
	if _, out, _ := cli(t, "", "cert", "import", "-config", cfgPath, filepath.Join(dir, "live")); !strings.Contains(out, "[acme] is on: these hosts use the imported certificates only until ACME's arrive") {
		t.Errorf("no note about [acme]:\n%s", out)
	}
	_, out, _ = cli(t, "", "check", "-config", cfgPath, "-dns", freePort(t))
	if !strings.Contains(out, "ok    cert      localhost: managed by [acme] (https://ca.example.test/acme/directory): the server obtains it for localhost, conference.localhost, pubsub.localhost") {
		t.Errorf("host under [acme]:\n%s", out)
	}
}
