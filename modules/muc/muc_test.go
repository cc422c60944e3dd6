package muc_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// TestRoomLife: an instant room with three occupants over two accounts
// and several resources: presence order and codes, fan-out with echo,
// occupant-id and stanza-id, private messages to a multi-session nick,
// subject, history with delay, nick change, leaving and the temporary
// room's end.
func TestRoomLife(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "a1")
	bob1 := login(t, s, "bob", "b1")
	bob2 := login(t, s, "bob", "b2")
	carol := login(t, s, "alice", "a2") // alice's second device, another nick

	alice.create("coven", "first")
	alice.say("coven", "before anyone came")
	alice.nextGroupchat()
	alice.Send("<message type='groupchat' to='coven@%s'><subject>Witchcraft</subject></message>", service)
	alice.until(func(el *xml.Element) bool { return el.Name() == "message" && el.Child("subject", "") != nil })

	// bob joins: alice's presence first, his own last with 110, then the
	// history (with delay from the room), then the subject.
	got := bob1.join("coven", "second")
	var kinds []string
	for _, el := range got {
		k := el.Name()
		if hasCode(el, 110) {
			k = "self"
		} else if el.Child("subject", "") != nil {
			k = "subject"
		} else if el.Child("delay", "urn:xmpp:delay") != nil {
			k = "history"
		}
		kinds = append(kinds, k)
	}
	if strings.Join(kinds, ",") != "presence,self,history,subject" {
		t.Fatalf("join sequence %v: %v", kinds, got)
	}
	if it := item(got[0]); it == nil || it.Attr("affiliation") != "owner" || it.Attr("role") != "moderator" || it.Attr("jid") != "" {
		t.Fatalf("owner's presence as seen by a participant of a semi-anonymous room: %s", got[0])
	}
	if it := item(got[1]); it.Attr("role") != "participant" || it.Attr("affiliation") != "none" {
		t.Fatalf("bob's self-presence: %s", got[1])
	}
	if got[1].Child("occupant-id", "urn:xmpp:occupant-id:0") == nil {
		t.Fatalf("no occupant-id in presence: %s", got[1])
	}
	h := got[2]
	if h.Child("body", "").Text() != "before anyone came" || h.Child("delay", "urn:xmpp:delay").Attr("from") != "coven@"+service {
		t.Fatalf("history: %s", h)
	}
	if got[3].Child("subject", "").Text() != "Witchcraft" || got[3].Attr("from") != "coven@"+service+"/first" {
		t.Fatalf("subject: %s", got[3])
	}
	// The moderator sees bob's real JID.
	p := alice.presenceFrom("coven", "second")
	if it := item(p); it.Attr("jid") != bob1.JID {
		t.Fatalf("moderator's view of bob: %s", p)
	}

	// bob's second resource takes the same nick: one occupant, two
	// sessions (§7.2.8 multi-session). The others see no new occupant.
	got = bob2.join("coven", "second", "<history maxstanzas='0'/>")
	for _, el := range got {
		if el.Child("delay", "urn:xmpp:delay") != nil && el.Child("body", "") != nil {
			t.Fatalf("history despite maxstanzas=0: %s", el)
		}
	}
	carol.join("coven", "third", "<history maxchars='0'/>")
	alice.presenceFrom("coven", "third")
	bob1.presenceFrom("coven", "third")
	bob2.presenceFrom("coven", "third")

	// Groupchat: every session gets it, the sender its echo with its id.
	carol.Send("<message type='groupchat' id='m1' to='coven@%s'><body>hello all</body><stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='coven@%s'/></message>", service, service)
	var ids []string
	for _, u := range []*user{alice, bob1, bob2, carol} {
		m := u.nextGroupchat()
		if m.Attr("from") != "coven@"+service+"/third" || m.Child("body", "").Text() != "hello all" || m.Attr("to") != u.JID {
			t.Fatalf("%s got %s", u.name, m)
		}
		sid := m.Child("stanza-id", "urn:xmpp:sid:0")
		if sid == nil || sid.Attr("id") == "forged" || sid.Attr("by") != "coven@"+service {
			t.Fatalf("stanza-id: %s", m)
		}
		ids = append(ids, m.Child("occupant-id", "urn:xmpp:occupant-id:0").Attr("id"))
		if u == carol && m.Attr("id") != "m1" {
			t.Fatalf("echo lost the id: %s", m)
		}
	}
	if ids[0] != ids[1] || ids[0] == "" {
		t.Fatalf("occupant ids differ between copies: %v", ids)
	}

	// A private message to "second" reaches both of bob's sessions.
	alice.Send("<message type='chat' to='coven@%s/second'><body>psst</body></message>", service)
	for _, b := range []*user{bob1, bob2} {
		m, _ := b.until(func(el *xml.Element) bool { return el.Name() == "message" && el.Attr("type") == "chat" })
		if m.Attr("from") != "coven@"+service+"/first" || m.Child("x", "http://jabber.org/protocol/muc#user") == nil {
			t.Fatalf("private message: %s", m)
		}
	}
	// To nobody: item-not-found; from a non-occupant: not-acceptable.
	alice.Send("<message type='chat' id='pm2' to='coven@%s/nobody'><body>?</body></message>", service)
	m, _ := alice.until(func(el *xml.Element) bool { return el.Attr("id") == "pm2" })
	wantCond(t, m, "item-not-found")

	// Nick change: unavailable with the new nick and 303, then available.
	carol.Send("<presence to='coven@%s/fourth'/>", service)
	un := bob1.presenceFrom("coven", "third")
	if un.Attr("type") != "unavailable" || !hasCode(un, 303) || item(un).Attr("nick") != "fourth" {
		t.Fatalf("nick change: %s", un)
	}
	if av := bob1.presenceFrom("coven", "fourth"); av.Attr("type") != "" {
		t.Fatalf("new nick: %s", av)
	}
	// Conflict with another user's nick.
	carol.Send("<presence to='coven@%s/second'/>", service)
	e, _ := carol.until(func(el *xml.Element) bool { return el.Attr("type") == "error" })
	wantCond(t, e, "conflict")

	// bob's first session leaves: only it is told; the occupant stays.
	bob1.Send("<presence type='unavailable' to='coven@%s/second'/>", service)
	if p := bob1.presenceFrom("coven", "second"); p.Attr("type") != "unavailable" || !hasCode(p, 110) {
		t.Fatalf("self unavailable: %s", p)
	}
	bob2.Send("<presence type='unavailable' to='coven@%s/second'/>", service)
	if p := alice.presenceFrom("coven", "second"); p.Attr("type") != "unavailable" || item(p).Attr("role") != "none" {
		t.Fatalf("bob leaves: %s", p)
	}

	// Everyone leaves: the temporary room is gone.
	carol.Send("<presence type='unavailable' to='coven@%s/fourth'/>", service)
	alice.presenceFrom("coven", "fourth")
	alice.Send("<presence type='unavailable' to='coven@%s/first'/>", service)
	alice.presenceFrom("coven", "first")
	wantCond(t, bob1.iq("<iq type='get' id='ID' to='coven@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service), "item-not-found")
}

// TestNickNormalized: a nick that RFC 7622 normalization changes (NFD →
// NFC) is used normalized, with status 210 in the self-presence.
func TestNickNormalized(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice")
	alice := login(t, s, "alice", "r")
	alice.create("n", "a")
	alice2 := login(t, s, "alice", "r2")
	alice2.Send("<presence to='n@%s/Rene\u0301'><x xmlns='http://jabber.org/protocol/muc'/></presence>", service)
	self, _ := alice2.until(func(el *xml.Element) bool { return hasCode(el, 110) })
	if !hasCode(self, 210) || self.Attr("from") != "n@"+service+"/Ren\u00e9" {
		t.Fatalf("normalized nick: %s", self)
	}
}

// TestUnsyncedPresenceKicked: presence without the MUC element from a
// non-occupant is answered with a kick (110, 307, 333), in a room that
// exists or not, and creates nothing.
func TestUnsyncedPresenceKicked(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.create("sync", "a")
	for _, room := range []string{"sync", "nowhere"} {
		bob.Send("<presence to='%s@%s/b'><show>away</show></presence>", room, service)
		p := bob.presenceFrom(room, "b")
		if p.Attr("type") != "unavailable" || !hasCode(p, 110) || !hasCode(p, 307) || !hasCode(p, 333) {
			t.Fatalf("%s: %s", room, p)
		}
	}
	wantCond(t, bob.iq("<iq type='get' id='ID' to='nowhere@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service), "item-not-found")
}

// TestSessionEndLeaves: when a session ends, the presence module's
// directed unavailable presence takes it out of the room.
func TestSessionEndLeaves(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.create("r", "a")
	bob.join("r", "b")
	alice.presenceFrom("r", "b")
	bob.Close()
	if p := alice.presenceFrom("r", "b"); p.Attr("type") != "unavailable" {
		t.Fatalf("after bob's session ended: %s", p)
	}
}

// TestReservedRoom: a room configured before use stays locked (§10.1.3):
// others get item-not-found until the owner submits the form.
func TestReservedRoom(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.Send("<presence to='res@%s/owner'><x xmlns='http://jabber.org/protocol/muc'/></presence>", service)
	self, _ := alice.until(func(el *xml.Element) bool { return hasCode(el, 110) })
	if !hasCode(self, 201) {
		t.Fatalf("no 201: %s", self)
	}
	if c := bob.joinErr("res", "bob", ""); c != "item-not-found" {
		t.Fatalf("locked room: %s", c)
	}
	wantCond(t, bob.iq("<iq type='get' id='ID' to='res@%s'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>", service), "item-not-found")
	form := alice.iqOK("<iq type='get' id='ID' to='res@%s'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>", service)
	for _, v := range []string{"muc#roomconfig_roomname", "muc#roomconfig_persistentroom", "muc#roomconfig_membersonly", "muc#roomconfig_whois", "muc#roomconfig_roomsecret", "muc#roomconfig_maxusers", "muc#roomconfig_allowpm", "muc#roomconfig_presencebroadcast"} {
		if !strings.Contains(form.String(), "var='"+v+"'") {
			t.Errorf("config form lacks %s", v)
		}
	}
	if r := alice.configure("res", map[string]string{"muc#roomconfig_roomname": "Reserved", "muc#roomconfig_whois": "anyone", "muc#roomconfig_moderatedroom": "1", "muc#roomconfig_enablelogging": "1"}); r.Attr("type") != "result" {
		t.Fatalf("configure: %s", r)
	}
	got := bob.join("res", "bob")
	self = got[len(got)-2]
	if !hasCode(self, 100) || !hasCode(self, 170) || item(self).Attr("role") != "visitor" {
		t.Fatalf("non-anonymous moderated room self-presence: %s", self)
	}
	if it := item(got[0]); it.Attr("jid") != alice.JID {
		t.Fatalf("non-anonymous: real JIDs for all: %s", got[0])
	}
	// A visitor may not speak (§7.4).
	bob.Send("<message type='groupchat' id='v1' to='res@%s'><body>hi</body></message>", service)
	e, _ := bob.until(func(el *xml.Element) bool { return el.Attr("id") == "v1" })
	wantCond(t, e, "forbidden")
	// Room disco reflects the configuration.
	f := features(bob.iqOK("<iq type='get' id='ID' to='res@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service))
	for _, v := range []string{"http://jabber.org/protocol/muc", "muc_public", "muc_open", "muc_moderated", "muc_unsecured", "muc_temporary", "muc_nonanonymous", "urn:xmpp:occupant-id:0", "urn:xmpp:sid:0"} {
		if !f[v] {
			t.Errorf("room disco#info lacks %s: %v", v, f)
		}
	}
	// Cancelling the form of a new room destroys it.
	alice.Send("<presence to='gone@%s/o'><x xmlns='http://jabber.org/protocol/muc'/></presence>", service)
	alice.until(func(el *xml.Element) bool { return hasCode(el, 201) })
	alice.iqOK("<iq type='set' id='ID' to='gone@%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='cancel'/></query></iq>", service)
	wantCond(t, bob.iq("<iq type='get' id='ID' to='gone@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service), "item-not-found")
}
