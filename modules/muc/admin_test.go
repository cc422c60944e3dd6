package muc_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

func adminSet(u *user, room, items string) *xml.Element {
	u.t.Helper()
	return u.iq("<iq type='set' id='ID' to='%s@%s'><query xmlns='http://jabber.org/protocol/muc#admin'>%s</query></iq>", room, service, items)
}

func adminGet(u *user, room, item string) *xml.Element {
	u.t.Helper()
	return u.iq("<iq type='get' id='ID' to='%s@%s'><query xmlns='http://jabber.org/protocol/muc#admin'>%s</query></iq>", room, service, item)
}

// TestEntryErrors: the errors of §7.2 for entering a room.
func TestEntryErrors(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob", "carol", "dave")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	carol := login(t, s, "carol", "r")
	dave := login(t, s, "dave", "r")

	// No nick: jid-malformed.
	bob.Send("<presence to='x@%s'><x xmlns='http://jabber.org/protocol/muc'/></presence>", service)
	e, _ := bob.until(func(el *xml.Element) bool { return el.Attr("type") == "error" })
	wantCond(t, e, "jid-malformed")

	alice.create("pw", "a")
	if r := alice.configure("pw", map[string]string{"muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "sesame", "muc#roomconfig_maxusers": "2"}); r.Attr("type") != "result" {
		t.Fatalf("configure: %s", r)
	}
	if c := bob.joinErr("pw", "b", ""); c != "not-authorized" {
		t.Fatalf("no password: %s", c)
	}
	if c := bob.joinErr("pw", "b", "<password>wrong</password>"); c != "not-authorized" {
		t.Fatalf("wrong password: %s", c)
	}
	bob.join("pw", "b", "<password>sesame</password>")
	// Nick in use by another user.
	if c := carol.joinErr("pw", "b", "<password>sesame</password>"); c != "conflict" {
		t.Fatalf("nick conflict: %s", c)
	}
	// Two occupants of at most two: full.
	if c := carol.joinErr("pw", "c", "<password>sesame</password>"); c != "service-unavailable" {
		t.Fatalf("full room: %s", c)
	}

	alice.create("club", "a")
	alice.configure("club", map[string]string{"muc#roomconfig_membersonly": "1"})
	if c := bob.joinErr("club", "b", ""); c != "registration-required" {
		t.Fatalf("members-only: %s", c)
	}
	if r := adminSet(alice, "club", "<item affiliation='member' jid='bob@localhost' nick='bobby'/><item affiliation='outcast' jid='carol@localhost'><reason>spam</reason></item>"); r.Attr("type") != "result" {
		t.Fatalf("admin set: %s", r)
	}
	if c := carol.joinErr("club", "c", ""); c != "forbidden" {
		t.Fatalf("banned: %s", c)
	}
	// bob's nick is reserved as bobby: another nick is not acceptable,
	// and nobody else may take bobby.
	if c := bob.joinErr("club", "b", ""); c != "not-acceptable" {
		t.Fatalf("reserved nick not used: %s", c)
	}
	adminSet(alice, "club", "<item affiliation='member' jid='dave@localhost'/>")
	if c := dave.joinErr("club", "bobby", ""); c != "conflict" {
		t.Fatalf("nick reserved by another: %s", c)
	}
	bob.join("club", "bobby")
	// §7.12: the reserved nick through disco.
	r := bob.iqOK("<iq type='get' id='ID' to='club@%s'><query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/></iq>", service)
	if !strings.Contains(r.String(), "name='bobby'") {
		t.Fatalf("reserved nick: %s", r)
	}
	// Ban list with its reason.
	r = adminGet(alice, "club", "<item affiliation='outcast'/>")
	if !strings.Contains(r.String(), "jid='carol@localhost'") || !strings.Contains(r.String(), "<reason>spam</reason>") {
		t.Fatalf("ban list: %s", r)
	}
	// A member may read the member list, not the ban list.
	if r := adminGet(bob, "club", "<item affiliation='member'/>"); r.Attr("type") != "result" || !strings.Contains(r.String(), "dave@localhost") {
		t.Fatalf("member list for a member: %s", r)
	}
	wantCond(t, adminGet(bob, "club", "<item affiliation='outcast'/>"), "forbidden")
}

// TestCreateRestricted: [muc] create_rooms = "listed".
func TestCreateRestricted(t *testing.T) {
	s := testutil.Start(t, "\n[muc]\ncreate_rooms = \"listed\"\ncreators = [\"alice@localhost\"]\n")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	if c := bob.joinErr("new", "b", ""); c != "not-allowed" {
		t.Fatalf("creation by bob: %s", c)
	}
	alice.create("new", "a")
	bob.join("new", "b") // entering an existing room is not creating it
}

// TestModeration: kick (307), ban (301), membership removal in a
// members-only room (321), members-only switch (322), voice and
// moderator grants, as the others see them, and the privileges that
// forbid them.
func TestModeration(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob", "carol", "dave", "erin")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	carol := login(t, s, "carol", "r")
	dave := login(t, s, "dave", "r")
	erin := login(t, s, "erin", "r")
	alice.create("mod", "alice")
	for _, u := range []*user{bob, carol, dave, erin} {
		u.join("mod", u.name)
	}
	for _, n := range []string{"bob", "carol", "dave", "erin"} {
		alice.presenceFrom("mod", n)
	}
	// A participant may not kick (forbidden); a moderator may not kick
	// an owner (not-allowed).
	wantCond(t, adminSet(bob, "mod", "<item nick='carol' role='none'/>"), "forbidden")
	adminSet(alice, "mod", "<item nick='bob' role='moderator'/>")
	if p := carol.presenceFrom("mod", "bob"); item(p).Attr("role") != "moderator" {
		t.Fatalf("grant moderator: %s", p)
	}
	bob.presenceFrom("mod", "bob")
	wantCond(t, adminSet(bob, "mod", "<item nick='alice' role='none'/>"), "not-allowed")
	wantCond(t, adminSet(bob, "mod", "<item nick='nobody' role='none'/>"), "item-not-found")

	// Kick with a reason: 307 for all, 110 too for the kicked.
	if r := adminSet(bob, "mod", "<item nick='erin' role='none'><reason>be nice</reason></item>"); r.Attr("type") != "result" {
		t.Fatalf("kick: %s", r)
	}
	p := erin.presenceFrom("mod", "erin")
	if p.Attr("type") != "unavailable" || !hasCode(p, 307) || !hasCode(p, 110) || !strings.Contains(p.String(), "<reason>be nice</reason>") || !strings.Contains(p.String(), "<actor nick='bob'/>") {
		t.Fatalf("kicked self-presence: %s", p)
	}
	if p := carol.presenceFrom("mod", "erin"); !hasCode(p, 307) || hasCode(p, 110) || item(p).Attr("role") != "none" {
		t.Fatalf("kick as others see it: %s", p)
	}
	dave.presenceFrom("mod", "erin")

	// Ban: 301, affiliation outcast; and then the ban keeps erin out too.
	adminSet(alice, "mod", "<item affiliation='outcast' jid='dave@localhost'><reason>spam</reason></item>")
	if p := carol.presenceFrom("mod", "dave"); !hasCode(p, 301) || item(p).Attr("affiliation") != "outcast" {
		t.Fatalf("ban: %s", p)
	}
	if p := dave.presenceFrom("mod", "dave"); !hasCode(p, 301) || !hasCode(p, 110) {
		t.Fatalf("banned self-presence: %s", p)
	}
	if c := dave.joinErr("mod", "dave", ""); c != "forbidden" {
		t.Fatalf("banned rejoin: %s", c)
	}
	// A moderator who is not an admin may not ban.
	wantCond(t, adminSet(bob, "mod", "<item affiliation='outcast' jid='carol@localhost'/>"), "forbidden")

	// Membership and the members-only switch: carol (member) stays, bob
	// (none) leaves with 322.
	adminSet(alice, "mod", "<item affiliation='member' jid='carol@localhost'/>")
	if p := bob.presenceFrom("mod", "carol"); item(p).Attr("affiliation") != "member" {
		t.Fatalf("member grant: %s", p)
	}
	carol.presenceFrom("mod", "carol")
	alice.configure("mod", map[string]string{"muc#roomconfig_membersonly": "1"})
	if p := carol.presenceFrom("mod", "bob"); !hasCode(p, 322) || p.Attr("type") != "unavailable" {
		t.Fatalf("members-only removal: %s", p)
	}
	// Revoking carol's membership removes her (321).
	adminSet(alice, "mod", "<item affiliation='none' jid='carol@localhost'/>")
	if p := carol.presenceFrom("mod", "carol"); !hasCode(p, 321) {
		t.Fatalf("membership revoked: %s", p)
	}
	// The last owner may not step down (§10.4: conflict).
	wantCond(t, adminSet(alice, "mod", "<item affiliation='member' jid='alice@localhost'/>"), "conflict")
}

// TestVoice: in a moderated room a visitor requests voice (§7.13), a
// moderator approves with the form (§8.6), and the visitor may speak.
func TestVoice(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.create("v", "alice")
	alice.configure("v", map[string]string{"muc#roomconfig_moderatedroom": "1"})
	bob.join("v", "bob")
	alice.presenceFrom("v", "bob")
	bob.Send(`<message to='v@%s'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#role'><value>participant</value></field></x></message>`, service)
	req, _ := alice.until(func(el *xml.Element) bool { return el.Name() == "message" && el.Child("x", "jabber:x:data") != nil })
	if !strings.Contains(req.String(), "muc#request_allow") || !strings.Contains(req.String(), "<value>bob</value>") {
		t.Fatalf("voice request: %s", req)
	}
	alice.Send(`<message to='v@%s'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field><field var='muc#role'><value>participant</value></field><field var='muc#roomnick'><value>bob</value></field><field var='muc#request_allow'><value>true</value></field></x></message>`, service)
	if p := bob.presenceFrom("v", "bob"); item(p).Attr("role") != "participant" {
		t.Fatalf("voice granted: %s", p)
	}
	bob.say("v", "finally")
	if m := alice.nextGroupchat(); m.Child("body", "").Text() != "finally" {
		t.Fatalf("%s", m)
	}
	// Revoking voice through the admin list (§8.4) and the voice list.
	adminSet(alice, "v", "<item nick='bob' role='visitor'/>")
	if p := bob.presenceFrom("v", "bob"); item(p).Attr("role") != "visitor" {
		t.Fatalf("voice revoked: %s", p)
	}
	if r := adminGet(alice, "v", "<item role='visitor'/>"); !strings.Contains(r.String(), "nick='bob'") {
		t.Fatalf("visitor list: %s", r)
	}
}

// TestInvitations: mediated invitation (§7.8.2) and decline; a direct
// invitation (XEP-0249) through a private message passes unchanged.
func TestInvitations(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	bob.Send("<presence/>") // available: the invitation goes to his bare JID
	bob.until(func(el *xml.Element) bool { return el.Name() == "presence" && el.Attr("from") == bob.JID })
	alice.create("inv", "alice")
	alice.configure("inv", map[string]string{"muc#roomconfig_membersonly": "1", "muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "pw"})
	alice.Send("<message to='inv@%s'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='bob@localhost'><reason>join us</reason></invite></x></message>", service)
	inv, _ := bob.until(func(el *xml.Element) bool { return el.Name() == "message" })
	x := mucX(inv)
	if inv.Attr("from") != "inv@"+service || x == nil || !strings.Contains(x.String(), "from='"+alice.JID+"'") || !strings.Contains(x.String(), "<reason>join us</reason>") || !strings.Contains(x.String(), "<password>pw</password>") {
		t.Fatalf("invitation: %s", inv)
	}
	// The owner's invitation made bob a member of the members-only room.
	bob.join("inv", "bob", "<password>pw</password>")
	bob.Send("<message to='inv@%s'><x xmlns='http://jabber.org/protocol/muc#user'><decline to='%s'><reason>busy</reason></decline></x></message>", service, alice.JID)
	dec, _ := alice.until(func(el *xml.Element) bool { return el.Name() == "message" && mucX(el) != nil })
	if !strings.Contains(dec.String(), "<decline from='bob@localhost'>") || !strings.Contains(dec.String(), "busy") {
		t.Fatalf("decline: %s", dec)
	}
	bob.Send("<message to='inv@%s/alice'><x xmlns='jabber:x:conference' jid='other@%s'/></message>", service, service)
	d, _ := alice.until(func(el *xml.Element) bool {
		return el.Name() == "message" && el.Child("x", "jabber:x:conference") != nil
	})
	if d.Attr("from") != "inv@"+service+"/bob" {
		t.Fatalf("direct invitation: %s", d)
	}
}

// TestDestroy: §10.9, the alternate venue and reason reach everyone.
func TestDestroy(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.create("d", "alice")
	bob.join("d", "bob")
	wantCond(t, bob.iq("<iq type='set' id='ID' to='d@%s'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>", service), "forbidden")
	alice.iqOK("<iq type='set' id='ID' to='d@%s'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='new@%s'><reason>moved</reason></destroy></query></iq>", service, service)
	p := bob.presenceFrom("d", "bob")
	if p.Attr("type") != "unavailable" || !strings.Contains(p.String(), "<destroy jid='new@"+service+"'><reason>moved</reason></destroy>") {
		t.Fatalf("destroy: %s", p)
	}
	wantCond(t, bob.iq("<iq type='get' id='ID' to='d@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service), "item-not-found")
}

// TestOwnersAndAdmins: owners manage the admin and owner lists (§10.3-
// §10.8), admins may not touch them, configuration changes are announced
// (104, 172), and the owner list in the configuration form.
func TestOwnersAndAdmins(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob", "carol")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	carol := login(t, s, "carol", "r")
	alice.create("own", "alice")
	bob.join("own", "bob")
	carol.join("own", "carol")
	alice.presenceFrom("own", "carol")
	bob.presenceFrom("own", "carol")

	if r := adminSet(alice, "own", "<item affiliation='admin' jid='bob@localhost'/>"); r.Attr("type") != "result" {
		t.Fatalf("grant admin: %s", r)
	}
	if p := carol.presenceFrom("own", "bob"); item(p).Attr("affiliation") != "admin" || item(p).Attr("role") != "moderator" {
		t.Fatalf("admin as seen by others: %s", p)
	}
	bob.presenceFrom("own", "bob")
	// An admin may not grant admin or touch an owner (§5.2.2).
	wantCond(t, adminSet(bob, "own", "<item affiliation='admin' jid='carol@localhost'/>"), "not-allowed")
	wantCond(t, adminSet(bob, "own", "<item affiliation='outcast' jid='alice@localhost'/>"), "not-allowed")
	// Admins read the admin and owner lists; others do not.
	if r := adminGet(bob, "own", "<item affiliation='owner'/>"); !strings.Contains(r.String(), "jid='alice@localhost'") {
		t.Fatalf("owner list: %s", r)
	}
	wantCond(t, adminGet(carol, "own", "<item affiliation='admin'/>"), "forbidden")
	// Moderator list (§9.8) for admins.
	if r := adminGet(bob, "own", "<item role='moderator'/>"); !strings.Contains(r.String(), "nick='alice'") || !strings.Contains(r.String(), "nick='bob'") {
		t.Fatalf("moderator list: %s", r)
	}
	// A second owner through the form's owner list; then alice may step
	// down.
	r := alice.configure("own", map[string]string{"muc#roomconfig_roomowners": "carol@localhost", "muc#roomconfig_whois": "anyone"})
	if r.Attr("type") != "result" {
		t.Fatalf("configure owners: %s", r)
	}
	msg, _ := carol.until(func(el *xml.Element) bool { return el.Name() == "message" && hasCode(el, 104) })
	if !hasCode(msg, 172) || msg.Attr("from") != "own@"+service {
		t.Fatalf("config change notice: %s", msg)
	}
	form := carol.iqOK("<iq type='get' id='ID' to='own@%s'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>", service)
	if !strings.Contains(form.String(), "<field var='muc#roomconfig_roomowners' type='jid-multi' label='Full List of Room Owners'><value>carol@localhost</value></field>") {
		t.Fatalf("owners in the form: %s", form)
	}
	// alice is no longer an owner: the form is forbidden to her.
	wantCond(t, alice.iq("<iq type='get' id='ID' to='own@%s'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>", service), "forbidden")
}
