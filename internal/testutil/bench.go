package testutil

import (
	"testing"
	"time"
)

// RouteChat is the chat benchmark's loop: it adds and logs in alice and
// bob, resets b's timer and sends b.N chat messages of about a hundred
// bytes from alice to bob over TLS, returning (timer still running) once
// bob's client has read them all. It returns alice's client, for work the
// caller wants inside the timed part. Client work runs in the same
// process, so the figure is an upper bound on the server's cost.
func RouteChat(b *testing.B, s *Server, inFlight int) *Client {
	s.AddUser(b, "alice", "a")
	s.AddUser(b, "bob", "b")
	a := Login(b, s, "alice", "a", "r")
	bob := Login(b, s, "bob", "b", "r")
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
	cpu0, cpuOK := processCPU()
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
	if cpu1, ok := processCPU(); ok && cpuOK {
		// The process's CPU time per message, client work included:
		// on a shared machine ns/op is mostly the wait for a CPU, and
		// this is what the server's changes move.
		b.ReportMetric(float64((cpu1-cpu0)/time.Nanosecond)/float64(b.N), "cpu-ns/op")
	}
	return a
}
