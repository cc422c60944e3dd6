package version_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
)

func TestVersion(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	c := testutil.Login(t, s, "alice", "a", "r")
	c.Send("<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
	r := c.NextNamed("iq")
	q := r.Child("query", "jabber:iq:version")
	if r.Attr("type") != "result" || r.Attr("id") != "v1" || r.Attr("from") != "localhost" || q == nil {
		t.Fatalf("reply: %s", r)
	}
	if q.Child("name", "").Text() != "xmppd" || q.Child("version", "").Text() == "" || q.Child("os", "") != nil {
		t.Fatalf("query: %s", q)
	}
	// A set is not defined by XEP-0092.
	c.Send("<iq type='set' id='v2' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
	if r := c.NextNamed("iq"); r.Attr("type") != "error" || !strings.Contains(r.String(), "service-unavailable") {
		t.Fatalf("set: %s", r)
	}
	c.Send("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if r := c.NextNamed("iq"); !strings.Contains(r.String(), "var='jabber:iq:version'") {
		t.Fatalf("disco#info lacks the feature: %s", r)
	}
}
