package s2s_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/s2s"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const streamsNS = "xmlns:stream='" + xml.NSStream + "'"

// An inbound s2s header gets the checks c2s and the web transports make
// of theirs: RFC 6120 §4.8 (jabber:server content namespace, else
// invalid-namespace), §4.7.2 and §4.9.3.6 ('to' a domain we serve, else
// host-unknown), §4.7.5 (a major version above 1, or one that is not a
// number, is unsupported-version). Each gets our header first (§4.9.1.2),
// then its stream error and closing tag, and its connection ends; the
// federation of the same server goes on meanwhile.
func TestInboundHeaders(t *testing.T) {
	a, b := pair(t, selfSigned, selfSigned)
	const db = " xmlns:db='jabber:server:dialback'"
	for _, tc := range []struct {
		name, header string
		cond         string
		// from and version are what our header must say.
		from, to, version string
	}{
		{name: "client namespace", header: "<stream:stream xmlns='jabber:client' " + streamsNS + " from='a.test' to='b.test' version='1.0'>",
			cond: stanza.StreamInvalidNamespace, from: "b.test", to: "a.test", version: "1.0"},
		{name: "component namespace", header: "<stream:stream xmlns='jabber:component:accept' " + streamsNS + " to='b.test' version='1.0'>",
			cond: stanza.StreamInvalidNamespace, from: "b.test", version: "1.0"},
		{name: "no content namespace", header: "<stream:stream " + streamsNS + db + " from='a.test' to='b.test' version='1.0'>",
			cond: stanza.StreamInvalidNamespace, from: "b.test", to: "a.test", version: "1.0"},
		{name: "stream in another namespace", header: "<stream:stream xmlns='jabber:server' xmlns:stream='urn:example' to='b.test' version='1.0'>",
			cond: stanza.StreamInvalidNamespace, from: "b.test", version: "1.0"},
		{name: "to a domain not ours", header: "<stream:stream xmlns='jabber:server' " + streamsNS + db + " from='a.test' to='nope.test' version='1.0'>",
			cond: stanza.StreamHostUnknown, to: "a.test", version: "1.0"},
		{name: "no to", header: "<stream:stream xmlns='jabber:server' " + streamsNS + db + " from='a.test' version='1.0'>",
			cond: stanza.StreamHostUnknown, to: "a.test", version: "1.0"},
		{name: "version 2", header: "<stream:stream xmlns='jabber:server' " + streamsNS + db + " from='a.test' to='b.test' version='2.0'>",
			cond: stanza.StreamUnsupportedVersion, from: "b.test", to: "a.test", version: "1.0"},
		{name: "version not a number", header: "<stream:stream xmlns='jabber:server' " + streamsNS + db + " to='b.test' version='one'>",
			cond: stanza.StreamUnsupportedVersion, from: "b.test", version: "1.0"},
		// §4.7.1: 'from' names a server; what is not a domain is not
		// reflected (and not taken for the peer's identity).
		{name: "from not a domain, version 2", header: "<stream:stream xmlns='jabber:server' " + streamsNS + db + " from='mallory@a.test' to='b.test' version='2.0'>",
			cond: stanza.StreamUnsupportedVersion, from: "b.test", version: "1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.NewClient(t, testutil.Dial(t, b.S2SAddr))
			c.Send("%s", "<?xml version='1.0'?>"+tc.header)
			h, err := c.ReadHeader()
			if err != nil {
				t.Fatalf("our header: %v", err)
			}
			if h.DefaultNS != xml.NSServer || h.Attr("from") != tc.from || h.Attr("to") != tc.to || h.Attr("version") != tc.version || h.Attr("id") == "" {
				t.Errorf("our header: from %q to %q version %q id %q", h.Attr("from"), h.Attr("to"), h.Attr("version"), h.Attr("id"))
			}
			if got := c.ExpectStreamError(); got != tc.cond {
				t.Errorf("stream error %q, want %q", got, tc.cond)
			}
			c.ExpectClosed()
		})
	}
	// The servers' own streams work as before.
	exchange(t, a, b)
}

// A peer that sends no version is a pre-1.0 server (RFC 6120 §4.7.5: its
// version is "0.9"), which knows dialback (XEP-0220) and not stream
// features: our header carries no version, no <stream:features/> follows,
// and its <db:result/> is verified as anyone's. Such a peer cannot
// negotiate TLS, so only a listener that does not require it takes it.
func TestPre10PeerGetsDialback(t *testing.T) {
	da, db := t.TempDir(), t.TempDir()
	a := testutil.StartIn(t, da, instance(da, "a.test", selfSigned))
	b := testutil.StartIn(t, db, instance(db, "b.test", "require_tls = false\n"+selfSigned))
	a.S2S().SetRoute("b.test", s2s.Route{Address: b.S2SAddr})
	b.S2S().SetRoute("a.test", s2s.Route{Address: a.S2SAddr})
	b.AddUser(t, "bob@b.test", pw)
	bob := online(t, b, "bob@b.test")

	c := testutil.NewClient(t, testutil.Dial(t, b.S2SAddr))
	c.Send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' %s xmlns:db='jabber:server:dialback' to='b.test'>", streamsNS)
	h, err := c.ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(h.Attrs, func(a xml.Attr) bool { return a.Name == "version" }) || h.Attr("from") != "b.test" || h.Attr("id") == "" {
		t.Fatalf("our header to a pre-1.0 peer: version %q from %q id %q", h.Attr("version"), h.Attr("from"), h.Attr("id"))
	}
	// The first thing after the header is the answer to db:result: no
	// features came before it.
	if typ := dialbackAs(t, c, s2s.DialbackKey(secretOf(t, a), "b.test", "a.test", h.Attr("id"))); typ != "valid" {
		t.Fatalf("dialback: type %q, want valid", typ)
	}
	c.Send("<message from='alice@a.test/old' to='bob@b.test' type='chat' id='old1'><body>from the past</body></message>")
	if m := nextMessage(t, bob); m.Attr("from") != "alice@a.test/old" || m.Attr("id") != "old1" {
		t.Fatalf("bob got %s", m)
	}
}

// fakePeer is a remote server at a static route of s that answers our
// stream header with reply and then, if dialback, accepts any db:result.
// It reports the stanzas and the stream error it reads on got.
func fakePeer(t *testing.T, s *testutil.Server, domain, reply string, dialback bool) chan *xml.Element {
	t.Helper()
	got := make(chan *xml.Element, 8)
	addr := testutil.Peer(t, "127.0.0.1:0", func(nc net.Conn) {
		go func() {
			defer close(got)
			nc.SetDeadline(time.Now().Add(testutil.Timeout))
			d := xml.NewDecoder(nc, xml.DefaultLimits())
			if _, err := d.ReadHeader(); err != nil {
				return
			}
			if _, err := fmt.Fprint(nc, reply); err != nil {
				return
			}
			for {
				el, err := d.Next()
				if err != nil {
					return
				}
				if dialback && el.Name() == "result" && el.NS() == s2s.NSDialback {
					fmt.Fprintf(nc, "<db:result from='%s' to='%s' type='valid'/>", el.Attr("to"), el.Attr("from"))
					continue
				}
				got <- el
			}
		}()
	})
	s.S2S().SetRoute(domain, s2s.Route{Address: addr})
	return got
}

// The header of a server we connect to is checked as an inbound one: a
// wrong namespace or version gets its stream error from us (it is not
// merely hung up on), and what waited for the stream bounces.
func TestOutboundHeaders(t *testing.T) {
	const db = " xmlns:db='jabber:server:dialback'"
	for _, tc := range []struct {
		name, s2sConf, reply, cond string
	}{
		{"client namespace", selfSigned, "<stream:stream xmlns='jabber:client' " + streamsNS + " from='far.test' id='x1' version='1.0'>", stanza.StreamInvalidNamespace},
		{"version 2", selfSigned, "<stream:stream xmlns='jabber:server' " + streamsNS + db + " from='far.test' id='x1' version='2.0'>", stanza.StreamUnsupportedVersion},
		// §4.7.5: a pre-1.0 server cannot do STARTTLS, which
		// require_tls (the default) demands: we cannot interoperate.
		{"pre-1.0 where TLS is required", "\n[s2s]\ntls_verify = false\nrequire_tls = true\nconnect_timeout = \"5s\"\n",
			"<stream:stream xmlns='jabber:server' " + streamsNS + db + " from='far.test' id='x1'>", stanza.StreamUnsupportedVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := testutil.StartIn(t, dir, instance(dir, "a.test", tc.s2sConf))
			a.AddUser(t, "alice@a.test", pw)
			got := fakePeer(t, a, "far.test", tc.reply, false)
			alice := online(t, a, "alice@a.test")
			alice.Send("<message to='zed@far.test' type='chat' id='m1'><body>hi</body></message>")
			el, ok := <-got
			if !ok || el.Name() != "error" || el.NS() != xml.NSStream || el.Child(tc.cond, stanza.NSStreams) == nil {
				t.Fatalf("the peer got %v, want a stream error %s", el, tc.cond)
			}
			if m := nextMessage(t, alice); m.Attr("type") != "error" || m.Attr("id") != "m1" || !strings.Contains(m.String(), stanza.RemoteServerNotFound) {
				t.Fatalf("alice got %s, want remote-server-not-found", m)
			}
		})
	}
}

// A server we connect to that answers without version is a pre-1.0 server
// (RFC 6120 §4.7.5): it sends no features, so we do not wait for them but
// go on with dialback (XEP-0220), where TLS is not required.
func TestOutboundPre10Peer(t *testing.T) {
	dir := t.TempDir()
	a := testutil.StartIn(t, dir, instance(dir, "a.test", "\n[s2s]\ntls_verify = false\nrequire_tls = false\nconnect_timeout = \"5s\"\n"))
	a.AddUser(t, "alice@a.test", pw)
	got := fakePeer(t, a, "old.test", "<stream:stream xmlns='jabber:server' "+streamsNS+" xmlns:db='jabber:server:dialback' from='old.test' id='old-id'>", true)
	alice := online(t, a, "alice@a.test")
	alice.Send("<message to='zed@old.test' type='chat' id='m1'><body>hi</body></message>")
	el, ok := <-got
	if !ok || el.Name() != "message" || el.Attr("id") != "m1" || el.Attr("from") != "alice@a.test/res" {
		t.Fatalf("the pre-1.0 peer got %v, want alice's message", el)
	}
}
