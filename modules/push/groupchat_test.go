package push_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

const room = "club@conference.localhost"

// enableGroupchat enables node for c with the group chat choice given
// (FieldGroupchat; "" leaves the field out) and include-body.
func enableGroupchat(t *testing.T, c *testutil.Client, node, choice string, includeBody bool) {
	t.Helper()
	extra := ""
	if choice != "" {
		extra += "<field var='groupchat'><value>" + choice + "</value></field>"
	}
	if includeBody {
		extra += "<field var='include-body'><value>1</value></field>"
	}
	wantResult(t, c.IQ("en", "<iq type='set' id='en'><enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='%s'>"+enableOpts+"</enable></iq>", node, extra))
}

// publishes reads n publishes and returns them by account.
func publishes(t *testing.T, comp *testutil.Client, n int) map[string]notification {
	t.Helper()
	out := map[string]notification{}
	for range n {
		p := nextPublish(t, comp, "")
		if _, dup := out[p.from]; dup {
			t.Fatalf("two publishes for %s", p.from)
		}
		out[p.from] = p
	}
	return out
}

func roomConfig(t *testing.T, c *testutil.Client, fields string) {
	t.Helper()
	wantResult(t, c.IQ("cfg", "<iq type='set' id='cfg' to='"+room+"'><query xmlns='http://jabber.org/protocol/muc#owner'>"+
		"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>%s</x></query></iq>", fields))
}

// Members of a members-only room who have no session get push
// notifications for its messages, as each chose in the enable form: all
// of them, mentions of their nick or JID (the default), or none.
func TestPushGroupchat(t *testing.T) { groupchat(t, testutil.Start(t, conf)) }

// The registrations, the room's affiliations and its archive on
// PostgreSQL.
func TestPushGroupchatPostgres(t *testing.T) {
	groupchat(t, startPostgres(t))
}

func groupchat(t *testing.T, s *testutil.Server) {
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		s.AddUser(t, u, pw)
	}
	comp := connectComponent(t, s)

	// alice: mentions (the default), bodies; carol: all; dave: mentions,
	// known by the nick he last entered with; erin: all, but online;
	// frank: none.
	for _, u := range []struct {
		name, choice string
		body         bool
	}{{"alice", "", true}, {"carol", "all", false}, {"dave", "mentions", false}, {"erin", "all", false}, {"frank", "none", false}} {
		c := online(t, s, u.name, "phone")
		enableGroupchat(t, c, u.name, u.choice, u.body)
		if u.name != "erin" {
			offline(t, s, c)
		}
	}

	bob := online(t, s, "bob", "pc")
	bob.Send("<presence to='" + room + "/boss'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	roomConfig(t, bob, "<field var='muc#roomconfig_membersonly'><value>1</value></field>")
	r := bob.IQ("get", "<iq type='get' id='get' to='"+room+"'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>")
	if !strings.Contains(r.String(), "var='{urn:xmppd:muc}push_offline_members'") {
		t.Fatalf("configuration form lacks the push field: %s", r)
	}
	wantResult(t, bob.IQ("adm", "<iq type='set' id='adm' to='"+room+"'><query xmlns='http://jabber.org/protocol/muc#admin'>"+
		"<item affiliation='member' jid='alice@localhost' nick='ally'/><item affiliation='member' jid='carol@localhost'/>"+
		"<item affiliation='member' jid='dave@localhost'/><item affiliation='member' jid='erin@localhost'/>"+
		"<item affiliation='member' jid='frank@localhost'/></query></iq>"))
	dave := online(t, s, "dave", "pc")
	dave.Send("<presence to='" + room + "/Dee'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	for {
		if p := dave.NextNamed("presence"); strings.Contains(p.String(), "code='110'") {
			break
		}
	}
	offline(t, s, dave)

	say := func(body, extra string) {
		bob.Send("<message to='%s' type='groupchat'><body>%s</body>%s</message>", room, body, extra)
	}
	say("hello everyone", "")
	got := publishes(t, comp, 1)
	if n := got["carol@localhost"]; n.node != "carol" || n.fields["message-count"] != "1" || n.fields["last-message-sender"] != room+"/boss" || n.fields["last-message-body"] != "" {
		t.Fatalf("carol (all): %+v", got)
	}
	noPublish(t, comp, bob, "no mention")

	say("ally: look at this", "")
	got = publishes(t, comp, 2)
	if n := got["alice@localhost"]; n.fields["message-count"] != "1" || n.fields["last-message-body"] != "ally: look at this" {
		t.Fatalf("alice (mentioned by her reserved nick): %+v", got)
	}
	if n := got["carol@localhost"]; n.fields["message-count"] != "2" {
		t.Fatalf("carol: %+v", got)
	}
	// The choice field is the server's, not the app server's.
	if _, ok := got["carol@localhost"].options["groupchat"]; ok {
		t.Fatalf("groupchat field forwarded: %v", got["carol@localhost"].options)
	}

	say("Hey dee!", "")
	got = publishes(t, comp, 2)
	if n := got["dave@localhost"]; n.fields["message-count"] != "1" || n.fields["last-message-body"] != "" {
		t.Fatalf("dave (mentioned by his last nick): %+v", got)
	}
	say("not daveX or xally", "")
	publishes(t, comp, 1) // carol
	noPublish(t, comp, bob, "nicks inside other words")

	// XEP-0372 mention references, to the bare JID or the occupant JID.
	say("look", "<reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:alice@localhost'/>")
	got = publishes(t, comp, 2)
	if n := got["alice@localhost"]; n.fields["message-count"] != "2" {
		t.Fatalf("alice (reference): %+v", got)
	}
	say("and you", "<reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:"+room+"/Dee'/>")
	got = publishes(t, comp, 2)
	if _, ok := got["dave@localhost"]; !ok {
		t.Fatalf("dave (reference to his occupant JID): %+v", got)
	}
	say("frank@localhost erin@localhost", "")
	publishes(t, comp, 1) // carol
	noPublish(t, comp, bob, "frank chose none, erin is online")

	// The room's owner turns it off.
	roomConfig(t, bob, "<field var='{urn:xmppd:muc}push_offline_members'><value>0</value></field>")
	say("ally: still there?", "")
	noPublish(t, comp, bob, "room without offline push")

	// Woken, alice's client fetches the discussion from the room's
	// archive (XEP-0313 on the room).
	a := online(t, s, "alice", "phone")
	ids := archiveIDs(t, a, room)
	if ids["ally: look at this"] == "" || ids["ally: still there?"] == "" {
		t.Fatalf("room archive: %v", ids)
	}
}

// An open room's group chat reaches only its occupants.
func TestPushGroupchatOpenRoom(t *testing.T) {
	s := testutil.Start(t, conf)
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	comp := connectComponent(t, s)
	a := online(t, s, "alice", "phone")
	enableGroupchat(t, a, "n1", "all", false)
	offline(t, s, a)
	bob := online(t, s, "bob", "pc")
	bob.Send("<presence to='" + room + "/boss'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	roomConfig(t, bob, "")
	wantResult(t, bob.IQ("adm", "<iq type='set' id='adm' to='"+room+"'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='alice@localhost'/></query></iq>"))
	bob.Send("<message to='" + room + "' type='groupchat'><body>alice@localhost hi</body></message>")
	noPublish(t, comp, bob, "open room")
}

func TestPushEnableGroupchatChoice(t *testing.T) {
	s := testutil.Start(t, conf)
	s.AddUser(t, "alice", pw)
	a := testutil.Login(t, s, "alice", pw, "r")
	r := a.IQ("en", "<iq type='set' id='en'><enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'>"+enableOpts+"</enable></iq>", "<field var='groupchat'><value>sometimes</value></field>")
	if r.Attr("type") != "error" || !strings.Contains(r.String(), "<bad-request ") {
		t.Fatalf("groupchat=sometimes: %s", r)
	}
}
