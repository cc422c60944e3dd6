package c2s

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// Writes to a peer that does not read return at once, in order, and what
// did not fit in the socket reaches the peer once it reads; CloseWrite
// waits for it.
func TestSpillConnNeverWaits(t *testing.T) {
	raw, peer := tcpPair(t)
	s, ok := newSpillConn(raw, 64<<20)
	if !ok {
		t.Fatal("a TCP connection is not wrapped")
	}
	var want bytes.Buffer
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	done := make(chan error, 1)
	go func() {
		for i := range 200 { // 12.5 MiB: far more than loopback socket buffers
			chunk[0] = byte(i)
			if n, err := s.Write(chunk); err != nil || n != len(chunk) {
				done <- fmt.Errorf("write %d: %d, %v", i, n, err)
				return
			}
			want.Write(chunk)
		}
		done <- nil
	}()
	// The peer reads nothing until the writes are done, so a write that
	// waited for it would never return: the writes ending at all is the
	// proof (with the spill checked below). The minute guards against
	// that deadlock; it is no speed requirement (under -race on a loaded
	// machine the copying alone took over 10 s).
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("writes to a peer that does not read are blocked")
	}
	s.mu.Lock()
	spilled := len(s.pend) > 0 || s.busy
	s.mu.Unlock()
	if !spilled {
		t.Fatal("nothing spilled: the test wrote too little to show anything")
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("peer read %d bytes, want %d in order", len(got), want.Len())
	}
}

// Past max spilled bytes the connection fails as a slow consumer.
func TestSpillConnOverflow(t *testing.T) {
	raw, _ := tcpPair(t)
	s, _ := newSpillConn(raw, 1<<20)
	chunk := make([]byte, 64<<10)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = s.Write(chunk)
	}
	if !errors.Is(err, errSpillFull) {
		t.Fatalf("got %v, want errSpillFull", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, errSpillFull) {
		t.Fatalf("after overflow: %v", err)
	}
}
