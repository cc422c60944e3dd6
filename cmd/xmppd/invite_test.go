package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestInviteCommands: create prints the link (on [invites] url) and the
// xmpp: URI; list shows the invite; revoke removes it; a created invite
// registers an account in-band on a host with registration off, made an
// admin by -admin and subscribed to -inviter.
func TestInviteCommands(t *testing.T) {
	dir := t.TempDir()
	cfgText := testutil.BaseConfig(dir) + "\n[invites]\nurl = \"https://chat.example.test/\"\n"
	cfgPath := filepath.Join(dir, "xmppd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "password\n", "user", "add", "-config", cfgPath, "alice@localhost"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	for _, bad := range []struct {
		args []string
		err  string
	}{
		{[]string{"-expires", "0d"}, "from 1m to 365d"},
		{[]string{"-uses", "0"}, "at least one account"},
		{[]string{"-inviter", "nobody@localhost"}, "no account nobody@localhost"},
		{[]string{"-inviter", "alice@example.test"}, "not an account of localhost"},
		{[]string{"-username", "alice"}, "already exists"},
		{[]string{"elsewhere.example"}, "not one of the configured hosts"},
	} {
		args := append([]string{"invite", "create", "-config", cfgPath}, bad.args...)
		if code, out, errs := cli(t, "", args...); code != 1 || out != "" || !strings.Contains(errs, bad.err) {
			t.Errorf("xmppd %s: code %d, stdout %q, stderr %q; want an error with %q", strings.Join(args, " "), code, out, errs, bad.err)
		}
	}

	code, out, errs := cli(t, "", "invite", "create", "-config", cfgPath, "--admin", "-expires", "2d", "-inviter", "alice@localhost")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("invite create: code %d, stdout %q, stderr %q", code, out, errs)
	}
	m := regexp.MustCompile(`^https://chat\.example\.test/invite/([0-9a-f]{32})$`).FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("link %q", lines[0])
	}
	token := m[1]
	if want := "xmpp:alice@localhost?roster;preauth=" + token + ";ibr=y"; lines[1] != want {
		t.Fatalf("uri %q, want %q", lines[1], want)
	}
	id := strings.Fields(lines[2])[1]
	if !strings.Contains(lines[2], "admin") || !strings.Contains(lines[2], "inviter alice@localhost") {
		t.Errorf("summary %q", lines[2])
	}

	code, out, _ = cli(t, "", "invite", "create", "-config", cfgPath, "-uses", "3", "example.test")
	if code != 0 {
		t.Fatalf("second invite: %q", out)
	}
	other := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[2])[1]
	if code, out, _ := cli(t, "", "invite", "list", "-config", cfgPath); code != 0 || strings.Count(out, "\n") != 2 ||
		!strings.HasPrefix(out, id+" localhost until ") || !strings.Contains(out, other+" example.test until ") || !strings.Contains(out, "3 uses left") {
		t.Fatalf("invite list: %d %q", code, out)
	}
	if code, out, _ := cli(t, "", "invite", "revoke", "-config", cfgPath, other); code != 0 || out != "revoked: "+other+"\n" {
		t.Fatalf("invite revoke: %d %q", code, out)
	}
	if code, _, errs := cli(t, "", "invite", "revoke", "-config", cfgPath, other); code != 1 || !strings.Contains(errs, "no invite") {
		t.Fatalf("second revoke: %d %q", code, errs)
	}
	if code, out, _ := cli(t, "", "invite", "list", "-config", cfgPath, "example.test"); code != 0 || out != "" {
		t.Fatalf("list after revoke: %d %q", code, out)
	}

	// The server on the same data takes the token.
	srv := testutil.StartIn(t, dir, cfgText)
	c := testutil.NewClient(t, testutil.Dial(t, srv.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	c.Send("<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>bob</username><password>password</password><preauth xmlns='urn:xmpp:pars:0' token='%s'/></query></iq>", token)
	if r := c.NextNamed("iq"); r.Attr("type") != "result" {
		t.Fatalf("register with the CLI's invite: %s", r)
	}
	c.Close()
	bob := testutil.Login(t, srv, "bob", "password", "r")
	bob.Send("<iq type='get' id='ro'><query xmlns='jabber:iq:roster'/></iq>")
	if r := bob.NextNamed("iq"); !strings.Contains(r.String(), "jid='alice@localhost'") || !strings.Contains(r.String(), "subscription='both'") {
		t.Fatalf("bob's roster: %s", r)
	}
	// -admin: bob runs admin commands.
	bob.Send("<iq type='set' id='a1' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='http://jabber.org/protocol/admin#get-registered-users-num' action='execute'/></iq>")
	if r := bob.NextNamed("iq"); r.Attr("type") != "result" {
		t.Fatalf("admin command by bob: %s", r)
	}
}
