package interop_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestProsodyImport moves accounts from a real Prosody to xmppd: accounts
// registered with Debian's prosodyctl, exported by prosody-migrator into
// its XEP-0227 store, imported with `xmppd import`, then logged in to
// xmppd with their Prosody passwords (Prosody keeps SCRAM-SHA-1 keys only,
// so SCRAM-SHA-1 and PLAIN).
func TestProsodyImport(t *testing.T) {
	prosodyctl, err1 := exec.LookPath("prosodyctl")
	migrator, err2 := exec.LookPath("prosody-migrator")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prosody is not installed (scripts/test.sh installs it)")
		}
		t.Skip("prosody is not installed: apt-get install prosody")
	}
	pdir := t.TempDir()
	// prosodyctl and prosody-migrator may drop to the prosody user.
	os.Chmod(filepath.Dir(pdir), 0o755)
	os.Chmod(pdir, 0o777)
	data, out := filepath.Join(pdir, "data"), filepath.Join(pdir, "out")
	for _, d := range []string{data, out} {
		os.Mkdir(d, 0o777)
		os.Chmod(d, 0o777)
	}
	cfg := filepath.Join(pdir, "prosody.cfg.lua")
	os.WriteFile(cfg, []byte(fmt.Sprintf("run_as_root = true\ndata_path = %q\npidfile = %q\nlog = { error = %q }\nVirtualHost \"localhost\"\n",
		data, filepath.Join(pdir, "prosody.pid"), filepath.Join(pdir, "prosody.err"))), 0o644)
	users := map[string]string{"paula": "paula's pw", "peter": "peter-pw"}
	for u, pw := range users {
		if b, err := exec.Command(prosodyctl, "--config", cfg, "register", u, "localhost", pw).CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", u, err, b)
		}
	}
	// prosodyctl wrote the store as root; prosody-migrator reads it as
	// the prosody user.
	filepath.Walk(data, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			os.Chmod(p, fi.Mode().Perm()|0o777)
		}
		return nil
	})
	// The xep0227 store writes to Prosody's data directory, which
	// prosody-migrator fixes in its first lines: a copy points it here.
	script, err := os.ReadFile(migrator)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(pdir, "prosody-migrator")
	os.WriteFile(copyPath, []byte(strings.Replace(string(script), "CFG_DATADIR='/var/lib/prosody'", fmt.Sprintf("CFG_DATADIR=%q", out), 1)), 0o755)
	mcfg := filepath.Join(pdir, "migrator.cfg.lua")
	os.WriteFile(mcfg, []byte(fmt.Sprintf(`run_as_root = true
input { hosts = { ["localhost"] = { "accounts", "roster", "vcard", "private" } }; type = "internal"; path = %q }
output { type = "xep0227" }
`, data)), 0o644)
	if b, err := exec.Command(copyPath, "--config", mcfg, "input", "output").CombinedOutput(); err != nil {
		t.Fatalf("prosody-migrator: %v\n%s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.xml"))
	if len(files) != len(users) {
		t.Fatalf("prosody-migrator wrote %v", files)
	}

	dir := t.TempDir()
	xcfg := filepath.Join(dir, "xmppd.toml")
	os.WriteFile(xcfg, []byte(testutil.BaseConfig(dir)), 0o600)
	xmppd := filepath.Join(dir, "xmppd")
	if b, err := exec.Command("go", "build", "-o", xmppd, "github.com/xmppd/xmppd/cmd/xmppd").CombinedOutput(); err != nil {
		t.Fatalf("build xmppd: %v\n%s", err, b)
	}
	b, err := exec.Command(xmppd, append([]string{"import", "-config", xcfg}, files...)...).CombinedOutput()
	t.Logf("xmppd import:\n%s", b)
	if err != nil || !strings.Contains(string(b), "imported 2 accounts") {
		t.Fatalf("xmppd import: %v", err)
	}

	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	for u, pw := range users {
		for _, mech := range []string{"SCRAM-SHA-1", "PLAIN"} {
			c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
			c.Open("localhost")
			c.StartTLS("localhost")
			var r testutil.SASLResult
			if mech == "PLAIN" {
				r = c.AuthPLAIN(u, pw)
			} else {
				r = c.AuthSCRAM(mech, u, pw, "", nil)
			}
			if !r.OK {
				t.Errorf("%s with %s after the import: %s", u, mech, r.Condition)
			}
			c.Close()
		}
	}
}
