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

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// NSFraming is the namespace of RFC 7395's <open/> and <close/>.
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// wsConn turns a WebSocket carrying RFC 7395 framed XMPP into the
// transport the client-stream code reads and writes: every message is one
// element, and <open/> and <close/> stand for the stream's header and end
// (§3.3). Inbound, it is a stream.HeaderReader: an <open/> is handed over
// as a header value (ReadHeader), a <close/> is the end of the stream
// (Read's xml.ErrStreamEnd), and every other element passes to the
// decoder as it is. Outbound, it is a stream.Framer: the stream's header
// comes as a call (WriteHeader) and goes out as an <open/>, its end
// (WriteClose) as a <close/>, and each element written goes in a message
// of its own with its namespace declared (§3.3.3).
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

var (
	_ net.Conn            = (*wsConn)(nil)
	_ stream.Framer       = (*wsConn)(nil)
	_ stream.HeaderReader = (*wsConn)(nil)
)

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.pending) == 0 {
		msg, err := c.message()
		if err != nil {
			return 0, err
		}
		t := bytes.TrimSpace(msg)
		if len(t) == 0 {
			c.pending = []byte(" ") // whitespace: a keepalive
			continue
		}
		switch el := c.framing(t); {
		case el == nil:
			c.pending = msg
		case el.Name() == "close":
			return 0, xml.ErrStreamEnd // §3.3.3
		case el.Name() == "open":
			// §3.3.2, §3.4: an <open/> starts a stream or restarts it
			// after STARTTLS or SASL, never in the middle of one.
			return 0, &stanza.StreamError{Condition: stanza.StreamBadFormat, Text: "<open/> in the middle of a stream (RFC 7395 §3.4: only at a restart)"}
		default:
			return 0, &stanza.StreamError{Condition: stanza.StreamBadFormat, Text: "unknown framing element <" + el.Name() + "/>"}
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// ReadHeader waits for the client's <open/> (RFC 7395 §3.3.2), at the
// stream's start or a restart (§3.4), and hands over its attributes: the
// header's content namespace is jabber:client. Whitespace before it is a
// keepalive; anything else where an <open/> is due ends the stream.
func (c *wsConn) ReadHeader() (*stream.Header, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	// What the decoder left unread belongs to the stream before the
	// restart (RFC 6120 §4.3.3), as on TCP.
	c.pending = nil
	for {
		msg, err := c.message()
		if err != nil {
			return nil, err
		}
		t := bytes.TrimSpace(msg)
		if len(t) == 0 {
			continue
		}
		el := c.framing(t)
		switch {
		case el != nil && el.Name() == "open":
			return &stream.Header{NS: xml.NSClient, To: el.Attr("to"), From: el.Attr("from"), ID: el.Attr("id"),
				Version: el.Attr("version"), Lang: el.Attr("xml:lang")}, nil
		case el != nil && el.Name() == "close":
			return nil, xml.ErrStreamEnd
		}
		// §3.3.2: the stream opens with <open/> in the framing
		// namespace; a <stream:stream> header (or anything else) in its
		// place is not one (RFC 6120 §4.9.3.10).
		return nil, &stanza.StreamError{Condition: stanza.StreamInvalidNamespace, Text: "expected <open xmlns='" + NSFraming + "'/> (RFC 7395 §3.3.2)"}
	}
}

// message reads the client's next message (rmu held).
func (c *wsConn) message() ([]byte, error) {
	typ, msg, err := c.ws.Read(context.Background())
	if err != nil {
		if fe := (*frameError)(nil); errors.As(err, &fe) {
			c.ws.Close(fe.status, fe.reason)
			return nil, io.EOF
		}
		if websocket.CloseStatus(err) != -1 {
			return nil, io.EOF
		}
		return nil, err
	}
	if typ != websocket.MessageText {
		// §3.3.1: XMPP goes in text messages only.
		c.ws.Close(websocket.StatusUnsupportedData, "XMPP frames are text messages")
		return nil, io.EOF
	}
	return msg, nil
}

// framing returns the RFC 7395 framing element t (a message, trimmed)
// holds, nil if it is anything else (for the stream layer to judge).
func (c *wsConn) framing(t []byte) *xml.Element {
	if !bytes.HasPrefix(t, []byte("<open")) && !bytes.HasPrefix(t, []byte("<close")) {
		return nil
	}
	el := parseFrame(t, c.limits)
	if el == nil || el.NS() != NSFraming {
		return nil
	}
	return el
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

// Write takes what the stream layer writes, whole elements, and sends
// one message for each.
func (c *wsConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	// The server's own output, already serialized: split it at element
	// boundaries and declare each root's namespace, without parsing it a
	// second time.
	for rest := b; len(bytes.TrimSpace(rest)) > 0; {
		el, tail, err := nextElement(rest)
		if err != nil {
			return 0, err
		}
		rest = tail
		if err := c.send(frame(el)); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// WriteHeader sends our stream header as an <open/> (§3.3.2).
func (c *wsConn) WriteHeader(h *stream.Header) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if err := c.send(openFrame(h)); err != nil {
		return err
	}
	c.inStream = true
	return nil
}

// WriteClose ends our stream with a <close/> (§3.3.3).
func (c *wsConn) WriteClose() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if err := c.send([]byte("<close xmlns='" + NSFraming + "'/>")); err != nil {
		return err
	}
	c.inStream = false
	return nil
}

// openFrame is the <open/> for our stream header (§3.3.2).
func openFrame(h *stream.Header) []byte {
	b := []byte("<open xmlns='" + NSFraming + "'")
	for _, a := range h.Attrs() {
		b = append(b, ' ')
		b = append(b, a.Name...)
		b = append(b, "='"...)
		b = xml.EscapeAttr(b, a.Value)
		b = append(b, '\'')
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
