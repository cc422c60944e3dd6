package invites_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/invite"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// Registration stays off on every host (testutil's default): invites are
// the only way in.
const config = `
[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = "direct"

[[host]]
domain = "admins.test"
admins = ["root@admins.test"]
`

const pw = "correct horse battery"

var idSeq atomic.Int64

// request sends an IQ and returns its answer; pushes and presence on the
// way are handed to seen (nil: dropped).
func request(t *testing.T, c *testutil.Client, typ, to, payload string, seen func(*xml.Element)) *xml.Element {
	t.Helper()
	id := fmt.Sprintf("q%d", idSeq.Add(1))
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	c.Send("<iq type='%s' id='%s'%s>%s</iq>", typ, id, toAttr, payload)
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == id {
			return el
		}
		if seen != nil {
			seen(el)
		}
	}
}

// formValue is the value of field v in the command's form.
func formValue(cmd *xml.Element, v string) string {
	x := cmd.Child("x", "jabber:x:data")
	if x == nil {
		return ""
	}
	for f := range x.Children() {
		if f.Attr("var") == v {
			if val := f.Child("value", "jabber:x:data"); val != nil {
				return val.Text()
			}
		}
	}
	return ""
}

// inviteCommand runs urn:xmpp:invite#invite as c and returns the URI and
// the landing page.
func inviteCommand(t *testing.T, c *testutil.Client, host string) (uri, link string) {
	t.Helper()
	r := request(t, c, "set", host, "<command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:invite#invite' action='execute'/>", nil)
	cmd := r.Child("command", "http://jabber.org/protocol/commands")
	if r.Attr("type") != "result" || cmd == nil || cmd.Attr("status") != "completed" {
		t.Fatalf("invite command: %s", r)
	}
	uri, link = formValue(cmd, "uri"), formValue(cmd, "landing-url")
	if uri == "" || link == "" || formValue(cmd, "expire") == "" {
		t.Fatalf("invite command result lacks uri, landing-url or expire: %s", r)
	}
	return uri, link
}

var tokenRE = regexp.MustCompile(`preauth=([0-9a-f]+)`)

func tokenOf(t *testing.T, uri string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(uri)
	if m == nil {
		t.Fatalf("no preauth token in %q", uri)
	}
	return m[1]
}

// unauth opens a stream to domain over STARTTLS and returns the client and
// the features offered under TLS.
func unauth(t *testing.T, s *testutil.Server, domain string) (*testutil.Client, *xml.Element) {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open(domain)
	return c, c.StartTLS(domain)
}

func regSet(username, password string) string {
	return fmt.Sprintf("<query xmlns='jabber:iq:register'><username>%s</username><password>%s</password></query>", username, password)
}

func rosterItem(t *testing.T, c *testutil.Client, contact string) *xml.Element {
	t.Helper()
	r := request(t, c, "get", "", "<query xmlns='jabber:iq:roster'/>", nil)
	for it := range r.Child("query", "jabber:iq:roster").Children() {
		if it.Attr("jid") == contact {
			return it
		}
	}
	t.Fatalf("%s not in the roster: %s", contact, r)
	return nil
}

// TestInviteInBand: alice invites through the ad-hoc command; the invitee
// presents the token (XEP-0401 preauth IQ) and registers in-band on a
// host with registration off; both are then subscribed to each other, and
// alice, online, got the roster push. The token works once.
func TestInviteInBand(t *testing.T) {
	s := testutil.Start(t, config)
	s.AddUser(t, "alice", pw)
	alice := testutil.Login(t, s, "alice", pw, "phone")
	// An interested resource gets roster pushes (RFC 6121 §2.1.6).
	request(t, alice, "get", "", "<query xmlns='jabber:iq:roster'/>", nil)
	uri, _ := inviteCommand(t, alice, "localhost")
	if !strings.HasPrefix(uri, "xmpp:alice@localhost?roster;preauth=") || !strings.HasSuffix(uri, ";ibr=y") {
		t.Fatalf("uri %q: want XEP-0401's roster form with ibr=y", uri)
	}
	token := tokenOf(t, uri)

	c, f := unauth(t, s, "localhost")
	if f.Child("register", invite.NSFeature) == nil || f.Child("register", invite.NSIBRToken) == nil {
		t.Fatalf("features lack the invite registration features: %s", f)
	}
	// Without the token: registration is off.
	if got := testutil.ErrorCondition(request(t, c, "set", "", regSet("bob", pw), nil)); got != stanza.NotAllowed {
		t.Fatalf("register without token: %q, want %s", got, stanza.NotAllowed)
	}
	if got := testutil.ErrorCondition(request(t, c, "set", "localhost", "<preauth xmlns='urn:xmpp:pars:0' token='0123456789abcdef0123456789abcdef'/>", nil)); got != stanza.Forbidden {
		t.Fatalf("preauth with a wrong token: %q, want %s", got, stanza.Forbidden)
	}
	if r := request(t, c, "set", "localhost", "<preauth xmlns='urn:xmpp:pars:0' token='"+token+"'/>", nil); r.Attr("type") != "result" {
		t.Fatalf("preauth: %s", r)
	}
	if r := request(t, c, "get", "", "<query xmlns='jabber:iq:register'/>", nil); r.Attr("type") != "result" {
		t.Fatalf("registration form after preauth: %s", r)
	}
	if r := request(t, c, "set", "", regSet("Bob", pw), nil); r.Attr("type") != "result" {
		t.Fatalf("register with the invite: %s", r)
	}
	// The account is usable on the same stream (XEP-0077 §3.1.1).
	if res := c.AuthSCRAM("SCRAM-SHA-256", "bob", pw, "", nil); !res.OK {
		t.Fatalf("login as the new account: %s", res.Condition)
	}
	c.Close()

	// alice's roster push for bob, subscription both.
	var push *xml.Element
	deadline := time.Now().Add(10 * time.Second)
	for push == nil && time.Now().Before(deadline) {
		el := alice.Next()
		if q := el.Child("query", "jabber:iq:roster"); el.Name() == "iq" && el.Attr("type") == "set" && q != nil {
			push = q.Child("item", "")
		}
	}
	if push == nil || push.Attr("jid") != "bob@localhost" || push.Attr("subscription") != "both" {
		t.Fatalf("alice's roster push: %v; want bob@localhost with subscription both", push)
	}
	if it := rosterItem(t, alice, "bob@localhost"); it.Attr("subscription") != "both" {
		t.Errorf("alice's item: %s", it)
	}
	bob := testutil.Login(t, s, "bob", pw, "laptop")
	if it := rosterItem(t, bob, "alice@localhost"); it.Attr("subscription") != "both" {
		t.Errorf("bob's item: %s", it)
	}

	// Used once: a second stream cannot use the token again.
	c2, _ := unauth(t, s, "localhost")
	if got := testutil.ErrorCondition(request(t, c2, "set", "localhost", "<preauth xmlns='urn:xmpp:pars:0' token='"+token+"'/>", nil)); got != stanza.Forbidden {
		t.Fatalf("preauth with a used token: %q, want %s", got, stanza.Forbidden)
	}
	// Nor inside the registration query (XEP-0445 style).
	q := "<query xmlns='jabber:iq:register'><username>carol</username><password>" + pw + "</password><preauth xmlns='urn:xmpp:pars:0' token='" + token + "'/></query>"
	if got := testutil.ErrorCondition(request(t, c2, "set", "", q, nil)); got != stanza.Forbidden {
		t.Fatalf("register with a used token: %q, want %s", got, stanza.Forbidden)
	}
	if s.HasUser(t, "carol@localhost") {
		t.Fatal("a used invite created an account")
	}
}

// TestInviteTakenNameKeepsToken: a failed registration (name taken,
// password too short) does not spend the invite.
func TestInviteTakenNameKeepsToken(t *testing.T) {
	s := testutil.Start(t, config)
	s.AddUser(t, "alice", pw)
	alice := testutil.Login(t, s, "alice", pw, "r")
	uri, _ := inviteCommand(t, alice, "localhost")
	token := tokenOf(t, uri)
	c, _ := unauth(t, s, "localhost")
	withToken := func(user, pass string) string {
		return "<query xmlns='jabber:iq:register'><username>" + user + "</username><password>" + pass + "</password><preauth xmlns='urn:xmpp:pars:0' token='" + token + "'/></query>"
	}
	if got := testutil.ErrorCondition(request(t, c, "set", "", withToken("alice", pw), nil)); got != stanza.Conflict {
		t.Fatalf("taken name: %q, want %s", got, stanza.Conflict)
	}
	if got := testutil.ErrorCondition(request(t, c, "set", "", withToken("dave", "short"), nil)); got != stanza.NotAcceptable {
		t.Fatalf("short password: %q, want %s", got, stanza.NotAcceptable)
	}
	if r := request(t, c, "set", "", withToken("dave", pw), nil); r.Attr("type") != "result" {
		t.Fatalf("register after failures: %s", r)
	}
	if !s.HasUser(t, "dave@localhost") {
		t.Fatal("dave not created")
	}
}

// browser reaches the test server's http listener whatever host the URL
// names, keeping cookies as a browser does.
func browser(t *testing.T, s *testutil.Server) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.HTTP)
		},
	}}
}

func fetch(t *testing.T, hc *http.Client, method, u string, form url.Values) (int, string, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// TestInvitePage: the landing page shows the host, the xmpp: link and a
// form; a POST without the CSRF token creates nothing; with it, the
// account exists, can log in and is subscribed to the inviter; the page
// is then gone.
func TestInvitePage(t *testing.T) {
	s := testutil.Start(t, config)
	s.AddUser(t, "alice", pw)
	alice := testutil.Login(t, s, "alice", pw, "r")
	uri, link := inviteCommand(t, alice, "localhost")
	if !strings.HasPrefix(link, "https://localhost:") || !strings.Contains(link, "/invite/"+tokenOf(t, uri)) {
		t.Fatalf("landing-url %q", link)
	}
	hc := browser(t, s)
	code, page, hdr := fetch(t, hc, "GET", link, nil)
	if code != 200 || !strings.Contains(page, "You are invited to localhost") || !strings.Contains(page, `href="`+strings.ReplaceAll(uri, ";", ";")+`"`) {
		t.Fatalf("GET %s: %d\n%s", link, code, page)
	}
	if hdr.Get("Referrer-Policy") != "no-referrer" || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v: the token in the URL must not leak", hdr)
	}
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in\n%s", page)
	}
	form := url.Values{"username": {"erin"}, "password": {pw}, "password2": {pw}}

	// Another site's form: no CSRF field, or the field without the cookie.
	if code, _, _ := fetch(t, hc, "POST", link, form); code != http.StatusForbidden {
		t.Fatalf("POST without csrf: %d, want 403", code)
	}
	form.Set("csrf", m[1])
	if code, _, _ := fetch(t, browser(t, s), "POST", link, form); code != http.StatusForbidden {
		t.Fatalf("POST without the cookie: %d, want 403", code)
	}
	if s.HasUser(t, "erin@localhost") {
		t.Fatal("account created without a valid CSRF token")
	}
	bad := url.Values{"username": {"erin"}, "password": {pw}, "password2": {pw + "x"}, "csrf": {m[1]}}
	if code, page, _ := fetch(t, hc, "POST", link, bad); code != http.StatusBadRequest || !strings.Contains(page, "differ") {
		t.Fatalf("POST with different passwords: %d\n%s", code, page)
	}
	code, page, _ = fetch(t, hc, "POST", link, form)
	if code != 200 || !strings.Contains(page, "erin@localhost") {
		t.Fatalf("POST: %d\n%s", code, page)
	}
	erin := testutil.Login(t, s, "erin", pw, "web")
	if it := rosterItem(t, erin, "alice@localhost"); it.Attr("subscription") != "both" {
		t.Errorf("erin's item: %s", it)
	}
	if code, _, _ := fetch(t, hc, "GET", link, nil); code != http.StatusNotFound {
		t.Fatalf("GET of a used invite: %d, want 404", code)
	}
}

// TestAdminInvite: a user may not run create-account; an admin makes an
// invite for a fixed username; an admin invite (made in storage, as the
// CLI does) makes an account that is then an admin itself.
func TestAdminInvite(t *testing.T) {
	s := testutil.Start(t, config)
	s.AddUser(t, "alice@admins.test", pw)
	s.AddUser(t, "root@admins.test", pw)
	alice := testutil.Login(t, s, "alice@admins.test", pw, "r")
	create := "<command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:invite#create-account' action='execute'/>"
	if got := testutil.ErrorCondition(request(t, alice, "set", "admins.test", create, nil)); got != stanza.Forbidden {
		t.Fatalf("create-account by a user: %q, want %s", got, stanza.Forbidden)
	}
	root := testutil.Login(t, s, "root@admins.test", pw, "r")
	submit := func(username string) *xml.Element {
		r := request(t, root, "set", "admins.test", create, nil)
		sid := r.Child("command", "http://jabber.org/protocol/commands").Attr("sessionid")
		return request(t, root, "set", "admins.test", "<command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:invite#create-account' sessionid='"+sid+"'>"+
			"<x xmlns='jabber:x:data' type='submit'><field var='username'><value>"+username+"</value></field></x></command>", nil)
	}
	if got := testutil.ErrorCondition(submit("alice")); got != stanza.Conflict {
		t.Fatalf("create-account for a taken name: %q, want %s", got, stanza.Conflict)
	}
	r := request(t, root, "set", "admins.test", create, nil)
	sid := r.Child("command", "http://jabber.org/protocol/commands").Attr("sessionid")
	r = request(t, root, "set", "admins.test", "<command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:invite#create-account' sessionid='"+sid+"'>"+
		"<x xmlns='jabber:x:data' type='submit'><field var='username'><value>Frank</value></field></x></command>", nil)
	cmd := r.Child("command", "http://jabber.org/protocol/commands")
	uri := formValue(cmd, "uri")
	if !strings.HasPrefix(uri, "xmpp:admins.test?register;preauth=") {
		t.Fatalf("create-account uri %q (%s)", uri, r)
	}
	token := tokenOf(t, uri)
	c, _ := unauth(t, s, "admins.test")
	withToken := func(user string) string {
		return "<query xmlns='jabber:iq:register'><username>" + user + "</username><password>" + pw + "</password><preauth xmlns='urn:xmpp:pars:0' token='" + token + "'/></query>"
	}
	if got := testutil.ErrorCondition(request(t, c, "set", "", withToken("george"), nil)); got != stanza.NotAllowed {
		t.Fatalf("another username than the invite's: %q, want %s", got, stanza.NotAllowed)
	}
	if r := request(t, c, "set", "", withToken("frank"), nil); r.Attr("type") != "result" {
		t.Fatalf("register frank: %s", r)
	}

	// An admin invite, stored as `xmppd invite create -admin` does.
	db := s.Accounts().(storage.Invites)
	tok, hash := invite.NewToken()
	now := time.Now().UTC()
	if err := db.CreateInvite(context.Background(), storage.Invite{ID: invite.NewID(), TokenHash: hash, Domain: "admins.test",
		Admin: true, UsesLeft: 1, Created: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c2, _ := unauth(t, s, "admins.test")
	q := "<query xmlns='jabber:iq:register'><username>helen</username><password>" + pw + "</password><preauth xmlns='urn:xmpp:pars:0' token='" + tok + "'/></query>"
	if r := request(t, c2, "set", "", q, nil); r.Attr("type") != "result" {
		t.Fatalf("register helen: %s", r)
	}
	helen := testutil.Login(t, s, "helen@admins.test", pw, "r")
	r = request(t, helen, "set", "admins.test", create, nil)
	if r.Attr("type") != "result" {
		t.Fatalf("create-account by an account from an admin invite: %s", r)
	}
}

// TestUsersMayNotInvite: with [invites] users = false only admins invite.
func TestUsersMayNotInvite(t *testing.T) {
	s := testutil.Start(t, config+"\n[invites]\nusers = false\n")
	s.AddUser(t, "alice@admins.test", pw)
	s.AddUser(t, "root@admins.test", pw)
	run := "<command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:invite#invite' action='execute'/>"
	alice := testutil.Login(t, s, "alice@admins.test", pw, "r")
	if got := testutil.ErrorCondition(request(t, alice, "set", "admins.test", run, nil)); got != stanza.Forbidden {
		t.Fatalf("invite by a user with users = false: %q, want %s", got, stanza.Forbidden)
	}
	root := testutil.Login(t, s, "root@admins.test", pw, "r")
	inviteCommand(t, root, "admins.test")
}

// until reads c's stanzas until match returns true for one, and returns it.
func until(t *testing.T, c *testutil.Client, what string, match func(*xml.Element) bool) *xml.Element {
	t.Helper()
	for {
		el, err := c.TryNext()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(el) {
			return el
		}
		t.Logf("%s: skipped %s", what, el)
	}
}

func isPresence(typ, from string) func(*xml.Element) bool {
	return func(el *xml.Element) bool {
		return el.Name() == "presence" && el.Attr("type") == typ && el.Attr("from") == from
	}
}

func isPush(contact, sub, ask string) func(*xml.Element) bool {
	return func(el *xml.Element) bool {
		q := el.Child("query", "jabber:iq:roster")
		if el.Name() != "iq" || el.Attr("type") != "set" || q == nil {
			return false
		}
		it := q.Child("item", "")
		return it != nil && it.Attr("jid") == contact && it.Attr("subscription") == sub && it.Attr("ask") == ask
	}
}

// TestPreauthSubscription: XEP-0379 for an account that exists already:
// bob's subscription request to alice carries the token of alice's
// invite; alice's server approves it for her (she is not asked) and asks
// bob back. The token is then spent: it creates no account, and a
// second request with it goes to alice as usual.
func TestPreauthSubscription(t *testing.T) {
	s := testutil.Start(t, config)
	for _, u := range []string{"alice", "bob", "carol"} {
		s.AddUser(t, u, pw)
	}
	alice := testutil.Login(t, s, "alice", pw, "a")
	request(t, alice, "get", "", "<query xmlns='jabber:iq:roster'/>", nil)
	alice.Send("<presence/>")
	uri, _ := inviteCommand(t, alice, "localhost")
	token := tokenOf(t, uri)

	bob := testutil.Login(t, s, "bob", pw, "b")
	request(t, bob, "get", "", "<query xmlns='jabber:iq:roster'/>", nil)
	bob.Send("<presence/>")
	bob.Send("<presence type='subscribe' to='alice@localhost'><preauth xmlns='urn:xmpp:pars:0' token='%s'/></presence>", token)
	until(t, bob, "alice's approval", isPresence("subscribed", "alice@localhost"))
	until(t, bob, "alice's request back", isPresence("subscribe", "alice@localhost"))

	// alice's roster: bob approved (from), and her own request pending.
	until(t, alice, "the push of bob's approved subscription", isPush("bob@localhost", "from", ""))
	until(t, alice, "the push of her request back", isPush("bob@localhost", "from", "subscribe"))

	// Spent: no account with it, and carol's request with it is an
	// ordinary one that alice is asked about.
	c, _ := unauth(t, s, "localhost")
	if got := testutil.ErrorCondition(request(t, c, "set", "localhost", "<preauth xmlns='urn:xmpp:pars:0' token='"+token+"'/>", nil)); got != stanza.Forbidden {
		t.Fatalf("preauth with a token spent on a subscription: %q, want %s", got, stanza.Forbidden)
	}
	carol := testutil.Login(t, s, "carol", pw, "c")
	carol.Send("<presence type='subscribe' to='alice@localhost'><preauth xmlns='urn:xmpp:pars:0' token='%s'/></presence>", token)
	until(t, alice, "carol's request", isPresence("subscribe", "carol@localhost"))
}
