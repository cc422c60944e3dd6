package web_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/web"
)

// plainHTTP is an http listener without TLS, so tests can write raw
// requests and raw WebSocket frames.
const plainHTTP = `
[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = "none"
`

// startLimits starts a server with a plain http listener and [limits]
// settings.
func startLimits(t *testing.T, limits string) *testutil.Server {
	t.Helper()
	return testutil.Start(t, plainHTTP+"\n[limits]\n"+limits+"\n")
}

// closedWithin reports whether the server ends c (EOF or reset) before
// the test's patience runs out; whatever c still receives is discarded.
func closedWithin(t *testing.T, c net.Conn, patience time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

// A request that announces a body and sends none is cut after
// http_body_timeout, whether the handler reads the body (BOSH) or not
// (a path nobody serves: net/http then discards the body itself).
func TestHTTPBodyTimeout(t *testing.T) {
	s := startLimits(t, `http_body_timeout = "300ms"`)
	for _, path := range []string{web.BOSHPath, "/nowhere"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			c := testutil.Dial(t, s.HTTP)
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n<body", path)
			if !closedWithin(t, c, 10*time.Second) {
				t.Fatal("connection still open 10s after its body stalled (http_body_timeout = 300ms)")
			}
		})
	}
}

// The bound is per read: a body that keeps moving, slower in total than
// the timeout, goes through.
func TestHTTPBodyTimeoutMovingBody(t *testing.T) {
	s := startLimits(t, `http_body_timeout = "1s"`)
	body := "<body rid='1' to='localhost' wait='3' hold='1' ver='1.11' xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>"
	c := testutil.Dial(t, s.HTTP)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n", web.BOSHPath, len(body))
	// Eight pieces 200ms apart: 1.6s in all, each gap a fifth of the bound.
	step := (len(body) + 7) / 8
	for i := 0; i < len(body); i += step {
		time.Sleep(200 * time.Millisecond)
		if _, err := io.WriteString(c, body[i:min(i+step, len(body))]); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "sid=") {
		t.Fatalf("got %s %s, want a session", resp.Status, b)
	}
}

// An idle keep-alive connection is closed after http_idle_timeout.
func TestHTTPIdleTimeout(t *testing.T) {
	s := startLimits(t, `http_idle_timeout = "300ms"`)
	c := testutil.Dial(t, s.HTTP)
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("got %s (close %v), want 200 kept alive", resp.Status, resp.Close)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err == nil || isTimeout(err) {
		t.Fatalf("idle connection not closed within 10s (http_idle_timeout = 300ms): %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// get sends a keep-alive GET on c and reports whether an answer came.
func get(c net.Conn, br *bufio.Reader) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// max_connections_per_ip bounds the HTTP connections of one address: the
// one too many is closed, another address still gets in, and a closed
// connection gives its place back.
func TestHTTPConnectionsPerIP(t *testing.T) {
	s := startLimits(t, `max_connections_per_ip = 2`)
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c := dialFrom(t, "127.0.0.1", s.HTTP)
		if err := get(c, bufio.NewReader(c)); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		held = append(held, c)
	}
	extra := dialFrom(t, "127.0.0.1", s.HTTP)
	if err := get(extra, bufio.NewReader(extra)); err == nil {
		t.Fatal("a third connection from 127.0.0.1 was served (max_connections_per_ip = 2)")
	}
	other := dialFrom(t, "127.0.0.2", s.HTTP)
	if err := get(other, bufio.NewReader(other)); err != nil {
		t.Fatalf("127.0.0.2 refused while 127.0.0.1 is at its limit: %v", err)
	}
	held[0].Close()
	// The server learns of the close when its read fails: try until the
	// place is back.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.1", s.HTTP)
		err := get(c, bufio.NewReader(c))
		if err == nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no place for 127.0.0.1 after one of its connections closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A body larger than BOSH accepts gets 413 with a terminal body, even for
// a client that writes its whole request before it reads (it must not
// meet a reset instead).
func TestBOSHOversizedBody413(t *testing.T) {
	s := startLimits(t, `max_stanza_bytes = 1024`)
	for _, size := range []int{64 << 10, 8 << 20} {
		c := testutil.Dial(t, s.HTTP)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		body := "<body rid='1' xmlns='http://jabber.org/protocol/httpbind'>" + strings.Repeat("x", size) + "</body>"
		if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s", web.BOSHPath, len(body), body); err != nil {
			t.Fatalf("%d bytes: write: %v", size, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%d bytes: read: %v", size, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "policy-violation") {
			t.Fatalf("%d bytes: got %s %s, want 413 policy-violation", size, resp.Status, b)
		}
	}
}

// wsHandshake opens an RFC 7395 WebSocket on a raw connection and returns
// it with its reader, past the 101.
func wsHandshake(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := testutil.Dial(t, addr)
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n",
		web.WebSocketPath, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return c, br
}

// closeStatus reads server frames until a Close frame and returns its
// status code; -1 if the connection ends without one.
func closeStatus(t *testing.T, c net.Conn, br *bufio.Reader) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if isTimeout(err) {
				t.Fatal("no Close frame within 10s")
			}
			return -1
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			io.ReadFull(br, l[:])
			n = uint64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			io.ReadFull(br, l[:])
			n = binary.BigEndian.Uint64(l[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return -1
		}
		if h[0]&0x0f == 8 {
			if len(payload) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(payload))
		}
	}
}

// RFC 6455 §5.1: a client frame without a mask closes the connection, with
// 1002 (protocol error).
func TestWebSocketUnmaskedFrame(t *testing.T) {
	s := testutil.Start(t, plainHTTP)
	c, br := wsHandshake(t, s.HTTP)
	open := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
	frame := append([]byte{0x81, byte(len(open))}, open...) // FIN+text, no mask bit
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	if got := closeStatus(t, c, br); got != 1002 {
		t.Fatalf("close status %d, want 1002", got)
	}
}

// A frame header announcing more than a stanza may be is refused when it
// is read (1009), not after that much has trickled in.
func TestWebSocketOversizedFrameHeader(t *testing.T) {
	s := testutil.Start(t, plainHTTP)
	c, br := wsHandshake(t, s.HTTP)
	hdr := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4} // 1 GiB, masked
	if _, err := c.Write(hdr); err != nil {
		t.Fatal(err)
	}
	if got := closeStatus(t, c, br); got != 1009 {
		t.Fatalf("close status %d, want 1009", got)
	}
}

// An established XMPP-over-WebSocket session is not HTTP any more: quiet
// for longer than both HTTP timeouts, it still works (over TLS, so the
// per-address wrapper sits beneath the TLS layer as it must).
func TestWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	s := testutil.Start(t, https+"\n[limits]\nhttp_body_timeout = \"200ms\"\nhttp_idle_timeout = \"200ms\"\nmax_connections_per_ip = 2\n")
	s.AddUser(t, "alice", pw)
	alice, err := dialWS(t, s)
	if err != nil {
		t.Fatal(err)
	}
	alice.login("alice", "browser")
	// The scenario: a WebSocket quiet for longer than both HTTP
	// timeouts (200ms).
	time.Sleep(time.Second)
	alice.Send("<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := alice.Next(); r.Name() != "iq" || r.Attr("id") != "p" || r.Attr("type") != "result" {
		t.Fatalf("ping after a quiet second: %s", r.Append(nil, ""))
	}
}

// A client that asks before sending (Expect: 100-continue) gets the 413
// at once and no 100 Continue.
func TestBOSHOversizedExpectContinue(t *testing.T) {
	s := startLimits(t, `max_stanza_bytes = 1024`)
	c := testutil.Dial(t, s.HTTP)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", web.BOSHPath, 1<<20)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %s, want 413", resp.Status)
	}
	// Then the connection ends: nothing more (no late 100 Continue), and
	// no wait for a body the client will not send.
	io.Copy(io.Discard, resp.Body)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); len(b) > 0 || isTimeout(err) {
		t.Fatalf("after the 413: %q, %v", b, err)
	}
}
