package muc

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xml"
)

// A stored configuration survives the portable form: out and back in
// gives the same room, the owner's form rules apply on the way in, and
// unknown fields are ignored.
func TestPortableRoomConfig(t *testing.T) {
	r := portableRoom(50)
	r.cfg.Name, r.cfg.Desc, r.cfg.MembersOnly, r.cfg.Moderated = "Lobby", "Where we meet", true, true
	r.cfg.PasswordProtected, r.cfg.Password, r.cfg.WhoIs, r.cfg.MaxUsers = true, "sesame", "anyone", 20
	r.cfg.AllowPM, r.cfg.NoOfflinePush, r.cfg.PresenceBroadcast = "moderators", true, []string{"moderator"}
	r.subject, r.subjectNick, r.subjectSet = "Welcome", "alice", true
	p, err := ExportRoomConfig(r.encode())
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Form.String(); strings.Contains(s, "roomowners") || !strings.Contains(s, "<field var='muc#roomconfig_roomsecret'><value>sesame</value></field>") {
		t.Errorf("portable form: %s", s)
	}
	stored, err := ImportRoomConfig(p, 50)
	if err != nil {
		t.Fatal(err)
	}
	back := portableRoom(50)
	if err := back.decode(stored); err != nil {
		t.Fatal(err)
	}
	want := r.cfg
	want.Persistent = true
	if got, w := back.encode(), (&room{cfg: want, salt: back.salt, subject: "Welcome", subjectNick: "alice", subjectSet: true}).encode(); string(got) != string(w) {
		t.Errorf("after the round trip:\n%s\nwant\n%s", got, w)
	}

	for _, tc := range []struct{ name, form, err string }{
		{"no password", "<field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field>", "needs muc#roomconfig_roomsecret"},
		{"bad whois", "<field var='muc#roomconfig_whois'><value>everybody</value></field>", "bad value for muc#roomconfig_whois"},
		{"unknown field", "<field var='x-prosody#archiving'><value>1</value></field>", ""},
		{"other form", "<field var='FORM_TYPE'><value>urn:example</value></field>", "FORM_TYPE"},
	} {
		x, err := xml.ParseFragment([]byte("<x xmlns='jabber:x:data' type='submit'>" + tc.form + "</x>"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ImportRoomConfig(PortableRoom{Form: x}, 50)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}
