// Package porttest finds free loopback ports for tests that must name a
// port before anything listens on it (a cluster's routes). It imports
// nothing of xmppd, so the cluster package's own tests can use it.
package porttest

import (
	"net"
	"testing"
)

// Free returns n loopback ports free a moment ago.
func Free(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
