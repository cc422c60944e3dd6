package c2s_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// BenchmarkRouteMessage measures one chat message end to end: alice's
// client writes it over TLS, the server parses, stamps, routes and queues it
// for bob's session, which writes it over TLS to bob's client, which parses
// it. Client work runs in the same process, so the figure is an upper bound
// on the server's cost.
func BenchmarkRouteMessage(b *testing.B) { benchRoute(b, 64) }

// BenchmarkRouteMessageOneByOne: one message in flight, so every message
// is a wake-up of its own on each side (the fixed-rate chat regime, where
// nothing coalesces); ns/op is the round trip.
func BenchmarkRouteMessageOneByOne(b *testing.B) { benchRoute(b, 1) }

func benchRoute(b *testing.B, inFlight int) {
	s := testutil.Start(b, "")
	s.AddUser(b, "alice", "a")
	s.AddUser(b, "bob", "b")
	a := testutil.Login(b, s, "alice", "a", "r")
	bob := testutil.Login(b, s, "bob", "b", "r")
	msg := []byte("<message to='bob@localhost/r' type='chat' id='m'><body>Hello, this is a fairly ordinary chat message of about a hundred bytes.</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	// A window of messages in flight keeps the writer from outrunning
	// bob's reader: unbounded, bob's queue overflows and the server cuts
	// him off as a slow consumer, which is right but not what is measured.
	window := make(chan struct{}, inFlight)
	done := make(chan int, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		n := 0
		for n < b.N {
			if _, err := bob.TryNext(); err != nil {
				break
			}
			<-window
			n++
		}
		done <- n
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for range b.N {
		select {
		case window <- struct{}{}:
		case <-stopped:
			b.Fatalf("bob's stream ended after %d messages", <-done)
		}
		if _, err := a.Conn.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	if n := <-done; n != b.N {
		b.Fatalf("delivered %d of %d", n, b.N)
	}
}
