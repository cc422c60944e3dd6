package muc_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// TestDisco: the host lists the service; the service's identity and
// features; public rooms listed, hidden ones not; room items.
func TestDisco(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	r := bob.iqOK("<iq type='get' id='ID' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if !strings.Contains(r.String(), "jid='"+service+"'") {
		t.Fatalf("host items lack the MUC service: %s", r)
	}
	r = bob.iqOK("<iq type='get' id='ID' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service)
	f := features(r)
	if !strings.Contains(r.String(), "category='conference' type='text'") || !f["http://jabber.org/protocol/muc"] || !f["http://jabber.org/protocol/muc#unique"] || !f["vcard-temp"] {
		t.Fatalf("service disco#info: %s", r)
	}
	alice.create("open", "a")
	alice.configure("open", map[string]string{"muc#roomconfig_roomname": "Open Room", "muc#roomconfig_roomdesc": "for all"})
	alice.create("secret", "a")
	alice.configure("secret", map[string]string{"muc#roomconfig_publicroom": "0"})
	r = bob.iqOK("<iq type='get' id='ID' to='%s'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>", service)
	if !strings.Contains(r.String(), "jid='open@"+service+"' name='Open Room'") || strings.Contains(r.String(), "secret@") {
		t.Fatalf("service items: %s", r)
	}
	r = bob.iqOK("<iq type='get' id='ID' to='secret@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service)
	if f := features(r); !f["muc_hidden"] || f["muc_public"] {
		t.Fatalf("hidden room info: %s", r)
	}
	r = bob.iqOK("<iq type='get' id='ID' to='open@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service)
	for _, want := range []string{"muc#roominfo", "<field var='muc#roominfo_description' label='Description'><value>for all</value>", "<field var='muc#roominfo_occupants' label='Number of occupants'><value>1</value>"} {
		if !strings.Contains(r.String(), want) {
			t.Fatalf("roominfo lacks %q: %s", want, r)
		}
	}
	// Occupants: listed for a public room, not for a hidden one.
	if r := bob.iqOK("<iq type='get' id='ID' to='open@%s'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>", service); !strings.Contains(r.String(), "jid='open@"+service+"/a'") {
		t.Fatalf("room items: %s", r)
	}
	if r := bob.iqOK("<iq type='get' id='ID' to='secret@%s'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>", service); strings.Contains(r.String(), "<item") {
		t.Fatalf("hidden room items for a stranger: %s", r)
	}
	// Unique room name (XEP-0307).
	if r := bob.iqOK("<iq type='get' id='ID' to='%s'><unique xmlns='http://jabber.org/protocol/muc#unique'/></iq>", service); r.FirstChild().Text() == "" {
		t.Fatalf("unique: %s", r)
	}
}

// TestSelfPingVCardRegister: XEP-0410 self-ping, the room's vCard, and
// registration (§7.10).
func TestSelfPingVCardRegister(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.create("p", "alice")
	ping := "<iq type='get' id='ID' to='p@" + service + "/%s'><ping xmlns='urn:xmpp:ping'/></iq>"
	alice.iqOK(ping, "alice")
	wantCond(t, bob.iq(ping, "alice"), "not-acceptable")
	bob.join("p", "bob")
	bob.iqOK(ping, "bob")

	// vCard: anyone reads it, owners set it.
	wantCond(t, bob.iq("<iq type='set' id='ID' to='p@%s'><vCard xmlns='vcard-temp'><FN>x</FN></vCard></iq>", service), "forbidden")
	alice.iqOK("<iq type='set' id='ID' to='p@%s'><vCard xmlns='vcard-temp'><FN>Room P</FN></vCard></iq>", service)
	if r := bob.iqOK("<iq type='get' id='ID' to='p@%s'><vCard xmlns='vcard-temp'/></iq>", service); !strings.Contains(r.String(), "<FN>Room P</FN>") {
		t.Fatalf("room vCard: %s", r)
	}

	// Registration: the form, then membership with the reserved nick.
	r := bob.iqOK("<iq type='get' id='ID' to='p@%s'><query xmlns='jabber:iq:register'/></iq>", service)
	if !strings.Contains(r.String(), "muc#register_roomnick") {
		t.Fatalf("register form: %s", r)
	}
	r = bob.iq(`<iq type='set' id='ID' to='p@%s'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>alice</value></field></x></query></iq>`, service)
	wantCond(t, r, "conflict")
	bob.iqOK(`<iq type='set' id='ID' to='p@%s'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>bob</value></field></x></query></iq>`, service)
	if p := alice.presenceFrom("p", "bob"); item(p).Attr("affiliation") != "member" {
		t.Fatalf("registered: %s", p)
	}
	if r := bob.iqOK("<iq type='get' id='ID' to='p@%s'><query xmlns='jabber:iq:register'/></iq>", service); !strings.Contains(r.String(), "<registered/><username>bob</username>") {
		t.Fatalf("registered query: %s", r)
	}
	// Registering again (Converse.js does on every entry) changes the
	// reserved nick and keeps the affiliation; the owner may reserve one
	// too and stays owner; another's nick is still a conflict.
	register := func(u *user, nick string) *xml.Element {
		return u.iq(`<iq type='set' id='ID' to='p@%s'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>%s</value></field></x></query></iq>`, service, nick)
	}
	if r := register(bob, "bobby"); r.Attr("type") != "result" {
		t.Fatalf("second registration: %s", r)
	}
	if r := bob.iqOK("<iq type='get' id='ID' to='p@%s'><query xmlns='jabber:iq:register'/></iq>", service); !strings.Contains(r.String(), "<username>bobby</username>") {
		t.Fatalf("nick after the second registration: %s", r)
	}
	if r := register(alice, "alice"); r.Attr("type") != "result" {
		t.Fatalf("owner's registration: %s", r)
	}
	if r := alice.iqOK("<iq type='get' id='ID' to='p@%s'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner'/></query></iq>", service); !strings.Contains(r.String(), "alice@localhost") {
		t.Fatalf("owner list after the owner registered: %s", r)
	}
	wantCond(t, register(alice, "bobby"), "conflict")
}

// TestPrivileges drives the §5 tables through the wire: subject
// changes, private messages by allowpm, invitations by allowinvites.
func TestPrivilegesWire(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.create("priv", "alice")
	bob.join("priv", "bob")
	send := func(u *user, format string, args ...any) *xml.Element {
		t.Helper()
		u.Send(format, args...)
		el, _ := u.until(func(el *xml.Element) bool {
			return el.Name() == "message" && (el.Attr("id") == "x1" || el.Attr("type") == "error")
		})
		return el
	}
	wantCond(t, send(bob, "<message type='groupchat' id='x1' to='priv@%s'><subject>mine</subject></message>", service), "forbidden")
	alice.configure("priv", map[string]string{"muc#roomconfig_changesubject": "1", "muc#roomconfig_allowpm": "moderators"})
	if m := send(bob, "<message type='groupchat' id='x1' to='priv@%s'><subject>mine</subject></message>", service); m.Attr("type") != "groupchat" {
		t.Fatalf("subject change allowed: %s", m)
	}
	wantCond(t, send(bob, "<message type='chat' id='x1' to='priv@%s/alice'><body>hi</body></message>", service), "forbidden")
	wantCond(t, send(bob, "<message id='x1' to='priv@%s'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='x@localhost'/></x></message>", service), "forbidden")
	wantCond(t, send(bob, "<message type='groupchat' id='x1' to='priv@%s/alice'><body>hi</body></message>", service), "bad-request")
	alice.Send("<message type='groupchat' id='x2' to='nope@%s'><body>hi</body></message>", service)
	el, _ := alice.until(func(el *xml.Element) bool { return el.Attr("id") == "x2" })
	wantCond(t, el, "item-not-found")
}

// TestRateLimit: over [muc] message_rate, a message is answered with
// resource-constraint, not dropped silently.
func TestRateLimit(t *testing.T) {
	s := testutil.Start(t, "\n[muc]\nmessage_rate = 0.001\nmessage_burst = 2\n")
	addUsers(t, s, "alice")
	alice := login(t, s, "alice", "r")
	alice.create("fast", "a")
	for i := 0; i < 2; i++ {
		alice.say("fast", "ok")
		alice.nextGroupchat()
	}
	alice.Send("<message type='groupchat' id='over' to='fast@%s'><body>too much</body></message>", service)
	el, _ := alice.until(func(el *xml.Element) bool { return el.Attr("id") == "over" })
	wantCond(t, el, "resource-constraint")
}

// TestHistoryLimits: maxstanzas, maxchars, since.
func TestHistoryLimits(t *testing.T) {
	s := testutil.Start(t, "\n[muc]\nhistory_messages = 3\nmessage_rate = 0.0\n")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.create("h", "a")
	for _, b := range []string{"one", "two", "three", "four"} {
		alice.say("h", b)
		alice.nextGroupchat()
	}
	bodies := func(els []*xml.Element) string {
		var out []string
		for _, el := range els {
			if el.Child("delay", "urn:xmpp:delay") != nil && el.Child("body", "") != nil {
				out = append(out, el.Child("body", "").Text())
			}
		}
		return strings.Join(out, ",")
	}
	if got := bodies(bob.join("h", "b1")); got != "two,three,four" {
		t.Fatalf("bounded history: %s", got)
	}
	bob.Send("<presence type='unavailable' to='h@%s/b1'/>", service)
	bob.presenceFrom("h", "b1")
	if got := bodies(bob.join("h", "b2", "<history maxstanzas='2'/>")); got != "three,four" {
		t.Fatalf("maxstanzas=2: %s", got)
	}
	bob.Send("<presence type='unavailable' to='h@%s/b2'/>", service)
	bob.presenceFrom("h", "b2")
	if got := bodies(bob.join("h", "b3", "<history since='2999-01-01T00:00:00Z'/>")); got != "" {
		t.Fatalf("since the future: %s", got)
	}
}

// TestPersistentRestart: a persistent room keeps its configuration,
// subject, vCard and affiliations over a restart; a temporary one does
// not come back.
func TestPersistentRestart(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	addUsers(t, s, "alice", "bob", "carol")
	alice := login(t, s, "alice", "r")
	alice.create("keep", "alice")
	if r := alice.configure("keep", map[string]string{"muc#roomconfig_persistentroom": "1", "muc#roomconfig_roomname": "Kept", "muc#roomconfig_membersonly": "1"}); r.Attr("type") != "result" {
		t.Fatalf("configure: %s", r)
	}
	adminSet(alice, "keep", "<item affiliation='member' jid='bob@localhost' nick='bobby'/><item affiliation='outcast' jid='carol@localhost'/>")
	alice.Send("<message type='groupchat' to='keep@%s'><subject>Kept subject</subject></message>", service)
	alice.until(func(el *xml.Element) bool {
		return el.Child("subject", "") != nil && el.Attr("from") == "keep@"+service+"/alice"
	})
	alice.iqOK("<iq type='set' id='ID' to='keep@%s'><vCard xmlns='vcard-temp'><FN>K</FN></vCard></iq>", service)
	alice.say("keep", "said before the restart")
	alice.nextGroupchat()
	alice.create("temp", "alice")
	alice.Close()
	s.Stop(t)

	s = testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	bob := login(t, s, "bob", "r")
	carol := login(t, s, "carol", "r")
	r := bob.iqOK("<iq type='get' id='ID' to='keep@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service)
	if f := features(r); !f["muc_persistent"] || !f["muc_membersonly"] || !strings.Contains(r.String(), "name='Kept'") {
		t.Fatalf("room after restart: %s", r)
	}
	wantCond(t, bob.iq("<iq type='get' id='ID' to='temp@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service), "item-not-found")
	if c := carol.joinErr("keep", "c", ""); c != "forbidden" {
		t.Fatalf("ban after restart: %s", c)
	}
	got := bob.join("keep", "bobby")
	if h := got[len(got)-2]; h.Child("body", "") == nil || h.Child("body", "").Text() != "said before the restart" {
		t.Fatalf("history after restart (from the archive): %s", h)
	}
	if subj := got[len(got)-1]; subj.Child("subject", "").Text() != "Kept subject" {
		t.Fatalf("subject after restart: %s", subj)
	}
	if r := bob.iqOK("<iq type='get' id='ID' to='keep@%s'><vCard xmlns='vcard-temp'/></iq>", service); !strings.Contains(r.String(), "<FN>K</FN>") {
		t.Fatalf("vCard after restart: %s", r)
	}
	// The empty persistent room lives on when bob leaves.
	bob.Send("<presence type='unavailable' to='keep@%s/bobby'/>", service)
	bob.presenceFrom("keep", "bobby")
	bob.iqOK("<iq type='get' id='ID' to='keep@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service)
}

// TestRegistrationApproval: in a members-only room a registration goes to
// the admins and owners for approval (§9.9); the approved user enters.
func TestRegistrationApproval(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.Send("<presence/>")
	alice.until(func(el *xml.Element) bool { return el.Name() == "presence" && el.Attr("from") == alice.JID })
	alice.create("club", "alice")
	alice.configure("club", map[string]string{"muc#roomconfig_membersonly": "1"})
	bob.iqOK(`<iq type='set' id='ID' to='club@%s'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>bobby</value></field></x></query></iq>`, service)
	req, _ := alice.until(func(el *xml.Element) bool { return el.Name() == "message" && el.Child("x", "jabber:x:data") != nil })
	if !strings.Contains(req.String(), "<value>bob@localhost</value>") || !strings.Contains(req.String(), "muc#register_allow") {
		t.Fatalf("approval request: %s", req)
	}
	if c := bob.joinErr("club", "bobby", ""); c != "registration-required" {
		t.Fatalf("before approval: %s", c)
	}
	alice.Send(`<message to='club@%s'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#jid'><value>bob@localhost</value></field><field var='muc#register_roomnick'><value>bobby</value></field><field var='muc#register_allow'><value>1</value></field></x></message>`, service)
	alice.iqOK("<iq type='get' id='ID' to='club@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service) // the approval is handled
	bob.join("club", "bobby")
}

// TestOccupantIQ: IQs to another occupant's JID are forwarded (vCard to
// the account, others to the client) and the answers come back from the
// occupant JID with the requester's id.
func TestOccupantIQ(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.create("fw", "alice")
	bob.join("fw", "bob")
	bob.iqOK("<iq type='set' id='ID'><vCard xmlns='vcard-temp'><FN>Bob B</FN></vCard></iq>")
	r := alice.iqOK("<iq type='get' id='ID' to='fw@%s/bob'><vCard xmlns='vcard-temp'/></iq>", service)
	if r.Attr("from") != "fw@"+service+"/bob" || !strings.Contains(r.String(), "<FN>Bob B</FN>") {
		t.Fatalf("occupant vCard: %s", r)
	}
	// A ping to bob's occupant JID reaches bob's client from alice's
	// occupant JID; bob's answer goes back to alice.
	alice.Send("<iq type='get' id='p1' to='fw@%s/bob'><ping xmlns='urn:xmpp:ping'/></iq>", service)
	q, _ := bob.until(func(el *xml.Element) bool { return el.Name() == "iq" && el.Attr("type") == "get" })
	if q.Attr("from") != "fw@"+service+"/alice" || q.Child("ping", "urn:xmpp:ping") == nil {
		t.Fatalf("forwarded ping: %s", q)
	}
	bob.Send("<iq type='result' id='%s' to='%s'/>", q.Attr("id"), q.Attr("from"))
	a, _ := alice.until(func(el *xml.Element) bool { return el.Name() == "iq" && el.Attr("id") == "p1" })
	if a.Attr("type") != "result" || a.Attr("from") != "fw@"+service+"/bob" {
		t.Fatalf("answer: %s", a)
	}
	// Nobody by that nick: item-not-found.
	wantCond(t, alice.iq("<iq type='get' id='ID' to='fw@%s/nobody'><ping xmlns='urn:xmpp:ping'/></iq>", service), "item-not-found")
}

// TestSelfAddressed: stanzas the room would send to a JID of the service
// itself (an invitation to a room) do not deadlock the room.
func TestSelfAddressed(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice")
	alice := login(t, s, "alice", "r")
	alice.create("loop", "alice")
	alice.Send("<message to='loop@%s'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='loop@%s'/></x></message>", service, service)
	alice.Send("<message to='loop@%s'><x xmlns='http://jabber.org/protocol/muc#user'><decline to='loop@%s/alice'/></x></message>", service, service)
	// The room still answers.
	alice.iqOK("<iq type='get' id='ID' to='loop@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service)
	alice.say("loop", "still here")
	alice.nextGroupchat()
}
