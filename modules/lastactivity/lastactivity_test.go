package lastactivity_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
)

func TestServerUptime(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	c := testutil.Login(t, s, "alice", "a", "r")
	ask := func() int {
		c.Send("<iq type='get' id='l' to='localhost'><query xmlns='jabber:iq:last'/></iq>")
		r := c.NextNamed("iq")
		q := r.Child("query", "jabber:iq:last")
		if r.Attr("type") != "result" || q == nil {
			t.Fatalf("reply: %s", r)
		}
		n, err := strconv.Atoi(q.Attr("seconds"))
		if err != nil || n < 0 {
			t.Fatalf("seconds: %s", q)
		}
		return n
	}
	first := ask()
	time.Sleep(1100 * time.Millisecond)
	if second := ask(); second < first+1 {
		t.Fatalf("uptime did not advance: %d then %d", first, second)
	}
	c.Send("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if r := c.NextNamed("iq"); !strings.Contains(r.String(), "var='jabber:iq:last'") {
		t.Fatalf("disco#info lacks the feature: %s", r)
	}
}
