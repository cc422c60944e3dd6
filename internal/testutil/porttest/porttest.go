// Package porttest finds free loopback ports for tests that must name a
// port before anything listens on it (a cluster's routes). It imports
// nothing of xmppd, so the cluster package's own tests can use it.
package porttest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// Free returns n loopback ports free a moment ago.
//
// They are taken below the kernel's ephemeral range: a port from there
// (what listening on port 0 gives) is free again once closed, and the
// kernel may hand it to the next outgoing connection of any test running
// meanwhile, before the node that was to listen on it does (CI saw a
// cluster node fail to start that way). The kernel never picks a port
// below the range by itself, so only another test choosing the same one
// at random can take it.
func Free(t testing.TB, n int) []int {
	t.Helper()
	lo := ephemeralLow()
	var ls []net.Listener
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("porttest: no free port below %d after %d tries", lo, tries)
		}
		p := 10000 + rand.IntN(lo-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // taken
		}
		ls = append(ls, l)
		ports = append(ports, p)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// ephemeralLow is the first port of Linux's ephemeral range, or the
// IANA range's (49152) elsewhere.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(string(b), &lo, &hi); err == nil && lo > 11000 {
			return lo
		}
	}
	return 49152
}
