package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// cli runs the command as the binary would, with stdin as given.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	cfgText := testutil.BaseConfig(dir)
	cfgPath := filepath.Join(dir, "xmppd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		stdin    string
		args     []string
		code     int
		out, err string
	}{
		{"first pass\n", []string{"user", "add", "-config", cfgPath, "alice@localhost"}, 0, "created: alice@localhost\n", ""},
		{"x\n", []string{"user", "add", "-config", cfgPath, "Alice@LOCALHOST"}, 1, "", "already exists"},
		{"pw\n", []string{"user", "add", "-config", cfgPath, "bob@example.test"}, 0, "created: bob@example.test\n", ""},
		{"pw\n", []string{"user", "add", "-config", cfgPath, "carol@elsewhere.example"}, 1, "", "not one of the configured hosts"},
		{"pw\n", []string{"user", "add", "-config", cfgPath, "not a jid@localhost"}, 1, "", "not a bare JID"},
		{"pw\n", []string{"user", "add", "-config", cfgPath, "dave@localhost/res"}, 1, "", "not a bare JID"},
		{"", []string{"user", "add", "-config", cfgPath, "erin@localhost"}, 1, "", "password"},
		{"", []string{"user", "list", "-config", cfgPath, "localhost"}, 0, "alice@localhost\n", ""},
		{"", []string{"user", "list", "-config", cfgPath}, 0, "alice@localhost\nbob@example.test\n", ""},
		{"second pass\n", []string{"user", "passwd", "-config", cfgPath, "alice@localhost"}, 0, "password changed: alice@localhost\n", ""},
		{"pw\n", []string{"user", "passwd", "-config", cfgPath, "nobody@localhost"}, 1, "", "no account"},
		{"", []string{"user", "del", "-config", cfgPath, "bob@example.test"}, 0, "deleted: bob@example.test\n", ""},
		{"", []string{"user", "del", "-config", cfgPath, "bob@example.test"}, 1, "", "no account"},
		{"", []string{"-config", cfgPath, "user", "list"}, 1, "", "unexpected argument"},
		{"", []string{"frobnicate"}, 2, "", "usage"},
	}
	for _, s := range steps {
		code, out, errs := cli(t, s.stdin, s.args...)
		if code != s.code || out != s.out || (s.err != "" && !strings.Contains(errs, s.err)) {
			t.Fatalf("xmppd %s: code %d, stdout %q, stderr %q; want %d, %q, stderr containing %q",
				strings.Join(s.args, " "), code, out, errs, s.code, s.out, s.err)
		}
	}

	// The server started on the same data sees the changed password.
	srv := testutil.StartIn(t, dir, cfgText)
	c := testutil.NewClient(t, testutil.Dial(t, srv.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", "alice", "first pass", "", nil); r.OK {
		t.Fatal("old password still accepted")
	}
	c = testutil.NewClient(t, testutil.Dial(t, srv.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", "alice", "second pass", "", nil); !r.OK {
		t.Fatalf("new password refused: %s", r.Condition)
	}
}

func TestConfigErrorNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "bad.toml")
	os.WriteFile(cfgPath, []byte("data_dir = \"x\"\n\n[limits]\nmax_stanza_bytes = \"big\"\nbogus = 1\n"), 0o600)
	code, _, errs := cli(t, "", "serve", "-config", cfgPath)
	if code != 1 {
		t.Fatalf("code %d", code)
	}
	for _, want := range []string{"bad.toml:4", "limits.max_stanza_bytes", "bad.toml:5", "bogus"} {
		if !strings.Contains(errs, want) {
			t.Fatalf("error output lacks %q:\n%s", want, errs)
		}
	}
}

func TestVersion(t *testing.T) {
	if code, out, _ := cli(t, "", "version"); code != 0 || !strings.HasPrefix(out, "xmppd ") {
		t.Fatalf("version: %d %q", code, out)
	}
}
