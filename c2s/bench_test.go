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
	testutil.RouteChat(b, testutil.Start(b, ""), inFlight)
}

// BenchmarkRouteMessageOneByOneArchiveOff is BenchmarkRouteMessageOneByOne
// without the message archive (XEP-0313), as bench/sweep-xmppd.sh runs the
// server by default: the message path's own cost, parse, hooks, routing,
// serialization and the write, with nothing queued for storage.
func BenchmarkRouteMessageOneByOneArchiveOff(b *testing.B) {
	testutil.RouteChat(b, testutil.Start(b, "\n[archive]\nenabled = false\n"), 1)
}
