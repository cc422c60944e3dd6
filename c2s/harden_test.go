package c2s_test

import (
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// plainListener starts a server whose STARTTLS listener does not require
// TLS (require_tls = false: behind a TLS-terminating proxy, a local bot).
func plainListener(t *testing.T, extra string) *testutil.Server {
	t.Helper()
	dir := t.TempDir()
	cfg := strings.Replace(testutil.BaseConfig(dir), `tls = "starttls"`, "tls = \"starttls\"\nrequire_tls = false", 1)
	return testutil.StartIn(t, dir, cfg+extra)
}

// TestPlainTCPLogin: on such a listener a client may log in without TLS
// with SCRAM (never PLAIN): after SASL and the stream restart the features
// offer bind (RFC 6120 §6.4.6, §7), not STARTTLS and SASL again, and the
// bound session exchanges messages.
func TestPlainTCPLogin(t *testing.T) {
	s := plainListener(t, "")
	s.AddUser(t, "alice", "pw")
	s.AddUser(t, "bob", "b")
	bob := testutil.Login(t, s, "bob", "b", "r")

	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	f := c.Open("localhost")
	if m := mechanisms(f); has(m, "PLAIN") || !has(m, "SCRAM-SHA-256") {
		t.Fatalf("before TLS offered %v", m)
	}
	if r := c.AuthSCRAM("SCRAM-SHA-256", "alice", "pw", "", nil); !r.OK {
		t.Fatalf("SCRAM over plain TCP: %s", r.Condition)
	}
	f = c.Restart("localhost")
	if f.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") == nil {
		t.Fatalf("no bind after the restart: %s", f)
	}
	if f.Child("starttls", "urn:ietf:params:xml:ns:xmpp-tls") != nil || f.Child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl") != nil {
		t.Fatalf("pre-authentication features after authentication: %s", f)
	}
	if j := c.Bind("bot"); j != "alice@localhost/bot" {
		t.Fatalf("bound %q", j)
	}
	c.Send("<message to='bob@localhost/r' type='chat' id='p1'><body>over plain TCP</body></message>")
	if m := bob.NextNamed("message"); m.Attr("from") != "alice@localhost/bot" || m.Child("body", "").Text() != "over plain TCP" {
		t.Fatalf("bob got %s", m)
	}
}

// plainLogin logs in over plain TCP with SCRAM (plainListener) and binds.
func plainLogin(t testing.TB, s *testutil.Server, user, pass, resource string) *testutil.Client {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", user, pass, "", nil); !r.OK {
		t.Fatalf("login %s: %s", user, r.Condition)
	}
	c.Restart("localhost")
	c.Bind(resource)
	return c
}

// TestStanzaTimeout: a stanza begun and not finished within
// [limits] stanza_timeout ends the stream with <policy-violation/> (RFC 6120
// §4.9.3.14), over TLS (the idle reader, also when the session would park
// meanwhile) and plain TCP; silence between stanzas longer than the bound
// does not, and a stanza sent in parts within it is handled.
func TestStanzaTimeout(t *testing.T) {
	cases := []struct {
		name  string
		plain bool
		extra string
	}{
		{"tls", false, ""},
		{"tls parking", false, "idle_after = \"100ms\"\n"},
		{"plain tcp", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			extra := "\n[limits]\nstanza_timeout = \"1s\"\n" + tc.extra
			var s *testutil.Server
			if tc.plain {
				s = plainListener(t, extra)
			} else {
				s = testutil.Start(t, extra)
			}
			s.AddUser(t, "alice", "a")
			login := testutil.Login
			if tc.plain {
				login = plainLogin
			}
			c := login(t, s, "alice", "a", "r")
			ping := func(id string) {
				t.Helper()
				c.Send("<iq type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>", id)
				if r := c.NextNamed("iq"); r.Attr("id") != id || r.Attr("type") != "result" {
					t.Fatalf("ping %s: %s", id, r)
				}
			}
			ping("before")
			time.Sleep(1500 * time.Millisecond) // idle between stanzas, past the bound
			ping("after-idle")
			c.Send("<iq type='get' id='parts'><ping xmlns='urn:")
			time.Sleep(100 * time.Millisecond)
			c.Send("xmpp:ping'/></iq>")
			if r := c.NextNamed("iq"); r.Attr("id") != "parts" {
				t.Fatalf("stanza in parts: %s", r)
			}
			c.Send("<message to='alice@localhost/r' type='chat'><body>half of a mess")
			if got := c.ExpectStreamError(); got != "policy-violation" {
				t.Fatalf("half-sent stanza: stream error %q, want policy-violation", got)
			}
		})
	}
}

// dialFrom connects to addr from the loopback address src (127.0.0.0/8 is
// all local), so one test can be several client addresses.
func dialFrom(t *testing.T, addr, src string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAuthThrottleAcrossConnections: wrong passwords from many parallel
// connections of one address are throttled together (the second round is
// refused untested with temporary-auth-failure, RFC 6120 §6.5.12, SASL2
// too), while another account from another address logs in without any
// delay (the throttle counters do not move) and the guessed account's
// owner, from elsewhere, is not locked out.
func TestAuthThrottleAcrossConnections(t *testing.T) {
	s := testutil.Start(t, `
[[listen]]
type = "admin"
address = "127.0.0.1:0"

[limits]
auth_failure_delay = "100ms"
auth_failure_max_delay = "1s"
`)
	s.AddUser(t, "alice", "right")
	s.AddUser(t, "bob", "b")
	const n = 20
	clients := make([]*testutil.Client, n)
	for i := range clients {
		clients[i] = testutil.NewClient(t, dialFrom(t, s.StartTLS, "127.0.0.2"))
		clients[i].Open("localhost")
		clients[i].StartTLS("localhost")
	}
	round := func() map[string]int {
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := c.AuthSCRAM("SCRAM-SHA-256", "alice", "guess", "", nil)
				mu.Lock()
				defer mu.Unlock()
				if r.OK {
					got["success"]++
				} else {
					got[r.Condition]++
				}
			}()
		}
		wg.Wait()
		return got
	}
	first := round()
	second := round()
	t.Logf("first round %v, second %v", first, second)
	if first["success"]+second["success"] > 0 {
		t.Fatal("a wrong password succeeded")
	}
	if second["temporary-auth-failure"] < n/2 {
		t.Fatalf("second round from the same address: %v, want most refused (temporary-auth-failure)", second)
	}

	// SASL2 goes through the same throttle.
	c := testutil.NewClient(t, dialFrom(t, s.StartTLS, "127.0.0.2"))
	c.Open("localhost")
	c.StartTLS("localhost")
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%s</initial-response></authenticate>",
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00guess")))
	if el := c.Next(); el.Name() != "failure" || el.FirstChild() == nil || el.FirstChild().Name() != "temporary-auth-failure" {
		t.Fatalf("SASL2 from the throttled address: %s", el)
	}

	// Another account from another address: not held back at all.
	delayed := s.Metric(t, `xmppd_auth_throttled_total{result="delayed"}`)
	refused := s.Metric(t, `xmppd_auth_throttled_total{result="refused"}`)
	if delayed == 0 || refused == 0 {
		t.Fatalf("throttling not in the metrics: delayed %v refused %v", delayed, refused)
	}
	b := testutil.NewClient(t, dialFrom(t, s.StartTLS, "127.0.0.3"))
	b.Open("localhost")
	b.StartTLS("localhost")
	if r := b.AuthSCRAM("SCRAM-SHA-256", "bob", "b", "", nil); !r.OK {
		t.Fatalf("bob from another address: %s", r.Condition)
	}
	if d, r := s.Metric(t, `xmppd_auth_throttled_total{result="delayed"}`), s.Metric(t, `xmppd_auth_throttled_total{result="refused"}`); d != delayed || r != refused {
		t.Fatalf("bob's login was throttled: delayed %v→%v refused %v→%v", delayed, d, refused, r)
	}
	b.Restart("localhost")
	if j := b.Bind("r"); j != "bob@localhost/r" {
		t.Fatalf("bob bound %q", j)
	}

	// The guessed account's owner, from elsewhere: slowed at most, not
	// locked out.
	a := testutil.NewClient(t, dialFrom(t, s.StartTLS, "127.0.0.4"))
	a.Open("localhost")
	a.StartTLS("localhost")
	if r := a.AuthSCRAM("SCRAM-SHA-256", "alice", "right", "", nil); !r.OK {
		t.Fatalf("alice from another address: %s", r.Condition)
	}
}
