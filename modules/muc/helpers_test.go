package muc_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/modules/muc"
	"github.com/xmppd/xmppd/xml"
)

const service = "conference.localhost"

var idSeq atomic.Int64

func nextID() string { return fmt.Sprintf("q%d", idSeq.Add(1)) }

// user is a logged-in test client.
type user struct {
	t *testing.T
	*testutil.Client
	name string
}

func login(t *testing.T, s *testutil.Server, name, resource string) *user {
	t.Helper()
	return &user{t: t, Client: testutil.Login(t, s, name, name+"pw", resource), name: name}
}

func addUsers(t *testing.T, s *testutil.Server, names ...string) {
	for _, n := range names {
		s.AddUser(t, n, n+"pw")
	}
}

// until reads stanzas until pred matches one, returning it and those
// before it.
func (u *user) until(pred func(el *xml.Element) bool) (*xml.Element, []*xml.Element) {
	u.t.Helper()
	var seen []*xml.Element
	for {
		el := u.Next()
		if pred(el) {
			return el, seen
		}
		seen = append(seen, el)
	}
}

// iq sends an IQ (format with %s for the id) and returns its answer.
func (u *user) iq(format string, args ...any) *xml.Element {
	u.t.Helper()
	id := nextID()
	u.Send("%s", strings.Replace(fmt.Sprintf(format, args...), "ID", id, 1))
	el, _ := u.until(func(el *xml.Element) bool { return el.Name() == "iq" && el.Attr("id") == id })
	return el
}

func (u *user) iqOK(format string, args ...any) *xml.Element {
	u.t.Helper()
	r := u.iq(format, args...)
	if r.Attr("type") != "result" {
		u.t.Fatalf("%s: iq failed: %s", u.name, r)
	}
	return r
}

// join enters room as nick and reads up to the subject (the end of the
// join sequence, §7.2.15). It returns everything read, subject last.
func (u *user) join(room, nick string, extra ...string) []*xml.Element {
	u.t.Helper()
	x := "<x xmlns='http://jabber.org/protocol/muc'/>"
	if len(extra) > 0 {
		x = "<x xmlns='http://jabber.org/protocol/muc'>" + extra[0] + "</x>"
	}
	u.Send("<presence to='%s@%s/%s'>%s</presence>", room, service, nick, x)
	el, seen := u.until(func(el *xml.Element) bool {
		if el.Attr("type") == "error" {
			u.t.Fatalf("%s: join %s failed: %s", u.name, room, el)
		}
		return el.Name() == "message" && el.Child("subject", "") != nil && el.Child("body", "") == nil
	})
	return append(seen, el)
}

// joinErr tries to enter and returns the error condition.
func (u *user) joinErr(room, nick, x string) string {
	u.t.Helper()
	u.Send("<presence to='%s@%s/%s'><x xmlns='http://jabber.org/protocol/muc'>%s</x></presence>", room, service, nick, x)
	el, _ := u.until(func(el *xml.Element) bool { return el.Name() == "presence" && el.Attr("type") == "error" })
	return condition(el)
}

func condition(el *xml.Element) string {
	e := el.Child("error", "")
	if e == nil {
		return ""
	}
	for c := range e.Children() {
		if c.NS() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.Name() != "text" {
			return c.Name()
		}
	}
	return ""
}

// create makes an instant room (§10.1.2) owned by u as nick.
func (u *user) create(room, nick string) {
	u.t.Helper()
	u.Send("<presence to='%s@%s/%s'><x xmlns='http://jabber.org/protocol/muc'/></presence>", room, service, nick)
	self, _ := u.until(func(el *xml.Element) bool { return el.Name() == "presence" && hasCode(el, 110) })
	if !hasCode(self, 201) {
		u.t.Fatalf("creation self-presence without 201: %s", self)
	}
	u.iqOK("<iq type='set' id='ID' to='%s@%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>", room, service)
	// The unlocked room sent its (empty) subject before the result: the
	// iq helper skipped it.
}

// configure submits muc#roomconfig fields (var → value).
func (u *user) configure(room string, fields map[string]string) *xml.Element {
	u.t.Helper()
	var b strings.Builder
	b.WriteString("<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>")
	for k, v := range fields {
		fmt.Fprintf(&b, "<field var='%s'><value>%s</value></field>", k, v)
	}
	return u.iq("<iq type='set' id='ID' to='%s@%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>%s</x></query></iq>", room, service, b.String())
}

func (u *user) say(room, body string) {
	u.Send("<message type='groupchat' to='%s@%s'><body>%s</body></message>", room, service, body)
}

// nextGroupchat reads up to the next groupchat message with a body.
func (u *user) nextGroupchat() *xml.Element {
	u.t.Helper()
	el, _ := u.until(func(el *xml.Element) bool {
		return el.Name() == "message" && el.Attr("type") == "groupchat" && el.Child("body", "") != nil
	})
	return el
}

// presenceFrom reads up to the next presence from room/nick.
func (u *user) presenceFrom(room, nick string) *xml.Element {
	u.t.Helper()
	from := room + "@" + service + "/" + nick
	el, _ := u.until(func(el *xml.Element) bool { return el.Name() == "presence" && el.Attr("from") == from })
	return el
}

func mucX(el *xml.Element) *xml.Element { return el.Child("x", muc.NSUser) }

func item(el *xml.Element) *xml.Element {
	if x := mucX(el); x != nil {
		return x.Child("item", muc.NSUser)
	}
	return nil
}

func hasCode(el *xml.Element, code int) bool {
	x := mucX(el)
	if x == nil {
		return false
	}
	for c := range x.Children() {
		if c.Name() == "status" && c.Attr("code") == fmt.Sprint(code) {
			return true
		}
	}
	return false
}

func wantCond(t *testing.T, el *xml.Element, cond string) {
	t.Helper()
	if el.Attr("type") != "error" || condition(el) != cond {
		t.Fatalf("want %s error, got %s", cond, el)
	}
}

func features(el *xml.Element) map[string]bool {
	out := map[string]bool{}
	q := el.FirstChild()
	if q == nil {
		return out
	}
	for c := range q.Children() {
		if c.Name() == "feature" {
			out[c.Attr("var")] = true
		}
	}
	return out
}
