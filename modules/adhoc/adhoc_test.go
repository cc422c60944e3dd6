package adhoc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsCmd   = "http://jabber.org/protocol/commands"
	nsAdmin = "http://jabber.org/protocol/admin"
)

// start runs a server whose localhost has root as its admin (and whose
// example.test has none).
func start(t *testing.T) *testutil.Server {
	dir := t.TempDir()
	cfg := strings.Replace(testutil.BaseConfig(dir), "domain = \"localhost\"\n", "domain = \"localhost\"\nadmins = [\"root@localhost\"]\n", 1)
	return testutil.StartIn(t, dir, cfg)
}

func cond(el *xml.Element) string {
	if e := el.Child("error", ""); e != nil {
		for c := range e.Children() {
			if c.NS() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.Name() != "text" {
				return c.Name()
			}
		}
	}
	return ""
}

// run executes node; with fields (var → values) it submits them to the
// form the first stage returned. It returns the last answer.
func run(t *testing.T, c *testutil.Client, node string, fields map[string][]string) *xml.Element {
	t.Helper()
	r := c.IQ("x1", "<iq type='set' id='x1' to='localhost'><command xmlns='%s' node='%s' action='execute'/></iq>", nsCmd, node)
	cmd := r.Child("command", nsCmd)
	if r.Attr("type") != "result" || cmd == nil || fields == nil {
		return r
	}
	if cmd.Attr("status") != "executing" || cmd.Child("x", "jabber:x:data") == nil || cmd.Attr("sessionid") == "" {
		t.Fatalf("%s: first stage: %s", node, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<field var='FORM_TYPE'><value>%s</value></field>", nsAdmin)
	for k, vs := range fields {
		fmt.Fprintf(&b, "<field var='%s'>", k)
		for _, v := range vs {
			fmt.Fprintf(&b, "<value>%s</value>", v)
		}
		b.WriteString("</field>")
	}
	return c.IQ("x2", "<iq type='set' id='x2' to='localhost'><command xmlns='%s' node='%s' sessionid='%s'><x xmlns='jabber:x:data' type='submit'>%s</x></command></iq>",
		nsCmd, node, cmd.Attr("sessionid"), b.String())
}

func completed(t *testing.T, r *xml.Element) *xml.Element {
	t.Helper()
	cmd := r.Child("command", nsCmd)
	if r.Attr("type") != "result" || cmd == nil || cmd.Attr("status") != "completed" {
		t.Fatalf("not completed: %s", r)
	}
	return cmd
}

func value(cmd *xml.Element, v string) []string {
	var out []string
	if x := cmd.Child("x", "jabber:x:data"); x != nil {
		for f := range x.Children() {
			if f.Attr("var") == v {
				for val := range f.Children() {
					out = append(out, val.Text())
				}
			}
		}
	}
	return out
}

func TestDiscoAndAccess(t *testing.T) {
	s := start(t)
	s.AddUser(t, "root", "rootpw")
	s.AddUser(t, "alice", "alicepw")
	root := testutil.Login(t, s, "root", "rootpw", "r")
	alice := testutil.Login(t, s, "alice", "alicepw", "r")

	r := alice.IQ("d0", "<iq type='get' id='d0' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if !strings.Contains(r.String(), "var='"+nsCmd+"'") {
		t.Fatalf("server disco lacks %s: %s", nsCmd, r)
	}
	list := func(c *testutil.Client) []string {
		r := c.IQ("d1", "<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='%s'/></iq>", nsCmd)
		var nodes []string
		for it := range r.FirstChild().Children() {
			nodes = append(nodes, it.Attr("node"))
		}
		return nodes
	}
	// A user sees the commands on their own account ("FAST tokens") and
	// the XEP-0401 invite command ([invites] users = true, the default),
	// none of the admin commands.
	if n := list(alice); strings.Join(n, " ") != "urn:xmpp:fast:0#tokens urn:xmpp:invite#invite" {
		t.Errorf("a non-admin's command list: %v, want the FAST tokens and invite commands only", n)
	}
	nodes := list(root)
	if !strings.Contains(strings.Join(nodes, " "), nsAdmin+"#add-user") || len(nodes) < 9 {
		t.Errorf("admin's command list: %v", nodes)
	}
	r = root.IQ("d2", "<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='%s#add-user'/></iq>", nsAdmin)
	if !strings.Contains(r.String(), "type='command-node'") || !strings.Contains(r.String(), "var='"+nsCmd+"'") {
		t.Errorf("command info: %s", r)
	}
	if c := cond(run(t, alice, nsAdmin+"#add-user", nil)); c != "forbidden" {
		t.Errorf("non-admin execute: %s", c)
	}
	if c := cond(run(t, root, nsAdmin+"#no-such", nil)); c != "item-not-found" {
		t.Errorf("unknown command: %s", c)
	}
	// A session id is bound to its command and its requester.
	r = root.IQ("s1", "<iq type='set' id='s1' to='localhost'><command xmlns='%s' node='%s#add-user' sessionid='made-up'><x xmlns='jabber:x:data' type='submit'/></command></iq>", nsCmd, nsAdmin)
	if cond(r) != "bad-request" || r.Child("error", "").Child("bad-sessionid", nsCmd) == nil {
		t.Errorf("unknown session: %s", r)
	}
	// Cancel ends a session.
	r = root.IQ("c1", "<iq type='set' id='c1' to='localhost'><command xmlns='%s' node='%s#add-user'/></iq>", nsCmd, nsAdmin)
	sid := r.Child("command", nsCmd).Attr("sessionid")
	r = root.IQ("c2", "<iq type='set' id='c2' to='localhost'><command xmlns='%s' node='%s#add-user' sessionid='%s' action='cancel'/></iq>", nsCmd, nsAdmin, sid)
	if r.Child("command", nsCmd).Attr("status") != "canceled" {
		t.Errorf("cancel: %s", r)
	}
	r = root.IQ("c3", "<iq type='set' id='c3' to='localhost'><command xmlns='%s' node='%s#add-user' sessionid='%s'><x xmlns='jabber:x:data' type='submit'/></command></iq>", nsCmd, nsAdmin, sid)
	if cond(r) != "bad-request" {
		t.Errorf("canceled session reused: %s", r)
	}
}

func TestUserCommands(t *testing.T) {
	s := start(t)
	s.AddUser(t, "root", "rootpw")
	s.AddUser(t, "alice", "alicepw")
	root := testutil.Login(t, s, "root", "rootpw", "r")
	alice := testutil.Login(t, s, "alice", "alicepw", "phone")

	completed(t, run(t, root, nsAdmin+"#add-user", map[string][]string{
		"accountjid": {"bob@localhost"}, "password": {"bobpw"}, "password-verify": {"bobpw"}}))
	testutil.Login(t, s, "bob", "bobpw", "r").Close() // the account works with its password
	for deadline := time.Now().Add(5 * time.Second); s.Sessions() != 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // bob's session ends
	}
	for _, tc := range []struct {
		name   string
		fields map[string][]string
		want   string
	}{
		{"exists", map[string][]string{"accountjid": {"bob@localhost"}, "password": {"x"}, "password-verify": {"x"}}, "conflict"},
		{"mismatch", map[string][]string{"accountjid": {"carol@localhost"}, "password": {"x"}, "password-verify": {"y"}}, "not-acceptable"},
		{"other host", map[string][]string{"accountjid": {"carol@example.test"}, "password": {"x"}, "password-verify": {"x"}}, "not-allowed"},
		{"not a user", map[string][]string{"accountjid": {"localhost"}, "password": {"x"}, "password-verify": {"x"}}, "jid-malformed"},
	} {
		if c := cond(run(t, root, nsAdmin+"#add-user", tc.fields)); c != tc.want {
			t.Errorf("add-user %s: %s, want %s", tc.name, c, tc.want)
		}
	}

	if got := value(completed(t, run(t, root, nsAdmin+"#get-registered-users-num", nil)), "registeredusersnum"); len(got) != 1 || got[0] != "3" {
		t.Errorf("registered users: %v", got)
	}
	if got := value(completed(t, run(t, root, nsAdmin+"#get-online-users-num", nil)), "onlineusersnum"); len(got) != 1 || got[0] != "2" {
		t.Errorf("online users: %v", got)
	}
	if got := value(completed(t, run(t, root, nsAdmin+"#get-online-users-list", map[string][]string{"max_items": {"25"}})), "onlineuserjids"); strings.Join(got, " ") != "alice@localhost root@localhost" {
		t.Errorf("online list: %v", got)
	}
	if got := value(completed(t, run(t, root, nsAdmin+"#get-registered-users-list", map[string][]string{"max_items": {"2"}})), "registereduserjids"); strings.Join(got, " ") != "alice@localhost bob@localhost" {
		t.Errorf("registered list: %v", got)
	}

	completed(t, run(t, root, nsAdmin+"#announce", map[string][]string{"subject": {"Maintenance"}, "announcement": {"down at", "noon"}}))
	for {
		m := alice.NextNamed("message")
		if m.Attr("type") == "headline" && m.Attr("from") == "localhost" {
			if m.Child("body", "").Text() != "down at\nnoon" || m.Child("subject", "").Text() != "Maintenance" {
				t.Errorf("announcement: %s", m)
			}
			break
		}
	}

	completed(t, run(t, root, nsAdmin+"#change-user-password", map[string][]string{"accountjid": {"bob@localhost"}, "password": {"newpw"}}))
	testutil.Login(t, s, "bob", "newpw", "r").Close()
	if c := cond(run(t, root, nsAdmin+"#change-user-password", map[string][]string{"accountjid": {"nobody@localhost"}, "password": {"x"}})); c != "item-not-found" {
		t.Errorf("change the password of nobody: %s", c)
	}

	completed(t, run(t, root, nsAdmin+"#end-user-session", map[string][]string{"accountjids": {"alice@localhost/phone"}}))
	if got := alice.ExpectStreamError(); got != "policy-violation" {
		t.Errorf("ended session: stream error %q", got)
	}

	if c := cond(run(t, root, nsAdmin+"#delete-user", map[string][]string{"accountjids": {"bob@localhost", "nobody@localhost"}})); c != "item-not-found" {
		t.Errorf("delete with an unknown account: %s", c)
	}
	completed(t, run(t, root, nsAdmin+"#delete-user", map[string][]string{"accountjids": {"bob@localhost"}}))
	if got := value(completed(t, run(t, root, nsAdmin+"#get-registered-users-num", nil)), "registeredusersnum"); len(got) != 1 || got[0] != "2" {
		t.Errorf("registered users after delete: %v", got)
	}
}

// TestUsersMayNotInvite: [invites] users = false (modules/invites' own
// section, read through its service) takes the invite command from
// users' lists; admins keep it.
func TestUsersMayNotInvite(t *testing.T) {
	dir := t.TempDir()
	cfg := strings.Replace(testutil.BaseConfig(dir), "domain = \"localhost\"\n", "domain = \"localhost\"\nadmins = [\"root@localhost\"]\n", 1)
	s := testutil.StartIn(t, dir, cfg+"\n[invites]\nusers = false\n")
	s.AddUser(t, "root", "rootpw")
	s.AddUser(t, "alice", "alicepw")
	for _, tc := range []struct {
		user, pw string
		invite   bool
	}{{"alice", "alicepw", false}, {"root", "rootpw", true}} {
		c := testutil.Login(t, s, tc.user, tc.pw, "r")
		r := c.IQ("d1", "<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items' node='%s'/></iq>", nsCmd)
		if got := strings.Contains(r.String(), "urn:xmpp:invite#invite"); got != tc.invite {
			t.Errorf("%s's command list has the invite command: %v, want %v: %s", tc.user, got, tc.invite, r)
		}
	}
}
