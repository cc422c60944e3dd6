package mam_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/modules/mam"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const pw = "secret"

// request and sync are testutil's Client.Request and Client.Sync.
func request(t *testing.T, c *testutil.Client, format string, args ...any) (*xml.Element, []*xml.Element) {
	t.Helper()
	return c.Request(format, args...)
}

func sync(t *testing.T, c *testutil.Client) []*xml.Element {
	t.Helper()
	return c.Sync()
}

// result is one parsed MAM query reply.
type result struct {
	iq       *xml.Element
	ids      []string // <result id/> in arrival order
	bodies   []string // of the forwarded messages, in arrival order
	forwards []*xml.Element
	complete bool
	first    string
	last     string
	index    string
	count    int
}

// form renders a MAM data form from var=value pairs ("ids" may repeat).
func form(fields ...string) string {
	if len(fields) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>")
	for i := 0; i < len(fields); i += 2 {
		fmt.Fprintf(&b, "<field var='%s'><value>%s</value></field>", fields[i], fields[i+1])
	}
	b.WriteString("</x>")
	return b.String()
}

// query runs a MAM query with the given inner XML (form, RSM set, ...).
func query(t *testing.T, c *testutil.Client, inner string) result {
	t.Helper()
	iq, msgs := request(t, c, "<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2' queryid='qid'>"+inner+"</query></iq>")
	r := result{iq: iq}
	for _, m := range msgs {
		res := m.Child("result", mam.NS)
		if res == nil {
			continue // a live message that arrived meanwhile
		}
		if res.Attr("queryid") != "qid" {
			t.Errorf("result queryid = %q", res.Attr("queryid"))
		}
		fw := res.Child("forwarded", mam.NSForward)
		if fw == nil || fw.Child("delay", mam.NSDelay) == nil {
			t.Fatalf("result without forwarded/delay: %s", m)
		}
		if _, err := time.Parse(time.RFC3339, fw.Child("delay", mam.NSDelay).Attr("stamp")); err != nil {
			t.Errorf("delay stamp: %v", err)
		}
		inner := fw.Child("message", xml.NSClient)
		if inner == nil {
			t.Fatalf("no forwarded message: %s", m)
		}
		r.ids = append(r.ids, res.Attr("id"))
		r.bodies = append(r.bodies, inner.Child("body", xml.NSClient).Text())
		r.forwards = append(r.forwards, inner)
	}
	if iq.Attr("type") != "result" {
		return r
	}
	fin := iq.Child("fin", mam.NS)
	if fin == nil {
		t.Fatalf("no fin: %s", iq)
	}
	r.complete = fin.Attr("complete") == "true"
	set := fin.Child("set", mam.NSRSM)
	if set == nil {
		t.Fatalf("no rsm set: %s", iq)
	}
	if f := set.Child("first", mam.NSRSM); f != nil {
		r.first, r.index = f.Text(), f.Attr("index")
	}
	if l := set.Child("last", mam.NSRSM); l != nil {
		r.last = l.Text()
	}
	if n := set.Child("count", mam.NSRSM); n != nil {
		r.count, _ = strconv.Atoi(n.Text())
	}
	return r
}

func mustQuery(t *testing.T, c *testutil.Client, inner string) result {
	t.Helper()
	r := query(t, c, inner)
	if r.iq.Attr("type") != "result" {
		t.Fatalf("query %s: %s", inner, r.iq)
	}
	return r
}

func rsm(inner string) string {
	return "<set xmlns='http://jabber.org/protocol/rsm'>" + inner + "</set>"
}

// stanzaIDs lists the XEP-0359 stanza-ids of a message as "by id".
func stanzaIDs(m *xml.Element) []string {
	var out []string
	for c := range m.Children() {
		if c.Name() == "stanza-id" && c.NS() == mam.NSSID {
			out = append(out, c.Attr("by")+" "+c.Attr("id"))
		}
	}
	return out
}

func setup(t *testing.T, extra ...string) (*testutil.Server, *testutil.Client, *testutil.Client) {
	t.Helper()
	s := testutil.Start(t, strings.Join(extra, ""))
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	alice := testutil.Login(t, s, "alice", pw, "laptop")
	alice.Send("<presence/>")
	bob := testutil.Login(t, s, "bob", pw, "phone")
	bob.Send("<presence/>")
	sync(t, alice)
	sync(t, bob)
	return s, alice, bob
}

// chat sends n messages "prefix0".."prefix{n-1}" from c to 'to' and waits
// until they were routed.
func chat(t *testing.T, c *testutil.Client, to, prefix string, n int) {
	t.Helper()
	for i := range n {
		c.Send("<message to='%s' type='chat' id='%s%d'><body>%s%d</body></message>", to, prefix, i, prefix, i)
	}
	sync(t, c)
}

func TestArchiveBothDirections(t *testing.T) {
	_, alice, bob := setup(t)
	bob.Send("<message to='alice@localhost' type='chat' id='b1'><body>hi alice</body></message>")
	sync(t, bob)
	got := sync(t, alice)
	if len(got) != 1 {
		t.Fatalf("alice got %v", got)
	}
	// XEP-0313 §3.3: the received message says where it is archived.
	sids := stanzaIDs(got[0])
	if len(sids) != 1 || !strings.HasPrefix(sids[0], "alice@localhost ") {
		t.Fatalf("stanza-ids on alice's message: %v (%s)", sids, got[0])
	}
	aliceID := strings.TrimPrefix(sids[0], "alice@localhost ")

	alice.Send("<message to='bob@localhost/phone' type='chat' id='a1'><body>hi bob</body></message>")
	sync(t, alice)
	got = sync(t, bob)
	if len(got) != 1 {
		t.Fatalf("bob got %v", got)
	}
	// Bob's stanza-id is his archive's; alice's must not leak to him.
	sids = stanzaIDs(got[0])
	if len(sids) != 1 || !strings.HasPrefix(sids[0], "bob@localhost ") {
		t.Fatalf("stanza-ids on bob's message: %v (%s)", sids, got[0])
	}

	r := mustQuery(t, alice, "")
	if !slices.Equal(r.bodies, []string{"hi alice", "hi bob"}) || !r.complete || r.count != 2 {
		t.Fatalf("alice's archive: bodies %v complete %v count %d", r.bodies, r.complete, r.count)
	}
	if r.ids[0] != aliceID || r.first != r.ids[0] || r.last != r.ids[1] || r.index != "0" {
		t.Errorf("ids %v first %q last %q index %q; stanza-id was %q", r.ids, r.first, r.last, r.index, aliceID)
	}
	in, out := r.forwards[0], r.forwards[1]
	if in.Attr("from") != "bob@localhost/phone" || in.Attr("to") != "alice@localhost" || in.Attr("id") != "b1" {
		t.Errorf("incoming archived as %s", in)
	}
	if out.Attr("from") != "alice@localhost/laptop" || out.Attr("to") != "bob@localhost/phone" || out.Attr("id") != "a1" {
		t.Errorf("outgoing archived as %s", out)
	}
	r2 := mustQuery(t, bob, "")
	if !slices.Equal(r2.bodies, []string{"hi alice", "hi bob"}) || r2.count != 2 {
		t.Fatalf("bob's archive: %v", r2.bodies)
	}
	// Both archives hold each message as its sender sent it: no archive's
	// stanza-id (route strips alice's and adds bob's in one copy, and
	// archives that copy without bob's).
	for i := range 2 {
		if a, b := r.forwards[i].String(), r2.forwards[i].String(); a != b || strings.Contains(a, "stanza-id") {
			t.Errorf("message %d archived as\n%s (alice)\n%s (bob)", i, a, b)
		}
	}
}

func TestIncomingWhileOffline(t *testing.T) {
	s, _, bob := setup(t)
	s.AddUser(t, "carol", pw)
	chat(t, bob, "carol@localhost", "m", 2)

	carol := testutil.Login(t, s, "carol", pw, "tablet")
	carol.Send("<presence/>")
	got := sync(t, carol)
	if len(got) != 2 {
		t.Fatalf("carol got %d offline messages", len(got))
	}
	r := mustQuery(t, carol, "")
	if !slices.Equal(r.bodies, []string{"m0", "m1"}) {
		t.Fatalf("carol's archive: %v", r.bodies)
	}
	// The stored offline copy carries the same stanza-id as the archive.
	for i, m := range got {
		if sids := stanzaIDs(m); len(sids) != 1 || sids[0] != "carol@localhost "+r.ids[i] {
			t.Errorf("offline message %d: stanza-ids %v, archive id %s", i, sids, r.ids[i])
		}
	}
	// Dave has a session but no available resource: the message goes to
	// offline storage through both hooks and is archived once, with one
	// stanza-id.
	s.AddUser(t, "dave", pw)
	dave := testutil.Login(t, s, "dave", pw, "x")
	bob.Send("<message to='dave@localhost' type='chat'><body>later</body></message>")
	sync(t, bob)
	if got := sync(t, dave); len(got) != 0 {
		t.Fatalf("unavailable dave got %v", got)
	}
	dave.Send("<presence/>")
	got = sync(t, dave)
	if len(got) != 1 {
		t.Fatalf("dave got %v", got)
	}
	r = mustQuery(t, dave, "")
	if r.count != 1 || !slices.Equal(stanzaIDs(got[0]), []string{"dave@localhost " + r.ids[0]}) {
		t.Errorf("dave: count %d, stanza-ids %v, archive ids %v", r.count, stanzaIDs(got[0]), r.ids)
	}
}

func TestFilters(t *testing.T) {
	s, alice, bob := setup(t)
	s.AddUser(t, "carol", pw)
	carol := testutil.Login(t, s, "carol", pw, "x")
	chat(t, bob, "alice@localhost", "bob", 2)
	time.Sleep(20 * time.Millisecond) // distinct milliseconds for start/end
	mid := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	chat(t, carol, "alice@localhost", "carol", 1)
	chat(t, alice, "bob@localhost", "alice", 1)
	sync(t, alice)

	all := mustQuery(t, alice, "")
	if !slices.Equal(all.bodies, []string{"bob0", "bob1", "carol0", "alice0"}) {
		t.Fatalf("all: %v", all.bodies)
	}
	stamp := mid.Format(time.RFC3339Nano)
	for _, c := range []struct {
		name, inner string
		want        []string
	}{
		// 'with' matches to or from (§4.1.1): incoming and outgoing.
		{"with bob", form("with", "bob@localhost"), []string{"bob0", "bob1", "alice0"}},
		{"with full JID matches bare", form("with", "carol@localhost/x"), []string{"carol0"}},
		{"with nobody", form("with", "dave@localhost"), nil},
		{"start", form("start", stamp), []string{"carol0", "alice0"}},
		{"end", form("end", stamp), []string{"bob0", "bob1"}},
		{"start with", form("start", stamp, "with", "bob@localhost"), []string{"alice0"}},
		{"ids", form("ids", all.ids[2]), []string{"carol0"}},
		{"after-id", form("after-id", all.ids[1]), []string{"carol0", "alice0"}},
		{"before-id", form("before-id", all.ids[1]), []string{"bob0"}},
		{"after-id before-id", form("after-id", all.ids[0], "before-id", all.ids[3]), []string{"bob1", "carol0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mustQuery(t, alice, c.inner)
			if !slices.Equal(r.bodies, c.want) || r.count != len(c.want) || !r.complete {
				t.Errorf("bodies %v count %d complete %v, want %v", r.bodies, r.count, r.complete, c.want)
			}
		})
	}
	// Several ids, in one multi-valued field.
	r := mustQuery(t, alice, "<x xmlns='jabber:x:data' type='submit'><field var='ids'><value>"+all.ids[3]+"</value><value>"+all.ids[0]+"</value></field></x>")
	if !slices.Equal(r.bodies, []string{"bob0", "alice0"}) {
		t.Errorf("two ids: %v", r.bodies)
	}
}

func TestPaging(t *testing.T) {
	_, alice, bob := setup(t)
	chat(t, bob, "alice@localhost", "m", 7)
	sync(t, alice)

	// Forward: 3, 3, 1.
	var got []string
	after := ""
	for page := 0; ; page++ {
		set := "<max>3</max>"
		if after != "" {
			set += "<after>" + after + "</after>"
		}
		r := mustQuery(t, alice, rsm(set))
		got = append(got, r.bodies...)
		if r.count != 7 {
			t.Errorf("page %d count %d", page, r.count)
		}
		if r.complete != (page == 2) || len(r.bodies) != []int{3, 3, 1}[page] {
			t.Fatalf("page %d: %v complete %v", page, r.bodies, r.complete)
		}
		if r.first != r.ids[0] || r.last != r.ids[len(r.ids)-1] {
			t.Errorf("page %d first/last %s %s, ids %v", page, r.first, r.last, r.ids)
		}
		if r.complete {
			break
		}
		after = r.last
	}
	if !slices.Equal(got, []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6"}) {
		t.Fatalf("forward: %v", got)
	}

	// Backward from the last page (empty <before/>): 3, 3, 1, each page in
	// chronological order.
	r := mustQuery(t, alice, rsm("<max>3</max><before/>"))
	if !slices.Equal(r.bodies, []string{"m4", "m5", "m6"}) || r.complete || r.index != "" {
		t.Fatalf("last page: %v complete %v index %q", r.bodies, r.complete, r.index)
	}
	r = mustQuery(t, alice, rsm("<max>3</max><before>"+r.first+"</before>"))
	if !slices.Equal(r.bodies, []string{"m1", "m2", "m3"}) || r.complete {
		t.Fatalf("page before: %v complete %v", r.bodies, r.complete)
	}
	r = mustQuery(t, alice, rsm("<max>3</max><before>"+r.first+"</before>"))
	if !slices.Equal(r.bodies, []string{"m0"}) || !r.complete || r.count != 7 {
		t.Fatalf("first page backwards: %v complete %v", r.bodies, r.complete)
	}

	// Flipped (§4.3.5): the same page, newest first.
	r = mustQuery(t, alice, rsm("<max>3</max><before/>")+"<flip-page/>")
	if !slices.Equal(r.bodies, []string{"m6", "m5", "m4"}) {
		t.Fatalf("flipped: %v", r.bodies)
	}

	// after-id narrows the result set (and its count); RSM pages inside it.
	all := mustQuery(t, alice, "")
	r = mustQuery(t, alice, form("after-id", all.ids[0])+rsm("<max>2</max>"))
	if !slices.Equal(r.bodies, []string{"m1", "m2"}) || r.count != 6 || r.complete {
		t.Fatalf("after-id page 1: %v count %d complete %v", r.bodies, r.count, r.complete)
	}
	r = mustQuery(t, alice, form("after-id", all.ids[0])+rsm("<max>2</max><after>"+r.last+"</after>"))
	if !slices.Equal(r.bodies, []string{"m3", "m4"}) || r.count != 6 {
		t.Fatalf("after-id page 2: %v count %d", r.bodies, r.count)
	}
	r = mustQuery(t, alice, form("before-id", all.ids[6])+rsm("<max>2</max><before/>"))
	if !slices.Equal(r.bodies, []string{"m4", "m5"}) || r.count != 6 || r.complete {
		t.Fatalf("before-id last page: %v count %d complete %v", r.bodies, r.count, r.complete)
	}

	// max=0: only the count (XEP-0059 §2.7).
	r = mustQuery(t, alice, rsm("<max>0</max>"))
	if len(r.bodies) != 0 || r.count != 7 || r.first != "" {
		t.Fatalf("count only: %v count %d", r.bodies, r.count)
	}
}

func TestMaxPage(t *testing.T) {
	_, alice, bob := setup(t, "\n[archive]\nmax_page = 2\n")
	chat(t, bob, "alice@localhost", "m", 3)
	sync(t, alice)
	for _, inner := range []string{"", rsm("<max>50</max>")} {
		r := mustQuery(t, alice, inner)
		if !slices.Equal(r.bodies, []string{"m0", "m1"}) || r.complete || r.count != 3 {
			t.Errorf("query %q: %v complete %v count %d", inner, r.bodies, r.complete, r.count)
		}
	}
}

func TestPrefs(t *testing.T) {
	s, alice, bob := setup(t)
	s.AddUser(t, "carol", pw)
	carol := testutil.Login(t, s, "carol", pw, "x")

	prefs := func(body string) *xml.Element {
		t.Helper()
		r, _ := request(t, alice, "<iq type='set' id='%s'>"+body+"</iq>")
		if r.Attr("type") != "result" {
			t.Fatalf("prefs set %s: %s", body, r)
		}
		return r.Child("prefs", mam.NS)
	}
	r, _ := request(t, alice, "<iq type='get' id='%s'><prefs xmlns='urn:xmpp:mam:2'/></iq>")
	if p := r.Child("prefs", mam.NS); p == nil || p.Attr("default") != "always" ||
		p.Child("always", mam.NS) == nil || p.Child("never", mam.NS) == nil {
		t.Fatalf("default prefs: %s", r)
	}

	// never by default, bob always.
	p := prefs("<prefs xmlns='urn:xmpp:mam:2' default='never'><always><jid>bob@localhost</jid></always><never/></prefs>")
	if p.Attr("default") != "never" || p.Child("always", mam.NS).Child("jid", mam.NS).Text() != "bob@localhost" {
		t.Fatalf("applied prefs: %s", p)
	}
	chat(t, bob, "alice@localhost", "bob", 1)
	chat(t, carol, "alice@localhost", "carol", 1)
	chat(t, alice, "carol@localhost", "tocarol", 1)
	msgs := sync(t, alice)
	for _, m := range msgs {
		// Not archived: no stanza-id.
		if m.Child("body", xml.NSClient).Text() == "carol0" && len(stanzaIDs(m)) != 0 {
			t.Errorf("unarchived message has a stanza-id: %s", m)
		}
	}
	if r := mustQuery(t, alice, ""); !slices.Equal(r.bodies, []string{"bob0"}) {
		t.Fatalf("default never, always bob: %v", r.bodies)
	}
	// Carol archived nonetheless in her own archive (her default).
	if r := mustQuery(t, carol, ""); !slices.Equal(r.bodies, []string{"carol0", "tocarol0"}) {
		t.Fatalf("carol's archive: %v", r.bodies)
	}

	// always by default, carol never (outgoing too).
	prefs("<prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never><jid>carol@localhost</jid></never></prefs>")
	chat(t, carol, "alice@localhost", "carol", 1)
	chat(t, alice, "carol@localhost/x", "tocarol", 1)
	chat(t, bob, "alice@localhost", "bob", 1)
	sync(t, alice)
	if r := mustQuery(t, alice, ""); !slices.Equal(r.bodies, []string{"bob0", "bob0"}) {
		t.Fatalf("never carol: %v", r.bodies)
	}

	// roster: only contacts in the roster (bob, added now).
	prefs("<prefs xmlns='urn:xmpp:mam:2' default='roster'/>")
	chat(t, carol, "alice@localhost", "carol", 1)
	r, _ = request(t, alice, "<iq type='set' id='%s'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("roster set: %s", r)
	}
	chat(t, bob, "alice@localhost", "bob", 1)
	sync(t, alice)
	if r := mustQuery(t, alice, ""); !slices.Equal(r.bodies, []string{"bob0", "bob0", "bob0"}) {
		t.Fatalf("roster: %v", r.bodies)
	}
	r, _ = request(t, alice, "<iq type='get' id='%s'><prefs xmlns='urn:xmpp:mam:2'/></iq>")
	if p := r.Child("prefs", mam.NS); p == nil || p.Attr("default") != "roster" || p.Child("never", mam.NS).Child("jid", mam.NS) != nil {
		t.Fatalf("prefs after roster set: %s", r)
	}

	// Invalid default.
	r, _ = request(t, alice, "<iq type='set' id='%s'><prefs xmlns='urn:xmpp:mam:2' default='sometimes'/></iq>")
	if testutil.ErrorCondition(r) != stanza.BadRequest {
		t.Errorf("invalid default: %s", r)
	}
}

func TestHints(t *testing.T) {
	s, alice, bob := setup(t)
	for _, m := range []string{
		"<message to='alice@localhost' type='chat'><body>plain</body></message>",
		"<message to='alice@localhost' type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>",
		"<message to='alice@localhost' type='chat'><body>x</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>",
		"<message to='alice@localhost' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
		"<message to='alice@localhost' type='headline'><body>x</body></message>",
		"<message to='alice@localhost'><body>normal</body></message>",
		"<message to='alice@localhost' type='chat'><store xmlns='urn:xmpp:hints'/><body>hinted</body></message>",
	} {
		bob.Send("%s", m)
	}
	sync(t, bob)
	sync(t, alice)
	r := mustQuery(t, alice, "")
	if !slices.Equal(r.bodies, []string{"plain", "normal", "hinted"}) {
		t.Fatalf("archived %v", r.bodies)
	}
	// groupchat to an account bounces and is the room's business anyway.
	_ = s
}

func TestStanzaIDSpoofing(t *testing.T) {
	_, alice, bob := setup(t)
	bob.Send("<message to='alice@localhost' type='chat'><body>x</body>" +
		"<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='forged'/>" +
		"<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.example' id='kept'/></message>")
	// Not archived (no body), still stripped (XEP-0359 §4: even when the
	// entity adds no id of its own).
	bob.Send("<message to='alice@localhost' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/>" +
		"<stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='forged2'/></message>")
	sync(t, bob)
	got := sync(t, alice)
	if len(got) != 2 {
		t.Fatalf("alice got %v", got)
	}
	r := mustQuery(t, alice, "")
	sids := stanzaIDs(got[0])
	want := []string{"room@muc.example kept", "alice@localhost " + r.ids[0]}
	if !slices.Equal(sids, want) {
		t.Errorf("stanza-ids %v, want %v", sids, want)
	}
	if sids := stanzaIDs(got[1]); len(sids) != 0 {
		t.Errorf("forged stanza-id on an unarchived message kept: %v", sids)
	}
	// Nor does a user's own outgoing message carry an id to the contact,
	// even a forged one.
	alice.Send("<message to='bob@localhost' type='chat'><body>y</body><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='mine'/></message>")
	sync(t, alice)
	got = sync(t, bob)
	if len(got) != 1 {
		t.Fatalf("bob got %v", got)
	}
	for _, s := range stanzaIDs(got[0]) {
		if strings.HasPrefix(s, "alice@localhost ") {
			t.Errorf("alice's stanza-id reached bob: %s", got[0])
		}
	}
}

func TestRestartKeepsArchive(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob := testutil.Login(t, s, "bob", pw, "phone")
	chat(t, bob, "alice@localhost", "m", 3)
	bob.Close()
	s.Stop(t)

	s2 := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	alice := testutil.Login(t, s2, "alice", pw, "laptop")
	r := mustQuery(t, alice, "")
	if !slices.Equal(r.bodies, []string{"m0", "m1", "m2"}) {
		t.Fatalf("after restart: %v", r.bodies)
	}
}

// TestStopWritesQueue: what the writer holds when the server stops is
// written before storage closes. The module's goroutines are cancelled
// before its Stop runs (module.StopAll); the writer is not one of them
// and drains in Stop. With a write interval of a second, the messages
// after the first wait in the queue when the server stops (they could
// only be written early, never lost, so the test cannot fail wrongly).
func TestStopWritesQueue(t *testing.T) {
	dir := t.TempDir()
	conf := testutil.BaseConfig(dir) + "[archive]\nwrite_interval = \"1s\"\n"
	s := testutil.StartIn(t, dir, conf)
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob := testutil.Login(t, s, "bob", pw, "phone")
	chat(t, bob, "alice@localhost", "q", 5)
	bob.Close()
	s.Stop(t)

	s2 := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	alice := testutil.Login(t, s2, "alice", pw, "laptop")
	r := mustQuery(t, alice, "")
	if !slices.Equal(r.bodies, []string{"q0", "q1", "q2", "q3", "q4"}) {
		t.Fatalf("after restart: %v", r.bodies)
	}
}

func TestErrors(t *testing.T) {
	_, alice, bob := setup(t)
	chat(t, bob, "alice@localhost", "m", 1)
	for _, c := range []struct {
		name, inner, want string
	}{
		{"unknown rsm after", rsm("<after>nope</after>"), stanza.ItemNotFound},
		{"unknown rsm before", rsm("<before>nope</before>"), stanza.ItemNotFound},
		{"unknown after-id", form("after-id", "nope"), stanza.ItemNotFound},
		{"unknown before-id", form("before-id", "nope"), stanza.ItemNotFound},
		{"unknown ids", form("ids", "nope"), stanza.ItemNotFound},
		{"bad FORM_TYPE", "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>", stanza.BadRequest},
		{"bad start", form("start", "yesterday"), stanza.BadRequest},
		{"bad with", form("with", "@@"), stanza.BadRequest},
		{"unknown field", form("{urn:example}fulltext", "x"), stanza.FeatureNotImplemented},
		{"bad max", rsm("<max>-1</max>"), stanza.BadRequest},
		{"after and before", rsm("<after>a</after><before>b</before>"), stanza.BadRequest},
		{"form type", "<x xmlns='jabber:x:data' type='form'/>", stanza.BadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := query(t, alice, c.inner)
			if r.iq.Attr("type") != "error" || testutil.ErrorCondition(r.iq) != c.want {
				t.Errorf("reply %s, want %s", r.iq, c.want)
			}
			if len(r.bodies) != 0 {
				t.Errorf("results sent with an error: %v", r.bodies)
			}
		})
	}
	// Another account's archive is not readable (XEP-0313 §9.1).
	r, _ := request(t, bob, "<iq type='set' id='%s' to='alice@localhost'><query xmlns='urn:xmpp:mam:2'/></iq>")
	if testutil.ErrorCondition(r) != stanza.Forbidden {
		t.Errorf("query of alice's archive by bob: %s", r)
	}
	r, _ = request(t, bob, "<iq type='get' id='%s' to='alice@localhost'><prefs xmlns='urn:xmpp:mam:2'/></iq>")
	if testutil.ErrorCondition(r) != stanza.Forbidden {
		t.Errorf("prefs of alice by bob: %s", r)
	}
}

func TestDiscoFormMetadata(t *testing.T) {
	_, alice, bob := setup(t)
	r, _ := request(t, alice, "<iq type='get' id='%s' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	var feats []string
	for f := range r.Child("query", "http://jabber.org/protocol/disco#info").Children() {
		feats = append(feats, f.Attr("var"))
	}
	for _, f := range []string{mam.NS, mam.NSExtended, mam.NSSID} {
		if !slices.Contains(feats, f) {
			t.Errorf("account disco#info lacks %s: %v", f, feats)
		}
	}

	r, _ = request(t, alice, "<iq type='get' id='%s'><query xmlns='urn:xmpp:mam:2'/></iq>")
	x := r.Child("query", mam.NS).Child("x", mam.NSData)
	var vars []string
	for f := range x.Children() {
		vars = append(vars, f.Attr("var"))
	}
	if !slices.Equal(vars, []string{"FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"}) {
		t.Errorf("form fields %v", vars)
	}

	r, _ = request(t, alice, "<iq type='get' id='%s'><metadata xmlns='urn:xmpp:mam:2'/></iq>")
	if md := r.Child("metadata", mam.NS); md == nil || md.FirstChild() != nil {
		t.Fatalf("metadata of an empty archive: %s", r)
	}
	chat(t, bob, "alice@localhost", "m", 3)
	all := mustQuery(t, alice, "")
	r, _ = request(t, alice, "<iq type='get' id='%s'><metadata xmlns='urn:xmpp:mam:2'/></iq>")
	md := r.Child("metadata", mam.NS)
	if md.Child("start", mam.NS).Attr("id") != all.ids[0] || md.Child("end", mam.NS).Attr("id") != all.ids[2] {
		t.Errorf("metadata %s, ids %v", md, all.ids)
	}
	if _, err := time.Parse(time.RFC3339, md.Child("end", mam.NS).Attr("timestamp")); err != nil {
		t.Errorf("metadata timestamp: %v", err)
	}
}

func TestMaxMessages(t *testing.T) {
	_, alice, bob := setup(t, "\n[archive]\nmax_messages = 2\nprune_interval = \"1s\"\n")
	chat(t, bob, "alice@localhost", "m", 5)
	sync(t, alice)
	// Pruning runs in the background: poll for it (no timing asserted).
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := mustQuery(t, alice, "")
		if r.count == 2 {
			if !slices.Equal(r.bodies, []string{"m3", "m4"}) {
				t.Fatalf("kept %v, want the newest", r.bodies)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("archive still holds %d messages", r.count)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDisabled(t *testing.T) {
	_, alice, bob := setup(t, "\n[archive]\nenabled = false\n")
	bob.Send("<message to='alice@localhost' type='chat'><body>x</body></message>")
	sync(t, bob)
	got := sync(t, alice)
	if len(got) != 1 || len(stanzaIDs(got[0])) != 0 {
		t.Fatalf("alice got %v", got)
	}
	r := query(t, alice, "")
	if testutil.ErrorCondition(r.iq) != stanza.ServiceUnavailable {
		t.Errorf("query with archiving disabled: %s", r.iq)
	}
}

func TestAccountRemovalDeletesArchive(t *testing.T) {
	s, alice, bob := setup(t)
	chat(t, bob, "alice@localhost", "m", 2)
	if r := mustQuery(t, alice, ""); r.count != 2 {
		t.Fatalf("count %d", r.count)
	}
	// XEP-0077 §3.2: the account cancels its registration.
	r, _ := request(t, alice, "<iq type='set' id='%s'><query xmlns='jabber:iq:register'><remove/></query></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("remove: %s", r)
	}
	s.AddUser(t, "alice", pw)
	alice2 := testutil.Login(t, s, "alice", pw, "new")
	if r := mustQuery(t, alice2, ""); r.count != 0 || len(r.bodies) != 0 {
		t.Fatalf("re-created account sees the old archive: %v", r.bodies)
	}
	// Bob's copy is his and stays.
	if r := mustQuery(t, bob, ""); r.count != 2 {
		t.Errorf("bob's archive count %d", r.count)
	}
}

// XEP-0313 §3.3: carbons copies carry the stanza-id of the account's
// archive, in the forwarded message; the contact still gets none.
func TestCarbonsCopies(t *testing.T) {
	s, alice, bob := setup(t)
	alice2 := testutil.Login(t, s, "alice", pw, "desktop")
	if r, _ := request(t, alice2, "<iq type='set' id='%s'><enable xmlns='urn:xmpp:carbons:2'/></iq>"); r.Attr("type") != "result" {
		t.Fatalf("enable carbons: %s", r)
	}
	alice.Send("<message to='bob@localhost/phone' type='chat'><body>out</body></message>")
	sync(t, alice)
	bob.Send("<message to='alice@localhost/laptop' type='chat'><body>in</body></message>")
	bobGot := sync(t, bob) // holds "out"
	got := sync(t, alice2)
	if len(got) != 2 {
		t.Fatalf("alice2 got %v", got)
	}
	r := mustQuery(t, alice, "")
	if !slices.Equal(r.bodies, []string{"out", "in"}) {
		t.Fatalf("archive %v", r.bodies)
	}
	for i, kind := range []string{"sent", "received"} {
		c := got[i].Child(kind, "urn:xmpp:carbons:2")
		if c == nil {
			t.Fatalf("copy %d is not %s: %s", i, kind, got[i])
		}
		inner := c.Child("forwarded", mam.NSForward).Child("message", xml.NSClient)
		if sids := stanzaIDs(inner); !slices.Equal(sids, []string{"alice@localhost " + r.ids[i]}) {
			t.Errorf("%s copy stanza-ids %v, archive id %s", kind, sids, r.ids[i])
		}
	}
	if len(bobGot) != 1 {
		t.Fatalf("bob got %v", bobGot)
	}
	for _, m := range bobGot {
		for _, sid := range stanzaIDs(m) {
			if strings.HasPrefix(sid, "alice@") {
				t.Errorf("bob got alice's stanza-id: %s", m)
			}
		}
	}
}

// [archive] default applies to accounts that never set preferences.
func TestConfiguredDefault(t *testing.T) {
	_, alice, bob := setup(t, "\n[archive]\ndefault = \"never\"\n")
	r, _ := request(t, alice, "<iq type='get' id='%s'><prefs xmlns='urn:xmpp:mam:2'/></iq>")
	if p := r.Child("prefs", mam.NS); p == nil || p.Attr("default") != "never" {
		t.Fatalf("prefs: %s", r)
	}
	chat(t, bob, "alice@localhost", "m", 1)
	if got := sync(t, alice); len(got) != 1 || len(stanzaIDs(got[0])) != 0 {
		t.Fatalf("alice got %v", got)
	}
	if res := mustQuery(t, alice, ""); res.count != 0 {
		t.Fatalf("archived with default never: %v", res.bodies)
	}
	// An account that opts in is archived.
	if r, _ := request(t, alice, "<iq type='set' id='%s'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>"); r.Attr("type") != "result" {
		t.Fatalf("prefs set: %s", r)
	}
	chat(t, bob, "alice@localhost", "n", 1)
	if res := mustQuery(t, alice, ""); !slices.Equal(res.bodies, []string{"n0"}) {
		t.Fatalf("after opting in: %v", res.bodies)
	}
}

// XEP-0198: a message the client never acknowledged goes back to the
// router when the session ends, already archived and carrying its
// stanza-id; it must be neither archived twice nor stripped of its id as
// if it were forged.
func TestHandedBackMessageArchivedOnce(t *testing.T) {
	s := testutil.Start(t, "\n[limits]\nresume_timeout = \"300ms\"\n")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob := testutil.Login(t, s, "bob", pw, "pc")
	alice := testutil.Login(t, s, "alice", pw, "phone")
	alice.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	alice.Send("<presence/>")
	bob.Send("<message to='alice@localhost' type='chat'><body>kept</body></message>")
	var first *xml.Element
	for first == nil {
		if el := alice.Next(); el.Name() == "message" {
			first = el
		}
	}
	sids := stanzaIDs(first)
	if len(sids) != 1 {
		t.Fatalf("delivered with stanza-ids %v", sids)
	}
	alice.Conn.Close() // never acked: handed back after resume_timeout

	a2 := testutil.Login(t, s, "alice", pw, "laptop")
	// Polls for the end of the old session (bob and a2 remain); no
	// timing is asserted.
	deadline := time.Now().Add(10 * time.Second)
	for s.Sessions() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("old session did not end")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a2.Send("<presence/>")
	var again *xml.Element
	for again == nil {
		for _, m := range sync(t, a2) {
			if m.Child("body", xml.NSClient) != nil {
				again = m
			}
		}
		if again == nil && time.Now().After(deadline) {
			t.Fatal("the unacknowledged message was not delivered again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := stanzaIDs(again); !slices.Equal(got, sids) {
		t.Errorf("handed-back message stanza-ids %v, first delivery %v", got, sids)
	}
	if r := mustQuery(t, a2, ""); r.count != 1 || "alice@localhost "+r.ids[0] != sids[0] {
		t.Errorf("archive holds %d (%v), want the one message %v", r.count, r.ids, sids)
	}
}
