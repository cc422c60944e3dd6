package entitytime_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
)

func TestEntityTime(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	c := testutil.Login(t, s, "alice", "a", "r")
	before := time.Now().Add(-time.Second)
	c.Send("<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>")
	r := c.NextNamed("iq")
	tm := r.Child("time", "urn:xmpp:time")
	if r.Attr("type") != "result" || tm == nil {
		t.Fatalf("reply: %s", r)
	}
	if tzo := tm.Child("tzo", "").Text(); !regexp.MustCompile(`^[+-]\d\d:\d\d$`).MatchString(tzo) {
		t.Fatalf("tzo %q", tzo)
	}
	utc, err := time.Parse(time.RFC3339, tm.Child("utc", "").Text())
	if err != nil || !strings.HasSuffix(tm.Child("utc", "").Text(), "Z") {
		t.Fatalf("utc: %v %s", err, tm)
	}
	if utc.Before(before) || utc.After(time.Now().Add(time.Second)) {
		t.Fatalf("utc %v is not now", utc)
	}
	c.Send("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if r := c.NextNamed("iq"); !strings.Contains(r.String(), "var='urn:xmpp:time'") {
		t.Fatalf("disco#info lacks the feature: %s", r)
	}
}
