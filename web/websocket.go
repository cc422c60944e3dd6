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
			if fe := (*frameError)(nil); errors.As(err, &fe) {
				c.ws.Close(fe.status, fe.reason)
				return 0, io.EOF
			}
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
	// The server's own output, already serialized: split it at element
	// boundaries and declare each root's namespace, without parsing it a
	// second time.
	for len(bytes.TrimSpace(rest)) > 0 {
		el, tail, err := nextElement(rest)
		if err != nil {
			return 0, err
		}
		rest = tail
		if err := c.send(frame(el)); err != nil {
			return 0, err
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

// frame makes a message of one serialized element: a root written in
// the stream's default namespace (jabber:client, no xmlns) gets it
// declared (§3.3.3), and stream-level elements keep their customary
// prefix with its declaration, which some browser clients look for by
// name.
func frame(el []byte) []byte {
	name, hasNS := rootTag(el)
	decl := ""
	switch {
	case strings.HasPrefix(name, "stream:"):
		decl = " xmlns:stream='" + xml.NSStream + "'"
	case !hasNS:
		decl = " xmlns='" + xml.NSClient + "'"
	default:
		return el
	}
	at := 1 + len(name)
	out := make([]byte, 0, len(el)+len(decl))
	out = append(out, el[:at]...)
	out = append(out, decl...)
	return append(out, el[at:]...)
}

// rootTag returns the name of the element b starts with and whether its
// start tag declares a default namespace.
func rootTag(b []byte) (name string, hasNS bool) {
	i := 1
	for i < len(b) && !isTagSpace(b[i]) && b[i] != '>' && b[i] != '/' {
		i++
	}
	name = string(b[1:i])
	for i < len(b) && b[i] != '>' && b[i] != '/' {
		for i < len(b) && isTagSpace(b[i]) {
			i++
		}
		j := i
		for i < len(b) && b[i] != '=' && b[i] != '>' && b[i] != '/' && !isTagSpace(b[i]) {
			i++
		}
		attr := string(b[j:i])
		for i < len(b) && b[i] != '\'' && b[i] != '"' && b[i] != '>' {
			i++
		}
		if i < len(b) && (b[i] == '\'' || b[i] == '"') {
			q := b[i]
			i++
			for i < len(b) && b[i] != q {
				i++
			}
			i++
		}
		if attr == "xmlns" {
			hasNS = true
		}
	}
	return name, hasNS
}

func isTagSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// nextElement splits the first top-level element off b, which is
// well-formed XML written by the server: '<' only starts markup, values
// are quoted, no comments or CDATA.
func nextElement(b []byte) (el, rest []byte, err error) {
	start := bytes.IndexByte(b, '<')
	if start < 0 || len(bytes.TrimSpace(b[:start])) > 0 {
		return nil, nil, errors.New("web: text outside an element in the server's output")
	}
	depth, i := 0, start
	for i < len(b) {
		if b[i] != '<' {
			next := bytes.IndexByte(b[i:], '<')
			if next < 0 {
				break
			}
			i += next
			continue
		}
		closing := i+1 < len(b) && b[i+1] == '/'
		end := tagClose(b, i)
		if end < 0 {
			break
		}
		switch {
		case closing:
			depth--
		case b[end-1] != '/':
			depth++
		}
		i = end + 1
		if depth == 0 {
			return b[start:i], b[i:], nil
		}
	}
	return nil, nil, errors.New("web: element split across writes")
}

// tagClose returns the index of the '>' ending the tag at b[i], skipping
// quoted attribute values; -1 if b ends first.
func tagClose(b []byte, i int) int {
	var q byte
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '\'' || c == '"':
			q = c
		case c == '>':
			return i
		}
	}
	return -1
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
