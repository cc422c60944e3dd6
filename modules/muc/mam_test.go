package muc_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// mamQuery sends an XEP-0313 query to room and returns the bodies of the
// results and the <fin/>.
func (u *user) mamQuery(room, inner string) ([]string, []string, *xml.Element) {
	u.t.Helper()
	id := nextID()
	u.Send("<iq type='set' id='%s' to='%s@%s'><query xmlns='urn:xmpp:mam:2' queryid='qq'>%s</query></iq>", id, room, service, inner)
	var bodies, ids []string
	for {
		el := u.Next()
		if el.Name() == "iq" && el.Attr("id") == id {
			if el.Attr("type") != "result" {
				return nil, nil, el
			}
			return bodies, ids, el.Child("fin", "urn:xmpp:mam:2")
		}
		res := el.Child("result", "urn:xmpp:mam:2")
		if el.Name() != "message" || res == nil {
			continue
		}
		if res.Attr("queryid") != "qq" {
			u.t.Fatalf("queryid: %s", el)
		}
		fwd := res.Child("forwarded", "urn:xmpp:forward:0")
		msg := fwd.Child("message", "jabber:client")
		if fwd.Child("delay", "urn:xmpp:delay") == nil || msg == nil {
			u.t.Fatalf("result: %s", el)
		}
		if sid := msg.Child("stanza-id", "urn:xmpp:sid:0"); sid == nil || sid.Attr("id") != res.Attr("id") {
			t := u.t
			t.Fatalf("archive id is not the stanza-id: %s", el)
		}
		bodies = append(bodies, msg.Child("body", "").Text())
		ids = append(ids, res.Attr("id"))
	}
}

// TestRoomMAM: XEP-0313 on the room JID: the whole archive, RSM pages
// forwards and backwards, the with filter, and who may read.
func TestRoomMAM(t *testing.T) {
	s := testutil.Start(t, "")
	addUsers(t, s, "alice", "bob", "carol")
	alice := login(t, s, "alice", "r")
	bob := login(t, s, "bob", "r")
	carol := login(t, s, "carol", "r")
	alice.create("arch", "alice")
	bob.join("arch", "bob")
	for i, u := range []*user{alice, bob, alice, bob, alice} {
		u.say("arch", []string{"m1", "m2", "m3", "m4", "m5"}[i])
		alice.nextGroupchat()
		bob.nextGroupchat()
	}
	if f := features(bob.iqOK("<iq type='get' id='ID' to='arch@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service)); !f["urn:xmpp:mam:2"] {
		t.Fatalf("room lacks urn:xmpp:mam:2")
	}
	bodies, ids, fin := bob.mamQuery("arch", "")
	if strings.Join(bodies, ",") != "m1,m2,m3,m4,m5" || fin.Attr("complete") != "true" {
		t.Fatalf("whole archive: %v %s", bodies, fin)
	}
	bodies, _, fin = bob.mamQuery("arch", "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>")
	if strings.Join(bodies, ",") != "m1,m2" || fin.Attr("complete") == "true" || !strings.Contains(fin.String(), "<count>5</count>") {
		t.Fatalf("first page: %v %s", bodies, fin)
	}
	bodies, _, _ = bob.mamQuery("arch", "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><after>"+ids[1]+"</after></set>")
	if strings.Join(bodies, ",") != "m3,m4" {
		t.Fatalf("second page: %v", bodies)
	}
	bodies, _, _ = bob.mamQuery("arch", "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set>")
	if strings.Join(bodies, ",") != "m4,m5" {
		t.Fatalf("last page: %v", bodies)
	}
	bodies, _, _ = bob.mamQuery("arch", "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='with'><value>arch@"+service+"/bob</value></field></x>")
	if strings.Join(bodies, ",") != "m2,m4" {
		t.Fatalf("with bob: %v", bodies)
	}
	_, _, e := bob.mamQuery("arch", "<set xmlns='http://jabber.org/protocol/rsm'><after>nope</after></set>")
	wantCond(t, e, "item-not-found")
	// Members-only: a non-member may not read.
	alice.configure("arch", map[string]string{"muc#roomconfig_membersonly": "1"})
	_, _, e = carol.mamQuery("arch", "")
	wantCond(t, e, "forbidden")
}

// TestRoomArchiveOff: with [muc] archive = false the rooms keep no
// archive: no urn:xmpp:mam:2 on the room, a MAM query is answered with
// service-unavailable, the join history still comes from memory, and
// nothing reached the database (the same data directory served again
// with the archive on finds the persistent room's archive empty).
func TestRoomArchiveOff(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir)+"[muc]\narchive = false\n")
	addUsers(t, s, "alice", "bob")
	alice := login(t, s, "alice", "r")
	alice.create("quiet", "alice")
	if r := alice.configure("quiet", map[string]string{"muc#roomconfig_persistentroom": "1"}); r.Attr("type") != "result" {
		t.Fatalf("configure: %s", r)
	}
	alice.say("quiet", "m1")
	alice.nextGroupchat()
	if f := features(alice.iqOK("<iq type='get' id='ID' to='quiet@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", service)); f["urn:xmpp:mam:2"] {
		t.Fatalf("room without an archive announces urn:xmpp:mam:2")
	}
	_, _, e := alice.mamQuery("quiet", "")
	wantCond(t, e, "service-unavailable")
	bob := login(t, s, "bob", "r")
	if got := bob.join("quiet", "bob"); !strings.Contains(fmt.Sprint(got), "<body>m1</body>") {
		t.Fatalf("join history lacks m1: %v", got)
	}
	s.Stop(t)

	s = testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	alice = login(t, s, "alice", "r")
	bodies, _, fin := alice.mamQuery("quiet", "")
	if fin == nil || len(bodies) != 0 {
		t.Fatalf("room archive written with archive = false: %v %v", bodies, fin)
	}
}

// TestRoomArchiveInterval: with a long [muc] archive_interval the
// messages wait for their commit, but a MAM query first commits what
// was queued before it, so it still sees every message already echoed.
func TestRoomArchiveInterval(t *testing.T) {
	s := testutil.Start(t, "[muc]\narchive_interval = \"1s\"\nmessage_rate = 0.0\n")
	addUsers(t, s, "alice")
	alice := login(t, s, "alice", "r")
	alice.create("slow", "alice")
	var want []string
	for i := range 5 {
		b := fmt.Sprint("m", i)
		alice.say("slow", b)
		alice.nextGroupchat()
		want = append(want, b)
	}
	bodies, _, fin := alice.mamQuery("slow", "")
	if fin == nil || strings.Join(bodies, ",") != strings.Join(want, ",") {
		t.Fatalf("archive: %v %v", bodies, fin)
	}
}
