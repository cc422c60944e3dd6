package adminweb_test

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/accounts"
	"github.com/xmppd/xmppd/storage"
)

// TestLogin: over plain HTTP and HTTPS, a page without a session goes to
// the login form; an admin's JID and password log in with a session
// cookie that is HttpOnly, SameSite=Strict, scoped to /admin/ and Secure
// over TLS; the overview then shows the figures; logging out (a POST
// with the token) ends the session.
func TestLogin(t *testing.T) {
	for _, mode := range []string{"none", "direct"} {
		t.Run(mode, func(t *testing.T) {
			s := start(t, mode, "")
			s.AddUser(t, "admin@localhost", "admin-pw")
			b := newBrowser(t, s)
			if code, loc, _ := b.get("/admin/sessions"); code != http.StatusSeeOther || loc != "/admin/login" {
				t.Fatalf("sessions page without login: %d %q, want 303 to the login form", code, loc)
			}
			// The login form's token cookie and the session cookie, as sent.
			resp, err := b.c.Get(b.base + "/admin/login")
			if err != nil {
				t.Fatal(err)
			}
			page := readAll(t, resp)
			lc := setCookie(t, resp, "xmppd_admin_login")
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			form := url.Values{"csrf": {csrf(t, page)}, "jid": {"Admin@LocalHost"}, "password": {"admin-pw"}}
			resp, err = b.c.PostForm(b.base+"/admin/login", form)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: %d", resp.StatusCode)
			}
			sc := setCookie(t, resp, "xmppd_admin")
			secure := mode == "direct"
			for _, c := range []*http.Cookie{lc, sc} {
				if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != secure || !strings.HasPrefix(c.Path, "/admin/") || len(c.Value) < 32 {
					t.Errorf("cookie %s: HttpOnly %v SameSite %v Secure %v (want %v) Path %q value %d chars", c.Name, c.HttpOnly, c.SameSite, c.Secure, secure, c.Path, len(c.Value))
				}
			}
			// Behind a proxy that terminated TLS (a client without the
			// session, which would be sent on to the overview).
			req, _ := http.NewRequest(http.MethodGet, b.base+"/admin/login", nil)
			req.Header.Set("X-Forwarded-Proto", "https")
			if resp, err = (&http.Client{Transport: b.c.Transport}).Do(req); err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			if c := setCookie(t, resp, "xmppd_admin_login"); !c.Secure {
				t.Error("login cookie not Secure with X-Forwarded-Proto: https")
			}
			code, _, page := b.get("/admin/")
			if code != http.StatusOK || !strings.Contains(page, "admin@localhost") || !strings.Contains(page, `id="figures"`) || !strings.Contains(page, "xmppd_sessions_bound") {
				t.Fatalf("overview: %d\n%s", code, page)
			}
			if code, loc, _ := b.post("/admin/logout", url.Values{"csrf": {csrf(t, page)}}, nil); code != http.StatusSeeOther || loc != "/admin/login" {
				t.Fatalf("logout: %d %q", code, loc)
			}
			// The old cookie is dead even if a browser kept it.
			req, _ = http.NewRequest(http.MethodGet, b.base+"/admin/", nil)
			req.AddCookie(sc)
			resp, err = b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("overview with the logged-out cookie: %d, want 303 to login", resp.StatusCode)
			}
		})
	}
}

// TestLoginRefused: a wrong password, an unknown account, a user who is
// no admin (with the right password), an admin of another host's JID
// form, and a login form not from this server's page all get the login
// page again with 403 and no session; the wrong password and the unknown
// account are logged in the line docs/deploy-fail2ban.md's filter
// matches, the refused non-admin as a warning that the overview's recent
// errors then show.
func TestLoginRefused(t *testing.T) {
	s := start(t, "none", "[limits]\nauth_failure_delay = \"0s\"\n")
	s.AddUser(t, "admin@localhost", "admin-pw")
	s.AddUser(t, "alice@localhost", "alice-pw")
	b := newBrowser(t, s)
	cases := []struct {
		name, jid, password string
		token               bool // send the login form's token
		fail2ban            bool // logged as a failed authentication
	}{
		{"wrong password", "admin@localhost", "guess", true, true},
		{"unknown account", "nobody@localhost", "guess", true, true},
		{"not an admin", "alice@localhost", "alice-pw", true, false},
		{"not a served domain", "admin@elsewhere.example", "admin-pw", true, false},
		{"full JID", "admin@localhost/res", "admin-pw", true, false},
		{"no login token", "admin@localhost", "admin-pw", false, false},
	}
	for _, c := range cases {
		before := len(s.logs.String())
		_, _, page := b.get("/admin/login")
		form := url.Values{"jid": {c.jid}, "password": {c.password}}
		if c.token {
			form.Set("csrf", csrf(t, page))
		} else {
			form.Set("csrf", "0123456789abcdef0123456789abcdef")
		}
		code, _, body := b.post("/admin/login", form, nil)
		if code != http.StatusForbidden || !strings.Contains(body, `name="password"`) {
			t.Errorf("%s: %d, want 403 with the login form\n%s", c.name, code, body)
		}
		if code, _, _ := b.get("/admin/"); code != http.StatusSeeOther {
			t.Errorf("%s: logged in anyway (overview %d)", c.name, code)
		}
		logged := strings.Contains(s.logs.String()[before:], `msg="authentication failed" component=web-admin ip=127.0.0.1 account=`+c.jid)
		if logged != c.fail2ban {
			t.Errorf("%s: failed-authentication line logged %v, want %v", c.name, logged, c.fail2ban)
		}
	}
	checkFail2banFilter(t, s.logs.String())

	b.login("admin@localhost", "admin-pw")
	_, _, page := b.get("/admin/")
	if !regexp.MustCompile(`(?s)<table id="log">.*WARN.*admin login refused: not an admin.*account=alice@localhost`).MatchString(page) {
		t.Errorf("the refused login is not among the recent warnings:\n%s", page)
	}
}

// TestLoginInvitedAdmin: an account an admin invitation made (the admin
// role stored with it, which the XEP-0133 commands honour too) logs in and
// administers its own host, not the others; an account from a plain
// invitation is refused.
func TestLoginInvitedAdmin(t *testing.T) {
	s := start(t, "none", "[limits]\nauth_failure_delay = \"0s\"\n")
	db := s.Accounts().(storage.Invites)
	redeem := func(user string, admin bool) {
		t.Helper()
		now := time.Now().UTC()
		hash := sha256.Sum256([]byte("token-of-" + user))
		if err := db.CreateInvite(context.Background(), storage.Invite{ID: "id-" + user, TokenHash: hash[:], Domain: "localhost",
			Admin: admin, UsesLeft: 1, Created: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		creds, err := accounts.Credentials(user + "-pw")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.RedeemInvite(context.Background(), hash[:], now, user, creds); err != nil {
			t.Fatalf("redeem the invite for %s: %v", user, err)
		}
	}
	redeem("helen", true)
	redeem("ivan", false)

	b := newBrowser(t, s)
	_, _, page := b.get("/admin/login")
	if code, _, body := b.post("/admin/login", url.Values{"csrf": {csrf(t, page)}, "jid": {"ivan@localhost"}, "password": {"ivan-pw"}}, nil); code != http.StatusForbidden {
		t.Errorf("login of an account from a plain invitation: %d, want 403\n%s", code, body)
	}
	token := b.login("helen@localhost", "helen-pw")
	create := func(host string) (int, string) {
		code, _, body := b.post("/admin/accounts/create", url.Values{"csrf": {token}, "local": {"carol"}, "host": {host}, "password": {"carol-pw"}, "password2": {"carol-pw"}}, nil)
		return code, body
	}
	if code, body := create("example.test"); code != http.StatusBadRequest || !strings.Contains(body, "not a host you administer") {
		t.Errorf("create on another host: %d\n%s", code, body)
	}
	if code, body := create("localhost"); code != http.StatusSeeOther {
		t.Errorf("create on helen's host: %d\n%s", code, body)
	}
}

// checkFail2banFilter: the failregex lines of docs/deploy-fail2ban.md
// match the admin pages' failed-login lines, with the address.
func checkFail2banFilter(t *testing.T, log string) {
	t.Helper()
	doc, err := os.ReadFile("../../docs/deploy-fail2ban.md")
	if err != nil {
		t.Fatal(err)
	}
	var filters []*regexp.Regexp
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "failregex ="))
		if strings.HasPrefix(line, "^") && strings.Contains(line, "authentication failed") && !strings.Contains(line, `"msg"`) {
			filters = append(filters, regexp.MustCompile(strings.Replace(line, "<ADDR>", `([0-9a-fA-F:.]+)`, 1)))
		}
	}
	if len(filters) != 1 {
		t.Fatalf("found %d text failregex lines in docs/deploy-fail2ban.md, want 1", len(filters))
	}
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "component=web-admin") || !strings.Contains(line, "authentication failed") {
			continue
		}
		n++
		if m := filters[0].FindStringSubmatch(line); m == nil || m[1] != "127.0.0.1" {
			t.Errorf("fail2ban filter %s does not match %s", filters[0], line)
		}
	}
	if n == 0 {
		t.Error("no failed admin login logged")
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
