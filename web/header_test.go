package web_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/web"
	"github.com/xmppd/xmppd/xml"
)

const nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"

// The client's stream header reaches c2s as a value (stream.HeaderReader),
// not as <stream:stream> text the transport writes for the decoder: the
// attributes of <open/> arrive as sent, escaped characters included, and
// c2s answers them with the checks of RFC 6120 §4.7 whatever the
// transport. What is not an <open/> where one is due, or an <open/> in
// the middle of a stream, ends the stream (RFC 7395 §3.3.2, §3.4)
// instead of reaching the decoder as the start of an element that never
// ends.
func TestWebSocketOpenIsAHeader(t *testing.T) {
	s := testutil.Start(t, https)
	s.AddUser(t, "alice", pw)
	const framing = "xmlns='urn:ietf:params:xml:ns:xmpp-framing'"
	for _, tc := range []struct {
		name  string
		sends []string
		// cond is the stream error expected after our <open/>; "" for
		// the features.
		cond string
		// to is the 'to' our <open/> must carry (§4.7.2: the client's
		// 'from').
		to string
	}{
		{name: "escaped from and xml:lang",
			sends: []string{"<open " + framing + " to='localhost' from='alice@localhost/a&amp;b&apos;c&lt;d&quot;' xml:lang='de-CH' version='1.0'/>"},
			to:    `alice@localhost/a&b'c<d"`},
		{name: "whitespace before open",
			sends: []string{" ", "<open " + framing + " to='localhost' version='1.0'/>"}},
		{name: "stream header instead of open",
			sends: []string{"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"},
			cond:  "invalid-namespace"},
		{name: "open in another namespace",
			sends: []string{"<open xmlns='jabber:client' to='localhost' version='1.0'/>"},
			cond:  "invalid-namespace"},
		{name: "stanza instead of open",
			sends: []string{"<presence xmlns='jabber:client'/>"},
			cond:  "invalid-namespace"},
		{name: "unsupported version",
			sends: []string{"<open " + framing + " to='localhost' version='2.0'/>"},
			cond:  "unsupported-version"},
		{name: "no version",
			sends: []string{"<open " + framing + " to='localhost'/>"},
			cond:  "unsupported-version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialWS(t, s)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.sends {
				c.Send(m)
			}
			// A header that never came leaves the domain unknown: our
			// <open/> then names none (as on TCP for an unreadable one).
			open := c.Next()
			if open.Name() != "open" || open.NS() != web.NSFraming || open.Attr("to") != tc.to ||
				open.Attr("from") != "localhost" && tc.cond != "invalid-namespace" {
				t.Fatalf("open: %s", open.Append(nil, ""))
			}
			el := c.Next()
			if tc.cond == "" {
				if el.Name() != "features" || el.NS() != xml.NSStream {
					t.Fatalf("features: %s", el.Append(nil, ""))
				}
				return
			}
			if el.Name() != "error" || el.NS() != xml.NSStream || el.Child(tc.cond, nsStreams) == nil {
				t.Fatalf("want <%s/>: %s", tc.cond, el.Append(nil, ""))
			}
			if cl := c.Next(); cl.Name() != "close" || cl.NS() != web.NSFraming {
				t.Fatalf("after the error: %s", cl.Append(nil, ""))
			}
		})
	}

	t.Run("open in the middle of a stream", func(t *testing.T) {
		c, err := dialWS(t, s)
		if err != nil {
			t.Fatal(err)
		}
		c.open()
		c.Send("<open " + framing + " to='localhost' version='1.0'/>")
		if el := c.Next(); el.Name() != "error" || el.Child("bad-format", nsStreams) == nil {
			t.Fatalf("want <bad-format/>: %s", el.Append(nil, ""))
		}
	})

	t.Run("restart carries its own header", func(t *testing.T) {
		c, err := dialWS(t, s)
		if err != nil {
			t.Fatal(err)
		}
		c.open()
		c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+pw)) + "</auth>")
		if el := c.Next(); el.Name() != "success" {
			t.Fatalf("auth: %s", el.Append(nil, ""))
		}
		// RFC 6120 §4.7.2: the restarted stream's header is read afresh.
		c.Send("<open " + framing + " to='localhost' from='alice@localhost' version='1.0'/>")
		if open := c.Next(); open.Name() != "open" || open.Attr("to") != "alice@localhost" {
			t.Fatalf("open after restart: %s", open.Append(nil, ""))
		}
		if el := c.Next(); el.Name() != "features" || el.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") == nil {
			t.Fatalf("features after restart: %s", el.Append(nil, ""))
		}
	})
}

// A BOSH session's creation body and its restarts are the client's stream
// headers (XEP-0206 §3, §5): c2s checks them as it checks any header (an
// xmpp:version it cannot speak is refused, RFC 6120 §4.7.5), and a
// restart where none is due ends the stream instead of reaching the
// decoder as the start of an element.
func TestBOSHHeaders(t *testing.T) {
	s := testutil.Start(t, https)
	t.Run("unsupported version", func(t *testing.T) {
		c := testutil.NewBOSH(t, s)
		c.RID++
		r := c.Post(fmt.Sprintf("<body rid='%d' to='localhost' wait='3' hold='1' ver='1.11' xmpp:version='2.0' xmlns='%s' xmlns:xmpp='urn:xmpp:xbosh'/>", c.RID, nsBind))
		if r.Attr("type") != "terminate" || r.Attr("condition") != "remote-stream-error" || !strings.Contains(r.String(), "unsupported-version") {
			t.Errorf("got %s", r)
		}
	})
	t.Run("restart before authentication", func(t *testing.T) {
		c := testutil.NewBOSH(t, s)
		if testutil.BOSHChild(c.Create("localhost"), "features") == nil {
			c.Collect("features")
		}
		r := c.Send("to='localhost' xmpp:restart='true'", "")
		for range 3 {
			if r.Attr("type") == "terminate" {
				break
			}
			r = c.Send("", "")
		}
		if r.Attr("type") != "terminate" || !strings.Contains(r.String(), "bad-format") {
			t.Errorf("got %s", r)
		}
	})
}
