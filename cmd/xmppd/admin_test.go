package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// The operator commands against a running server, found through the admin
// listener of the same configuration file.
func TestStatusAndSessionCommands(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir)+"\n[[listen]]\ntype = \"admin\"\naddress = \"127.0.0.1:0\"\n")
	s.AddUser(t, "alice", "pw")
	alice := testutil.Login(t, s, "alice", "pw", "laptop")

	// The file the CLI reads names the port the server actually bound.
	cfgPath := filepath.Join(dir, "xmppd.toml")
	cfgText := testutil.BaseConfig(dir) + fmt.Sprintf("\n[[listen]]\ntype = \"admin\"\naddress = %q\n", s.Admin)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		out  []string
		err  string
	}{
		{"status", []string{"status", "-config", cfgPath}, 0,
			[]string{"version", "hosts        localhost, example.test", "sessions     1", "admin " + s.Admin, "c2s " + s.StartTLS + " (starttls)"}, ""},
		{"session list", []string{"session", "list", "-config", cfgPath}, 0,
			[]string{"alice@localhost/laptop", "127.0.0.1", "TLS 1.3"}, ""},
		{"kick a bare JID", []string{"session", "kick", "-config", cfgPath, "alice@localhost"}, 1, nil, "not a full JID"},
		{"kick nobody", []string{"session", "kick", "-admin", s.Admin, "alice@localhost/phone"}, 1, nil, "no session alice@localhost/phone"},
		{"kick", []string{"session", "kick", "-config", cfgPath, "alice@localhost/laptop"}, 0, []string{"kicked: alice@localhost/laptop"}, ""},
	} {
		code, out, errs := cli(t, "", c.args...)
		if code != c.code || !strings.Contains(errs, c.err) {
			t.Errorf("%s: code %d, stderr %q; want %d, %q", c.name, code, errs, c.code, c.err)
		}
		for _, w := range c.out {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
	}
	if cond := alice.ExpectStreamError(); cond != "policy-violation" {
		t.Errorf("kicked client got %s", cond)
	}
}

func TestStatusWithoutServer(t *testing.T) {
	// A port nothing listens on: bound, then closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	noAdmin := filepath.Join(dir, "noadmin.toml")
	os.WriteFile(noAdmin, []byte(testutil.BaseConfig(dir)), 0o600)
	for _, c := range []struct {
		name string
		args []string
		err  string
	}{
		{"not running", []string{"status", "-admin", addr}, "is the server running?"},
		{"session list not running", []string{"session", "list", "-admin", addr}, "is the server running?"},
		{"no admin listener", []string{"status", "-config", noAdmin}, `no [[listen]] with type = "admin"`},
	} {
		code, _, errs := cli(t, "", c.args...)
		if code != 1 || !strings.Contains(errs, c.err) {
			t.Errorf("%s: code %d, stderr %q; want 1 and %q", c.name, code, errs, c.err)
		}
	}
}

// With [admin] token_file the CLI sends the token it reads through the
// same configuration file; without it the server answers 401, and the
// CLI says so.
func TestStatusWithToken(t *testing.T) {
	dir := t.TempDir()
	admin := "\n[admin]\ntoken_file = \"admin.token\"\n[[listen]]\ntype = \"admin\"\naddress = %q\n"
	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir)+fmt.Sprintf(admin, "127.0.0.1:0"))
	s.AddUser(t, "alice", "pw")
	alice := testutil.Login(t, s, "alice", "pw", "laptop")
	cfgPath := filepath.Join(dir, "xmppd.toml")
	if err := os.WriteFile(cfgPath, []byte(testutil.BaseConfig(dir)+fmt.Sprintf(admin, s.Admin)), 0o600); err != nil {
		t.Fatal(err)
	}
	noToken := filepath.Join(dir, "notoken.toml")
	os.WriteFile(noToken, []byte(testutil.BaseConfig(dir)+fmt.Sprintf("\n[[listen]]\ntype = \"admin\"\naddress = %q\n", s.Admin)), 0o600)
	otherDir := t.TempDir()
	missing := filepath.Join(otherDir, "missing.toml")
	os.WriteFile(missing, []byte(testutil.BaseConfig(otherDir)+fmt.Sprintf(admin, s.Admin)), 0o600)
	for _, c := range []struct {
		name string
		args []string
		code int
		out  string
		err  string
	}{
		{"status", []string{"status", "-config", cfgPath}, 0, "sessions     1", ""},
		{"status, -admin and -config", []string{"status", "-admin", s.Admin, "-config", cfgPath}, 0, "sessions     1", ""},
		{"session list", []string{"session", "list", "-config", cfgPath}, 0, "alice@localhost/laptop", ""},
		{"no token", []string{"status", "-config", noToken}, 1, "", "needs its token"},
		{"no token, -admin", []string{"session", "list", "-admin", s.Admin}, 1, "", "needs its token"},
		{"token file missing", []string{"status", "-config", missing}, 1, "", "xmppd writes it when it starts"},
		{"kick", []string{"session", "kick", "-config", cfgPath, "alice@localhost/laptop"}, 0, "kicked: alice@localhost/laptop", ""},
	} {
		code, out, errs := cli(t, "", c.args...)
		if code != c.code || !strings.Contains(errs, c.err) || !strings.Contains(out, c.out) {
			t.Errorf("%s: code %d, stdout %q, stderr %q; want %d, %q, %q", c.name, code, out, errs, c.code, c.out, c.err)
		}
	}
	if cond := alice.ExpectStreamError(); cond != "policy-violation" {
		t.Errorf("kicked client got %s", cond)
	}
}
