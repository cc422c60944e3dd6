package c2s

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/xmppd/xmppd/stanza"
)

// enteredConn tells when a Write begins.
type enteredConn struct {
	net.Conn
	writing chan struct{}
}

func (e *enteredConn) Write(b []byte) (int, error) {
	select {
	case e.writing <- struct{}{}:
	default:
	}
	return e.Conn.Write(b)
}

// TestCloseStreamDuringSyncWrite: a CloseStream (authentication timeout,
// shutdown, an operator's kick) while the reader writes negotiation output
// to a peer that does not read returns at once instead of waiting, with
// the session's lock, for the write (up to WriteTimeout), and what it
// queued follows the bytes being written, whole and in order.
func TestCloseStreamDuringSyncWrite(t *testing.T) {
	srv := New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), WriteTimeout: time.Hour})
	nc, peer := net.Pipe() // a write waits until the peer reads
	defer peer.Close()
	ec := &enteredConn{Conn: nc, writing: make(chan struct{}, 1)}
	c := newConn(srv, ec, ListenerOptions{}, "192.0.2.7")
	c.headerSent = true

	wrote := make(chan error, 1)
	go func() { wrote <- c.write([]byte("<features/>")) }()
	<-ec.writing

	closed := make(chan struct{})
	go func() {
		c.CloseStream(stanza.StreamSystemShutdown, "")
		close(closed)
	}()
	// Not a timing bound: without the fix CloseStream returns only once
	// the peer reads, which it does below, after this wait.
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("CloseStream waits for a peer that does not read")
	}

	want := "<features/><stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
	got := make([]byte, 0, len(want))
	buf := make([]byte, 256)
	peer.SetReadDeadline(time.Now().Add(time.Minute))
	for len(got) < len(want) {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatalf("read %q: %v", got, err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("peer read %s, want %s", got, want)
	}
}
