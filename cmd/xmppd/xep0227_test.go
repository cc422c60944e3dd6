package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// pieSHA1 is bob's SCRAM-SHA-1 keys element, as Prosody exports them.
func pieSHA1(t *testing.T, password string) string {
	t.Helper()
	cs, err := auth.DeriveCredentials(password, 4096)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Hash == auth.SHA1 {
			e := base64.StdEncoding.EncodeToString
			return fmt.Sprintf("<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'><server-key>%s</server-key><stored-key>%s</stored-key><iter-count>%d</iter-count><salt>%s</salt></scram-credentials>",
				e(c.ServerKey), e(c.StoredKey), c.Iterations, e(c.Salt))
		}
	}
	t.Fatal("no SHA-1 keys")
	return ""
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImport(t *testing.T) {
	dir := t.TempDir()
	cfgText := testutil.BaseConfig(dir)
	cfg := writeFile(t, dir, "xmppd.toml", cfgText)
	doc := `<?xml version='1.0' encoding='UTF-8'?>
<server-data xmlns='urn:xmpp:pie:0'>
  <host jid='localhost'>
    <user name='alice' password='alice pw'>
      <query xmlns='jabber:iq:roster'>
        <item jid='bob@localhost' name='Bob' subscription='both'><group>Friends</group></item>
        <item jid='carol@example.org' ask='subscribe'/>
      </query>
      <vCard xmlns='vcard-temp'><FN>Alice A.</FN></vCard>
      <query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='room@conference.localhost'/></storage></query>
      <offline-messages>
        <message xmlns='jabber:client' from='carol@example.org/x' to='alice@localhost' type='chat' id='o1'><body>while you were away</body><delay xmlns='urn:xmpp:delay' stamp='2026-01-02T03:04:05Z'/></message>
      </offline-messages>
    </user>
    <user name='Bob'>` + pieSHA1(t, "bob pw") + pieSHA1(t, "bob pw") + `</user>
  </host>
</server-data>`
	file := writeFile(t, dir, "export.xml", doc)
	code, out, errs := cli(t, "", "import", "-config", cfg, file)
	if code != 0 || out != "imported 2 accounts (0 skipped: they exist), 2 roster items, 1 vCards, 1 private XML items, 1 offline messages, 0 archived messages (0 there already), 0 pubsub nodes (0 there already) with 0 items, 0 rooms (0 there already)\n" {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	if !strings.Contains(errs, "bob@localhost has keys for SCRAM-SHA-1 only") {
		t.Errorf("no warning about bob's keys: %q", errs)
	}
	// Again: nothing is overwritten.
	if code, out, _ := cli(t, "", "import", "-config", cfg, file); code != 0 || !strings.HasPrefix(out, "imported 0 accounts (2 skipped") {
		t.Fatalf("second import: %d %q", code, out)
	}
	for _, bad := range []struct{ doc, want string }{
		{"<server-data xmlns='urn:xmpp:pie:0'><host jid='elsewhere.example'/></server-data>", "not one of the configured hosts"},
		{"<other/>", "not an XEP-0227 document"},
		{"<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='x'/></host></server-data>", "no password and no SCRAM keys"},
		{"<server-data", "not well-formed"},
	} {
		if code, _, errs := cli(t, "", "import", "-config", cfg, writeFile(t, dir, "bad.xml", bad.doc)); code != 1 || !strings.Contains(errs, bad.want) {
			t.Errorf("import of %q: %d %q, want %q", bad.doc, code, errs, bad.want)
		}
	}

	srv := testutil.StartIn(t, dir, cfgText)
	alice := testutil.Login(t, srv, "alice", "alice pw", "r")
	alice.Send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	r := alice.NextNamed("iq").String()
	for _, want := range []string{"jid='bob@localhost'", "name='Bob'", "subscription='both'", "<group>Friends</group>", "jid='carol@example.org'", "ask='subscribe'"} {
		if !strings.Contains(r, want) {
			t.Errorf("roster lacks %s: %s", want, r)
		}
	}
	alice.Send("<iq type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>")
	if r := alice.NextNamed("iq").String(); !strings.Contains(r, "<FN>Alice A.</FN>") {
		t.Errorf("vCard: %s", r)
	}
	alice.Send("<iq type='get' id='p1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>")
	if r := alice.NextNamed("iq").String(); !strings.Contains(r, "room@conference.localhost") {
		t.Errorf("private XML: %s", r)
	}
	alice.Send("<presence/>")
	var m *xml.Element
	for m == nil {
		if el := alice.Next(); el.Name() == "message" {
			m = el
		}
	}
	if m.Attr("id") != "o1" || m.Child("body", "").Text() != "while you were away" {
		t.Errorf("offline message: %s", m)
	}

	// bob has SHA-1 keys only: SCRAM-SHA-1 and PLAIN, not SCRAM-SHA-256.
	for _, tc := range []struct {
		mech string
		ok   bool
	}{{"SCRAM-SHA-1", true}, {"PLAIN", true}, {"SCRAM-SHA-256", false}} {
		c := testutil.NewClient(t, testutil.Dial(t, srv.StartTLS))
		c.Open("localhost")
		c.StartTLS("localhost")
		var res testutil.SASLResult
		if tc.mech == "PLAIN" {
			res = c.AuthPLAIN("bob", "bob pw")
		} else {
			res = c.AuthSCRAM(tc.mech, "bob", "bob pw", "", nil)
		}
		if res.OK != tc.ok {
			t.Errorf("bob with %s: %+v, want ok=%v", tc.mech, res, tc.ok)
		}
	}
}

// Export writes what import reads: a document imported, exported and
// imported into another data folder serves the same accounts, with keys
// for every hash they had.
func TestExportRoundTrip(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	cfg1 := writeFile(t, dir1, "xmppd.toml", testutil.BaseConfig(dir1))
	cfg2Text := testutil.BaseConfig(dir2)
	cfg2 := writeFile(t, dir2, "xmppd.toml", cfg2Text)
	doc := `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>
<user name='alice' password='alice pw'>
  <query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='B &amp; B' subscription='to' ask='subscribe'><group>G1</group><group>G2</group></item></query>
  <vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>
  <query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'><a>1</a></prefs></query>
  <offline-messages><message xmlns='jabber:client' from='bob@localhost/x' to='alice@localhost' type='chat' id='o1'><body>hi</body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-01-02T03:04:05Z'/></message></offline-messages>
</user>
<user name='bob'>` + pieSHA1(t, "bob pw") + `</user>
</host><host jid='example.test'><user name='erin' password='erin pw'/></host></server-data>`
	if code, out, errs := cli(t, "", "import", "-config", cfg1, writeFile(t, dir1, "in.xml", doc)); code != 0 {
		t.Fatalf("import: %q %q", out, errs)
	}
	exported := filepath.Join(dir1, "out.xml")
	if code, out, errs := cli(t, "", "export", "-config", cfg1, "-o", exported, "localhost"); code != 0 || out != "exported 2 accounts, 0 archived messages, 0 pubsub nodes, 0 rooms to "+exported+"\n" {
		t.Fatalf("export: %d %q %q", code, out, errs)
	}
	data, _ := os.ReadFile(exported)
	text := string(data)
	for _, want := range []string{"mechanism='SCRAM-SHA-256'", "mechanism='SCRAM-SHA-512'", "name='B &amp; B'", "<group>G2</group>", "<FN>Alice</FN>",
		"<prefs xmlns='urn:example:prefs'><a>1</a></prefs>", "<body>hi</body>", "<user name='bob'>"} {
		if !strings.Contains(text, want) {
			t.Errorf("export lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "erin") || strings.Contains(text, "password=") {
		t.Errorf("export has another host's account or a password:\n%s", text)
	}
	if fi, err := os.Stat(exported); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("export file mode: %v %v", fi.Mode(), err)
	}
	if code, out, errs := cli(t, "", "import", "-config", cfg2, exported); code != 0 || !strings.HasPrefix(out, "imported 2 accounts (0 skipped") {
		t.Fatalf("re-import: %d %q %q", code, out, errs)
	}

	srv := testutil.StartIn(t, dir2, cfg2Text)
	alice := testutil.Login(t, srv, "alice", "alice pw", "r") // SCRAM-SHA-256: keys made from the password survived
	alice.Send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	if r := alice.NextNamed("iq").String(); !strings.Contains(r, "name='B &amp; B'") || !strings.Contains(r, "ask='subscribe'") || !strings.Contains(r, "<group>G1</group><group>G2</group>") {
		t.Errorf("roster after the round trip: %s", r)
	}
	alice.Send("<iq type='get' id='p1'><query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query></iq>")
	if r := alice.NextNamed("iq").String(); !strings.Contains(r, "<a>1</a>") {
		t.Errorf("private XML after the round trip: %s", r)
	}
	alice.Send("<presence/>")
	for {
		if el := alice.Next(); el.Name() == "message" {
			if el.Attr("id") != "o1" || !strings.Contains(el.String(), "stamp='2026-01-02T03:04:05Z'") {
				t.Errorf("offline message after the round trip: %s", el)
			}
			break
		}
	}
	c := testutil.NewClient(t, testutil.Dial(t, srv.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-1", "bob", "bob pw", "", nil); !r.OK {
		t.Errorf("bob after the round trip: %+v", r)
	}
}
