package adminweb_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
)

// alive checks that c's session still answers (an XEP-0199 ping to the
// server).
func alive(t *testing.T, c *testutil.Client, id string) {
	t.Helper()
	c.Send("<iq type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>", id)
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == id {
			if el.Attr("type") != "result" {
				t.Fatalf("ping %s: %s", id, el.Attr("type"))
			}
			return
		}
	}
}

// TestKick: the sessions page lists a real client's session; a kick
// without the session's CSRF token, with another's, from another site's
// page (Origin, Sec-Fetch-Site) or by an admin of another host ends
// nothing; the admin's kick from the page ends the client's stream with
// <policy-violation/>.
func TestKick(t *testing.T) {
	s := start(t, "none", "")
	s.AddUser(t, "admin@localhost", "admin-pw")
	s.AddUser(t, "boss@example.test", "boss-pw")
	s.AddUser(t, "alice@localhost", "alice-pw")
	alice := testutil.Login(t, s.Server, "alice", "alice-pw", "phone")

	boss := newBrowser(t, s)
	bossToken := boss.login("boss@example.test", "boss-pw")
	if _, _, page := boss.get("/admin/sessions"); strings.Contains(page, "alice@localhost") {
		t.Errorf("an admin of example.test sees a session of localhost:\n%s", page)
	}

	b := newBrowser(t, s)
	token := b.login("admin@localhost", "admin-pw")
	_, _, page := b.get("/admin/sessions")
	if !strings.Contains(page, `<td>alice@localhost/phone</td>`) {
		t.Fatalf("alice's session not listed:\n%s", page)
	}
	// The overview's figures count her (and no storage error, a
	// family with no series until the first).
	_, _, overview := b.get("/admin/")
	for _, want := range []string{`<td>Sessions</td><td class="num">1</td>`, `<td>Storage errors</td><td class="num">0</td>`} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %s:\n%s", want, overview)
		}
	}
	if _, _, page := b.get("/admin/sessions?q=bob"); strings.Contains(page, "<td>alice@localhost/phone</td>") {
		t.Errorf("the filter bob lists alice:\n%s", page)
	}
	kick := url.Values{"jid": {"alice@localhost/phone"}}
	refused := []struct {
		name   string
		b      *browser
		csrf   string
		header http.Header
		code   int
	}{
		{"no token", b, "", nil, http.StatusForbidden},
		{"another session's token", b, bossToken, nil, http.StatusForbidden},
		{"foreign Origin", b, token, http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"cross-site fetch", b, token, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"admin of another host", boss, bossToken, nil, http.StatusSeeOther},
	}
	for i, c := range refused {
		f := url.Values{"jid": kick["jid"]}
		if c.csrf != "" {
			f.Set("csrf", c.csrf)
		}
		if code, _, body := c.b.post("/admin/sessions/kick", f, c.header); code != c.code {
			t.Errorf("%s: %d, want %d\n%s", c.name, code, c.code, body)
		}
		alive(t, alice, "p"+string(rune('a'+i)))
	}
	if _, _, page := boss.get("/admin/sessions"); !strings.Contains(page, "Not ended") {
		t.Errorf("the other host's admin was not told:\n%s", page)
	}

	kick.Set("csrf", token)
	if code, loc, body := b.post("/admin/sessions/kick", kick, http.Header{"Origin": {s.base}}); code != http.StatusSeeOther || loc != "/admin/sessions" {
		t.Fatalf("kick: %d %q\n%s", code, loc, body)
	}
	if cond := alice.ExpectStreamError(); cond != "policy-violation" {
		t.Errorf("alice's stream ended with %q, want policy-violation", cond)
	}
	_, _, page = b.get("/admin/sessions")
	if !strings.Contains(page, "Ended the session alice@localhost/phone") {
		t.Errorf("no confirmation:\n%s", page)
	}
	for deadline := time.Now().Add(10 * time.Second); strings.Contains(page, "<td>alice@localhost/phone</td>"); {
		if time.Now().After(deadline) {
			t.Fatalf("alice's session still listed:\n%s", page)
		}
		time.Sleep(20 * time.Millisecond)
		_, _, page = b.get("/admin/sessions")
	}
}

// TestAccounts: an admin creates an account (refused with differing
// passwords, for a host they do not administer, without the CSRF token,
// and when it exists), sets its password (the old one stops working),
// and deletes it only once the JID is typed to confirm: its session ends
// and the account is gone.
func TestAccounts(t *testing.T) {
	s := start(t, "none", "[limits]\nauth_failure_delay = \"0s\"\n")
	s.AddUser(t, "admin@localhost", "admin-pw")
	b := newBrowser(t, s)
	token := b.login("admin@localhost", "admin-pw")
	exists := func(local, domain string) bool {
		ok, err := s.Accounts().AccountExists(context.Background(), domain, local)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	create := func(local, host, pw, pw2, tok string) (int, string) {
		code, _, body := b.post("/admin/accounts/create", url.Values{"csrf": {tok}, "local": {local}, "host": {host}, "password": {pw}, "password2": {pw2}}, nil)
		return code, body
	}
	for _, c := range []struct {
		name, local, host, pw, pw2, tok string
		code                            int
		text                            string
	}{
		{"passwords differ", "carol", "localhost", "one", "two", token, http.StatusBadRequest, "the two passwords differ"},
		{"host not administered", "carol", "example.test", "carol-pw", "carol-pw", token, http.StatusBadRequest, "not a host you administer"},
		{"no CSRF token", "carol", "localhost", "carol-pw", "carol-pw", "", http.StatusForbidden, "CSRF"},
		{"bad user name", "ca rol", "localhost", "carol-pw", "carol-pw", token, http.StatusBadRequest, "Not created"},
		{"short password", "carol", "localhost", "pw", "pw", token, http.StatusBadRequest, "at least 8 characters"},
		{"empty password", "carol", "localhost", "", "", token, http.StatusBadRequest, "password is empty"},
	} {
		if code, body := create(c.local, c.host, c.pw, c.pw2, c.tok); code != c.code || !strings.Contains(body, c.text) {
			t.Errorf("%s: %d, want %d with %q\n%s", c.name, code, c.code, c.text, body)
		}
		if exists("carol", "localhost") || exists("carol", "example.test") {
			t.Fatalf("%s: carol was created", c.name)
		}
	}
	if code, body := create("carol", "localhost", "carol-pw", "carol-pw", token); code != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", code, body)
	}
	if _, _, page := b.get("/admin/accounts"); !strings.Contains(page, "Created carol@localhost") || !strings.Contains(page, "<td>carol@localhost</td>") {
		t.Errorf("accounts page after creating:\n%s", page)
	}
	if code, body := create("carol", "localhost", "xxxxxxxx", "xxxxxxxx", token); code != http.StatusConflict || !strings.Contains(body, "exists already") {
		t.Errorf("second create: %d\n%s", code, body)
	}
	testutil.Login(t, s.Server, "carol", "carol-pw", "a").Close()
	if _, _, page := b.get("/admin/accounts?q=CAR"); !strings.Contains(page, "<td>carol@localhost</td>") || strings.Contains(page, "<td>admin@localhost</td>") {
		t.Errorf("accounts filtered by CAR:\n%s", page)
	}

	if code, _, body := b.post("/admin/accounts/password", url.Values{"csrf": {token}, "jid": {"carol@localhost"}, "password": {"short"}}, nil); code != http.StatusBadRequest || !strings.Contains(body, "at least 8 characters") {
		t.Errorf("short password: %d\n%s", code, body)
	}
	// A client of carol's holding an XEP-0484 token: the new password
	// ends it, as the other ways of setting one do.
	fast := s.Accounts().(storage.FastTokens)
	now := time.Now().UTC().Truncate(time.Second)
	if err := fast.IssueFastToken(context.Background(), "localhost", "carol", storage.FastToken{
		AgentID: "phone", New: true, Mechanism: "HT-SHA-256-NONE", Hash: []byte("phone-token"), Created: now, Expiry: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if code, _, body := b.post("/admin/accounts/password", url.Values{"csrf": {token}, "jid": {"carol@localhost"}, "password": {"new-password"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("set password: %d\n%s", code, body)
	}
	if toks, err := fast.ListFastTokens(context.Background(), "localhost", "carol"); err != nil || len(toks) != 0 {
		t.Errorf("FAST tokens after the password change: %v, %v; want none", toks, err)
	}
	old := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	old.Open("localhost")
	old.StartTLS("localhost")
	if r := old.AuthSCRAM("SCRAM-SHA-256", "carol", "carol-pw", "", nil); r.OK {
		t.Error("the old password still works")
	}
	carol := testutil.Login(t, s.Server, "carol", "new-password", "phone")
	if code, _, _ := b.post("/admin/accounts/password", url.Values{"csrf": {token}, "jid": {"nobody@localhost"}, "password": {"xxxxxxxx"}}, nil); code != http.StatusNotFound {
		t.Errorf("password of a missing account: %d, want 404", code)
	}

	if code, _, page := b.get("/admin/accounts/delete?jid=carol@localhost"); code != http.StatusOK || !strings.Contains(page, "cannot be undone") {
		t.Fatalf("delete confirmation page: %d\n%s", code, page)
	}
	for _, confirm := range []string{"", "carol"} {
		if code, _, body := b.post("/admin/accounts/delete", url.Values{"csrf": {token}, "jid": {"carol@localhost"}, "confirm": {confirm}}, nil); code != http.StatusBadRequest || !strings.Contains(body, "type the account") {
			t.Errorf("delete confirmed with %q: %d\n%s", confirm, code, body)
		}
		if !exists("carol", "localhost") {
			t.Fatalf("carol deleted without confirmation %q", confirm)
		}
	}
	alive(t, carol, "still")
	if code, _, body := b.post("/admin/accounts/delete", url.Values{"csrf": {token}, "jid": {"carol@localhost"}, "confirm": {"carol@localhost"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", code, body)
	}
	if exists("carol", "localhost") {
		t.Error("carol still exists")
	}
	if cond := carol.ExpectStreamError(); cond != "not-authorized" {
		t.Errorf("carol's session ended with %q, want not-authorized", cond)
	}
}

// TestAccountsBounded: a host's list stops at 200 accounts and says how
// many more there are.
func TestAccountsBounded(t *testing.T) {
	s := start(t, "none", "")
	s.AddUser(t, "admin@localhost", "admin-pw")
	for i := range 210 {
		if err := s.Accounts().CreateAccount(context.Background(), "localhost", fmt.Sprintf("u%03d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, s)
	b.login("admin@localhost", "admin-pw")
	_, _, page := b.get("/admin/accounts")
	if n := strings.Count(page, "@localhost</td>"); n != 200 || !strings.Contains(page, "11 more not listed") {
		t.Errorf("%d accounts listed, want 200 and 11 more:\n%s", n, page)
	}
}

// TestRooms: the rooms page lists the persistent rooms of the admin's
// hosts' MUC services from storage, with their owners.
func TestRooms(t *testing.T) {
	s := start(t, "none", "")
	s.AddUser(t, "admin@localhost", "admin-pw")
	rooms, ok := s.Accounts().(storage.MUCRooms)
	if !ok {
		t.Fatal("the store keeps no rooms")
	}
	ctx := context.Background()
	for _, r := range []storage.MUCRoom{{Service: "conference.localhost", Name: "lobby", Config: []byte("{}")}, {Service: "conference.example.test", Name: "secret", Config: []byte("{}")}} {
		if err := rooms.SaveMUCRoom(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rooms.SetMUCAffiliation(ctx, "conference.localhost", "lobby", storage.MUCAffiliation{JID: "alice@localhost", Affiliation: "owner"}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	b.login("admin@localhost", "admin-pw")
	_, _, page := b.get("/admin/rooms")
	if !strings.Contains(page, "<td>lobby@conference.localhost</td><td>alice@localhost</td>") {
		t.Errorf("lobby not listed with its owner:\n%s", page)
	}
	if strings.Contains(page, "secret@") {
		t.Errorf("a room of another host is listed:\n%s", page)
	}
}
