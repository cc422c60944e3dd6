package testutil

import (
	"net"
	"sync"
	"testing"
)

// Peer listens on addr ("127.0.0.1:0" for any port) until the test ends
// and hands every connection to serve, in the accept goroutine: a peer
// that misbehaves (says nothing, or nothing XMPP). The connections serve
// leaves open are closed with the listener when the test ends. It
// returns the listener's address.
func Peer(t testing.TB, addr string, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			serve(c)
		}
	}()
	return ln.Addr().String()
}
