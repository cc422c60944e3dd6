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
		{"password\n", []string{"user", "add", "-config", cfgPath, "Alice@LOCALHOST"}, 1, "", "already exists"},
		{"short\n", []string{"user", "add", "-config", cfgPath, "bob@example.test"}, 1, "", "at least 8 characters"},
		{"password\n", []string{"user", "add", "bob@example.test", "-config", cfgPath}, 0, "created: bob@example.test\n", ""},
		{"password\n", []string{"user", "add", "-config", cfgPath, "carol@elsewhere.example"}, 1, "", "not one of the configured hosts"},
		{"password\n", []string{"user", "add", "-config", cfgPath, "not a jid@localhost"}, 1, "", "not a bare JID"},
		{"password\n", []string{"user", "add", "-config", cfgPath, "dave@localhost/res"}, 1, "", "not a bare JID"},
		{"", []string{"user", "add", "-config", cfgPath, "erin@localhost"}, 1, "", "password"},
		{"", []string{"user", "list", "-config", cfgPath, "localhost"}, 0, "alice@localhost\n", ""},
		{"", []string{"user", "list", "-config", cfgPath}, 0, "alice@localhost\nbob@example.test\n", ""},
		{"second pass\n", []string{"user", "passwd", "-config", cfgPath, "alice@localhost"}, 0, "password changed: alice@localhost\n", ""},
		{"password\n", []string{"user", "passwd", "-config", cfgPath, "nobody@localhost"}, 1, "", "no account"},
		{"", []string{"user", "del", "-config", cfgPath, "bob@example.test"}, 0, "deleted: bob@example.test\n", ""},
		{"", []string{"user", "del", "-config", cfgPath, "bob@example.test"}, 1, "", "no account"},
		{"", []string{"-config", cfgPath, "user", "list"}, 0, "alice@localhost\n", ""},
		{"short\n", []string{"-config=" + cfgPath, "user", "passwd", "alice@localhost"}, 1, "", "at least 8 characters"},
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

func TestHelpAndUnknownCommands(t *testing.T) {
	for _, c := range []struct {
		args      []string
		code      int
		out, errs string
	}{
		{[]string{"--help"}, 0, "Commands", ""},
		{[]string{"-h"}, 0, "Commands", ""},
		{[]string{"help"}, 0, "Commands", ""},
		{[]string{"help", "backup"}, 0, "xmppd backup", ""},
		{[]string{"--version"}, 0, "xmppd 0", ""},
		{[]string{"-version"}, 0, "xmppd 0", ""},
		{[]string{"version"}, 0, "xmppd 0", ""},
		{[]string{"serve", "--help"}, 0, "-pprof", ""},
		{[]string{"user", "--help"}, 0, "xmppd user passwd", ""},
		{[]string{"user", "add", "--help"}, 0, "xmppd user add", ""},
		{[]string{"--help", "user", "add"}, 0, "xmppd user add", ""},
		{[]string{"import", "-help"}, 0, "XEP-0227", ""},
		{[]string{"export", "-h"}, 0, "xmppd export", ""},
		{[]string{"backup", "--help"}, 0, "VACUUM INTO", ""},
		{[]string{"restore", "--help"}, 0, "xmppd restore", ""},
		{[]string{"status", "--help"}, 0, "-admin", ""},
		{[]string{"check", "--help"}, 0, "-dns ADDR", ""},
		{[]string{"help", "check"}, 0, "self-test", ""},
		{[]string{"check", "extra"}, 1, "", `unexpected argument "extra"`},
		{[]string{"session", "kick", "--help"}, 0, "FULL-JID", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"; the commands are: backup, cert, check, export, fast, help, import, invite, restore, serve, session, status, user, version`},
		{[]string{"-config", "x.toml", "frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"user", "frob", "a@localhost"}, 2, "", `unknown command "user frob"; the user commands are: add, passwd, del, list`},
		{[]string{"session", "frob"}, 2, "", `unknown command "session frob"; the session commands are: list, kick`},
		{[]string{"user"}, 2, "", "which one? add, passwd, del, list"},
		{[]string{"user", "list", "-bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"serve", "extra"}, 1, "", `unexpected argument "extra"`},
	} {
		code, out, errs := cli(t, "", c.args...)
		if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errs, c.errs) {
			t.Errorf("xmppd %s: code %d, stdout %q, stderr %q; want %d, stdout with %q, stderr with %q",
				strings.Join(c.args, " "), code, out, errs, c.code, c.out, c.errs)
		}
	}
}

// Run away from the server's folder without -config, the data commands
// say which folder they looked in and stop, creating nothing.
func TestNoDatabaseMadeSilently(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{
		{"user", "add", "alice@localhost"},
		{"user", "list"},
		{"user", "del", "alice@localhost"},
		{"import", "x.xml"},
		{"export"},
		{"backup", "-o", "b.tar.gz"},
	} {
		code, out, errs := cli(t, "password\n", args...)
		if code != 1 || out != "" || !strings.Contains(errs, "no database at "+filepath.Join(dir, "data", "xmppd.db")) || !strings.Contains(errs, "-config") {
			t.Errorf("xmppd %s: code %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errs)
		}
		if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
			t.Fatalf("xmppd %s made the data folder (%v)", strings.Join(args, " "), err)
		}
	}

	// With -config, listing a database that does not exist is an error
	// too; creating an account makes it and says so.
	cfgPath := filepath.Join(dir, "xmppd.toml")
	os.WriteFile(cfgPath, []byte(testutil.BaseConfig(filepath.Join(dir, "srv"))), 0o600)
	if code, _, errs := cli(t, "", "user", "list", "-config", cfgPath); code != 1 || !strings.Contains(errs, "no database at") {
		t.Fatalf("user list on no database: %d %q", code, errs)
	}
	code, out, errs := cli(t, "password\n", "user", "add", "-config", cfgPath, "alice@localhost")
	if code != 0 || out != "created: alice@localhost\n" || !strings.Contains(errs, "creating "+filepath.Join(dir, "srv", "xmppd.db")) {
		t.Fatalf("user add: %d %q %q", code, out, errs)
	}
}

// The configurations shipped in the .deb and the container image load.
func TestPackagedConfigurations(t *testing.T) {
	for _, f := range []string{"../../contrib/deb/xmppd.toml", "../../contrib/docker/xmppd.toml"} {
		cfg, err := loadConfig(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if cfg.DataDir != "/var/lib/xmppd" {
			t.Errorf("%s: data_dir %q, the unit and the image's volume are /var/lib/xmppd", f, cfg.DataDir)
		}
	}
}
