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
