//go:build linux

package c2s_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// idleGoroutines waits for the goroutine count to settle and returns it.
func idleGoroutines(t *testing.T, want func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if want(n) || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleSessionsPark: bound TLS sessions that read nothing for
// idle_after keep no goroutine, and every one of them still receives, sends
// and ends as before (park_linux.go).
func TestIdleSessionsPark(t *testing.T) {
	const n = 40
	s := testutil.Start(t, "\n[limits]\nidle_after = \"50ms\"\n")
	before, clients, bob := loginIdlers(t, s, n)
	// Without parking each session keeps its reader: n goroutines more.
	parked := func(g int) bool { return g-before < n/4 }
	after := idleGoroutines(t, parked)
	if after-before >= n/4 {
		t.Fatalf("%d idle sessions hold %d goroutines more than none (want < %d)", n+1, after-before, n/4)
	}
	// A parked session reads again as soon as its client writes, and one
	// that only receives gets its stanzas.
	for i, c := range clients {
		c.Send("<message to='bob@localhost/desk' type='chat' id='m%d'><body>%d</body></message>", i, i)
		if m := bob.NextNamed("message"); m.Attr("id") != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d: %s", i, m)
		}
	}
	if g := idleGoroutines(t, parked); !parked(g) { // everyone parks again
		t.Fatalf("%d goroutines more than none after the messages, want < %d", g-before, n/4)
	}
	for i, c := range clients {
		bob.Send("<message to='alice@localhost/r%d' type='chat' id='b%d'><body>back</body></message>", i, i)
		if m := c.NextNamed("message"); m.Attr("id") != fmt.Sprintf("b%d", i) {
			t.Fatalf("reply %d: %s", i, m)
		}
	}
	// A stanza cut in two by a pause longer than idle_after: the session
	// parks in the middle of it and the decoder goes on where it stopped.
	clients[0].Send("<message to='bob@localhost/desk' type='chat' id='half'><bo")
	// The pause is the scenario: the client is silent past idle_after
	// (50ms) in the middle of a stanza. Parking is not observable from
	// the wire, so nothing shorter can stand for it.
	time.Sleep(120 * time.Millisecond)
	clients[0].Send("dy>split</body></message>")
	if m := bob.NextNamed("message"); m.Attr("id") != "half" || m.Child("body", "").Text() != "split" {
		t.Fatalf("split stanza: %s", m)
	}
	// A parked session whose client goes away ends: unbound, its reader's
	// end runs (the count of sessions drops). The pause (past
	// idle_after) lets clients[0], awake for the split stanza, park
	// again: the scenario, not a wait for an event.
	time.Sleep(120 * time.Millisecond)
	for _, c := range clients[:n/2] {
		c.Conn.Close()
	}
	waitFor(t, func() bool { return s.Sessions() == n/2+1 })
	// And one closed by the server (shutdown) while parked is told so
	// (parked again: the pause is past idle_after, as above).
	time.Sleep(120 * time.Millisecond)
	go s.Stop(t)
	for _, c := range clients[n/2:] {
		if cond := c.ExpectStreamError(); cond != "system-shutdown" {
			t.Fatalf("shutdown of a parked session: %q", cond)
		}
	}
}

// TestFirstIdleParksSooner: after logging in, a session parks once its
// client has been quiet for a short while (loginIdle), whatever
// idle_after says, so a burst of logins does not keep every new session's
// reader (its grown stack, crypto/tls's buffers) for idle_after; once it
// has read again it waits idle_after as configured.
func TestFirstIdleParksSooner(t *testing.T) {
	const n = 20
	s := testutil.Start(t, "\n[limits]\nidle_after = \"1h\"\n")
	before, clients, bob := loginIdlers(t, s, n)
	parked := func(g int) bool { return g-before < n/4 }
	deadline := time.Now().Add(30 * time.Second) // a loaded machine; loginIdle is 2s
	g := runtime.NumGoroutine()
	for !parked(g) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		g = runtime.NumGoroutine()
	}
	if !parked(g) {
		t.Fatalf("%d quiet new sessions hold %d goroutines more than none after 30s with idle_after = 1h (want < %d)", n+1, g-before, n/4)
	}
	// Woken by their clients, they read on with idle_after's bound: still
	// awake after twice loginIdle.
	for i, c := range clients {
		c.Send("<message to='bob@localhost/desk' type='chat' id='m%d'><body>%d</body></message>", i, i)
		if m := bob.NextNamed("message"); m.Attr("id") != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d: %s", i, m)
		}
	}
	// The scenario is quiet time: twice loginIdle (2s) with no input,
	// after which the sessions must still be awake (idle_after is 1h).
	time.Sleep(4 * time.Second)
	runtime.GC()
	// (A session that had not parked yet still has the short bound: on a
	// loaded machine a few may not have.)
	if g := runtime.NumGoroutine(); g-before < n*3/4 {
		t.Fatalf("%d goroutines more than none %v after the messages, want at least %d (idle_after is 1h)", g-before, 4*time.Second, n*3/4)
	}
}

// loginIdlers logs in n sessions of alice and one of bob, and returns the
// number of goroutines from before them.
func loginIdlers(t *testing.T, s *testutil.Server, n int) (before int, clients []*testutil.Client, bob *testutil.Client) {
	t.Helper()
	s.AddUser(t, "alice", "a")
	s.AddUser(t, "bob", "b")
	runtime.GC()
	before = runtime.NumGoroutine()
	clients = make([]*testutil.Client, n)
	for i := range clients {
		clients[i] = testutil.Login(t, s, "alice", "a", fmt.Sprintf("r%d", i))
	}
	return before, clients, testutil.Login(t, s, "bob", "b", "desk")
}
