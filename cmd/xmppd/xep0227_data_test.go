package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

var pieIQ atomic.Int64

// nextWhere returns the next element c receives for which ok holds.
func nextWhere(c *testutil.Client, ok func(*xml.Element) bool) *xml.Element {
	for {
		if el := c.Next(); ok(el) {
			return el
		}
	}
}

// iq sends an IQ (format holds the payload; to may be "") and returns the
// answer.
func iq(t *testing.T, c *testutil.Client, typ, to, format string, args ...any) *xml.Element {
	t.Helper()
	id := fmt.Sprintf("pie%d", pieIQ.Add(1))
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	c.Send("<iq type='"+typ+"' id='"+id+"'"+toAttr+">"+format+"</iq>", args...)
	return nextWhere(c, func(el *xml.Element) bool { return el.Name() == "iq" && el.Attr("id") == id })
}

func iqOK(t *testing.T, c *testutil.Client, typ, to, format string, args ...any) *xml.Element {
	t.Helper()
	r := iq(t, c, typ, to, format, args...)
	if r.Attr("type") != "result" {
		t.Fatalf("iq %s to %q: %s", fmt.Sprintf(format, args...), to, r)
	}
	return r
}

// mamItem is one message of a MAM result: its archive id, stamp, sender
// and body.
type mamItem struct{ id, stamp, from, body string }

// mamAll returns the whole archive of to ("" the account's own), oldest
// first.
func mamAll(t *testing.T, c *testutil.Client, to string) []mamItem {
	t.Helper()
	qid := fmt.Sprintf("q%d", pieIQ.Add(1))
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	c.Send("<iq type='set' id='%s'%s><query xmlns='urn:xmpp:mam:2' queryid='%s'/></iq>", qid, toAttr, qid)
	var out []mamItem
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == qid {
			if el.Attr("type") != "result" {
				t.Fatalf("MAM query of %q: %s", to, el)
			}
			return out
		}
		r := el.Child("result", nsMAM)
		if el.Name() != "message" || r == nil || r.Attr("queryid") != qid {
			continue
		}
		f := r.Child("forwarded", nsForward)
		m := f.Child("message", xml.NSClient)
		out = append(out, mamItem{r.Attr("id"), f.Child("delay", nsDelay).Attr("stamp"), m.Attr("from"), m.Child("body", "").Text()})
	}
}

const bookmarkOptions = `<publish-options><x xmlns='jabber:x:data' type='submit'>
<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field>
<field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>`

// pieWorld is what a server serves of the data that travels: read over
// the wire before the export and after the import, then compared.
type pieWorld struct {
	aliceMAM, bobMAM, roomMAM []mamItem
	bookmarks, news           string // pubsub <items/> results
	members, outcasts         string // muc#admin lists
	newsAffs, newsSubs        string // pubsub#owner lists
	roomInfo                  string
}

func readWorld(t *testing.T, srv *testutil.Server) pieWorld {
	t.Helper()
	alice := testutil.Login(t, srv, "alice", "alice pw", "r")
	defer alice.Close()
	bob := testutil.Login(t, srv, "bob", "bob pw", "r")
	defer bob.Close()
	var w pieWorld
	w.aliceMAM, w.bobMAM = mamAll(t, alice, ""), mamAll(t, bob, "")
	w.roomMAM = mamAll(t, alice, "lobby@conference.localhost")
	w.bookmarks = iqOK(t, alice, "get", "", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub>").String()
	// whitelist: bob may not read them.
	if r := iq(t, bob, "get", "alice@localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub>"); r.Attr("type") != "error" {
		t.Errorf("bob read alice's bookmarks (access model whitelist): %s", r)
	}
	w.news = iqOK(t, bob, "get", "pubsub.localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='news'/></pubsub>").String()
	w.newsAffs = iqOK(t, alice, "get", "pubsub.localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='news'/></pubsub>").String()
	w.newsSubs = iqOK(t, alice, "get", "pubsub.localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><subscriptions node='news'/></pubsub>").String()
	w.members = iqOK(t, alice, "get", "lobby@conference.localhost", "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query>").String()
	w.outcasts = iqOK(t, alice, "get", "lobby@conference.localhost", "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query>").String()
	w.roomInfo = iqOK(t, bob, "get", "lobby@conference.localhost", "<query xmlns='http://jabber.org/protocol/disco#info'/>").String()
	return w
}

// Round trip over the wire: messages archived, a room made and
// configured, PEP and pubsub items published on one server; exported,
// imported into a fresh one, which serves the same; imported again,
// which changes nothing.
func TestExportRoundTripArchivesRoomsPubSub(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testRoundTripData(t, func(t *testing.T) string { return "" }) })
	t.Run("postgres", func(t *testing.T) {
		testRoundTripData(t, func(t *testing.T) string { return testutil.PostgresStorage(t, "x227_") })
	})
}

func testRoundTripData(t *testing.T, storageTOML func(*testing.T) string) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	cfg1Text := testutil.BaseConfig(dir1) + storageTOML(t)
	cfg2Text := testutil.BaseConfig(dir2) + storageTOML(t)
	cfg1, cfg2 := writeFile(t, dir1, "xmppd.toml", cfg1Text), writeFile(t, dir2, "xmppd.toml", cfg2Text)
	accounts := `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>
<user name='alice' password='alice pw'/><user name='bob' password='bob pw'/><user name='troll' password='troll pw'/>
</host></server-data>`
	if code, out, errs := cli(t, "", "import", "-config", cfg1, writeFile(t, dir1, "accounts.xml", accounts)); code != 0 {
		t.Fatalf("import: %q %q", out, errs)
	}

	srv1 := testutil.StartIn(t, dir1, cfg1Text)
	alice := testutil.Login(t, srv1, "alice", "alice pw", "r")
	bob := testutil.Login(t, srv1, "bob", "bob pw", "r")
	alice.Send("<presence/>")
	bob.Send("<presence/>")
	for i, body := range []string{"one", "two", "three"} {
		from, to, toJID := alice, bob, "bob@localhost"
		if i == 1 {
			from, to, toJID = bob, alice, "alice@localhost"
		}
		from.Send("<message to='%s' type='chat' id='c%d'><body>%s</body></message>", toJID, i, body)
		nextWhere(to, func(el *xml.Element) bool { return el.Name() == "message" && el.Attr("id") == fmt.Sprintf("c%d", i) })
	}

	// A room: created, configured, with a member, an outcast, a
	// subject and a message.
	const room = "lobby@conference.localhost"
	alice.Send("<presence to='%s/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>", room)
	nextWhere(alice, func(el *xml.Element) bool { return el.Name() == "presence" && el.Attr("from") == room+"/alice" })
	iqOK(t, alice, "set", room, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>
<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>
<field var='muc#roomconfig_roomname'><value>The Lobby</value></field>
<field var='muc#roomconfig_roomdesc'><value>Where we meet</value></field>
<field var='muc#roomconfig_persistentroom'><value>1</value></field>
<field var='muc#roomconfig_moderatedroom'><value>1</value></field>
<field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field>
<field var='muc#roomconfig_roomsecret'><value>sesame</value></field>
<field var='muc#roomconfig_whois'><value>anyone</value></field>
</x></query>`)
	iqOK(t, alice, "set", room, `<query xmlns='http://jabber.org/protocol/muc#admin'>
<item affiliation='member' jid='bob@localhost' nick='bobby'/>
<item affiliation='outcast' jid='troll@localhost'><reason>spam &amp; worse</reason></item></query>`)
	alice.Send("<message to='%s' type='groupchat' id='s1'><subject>Welcome</subject></message>", room)
	alice.Send("<message to='%s' type='groupchat' id='g1'><body>hello room</body></message>", room)
	nextWhere(alice, func(el *xml.Element) bool { return el.Name() == "message" && el.Attr("id") == "g1" })

	// PEP: two bookmarks (whitelist, max items); a service node with an
	// item, a publisher and a subscriber.
	for _, r := range []string{"lobby", "other"} {
		iqOK(t, alice, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='%s@conference.localhost'>
<conference xmlns='urn:xmpp:bookmarks:1' name='%s' autojoin='true'><nick>alice</nick></conference></item></publish>%s</pubsub>`, r, r, bookmarkOptions)
	}
	iqOK(t, alice, "set", "pubsub.localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><create node='news'/></pubsub>")
	iqOK(t, alice, "set", "pubsub.localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='news'><item id='n1'><entry xmlns='http://www.w3.org/2005/Atom'><title>first</title></entry></item></publish></pubsub>")
	iqOK(t, alice, "set", "pubsub.localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='news'><affiliation jid='bob@localhost' affiliation='publisher'/></affiliations></pubsub>")
	iqOK(t, bob, "set", "pubsub.localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='news' jid='bob@localhost'/></pubsub>")
	alice.Close()
	bob.Close()

	before := readWorld(t, srv1)
	if len(before.aliceMAM) != 3 || len(before.bobMAM) != 3 || len(before.roomMAM) != 1 || !strings.Contains(before.bookmarks, "other@conference.localhost") {
		t.Fatalf("the first server does not hold what the test made: %+v", before)
	}
	srv1.Stop(t) // the archive writers flush

	exported := filepath.Join(dir1, "out.xml")
	code, out, errs := cli(t, "", "export", "-config", cfg1, "-o", exported, "localhost")
	if code != 0 || out != "exported 3 accounts, 7 archived messages, 3 pubsub nodes, 1 rooms to "+exported+"\n" {
		t.Fatalf("export: %d %q %q", code, out, errs)
	}
	data, _ := os.ReadFile(exported)
	text := string(data)
	for _, want := range []string{
		"<archive xmlns='urn:xmpp:pie:0#mam'><result xmlns='urn:xmpp:mam:2' id='",
		"<configure node='urn:xmpp:bookmarks:1'><x xmlns='jabber:x:data' type='submit'>",
		"<host jid='conference.localhost'>\n<room xmlns='urn:xmppd:pie:muc:0' name='lobby'>",
		"<field var='muc#roomconfig_roomsecret'><value>sesame</value></field>",
		"<reason>spam &amp; worse</reason>",
		"<subject nick='alice'>Welcome</subject>",
		"<host jid='pubsub.localhost'>",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("export lacks %s:\n%s", want, text)
		}
	}

	want := "imported 3 accounts (0 skipped: they exist), 0 roster items, 0 vCards, 0 private XML items, 0 offline messages, 7 archived messages (0 there already), 3 pubsub nodes (0 there already) with 4 items, 1 rooms (0 there already)\n"
	if code, out, errs := cli(t, "", "import", "-config", cfg2, exported); code != 0 || out != want {
		t.Fatalf("import into the fresh server: %d %q, want %q\n%s", code, out, want, errs)
	}
	srv2 := testutil.StartIn(t, dir2, cfg2Text)
	after := readWorld(t, srv2)
	compareWorlds(t, before, after)

	// Importing the same file again stores nothing twice.
	want = "imported 0 accounts (3 skipped: they exist), 0 roster items, 0 vCards, 0 private XML items, 0 offline messages, 0 archived messages (7 there already), 0 pubsub nodes (3 there already) with 0 items, 0 rooms (1 there already)\n"
	if code, out, errs := cli(t, "", "import", "-config", cfg2, exported); code != 0 || out != want {
		t.Fatalf("second import: %d %q, want %q\n%s", code, out, want, errs)
	}
	compareWorlds(t, before, readWorld(t, srv2))

	// The room keeps its password and its outcast.
	troll := testutil.Login(t, srv2, "troll", "troll pw", "r")
	troll.Send("<presence to='%s/troll'><x xmlns='http://jabber.org/protocol/muc'><password>sesame</password></x></presence>", room)
	if p := nextWhere(troll, func(el *xml.Element) bool { return el.Name() == "presence" }); p.Attr("type") != "error" || testutil.ErrorCondition(p) != "forbidden" {
		t.Errorf("the outcast joined the imported room: %s", p)
	}
	bob = testutil.Login(t, srv2, "bob", "bob pw", "r")
	bob.Send("<presence to='%s/bobby'><x xmlns='http://jabber.org/protocol/muc'/></presence>", room)
	if p := nextWhere(bob, func(el *xml.Element) bool { return el.Name() == "presence" }); p.Attr("type") != "error" || testutil.ErrorCondition(p) != "not-authorized" {
		t.Errorf("bob joined the imported room without its password: %s", p)
	}
	bob.Send("<presence to='%s/bobby'><x xmlns='http://jabber.org/protocol/muc'><password>sesame</password></x></presence>", room)
	subj := nextWhere(bob, func(el *xml.Element) bool { return el.Name() == "message" && el.Child("subject", "") != nil })
	if subj.Child("subject", "").Text() != "Welcome" {
		t.Errorf("subject of the imported room: %s", subj)
	}
}

func compareWorlds(t *testing.T, before, after pieWorld) {
	t.Helper()
	for _, c := range []struct {
		what string
		b, a []mamItem
	}{{"alice's archive", before.aliceMAM, after.aliceMAM}, {"bob's archive", before.bobMAM, after.bobMAM}, {"the room's archive", before.roomMAM, after.roomMAM}} {
		if fmt.Sprint(c.b) != fmt.Sprint(c.a) {
			t.Errorf("%s:\nbefore %v\nafter  %v", c.what, c.b, c.a)
		}
	}
	for _, c := range []struct{ what, b, a string }{
		{"bookmarks", before.bookmarks, after.bookmarks},
		{"news items", before.news, after.news},
		{"news affiliations", before.newsAffs, after.newsAffs},
		{"news subscriptions", before.newsSubs, after.newsSubs},
		{"room members", before.members, after.members},
		{"room outcasts", before.outcasts, after.outcasts},
		{"room disco#info", before.roomInfo, after.roomInfo},
	} {
		// The answers differ in their ids only.
		strip := func(s string) string { _, rest, _ := strings.Cut(s, ">"); return rest }
		if strip(c.b) != strip(c.a) {
			t.Errorf("%s:\nbefore %s\nafter  %s", c.what, c.b, c.a)
		}
	}
}

// Bad input: malformed archive items, pubsub and room entries are
// reported with the file and the element and left out; the rest of the
// document imports.
func TestImportMalformedData(t *testing.T) {
	dir := t.TempDir()
	cfgText := testutil.BaseConfig(dir)
	cfg := writeFile(t, dir, "xmppd.toml", cfgText)
	fwd := func(stamp, msg string) string {
		return "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='" + stamp + "'/>" + msg + "</forwarded>"
	}
	msg := func(body string) string {
		return "<message xmlns='jabber:client' from='bob@localhost/x' to='alice@localhost' type='chat'><body>" + body + "</body></message>"
	}
	doc := `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>
<user name='alice' password='alice pw'>
  <archive xmlns='urn:xmpp:pie:0#mam'>
    <result xmlns='urn:xmpp:mam:2' id='good-1'>` + fwd("2026-01-02T03:04:05Z", msg("first")) + `</result>
    <result xmlns='urn:xmpp:mam:2' id='no-forwarded'><message xmlns='jabber:client'/></result>
    <result xmlns='urn:xmpp:mam:2' id='bad-stamp'>` + fwd("yesterday", msg("lost")) + `</result>
    <junk/>
    <result xmlns='urn:xmpp:mam:2' id='no-to'>` + fwd("2026-01-02T03:04:06Z", "<message xmlns='jabber:client' from='bob@localhost/x'><body>lost</body></message>") + `</result>
    <result xmlns='urn:xmpp:mam:2' id='not an id!'>` + fwd("2026-01-02T03:04:07Z", msg("renamed")) + `</result>
  </archive>
  <vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>
  <pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>
    <configure node='http://jabber.org/protocol/nick'><x xmlns='jabber:x:data' type='submit'>
      <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
      <field var='pubsub#access_model'><value>open</value></field>
      <field var='x-custom#thing'><value>1</value></field>
      <field var='pubsub#max_items'><value>lots</value></field>
    </x></configure>
    <affiliations node='http://jabber.org/protocol/nick'><affiliation jid='bob@localhost' affiliation='emperor'/></affiliations>
  </pubsub>
  <pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <items node='http://jabber.org/protocol/nick'><item><nick xmlns='http://jabber.org/protocol/nick'>no id</nick></item><item id='current'><nick xmlns='http://jabber.org/protocol/nick'>Ally</nick></item></items>
  </pubsub>
</user>
<user name='bob' password='bob pw'/>
</host>
<host jid='conference.localhost'>
  <room xmlns='urn:xmppd:pie:muc:0' name='broken'><x xmlns='jabber:x:data' type='submit'>
    <field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field></x></room>
  <room xmlns='urn:xmppd:pie:muc:0' name='fine'>
    <query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner' jid='alice@localhost'/><item affiliation='king' jid='bob@localhost'/><item affiliation='member' jid='not@a@jid'/></query>
  </room>
</host></server-data>`
	file := writeFile(t, dir, "bad.xml", doc)
	code, out, errs := cli(t, "", "import", "-config", cfg, file)
	if code != 0 {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	want := "imported 2 accounts (0 skipped: they exist), 0 roster items, 1 vCards, 0 private XML items, 0 offline messages, 2 archived messages (0 there already), 1 pubsub nodes (0 there already) with 1 items, 1 rooms (0 there already)\n" +
		"9 malformed elements were left out (reported above)\n"
	if out != want {
		t.Errorf("import said %q, want %q", out, want)
	}
	for _, w := range []string{
		file + `: alice@localhost archive, <result/> 2 (id "no-forwarded"): no <forwarded xmlns='urn:xmpp:forward:0'/>: skipped`,
		file + `: alice@localhost archive, <result/> 3 (id "bad-stamp"): <delay stamp="yesterday"/> is not an XEP-0082 date and time: skipped`,
		file + `: alice@localhost archive, element 4: <junk/> is not a <result/>: skipped`,
		file + `: alice@localhost archive, <result/> 5 (id "no-to"): message to="": `,
		file + `: alice@localhost archive, <result/> 6 (id "not an id!"): xmppd's archive ids are letters, digits, '-' and '_' (at most 64): it gets a new id`,
		file + `: alice@localhost node http://jabber.org/protocol/nick: configuration fields left out (unknown to xmppd or values it refuses; xmppd's defaults apply): [pubsub#max_items x-custom#thing]`,
		file + `: alice@localhost node http://jabber.org/protocol/nick: <affiliation jid="bob@localhost" affiliation="emperor"/>: not an XEP-0060 affiliation: skipped`,
		file + `: alice@localhost node http://jabber.org/protocol/nick: <item/> 1 has no id: skipped`,
		file + `: room broken@conference.localhost: configuration: not-acceptable: a password-protected room needs muc#roomconfig_roomsecret: skipped`,
		file + `: room fine@conference.localhost: <item jid="bob@localhost" affiliation="king"/>: not a stored XEP-0045 affiliation: skipped`,
		file + `: room fine@conference.localhost: <item jid="not@a@jid"/>`,
	} {
		if !strings.Contains(errs, w) {
			t.Errorf("no report %q in:\n%s", w, errs)
		}
	}

	srv := testutil.StartIn(t, dir, cfgText)
	alice := testutil.Login(t, srv, "alice", "alice pw", "r")
	items := mamAll(t, alice, "")
	if len(items) != 2 || items[0].id != "good-1" || items[0].body != "first" || items[1].body != "renamed" || !validArchiveID(items[1].id) {
		t.Errorf("archive after the import: %v", items)
	}
	if r := iqOK(t, alice, "get", "", "<vCard xmlns='vcard-temp'/>"); !strings.Contains(r.String(), "<FN>Alice</FN>") {
		t.Errorf("vCard: %s", r)
	}
	bob := testutil.Login(t, srv, "bob", "bob pw", "r")
	if r := iqOK(t, bob, "get", "alice@localhost", "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='http://jabber.org/protocol/nick'/></pubsub>"); !strings.Contains(r.String(), "<item id='current'><nick xmlns='http://jabber.org/protocol/nick'>Ally</nick></item>") {
		t.Errorf("nick (access model open): %s", r)
	}
	if r := iq(t, alice, "get", "broken@conference.localhost", "<query xmlns='http://jabber.org/protocol/disco#info'/>"); r.Attr("type") != "error" {
		t.Errorf("the room with a bad configuration exists: %s", r)
	}
	if r := iqOK(t, alice, "get", "fine@conference.localhost", "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner'/></query>"); !strings.Contains(r.String(), "jid='alice@localhost'") {
		t.Errorf("owners of the imported room: %s", r)
	}
}
