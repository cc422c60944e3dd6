package interop_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// xmppjsDir returns the folder with xmpp.js's node modules, or skips
// (fails under CI: scripts/test.sh installs them).
func xmppjsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "xmppjs"))
	if err != nil {
		t.Fatal(err)
	}
	_, errNode := exec.LookPath("node")
	_, errMods := os.Stat(filepath.Join(dir, "node_modules", "@xmpp", "client", "index.js"))
	if errNode != nil || errMods != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("xmpp.js missing (scripts/test.sh runs npm ci in %s): node %v, modules %v", dir, errNode, errMods)
		}
		t.Skipf("xmpp.js missing: node %v, modules %v (npm ci in %s)", errNode, errMods, dir)
	}
	return dir
}

// XEP-0484 with a client that implements it: xmpp.js asks for a token in
// its SASL2 password login, logs in with HT-SHA-256-NONE next time (its
// password wrong, so nothing else could succeed), and uses the token the
// server rotated.
func TestXmppjsFAST(t *testing.T) {
	dir := xmppjsDir(t)
	s := testutil.Start(t, "")
	s.AddUser(t, "jess", "jess-password")
	host, port, _ := strings.Cut(s.StartTLS, ":")
	t.Setenv("NODE_TLS_REJECT_UNAUTHORIZED", "0") // the test server's self-signed certificate
	out := runScript(t, "node", filepath.Join(dir, "fast.mjs"), host, port, "jess", "jess-password")
	expectLines(t, out,
		"ok password jess@localhost/",
		"ok token jess@localhost/",
		"ok rotated jess@localhost/",
		"token=HT-SHA-256-NONE tokens=1",
		"token=HT-SHA-256-NONE tokens=2",
		"token=HT-SHA-256-NONE tokens=3",
	)
}
