package web

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// RFC 6455 checks coder/websocket does not make where they matter:
//   - §5.1: a server MUST close the connection on an unmasked client
//     frame. The library refuses such a frame but drops the TCP connection
//     without a Close frame; we close with 1002 (protocol error).
//   - A frame header announcing more than one stanza can hold: the
//     library's read limit (Conn.SetReadLimit) counts bytes as they arrive,
//     so a header announcing a gigabyte holds the connection until the
//     limit's worth trickles in. We close with 1009 (message too big) as
//     soon as the header is read.
//
// guardConn sits under the library's reader and follows the frame
// boundaries as bytes pass: O(1) per frame (payloads are skipped by count,
// not looked at), no copy, no allocation.

// frameError is a refused frame: the close status and reason to send.
type frameError struct {
	status websocket.StatusCode
	reason string
}

func (e *frameError) Error() string { return fmt.Sprintf("websocket: %s (%d)", e.reason, e.status) }

// guardWriter hands coder/websocket a hijacked connection wrapped in a
// guardConn; every other ResponseWriter method is the server's.
type guardWriter struct {
	http.ResponseWriter
	limit int64 // the largest frame payload accepted
}

func (g *guardWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (g *guardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := g.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("web: the connection cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the HTTP server read past the handshake belong to the first
	// frames: they go through the guard too.
	pre, _ := brw.Reader.Peek(brw.Reader.Buffered())
	gc := &guardConn{Conn: nc, pre: bytes.Clone(pre), limit: g.limit}
	brw.Reader.Reset(gc)
	return gc, brw, nil
}

type guardConn struct {
	net.Conn
	pre   []byte // read before the hijack, not yet passed on
	limit int64

	hdr     [14]byte // the frame header being read
	hn      int      // bytes of it held
	need    int      // its length, once its second byte is known
	payload uint64   // payload bytes of the current frame still to pass
	err     error    // sticky: the frame refused
}

func (g *guardConn) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	var n int
	var err error
	if len(g.pre) > 0 {
		n = copy(p, g.pre)
		g.pre = g.pre[n:]
	} else {
		n, err = g.Conn.Read(p)
	}
	if ferr := g.scan(p[:n]); ferr != nil {
		// Nothing of this read goes on: the library sees the error in
		// place of the refused header.
		g.err = ferr
		return 0, ferr
	}
	return n, err
}

// scan follows frame boundaries over b (RFC 6455 §5.2).
func (g *guardConn) scan(b []byte) error {
	for len(b) > 0 {
		if g.payload > 0 {
			k := min(uint64(len(b)), g.payload)
			g.payload -= k
			b = b[k:]
			continue
		}
		g.hdr[g.hn] = b[0]
		g.hn++
		b = b[1:]
		if g.hn == 2 {
			if g.hdr[1]&0x80 == 0 {
				return &frameError{websocket.StatusProtocolError, "client frames must be masked (RFC 6455 5.1)"}
			}
			switch g.hdr[1] & 0x7f {
			case 126:
				g.need = 2 + 2 + 4
			case 127:
				g.need = 2 + 8 + 4
			default:
				g.need = 2 + 4
			}
		}
		if g.hn < 2 || g.hn < g.need {
			continue
		}
		var size uint64
		switch g.hdr[1] & 0x7f {
		case 126:
			size = uint64(g.hdr[2])<<8 | uint64(g.hdr[3])
		case 127:
			for _, c := range g.hdr[2:10] {
				size = size<<8 | uint64(c)
			}
		default:
			size = uint64(g.hdr[1] & 0x7f)
		}
		if size > uint64(g.limit) {
			return &frameError{websocket.StatusMessageTooBig, fmt.Sprintf("a frame of %d bytes is more than a stanza may be", size)}
		}
		g.payload, g.hn, g.need = size, 0, 0
	}
	return nil
}
