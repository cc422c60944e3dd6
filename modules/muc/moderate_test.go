package muc_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsModerate = "urn:xmpp:message-moderate:1"
	nsRetract  = "urn:xmpp:message-retract:1"
)

// moderate sends a moderation request and returns the answer and what
// arrived before it (the room's announcement comes first).
func (u *user) moderate(room, id, inner string) (*xml.Element, []*xml.Element) {
	u.t.Helper()
	qid := nextID()
	u.Send("<iq type='set' id='%s' to='%s@%s'><moderate xmlns='urn:xmpp:message-moderate:1' id='%s'>%s</moderate></iq>", qid, room, service, id, inner)
	return u.until(func(el *xml.Element) bool { return el.Name() == "iq" && el.Attr("id") == qid })
}

func (u *user) moderateErr(room, id, inner string) *xml.Element {
	u.t.Helper()
	r, _ := u.moderate(room, id, inner)
	return r
}

// archived returns the room's archive as the stanzas MAM returns.
func (u *user) archived(room string) []*xml.Element {
	u.t.Helper()
	id := nextID()
	u.Send("<iq type='set' id='%s' to='%s@%s'><query xmlns='urn:xmpp:mam:2'/></iq>", id, room, service)
	var out []*xml.Element
	for {
		el := u.Next()
		if el.Name() == "iq" && el.Attr("id") == id {
			if el.Attr("type") != "result" {
				u.t.Fatalf("mam: %s", el)
			}
			return out
		}
		if res := el.Child("result", "urn:xmpp:mam:2"); res != nil {
			out = append(out, res.Child("forwarded", "urn:xmpp:forward:0").Child("message", "jabber:client"))
		}
	}
}

func stanzaID(el *xml.Element) string {
	if s := el.Child("stanza-id", "urn:xmpp:sid:0"); s != nil {
		return s.Attr("id")
	}
	return ""
}

func isRetract(el *xml.Element) bool {
	return el.Name() == "message" && el.Child("retract", nsRetract) != nil
}

// wantRetract checks the room's XEP-0424/0425 announcement: the next one u
// reads, or the one among seen.
func wantRetract(t *testing.T, u *user, seen []*xml.Element, room, id, by, reason string) {
	t.Helper()
	var el *xml.Element
	for _, s := range seen {
		if isRetract(s) {
			el = s
		}
	}
	if el == nil {
		el, _ = u.until(isRetract)
	}
	r := el.Child("retract", nsRetract)
	mod := r.Child("moderated", nsModerate)
	if el.Attr("from") != room+"@"+service || el.Attr("type") != "groupchat" || r.Attr("id") != id || mod == nil ||
		mod.Attr("by") != by || mod.Child("occupant-id", "urn:xmpp:occupant-id:0") == nil {
		t.Fatalf("%s: retraction: %s", u.name, el)
	}
	if got := ""; r.Child("reason", nsModerate) != nil {
		got = r.Child("reason", nsModerate).Text()
		if got != reason {
			t.Errorf("reason %q, want %q", got, reason)
		}
	} else if reason != "" {
		t.Errorf("no reason in %s", el)
	}
}

func TestModerateRetract(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob", "carol")
	alice := login(t, s, "alice", "r") // owner, so a moderator
	bob := login(t, s, "bob", "r")
	alice.create("mod", "alice")
	bob.join("mod", "bob")

	if f := features(bob.iqOK("<iq type='get' id='ID' to='mod@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service)); !f[nsModerate] {
		t.Fatalf("room lacks %s", nsModerate)
	}
	bob.say("mod", "DM me for free magic potions!")
	spam := alice.nextGroupchat()
	bob.nextGroupchat()
	alice.say("mod", "keep this")
	keep := alice.nextGroupchat()
	bob.nextGroupchat()
	id := stanzaID(spam)
	if id == "" {
		t.Fatalf("no stanza-id: %s", spam)
	}

	// Not a moderator: forbidden; nothing is retracted.
	wantCond(t, bob.moderateErr("mod", stanzaID(keep), "<retract xmlns='urn:xmpp:message-retract:1'/>"), "forbidden")
	wantCond(t, alice.moderateErr("mod", "no-such-id", "<retract xmlns='urn:xmpp:message-retract:1'/>"), "item-not-found")
	wantCond(t, alice.moderateErr("mod", id, ""), "feature-not-implemented")
	wantCond(t, alice.moderateErr("mod", "", "<retract xmlns='urn:xmpp:message-retract:1'/>"), "bad-request")

	r, seen := alice.moderate("mod", id, "<retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason>")
	if r.Attr("type") != "result" {
		t.Fatalf("moderate: %s", r)
	}
	wantRetract(t, alice, seen, "mod", id, "mod@"+service+"/alice", "spam")
	wantRetract(t, bob, nil, "mod", id, "mod@"+service+"/alice", "spam")
	wantCond(t, alice.moderateErr("mod", id, "<retract xmlns='urn:xmpp:message-retract:1'/>"), "item-not-found")

	// §4: the archive keeps a tombstone in the message's place: its
	// sender and ids, no body.
	arch := alice.archived("mod")
	if len(arch) != 2 || stanzaID(arch[0]) != id || stanzaID(arch[1]) != stanzaID(keep) {
		t.Fatalf("archive: %v", arch)
	}
	tomb := arch[0]
	rd := tomb.Child("retracted", nsRetract)
	if tomb.Child("body", "") != nil || rd == nil || rd.Attr("stamp") == "" || tomb.Attr("from") != "mod@"+service+"/bob" ||
		tomb.Child("occupant-id", "urn:xmpp:occupant-id:0") == nil || rd.Child("moderated", nsModerate) == nil ||
		rd.Child("reason", nsModerate).Text() != "spam" || strings.Contains(tomb.String(), "potions") {
		t.Fatalf("tombstone: %s", tomb)
	}
	if arch[1].Child("body", "").Text() != "keep this" {
		t.Fatalf("other message changed: %s", arch[1])
	}

	// A newcomer's history shows the tombstone, not the message.
	carol := login(t, s, "carol", "r")
	seen = carol.join("mod", "carol")
	var hist []*xml.Element
	for _, el := range seen {
		if el.Name() == "message" && el.Child("delay", "urn:xmpp:delay") != nil && el.Child("subject", "") == nil {
			hist = append(hist, el)
		}
	}
	if len(hist) != 2 || hist[0].Child("retracted", nsRetract) == nil || hist[0].Child("body", "") != nil ||
		strings.Contains(hist[0].String(), "potions") || hist[1].Child("body", "").Text() != "keep this" {
		t.Fatalf("history: %v", hist)
	}
}

// A message that only the archive still holds (the room restarted, or the
// history is shorter) is found and replaced there.
func TestModerateFromArchive(t *testing.T) {
	s := testutil.Start(t, "[muc]\nhistory_messages = 1")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	alice.create("old", "alice")
	bob.join("old", "bob")
	bob.say("old", "first, soon out of the history")
	id := stanzaID(alice.nextGroupchat())
	bob.say("old", "second")
	alice.nextGroupchat()
	if r, _ := alice.moderate("old", id, "<retract xmlns='urn:xmpp:message-retract:1'/>"); r.Attr("type") != "result" {
		t.Fatalf("moderate: %s", r)
	}
	wantRetract(t, bob, nil, "old", id, "old@"+service+"/alice", "")
	if arch := alice.archived("old"); len(arch) != 2 || arch[0].Child("retracted", nsRetract) == nil || arch[0].Child("body", "") != nil {
		t.Fatalf("archive: %v", arch)
	}
}
