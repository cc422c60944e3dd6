package interop_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// prosodyStore writes one file of Prosody's internal (file) store: the
// data folder encodes host and store names as util/datamanager does.
func prosodyStore(t *testing.T, data, host, store, file, text string) {
	t.Helper()
	enc := func(s string, keep string) string {
		var b strings.Builder
		for _, c := range []byte(s) {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(keep, c) >= 0 {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02x", c)
			}
		}
		return b.String()
	}
	dir := filepath.Join(data, enc(host, ""), enc(store, "_"))
	if store == "" {
		dir = filepath.Join(data, enc(host, ""))
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o666); err != nil {
		t.Fatal(err)
	}
}

// TestProsodyImport moves accounts from a real Prosody to xmppd: accounts
// registered with Debian's prosodyctl, with a message archive (mod_mam's
// "archive" store) and PEP nodes (mod_pep's "pep" store and its items)
// written into Prosody's internal store as Prosody 0.12 keeps them,
// exported by prosody-migrator into its XEP-0227 store, imported with
// `xmppd import`, then logged in to xmppd with their Prosody passwords
// (Prosody keeps SCRAM-SHA-1 keys only, so SCRAM-SHA-1 and PLAIN), their
// archive and PEP items served over the wire. Prosody 0.12's migrator
// cannot export MUC rooms to XEP-0227 (no handler for the MUC component's
// stores): the test checks that it still refuses, so that the day Debian's
// Prosody can, this test says so.
func TestProsodyImport(t *testing.T) {
	prosodyctl, err1 := exec.LookPath("prosodyctl")
	migrator, err2 := exec.LookPath("prosody-migrator")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prosody is not installed (scripts/test.sh installs it)")
		}
		t.Skip("prosody is not installed: apt-get install prosody")
	}
	pdir := t.TempDir()
	// prosodyctl and prosody-migrator may drop to the prosody user.
	os.Chmod(filepath.Dir(pdir), 0o755)
	os.Chmod(pdir, 0o777)
	data, out := filepath.Join(pdir, "data"), filepath.Join(pdir, "out")
	for _, d := range []string{data, out} {
		os.Mkdir(d, 0o777)
		os.Chmod(d, 0o777)
	}
	cfg := filepath.Join(pdir, "prosody.cfg.lua")
	os.WriteFile(cfg, []byte(fmt.Sprintf("run_as_root = true\ndata_path = %q\npidfile = %q\nlog = { error = %q }\nVirtualHost \"localhost\"\n",
		data, filepath.Join(pdir, "prosody.pid"), filepath.Join(pdir, "prosody.err"))), 0o644)
	users := map[string]string{"paula": "paula's pw", "peter": "peter-pw", "troll": "troll-pw"}
	for u, pw := range users {
		if b, err := exec.Command(prosodyctl, "--config", cfg, "register", u, "localhost", pw).CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", u, err, b)
		}
	}
	// paula's archive: two messages with peter, as mod_storage_internal
	// keeps them (a list of preserialized stanzas with key, when, with).
	prosodyStore(t, data, "localhost", "archive", "paula.list", `item({["key"]="a1b2c3d4-0001";["when"]=1767323045;["with"]="peter@localhost";["name"]="message";["attr"]={["xmlns"]="jabber:client";["from"]="peter@localhost/phone";["to"]="paula@localhost";["type"]="chat";["id"]="m1";["stamp"]="2026-01-02T03:04:05Z"};{["name"]="body";["attr"]={};"hello paula"}});
item({["key"]="a1b2c3d4-0002";["when"]=1767323105;["with"]="peter@localhost";["name"]="message";["attr"]={["xmlns"]="jabber:client";["from"]="paula@localhost/laptop";["to"]="peter@localhost";["type"]="chat";["id"]="m2";["stamp"]="2026-01-02T03:05:05Z"};{["name"]="body";["attr"]={};"hi peter"}});
`)
	// Her PEP: a whitelisted bookmarks node (XEP-0402) with one item,
	// and an avatar metadata node readable by anyone.
	prosodyStore(t, data, "localhost", "pep", "paula.dat", `return {
	["urn:xmpp:bookmarks:1"] = { ["name"] = "urn:xmpp:bookmarks:1"; ["config"] = { ["access_model"] = "whitelist"; ["max_items"] = "max"; ["persist_items"] = true; ["send_last_published_item"] = "never" }; ["affiliations"] = { ["paula@localhost"] = "owner" }; ["subscribers"] = {} };
	["urn:xmpp:avatar:metadata"] = { ["name"] = "urn:xmpp:avatar:metadata"; ["config"] = { ["access_model"] = "open"; ["persist_items"] = true }; ["affiliations"] = { ["paula@localhost"] = "owner" }; ["subscribers"] = { ["peter@localhost"] = true } };
};
`)
	prosodyStore(t, data, "localhost", "pep_urn:xmpp:bookmarks:1", "paula.list", `item({["key"]="lobby@conference.localhost";["when"]=1767323000;["with"]="paula@localhost";["name"]="conference";["attr"]={["xmlns"]="urn:xmpp:bookmarks:1";["name"]="The Lobby";["autojoin"]="true"};{["name"]="nick";["attr"]={};"Paula"}});
`)
	prosodyStore(t, data, "localhost", "pep_urn:xmpp:avatar:metadata", "paula.list", `item({["key"]="0123abcd";["when"]=1767323000;["with"]="paula@localhost";["name"]="metadata";["attr"]={["xmlns"]="urn:xmpp:avatar:metadata"};{["name"]="info";["attr"]={["id"]="0123abcd";["bytes"]="1024";["type"]="image/png"}}});
`)
	// A persistent room as mod_muc keeps it (0.12's new format: the
	// affiliations at the top level, reserved nicks in
	// _affiliation_data), and its archive as mod_muc_mam keeps it.
	prosodyStore(t, data, "conference.localhost", "config", "lobby.dat", `return { ["_jid"] = "lobby@conference.localhost"; ["_data"] = { ["name"] = "The Lobby"; ["description"] = "Where we meet"; ["persistent"] = true; ["members_only"] = true; ["password"] = "sesame"; ["whois"] = "anyone"; ["subject"] = "Welcome"; ["subject_from"] = "lobby@conference.localhost/Paula"; ["hidden"] = true }; ["paula@localhost"] = "owner"; ["peter@localhost"] = "member"; ["troll@localhost"] = "outcast"; ["_affiliation_data"] = { ["peter@localhost"] = { ["reserved_nickname"] = "Pete" } } };
`)
	prosodyStore(t, data, "conference.localhost", "muc_log", "lobby.list", `item({["key"]="r-0001";["when"]=1767323045;["with"]="message<groupchat";["name"]="message";["attr"]={["xmlns"]="jabber:client";["from"]="lobby@conference.localhost/Paula";["type"]="groupchat";["id"]="g1"};{["name"]="body";["attr"]={};"hello room"}});
item({["key"]="r-0002";["when"]=1767323105;["with"]="message<groupchat";["name"]="message";["attr"]={["xmlns"]="jabber:client";["from"]="lobby@conference.localhost/Pete";["type"]="groupchat";["id"]="g2"};{["name"]="body";["attr"]={};"hi all"}});
`)
	prosodyStore(t, data, "conference.localhost", "", "persistent.dat", `return { ["lobby@conference.localhost"] = true };
`)
	// prosodyctl wrote the store as root; prosody-migrator reads it as
	// the prosody user.
	filepath.Walk(data, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			os.Chmod(p, fi.Mode().Perm()|0o777)
		}
		return nil
	})
	// The xep0227 store writes to Prosody's data directory, which
	// prosody-migrator fixes in its first lines: a copy points it here.
	script, err := os.ReadFile(migrator)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(pdir, "prosody-migrator")
	os.WriteFile(copyPath, []byte(strings.Replace(string(script), "CFG_DATADIR='/var/lib/prosody'", fmt.Sprintf("CFG_DATADIR=%q", out), 1)), 0o755)
	mcfg := filepath.Join(pdir, "migrator.cfg.lua")
	os.WriteFile(mcfg, []byte(fmt.Sprintf(`run_as_root = true
input { hosts = { ["localhost"] = { "accounts", "roster", "vcard", "private", "archive-archive", "pep-pubsub" } }; type = "internal"; path = %q }
rooms { hosts = { ["conference.localhost"] = { "config", "muc_log-archive" } }; type = "internal"; path = %q }
output { type = "xep0227" }
xmppd_muc { type = "xmppd_muc" }
`, data, data)), 0o644)
	if b, err := exec.Command(copyPath, "--config", mcfg, "input", "output").CombinedOutput(); err != nil {
		t.Fatalf("prosody-migrator: %v\n%s", err, b)
	}
	if b, err := exec.Command(copyPath, "--config", mcfg, "rooms", "output").CombinedOutput(); err == nil || !strings.Contains(string(b), "unsupported-datastore") {
		t.Errorf("prosody-migrator exported MUC rooms to XEP-0227 (%v): xmppd import should learn its format (cmd/xmppd/xep0227_muc.go)\n%s", err, b)
	}
	// Rooms go through xmppd's output store for the migrator, which looks
	// for plugins in <data folder>/custom_plugins (the copy's data folder
	// is out).
	plugin, err := os.ReadFile(filepath.Join("..", "..", "contrib", "prosody", "mod_storage_xmppd_muc.lua"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(out, "custom_plugins"), 0o777)
	os.WriteFile(filepath.Join(out, "custom_plugins", "mod_storage_xmppd_muc.lua"), plugin, 0o644)
	if b, err := exec.Command(copyPath, "--config", mcfg, "rooms", "xmppd_muc").CombinedOutput(); err != nil {
		t.Fatalf("prosody-migrator with mod_storage_xmppd_muc: %v\n%s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.xml"))
	if len(files) != len(users)+2 { // and the room's configuration and archive
		t.Fatalf("prosody-migrator wrote %v", files)
	}

	dir := t.TempDir()
	xcfg := filepath.Join(dir, "xmppd.toml")
	os.WriteFile(xcfg, []byte(testutil.BaseConfig(dir)), 0o600)
	xmppd := filepath.Join(dir, "xmppd")
	if b, err := exec.Command("go", "build", "-o", xmppd, "github.com/xmppd/xmppd/cmd/xmppd").CombinedOutput(); err != nil {
		t.Fatalf("build xmppd: %v\n%s", err, b)
	}
	b, err := exec.Command(xmppd, append([]string{"import", "-config", xcfg}, files...)...).CombinedOutput()
	t.Logf("xmppd import:\n%s", b)
	if err != nil || !strings.Contains(string(b), "imported 3 accounts") || !strings.Contains(string(b), "4 archived messages (0 there already), 2 pubsub nodes (0 there already) with 2 items, 1 rooms (0 there already)") {
		t.Fatalf("xmppd import: %v", err)
	}
	if strings.Contains(string(b), "malformed") {
		t.Errorf("xmppd import found Prosody's file malformed")
	}

	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	for u, pw := range users {
		for _, mech := range []string{"SCRAM-SHA-1", "PLAIN"} {
			c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
			c.Open("localhost")
			c.StartTLS("localhost")
			var r testutil.SASLResult
			if mech == "PLAIN" {
				r = c.AuthPLAIN(u, pw)
			} else {
				r = c.AuthSCRAM(mech, u, pw, "", nil)
			}
			if !r.OK {
				t.Errorf("%s with %s after the import: %s", u, mech, r.Condition)
			}
			c.Close()
		}
	}

	// paula's archive: Prosody's ids and times, in order, both directions.
	login := func(user string) *testutil.Client {
		c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
		c.Open("localhost")
		c.StartTLS("localhost")
		if r := c.AuthSCRAM("SCRAM-SHA-1", user, users[user], "", nil); !r.OK {
			t.Fatalf("login %s: %s", user, r.Condition)
		}
		c.Restart("localhost")
		c.Bind("r")
		return c
	}
	paula := login("paula")
	paula.Send("<iq type='set' id='mam'><query xmlns='urn:xmpp:mam:2' queryid='q'/></iq>")
	var got []string
	for {
		el := paula.Next()
		if el.Name() == "iq" && el.Attr("id") == "mam" {
			break
		}
		if r := el.Child("result", "urn:xmpp:mam:2"); r != nil {
			f := r.Child("forwarded", "urn:xmpp:forward:0")
			stamp, _ := time.Parse(time.RFC3339, f.Child("delay", "urn:xmpp:delay").Attr("stamp"))
			m := f.Child("message", "jabber:client")
			got = append(got, fmt.Sprintf("%s %s %s>%s %s", r.Attr("id"), stamp.UTC().Format(time.RFC3339), m.Attr("from"), m.Attr("to"), m.Child("body", "").Text()))
		}
	}
	want := []string{
		"a1b2c3d4-0001 2026-01-02T03:04:05Z peter@localhost/phone>paula@localhost hello paula",
		"a1b2c3d4-0002 2026-01-02T03:05:05Z paula@localhost/laptop>peter@localhost hi peter",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("paula's archive after the import:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The MAM 'with' filter finds them under peter (the peer taken from
	// the messages).
	paula.Send("<iq type='set' id='with'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>peter@localhost</value></field></x><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query></iq>")
	for {
		if el := paula.Next(); el.Name() == "iq" {
			if !strings.Contains(el.String(), "<count>2</count>") {
				t.Errorf("MAM count with peter: %s", el)
			}
			break
		}
	}
	// Her PEP nodes: listed, their items served, the bookmarks only to her.
	paula.Send("<iq type='get' id='nodes' to='paula@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if r := paula.NextNamed("iq").String(); !strings.Contains(r, "node='urn:xmpp:bookmarks:1'") || !strings.Contains(r, "node='urn:xmpp:avatar:metadata'") {
		t.Errorf("paula's PEP nodes: %s", r)
	}
	paula.Send("<iq type='get' id='bm'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
	// (Attributes come in Lua's table order.)
	if r := paula.NextNamed("iq").String(); !containsAll(r, "<item id='lobby@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1'", "name='The Lobby'", "autojoin='true'", "<nick>Paula</nick></conference></item>") {
		t.Errorf("paula's bookmarks: %s", r)
	}
	peter := login("peter")
	peter.Send("<iq type='get' id='av' to='paula@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata'/></pubsub></iq>")
	if r := peter.NextNamed("iq").String(); !containsAll(r, "<item id='0123abcd'><metadata xmlns='urn:xmpp:avatar:metadata'><info ", "id='0123abcd'", "bytes='1024'", "type='image/png'") {
		t.Errorf("paula's avatar metadata, read by peter: %s", r)
	}
	peter.Send("<iq type='get' id='bm2' to='paula@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
	if r := peter.NextNamed("iq"); r.Attr("type") != "error" {
		t.Errorf("peter read paula's whitelisted bookmarks: %s", r)
	}

	// The room: its configuration, affiliations, subject and archive.
	const room = "lobby@conference.localhost"
	paula.Send("<iq type='get' id='ri' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", room)
	if r := paula.NextNamed("iq").String(); !containsAll(r, "name='The Lobby'", "muc_membersonly", "muc_passwordprotected", "muc_hidden", "muc_nonanonymous", "muc_persistent", "Where we meet") {
		t.Errorf("the room's disco#info: %s", r)
	}
	paula.Send("<iq type='get' id='rm' to='%s'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>", room)
	if r := paula.NextNamed("iq").String(); !containsAll(r, "jid='peter@localhost'", "nick='Pete'") {
		t.Errorf("the room's members: %s", r)
	}
	troll := login("troll")
	troll.Send("<presence to='%s/troll'><x xmlns='http://jabber.org/protocol/muc'><password>sesame</password></x></presence>", room)
	for {
		if p := troll.Next(); p.Name() == "presence" && p.Attr("from") == room+"/troll" {
			if p.Attr("type") != "error" || testutil.ErrorCondition(p) != "forbidden" {
				t.Errorf("the outcast joined: %s", p)
			}
			break
		}
	}
	peter.Send("<presence to='%s/Pete'><x xmlns='http://jabber.org/protocol/muc'><password>sesame</password></x></presence>", room)
	for {
		if m := peter.Next(); m.Name() == "message" && m.Child("subject", "") != nil {
			if m.Child("subject", "").Text() != "Welcome" {
				t.Errorf("the room's subject: %s", m)
			}
			break
		}
	}
	peter.Send("<iq type='set' id='rmam' to='%s'><query xmlns='urn:xmpp:mam:2' queryid='rq'/></iq>", room)
	var roomLog []string
	for {
		el := peter.Next()
		if el.Name() == "iq" && el.Attr("id") == "rmam" {
			break
		}
		if r := el.Child("result", "urn:xmpp:mam:2"); r != nil {
			f := r.Child("forwarded", "urn:xmpp:forward:0")
			stamp, _ := time.Parse(time.RFC3339, f.Child("delay", "urn:xmpp:delay").Attr("stamp"))
			m := f.Child("message", "jabber:client")
			roomLog = append(roomLog, fmt.Sprintf("%s %s %s %s", r.Attr("id"), stamp.UTC().Format(time.RFC3339), m.Attr("from"), m.Child("body", "").Text()))
		}
	}
	if got, want := strings.Join(roomLog, "\n"), "r-0001 2026-01-02T03:04:05Z lobby@conference.localhost/Paula hello room\nr-0002 2026-01-02T03:05:05Z lobby@conference.localhost/Pete hi all"; got != want {
		t.Errorf("the room's archive:\n%s\nwant\n%s", got, want)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
