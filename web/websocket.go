package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/xmppd/xmppd/xml"
)

// NSFraming is the namespace of RFC 7395's <open/> and <close/>.
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// wsConn turns a WebSocket carrying RFC 7395 framed XMPP into the byte
// stream the client-stream code reads and writes: every message is one
// element; <open/> stands for the stream header and <close/> for its end
// (§3.3). Inbound, an <open/> becomes a stream header and a <close/> the
// closing tag, and every other element passes as it is. Outbound, the
// server's header becomes an <open/>, each element goes in a message of
// its own with its namespace declared (§3.3.3), and the closing tag a
// <close/>.
type wsConn struct {
	ws     *websocket.Conn
	local  net.Addr
	remote net.Addr
	limits xml.Limits

	rmu     sync.Mutex
	pending []byte // inbound bytes not yet read

	wmu      sync.Mutex
	deadline time.Time
	closed   bool
	inStream bool // an <open/> went out and no <close/> since
}

var _ net.Conn = (*wsConn)(nil)

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.pending) == 0 {
		typ, msg, err := c.ws.Read(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) != -1 {
				return 0, io.EOF
			}
			return 0, err
		}
		if typ != websocket.MessageText {
			// §3.3.1: XMPP goes in text messages only.
			c.ws.Close(websocket.StatusUnsupportedData, "XMPP frames are text messages")
			return 0, io.EOF
		}
		c.pending = c.inbound(msg)
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// inbound translates one client message.
func (c *wsConn) inbound(msg []byte) []byte {
	t := bytes.TrimSpace(msg)
	if len(t) == 0 {
		return []byte(" ") // whitespace: a keepalive
	}
	if !bytes.HasPrefix(t, []byte("<open")) && !bytes.HasPrefix(t, []byte("<close")) {
		return msg
	}
	el := parseFrame(t, c.limits)
	if el == nil || el.NS() != NSFraming {
		return msg // not a framing element: let the stream layer judge it
	}
	switch el.Name() {
	case "open":
		b := []byte("<stream:stream xmlns='jabber:client' xmlns:stream='" + xml.NSStream + "'")
		for _, a := range el.Attrs() {
			switch a.Name {
			case "to", "from", "id", "version", "xml:lang":
				b = append(b, ' ')
				b = append(b, a.Name...)
				b = append(b, "='"...)
				b = xml.EscapeAttr(b, a.Value)
				b = append(b, '\'')
			}
		}
		return append(b, '>')
	case "close":
		return []byte("</stream:stream>")
	}
	return msg
}

// parseFrame reads one element standing alone, or nil if it is not one.
func parseFrame(frame []byte, lim xml.Limits) *xml.Element {
	d := xml.NewDecoder(io.MultiReader(strings.NewReader("<w xmlns='jabber:client'>"), bytes.NewReader(frame), strings.NewReader("</w>")), lim)
	if _, err := d.ReadHeader(); err != nil {
		return nil
	}
	el, err := d.Next()
	if err != nil {
		return nil
	}
	if _, err := d.Next(); !errors.Is(err, xml.ErrStreamEnd) {
		return nil // more than one element in a frame
	}
	return el
}

// Write takes what the stream layer writes, always whole elements (and
// the stream's opening and closing tags), and sends one message for each.
func (c *wsConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	n := len(b)
	rest := b
	// A raw "<stream:stream" is only ever our header (in text and
	// attributes '<' is escaped), at the start of a write, after the XML
	// declaration if any.
	if i := bytes.Index(rest, []byte("<stream:stream")); i >= 0 && isDecl(rest[:i]) {
		end := bytes.IndexByte(rest[i:], '>')
		if end < 0 {
			return 0, errors.New("web: stream header split across writes")
		}
		hdr := rest[:i+end+1]
		rest = rest[i+end+1:]
		if err := c.send(openFrame(hdr, c.limits)); err != nil {
			return 0, err
		}
		c.inStream = true
	}
	closing := false
	if t := bytes.TrimSpace(rest); bytes.HasSuffix(t, []byte("</stream:stream>")) {
		closing = true
		rest = t[:len(t)-len("</stream:stream>")]
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		d := xml.NewDecoder(io.MultiReader(strings.NewReader("<w xmlns='jabber:client' xmlns:stream='"+xml.NSStream+"'>"), bytes.NewReader(rest), strings.NewReader("</w>")), c.limits)
		if _, err := d.ReadHeader(); err != nil {
			return 0, err
		}
		for {
			el, err := d.Next()
			if errors.Is(err, xml.ErrStreamEnd) {
				break
			}
			if err != nil {
				return 0, err
			}
			if err := c.send(frame(el)); err != nil {
				return 0, err
			}
		}
	}
	if closing {
		if err := c.send([]byte("<close xmlns='" + NSFraming + "'/>")); err != nil {
			return 0, err
		}
		c.inStream = false
	}
	return n, nil
}

func isDecl(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || bytes.HasPrefix(b, []byte("<?xml")) && bytes.HasSuffix(b, []byte("?>"))
}

// openFrame turns our stream header into an <open/> (§3.3.2).
func openFrame(hdr []byte, lim xml.Limits) []byte {
	d := xml.NewDecoder(bytes.NewReader(hdr), lim)
	h, err := d.ReadHeader()
	b := []byte("<open xmlns='" + NSFraming + "'")
	if err == nil {
		for _, a := range h.Attrs {
			switch a.Name {
			case "from", "to", "id", "version", "xml:lang":
				b = append(b, ' ')
				b = append(b, a.Name...)
				b = append(b, "='"...)
				b = xml.EscapeAttr(b, a.Value)
				b = append(b, '\'')
			}
		}
	}
	return append(b, "/>"...)
}

// frame serializes one element with its namespace declared. Stream-level
// elements keep their customary prefix, which some browser clients look
// for by name (§3.3.3 examples).
func frame(el *xml.Element) []byte {
	if el.NS() != xml.NSStream {
		return el.Append(nil, "")
	}
	b := []byte("<stream:" + el.Name() + " xmlns:stream='" + xml.NSStream + "'>")
	for ch := range el.Children() {
		b = ch.Append(b, "")
	}
	if t := el.Text(); t != "" && el.FirstChild() == nil {
		b = xml.EscapeText(b, t)
	}
	return append(b, "</stream:"+el.Name()+">"...)
}

func (c *wsConn) send(msg []byte) error {
	ctx := context.Background()
	if !c.deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, c.deadline)
		defer cancel()
	}
	return c.ws.Write(ctx, websocket.MessageText, msg)
}

func (c *wsConn) Close() error {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return nil
	}
	c.closed = true
	inStream := c.inStream
	c.wmu.Unlock()
	if inStream {
		// A stream that ends without its closing tag (an abort) still
		// gets a <close/> when the socket can take it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.ws.Write(ctx, websocket.MessageText, []byte("<close xmlns='"+NSFraming+"'/>"))
		cancel()
	}
	return c.ws.Close(websocket.StatusNormalClosure, "")
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

// Read deadlines are not used by the client-stream code after the
// handshake; writes honour theirs.
func (c *wsConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }
func (c *wsConn) SetReadDeadline(time.Time) error {
	return nil
}
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	c.deadline = t
	c.wmu.Unlock()
	return nil
}
