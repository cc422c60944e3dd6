package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// BOSH (XEP-0124) carrying XMPP (XEP-0206) at BOSHPath. Each session is a
// boshConn handed to c2s.ServeConn, the same seam as WebSocket: the client
// stream code negotiates SASL and binding over it exactly as over TCP, and
// this file only turns HTTP request bodies into the stream's header (a
// value: stream.HeaderReader), elements and end, and the stream's output
// into response bodies.

// BOSHPath is where BOSH clients post (the path Prosody and ejabberd use).
const BOSHPath = "/http-bind"

const (
	nsHTTPBind = "http://jabber.org/protocol/httpbind"
	nsXBOSH    = "urn:xmpp:xbosh"
)

// BOSH session bounds. wait and hold are what the client asks for, capped
// here (§7.1: the connection manager may lower them).
const (
	boshMaxWait = 60 * time.Second
	boshMaxHold = 1
	boshPolling = 2 * time.Second
	// boshMaxSessions bounds the whole server's BOSH sessions (each holds
	// buffers and a stream); c2s's per-address limits apply as well.
	boshMaxSessions = 10000
)

// boshInactivity is how long a session may have no request held before
// it ends (§10); a variable for tests.
var boshInactivity = 60 * time.Second

func (s *Server) boshQueueBytes() int {
	if s.cfg.BOSHQueueBytes > 0 {
		return s.cfg.BOSHQueueBytes
	}
	return 1 << 20
}

type boshSessions struct {
	mu sync.Mutex
	m  map[string]*boshSession
}

func (b *boshSessions) get(sid string) *boshSession {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[sid]
}

func (b *boshSessions) remove(s *boshSession) {
	b.mu.Lock()
	if b.m[s.sid] == s {
		delete(b.m, s.sid)
	}
	b.mu.Unlock()
}

// boshSession is one BOSH session, and (as boshConn) the transport of its
// client stream. Everything is guarded by mu; cond is broadcast on every
// change a waiting request or the stream reader may care about.
type boshSession struct {
	sid       string
	web       *Server
	wait      time.Duration
	hold      int
	requests  int // the rid window and the most requests held at once (§11: hold+1)
	polling   time.Duration
	inactive  time.Duration
	maxOut    int // outbound bytes waiting for a request, before the stream is cut
	remote    net.Addr
	local     net.Addr
	domain    string
	createRID int64

	mu   sync.Mutex
	cond *sync.Cond

	nextRID int64 // the rid whose payload goes to the stream next (§14.2: in order)
	in      []boshInput
	inEOF   bool // no more input: the stream reader gets io.EOF

	out        [][]byte // framed elements for the next response
	outBytes   int
	headerSeen bool
	authID     string // our stream id (XEP-0206 'authid')
	ended      bool   // the server closed its stream, or the transport closed
	streamErr  bool   // out holds a <stream:error/>
	connClosed bool
	done       bool // terminated: no more requests are served

	held      []*boshReq // requests waiting for output, in rid order
	cache     map[int64][]byte
	lastEmpty time.Time // last empty request of a polling session
	inactT    *time.Timer
}

// boshInput is one piece of the client's stream, in the order of the
// requests: the bytes of top-level elements, a stream header (the session
// creation body or a restart, XEP-0206 §3, §5), or the stream's end
// (type='terminate', XEP-0124 §13). Exactly one of them is set.
type boshInput struct {
	data []byte
	hdr  *stream.Header
	end  bool
}

// pushData queues element bytes for the stream reader (mu held).
func (s *boshSession) pushData(b []byte) {
	if n := len(s.in); n > 0 && s.in[n-1].data != nil {
		s.in[n-1].data = append(s.in[n-1].data, b...)
		return
	}
	s.in = append(s.in, boshInput{data: b})
}

// header is the client's stream header a session creation or restart
// body stands for (XEP-0206 §3, §5): its 'to' (the session's domain when
// a restart leaves it out), 'from' and xml:lang, and xmpp:version (1.0
// when absent, as this connection manager always assumed).
func header(body *xml.Element, domain string) *stream.Header {
	h := &stream.Header{NS: xml.NSClient, To: body.Attr("to"), From: body.Attr("from"), Version: attr(body, "version"), Lang: body.Attr("xml:lang")}
	if h.To == "" {
		h.To = domain
	}
	if h.Version == "" {
		h.Version = "1.0"
	}
	return h
}

type boshReq struct {
	rid      int64
	released bool // answer now, with whatever there is
}

// boshHandler serves POST and OPTIONS on BOSHPath.
func (s *Server) bosh(w http.ResponseWriter, r *http.Request) {
	s.cors(w, r)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	max := int64(s.cfg.Limits.MaxStanzaBytes) + 16<<10
	if r.ContentLength > max {
		s.boshTooLarge(w, r)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.boshTooLarge(w, r) // chunked, with no length announced
		return
	case err != nil:
		// The body stalled (Config.BodyTimeout) or broke off.
		s.cfg.Log.Debug("bosh request body unread", "remote", r.RemoteAddr, "err", err)
		w.Header().Set("Connection", "close")
		boshTerminate(w, "bad-request", http.StatusRequestTimeout)
		return
	}
	body := parseFrame(bytes.TrimSpace(data), s.cfg.Limits)
	if body == nil || body.Name() != "body" || body.NS() != nsHTTPBind {
		// §17.1: not a <body/> of ours.
		boshTerminate(w, "bad-request", http.StatusBadRequest)
		return
	}
	rid, err := strconv.ParseInt(body.Attr("rid"), 10, 64)
	if err != nil || rid <= 0 || rid > 1<<53-1 {
		boshTerminate(w, "bad-request", http.StatusBadRequest)
		return
	}
	sid := body.Attr("sid")
	if sid == "" {
		s.boshCreate(w, r, body, rid)
		return
	}
	sess := s.boshSessions.get(sid)
	if sess == nil {
		// §17.2: an unknown (or timed out) session.
		boshTerminate(w, "item-not-found", http.StatusOK)
		return
	}
	writeBOSH(w, sess.request(r, body, rid))
}

// boshDrainBytes is how much of an oversized body is read and dropped
// after its 413, so that a client which writes its whole request before
// reading gets to read the answer instead of a connection reset (closing
// a socket with unread input resets it, RFC 1122 4.2.2.13); beyond that
// the connection is closed anyway. Each read is bounded by BodyTimeout.
const boshDrainBytes = 32 << 20

// boshTooLarge answers a body larger than any stanza may make it: 413
// with a terminal binding condition (§17.2: policy-violation), sent
// before the rest of the body is read and dropped.
func (s *Server) boshTooLarge(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex() // read on after the answer is out
	w.Header().Set("Connection", "close")
	boshTerminate(w, "policy-violation", http.StatusRequestEntityTooLarge)
	rc.Flush()
	if !strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		// A client that waits for 100 Continue has sent no body.
		io.CopyN(io.Discard, r.Body, boshDrainBytes)
	}
}

// cors lets browser pages post from other origins (BOSH's reason to
// exist); with [websocket] origins configured, only those pages.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	h := w.Header()
	if len(s.cfg.OriginPatterns) == 0 {
		h.Set("Access-Control-Allow-Origin", "*")
	} else if u, err := url.Parse(origin); err == nil && u.Host != "" {
		for _, p := range s.cfg.OriginPatterns {
			if ok, _ := path.Match(p, strings.ToLower(u.Host)); ok {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
				break
			}
		}
	}
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
}

func writeBOSH(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(b)
}

// boshTerminate answers with a terminal binding condition (§17.2: HTTP 200
// for clients of this version; code is for requests that are not BOSH).
func boshTerminate(w http.ResponseWriter, cond string, code int) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(code)
	w.Write(terminateBody(cond))
}

func terminateBody(cond string) []byte {
	return []byte("<body type='terminate' condition='" + cond + "' xmlns='" + nsHTTPBind + "'/>")
}

// attr reads an attribute by qualified name, or by local name with any
// prefix ('xmpp:version' whatever the client called urn:xmpp:xbosh).
func attr(el *xml.Element, local string) string {
	if v, ok := el.LookupAttr(local); ok {
		return v
	}
	for _, a := range el.Attrs() {
		if i := strings.IndexByte(a.Name, ':'); i > 0 && a.Name[i+1:] == local && a.Name[:i] != "xmlns" && a.Name[:i] != "xml" {
			return a.Value
		}
	}
	return ""
}

func secondsAttr(el *xml.Element, name string, def, max time.Duration) time.Duration {
	n, err := strconv.Atoi(el.Attr(name))
	if err != nil || n < 0 {
		return def
	}
	if d := time.Duration(n) * time.Second; d < max {
		return d
	}
	return max
}

// boshCreate: session creation (§7.1, XEP-0206 §3).
func (s *Server) boshCreate(w http.ResponseWriter, r *http.Request, body *xml.Element, rid int64) {
	to := body.Attr("to")
	if to == "" {
		boshTerminate(w, "improper-addressing", http.StatusOK)
		return
	}
	wait := secondsAttr(body, "wait", boshMaxWait, boshMaxWait)
	if wait < time.Second {
		wait = time.Second
	}
	hold, err := strconv.Atoi(body.Attr("hold"))
	if err != nil || hold < 0 {
		hold = 1
	}
	hold = min(hold, boshMaxHold)
	sess := &boshSession{
		sid: randid.Hex(16), web: s, wait: wait, hold: hold, requests: hold + 1, polling: boshPolling,
		inactive: boshInactivity, maxOut: s.boshQueueBytes(), domain: to, createRID: rid, nextRID: rid + 1,
		cache: map[int64][]byte{},
	}
	sess.cond = sync.NewCond(&sess.mu)
	sess.remote, _ = net.ResolveTCPAddr("tcp", r.RemoteAddr)
	sess.local, _ = r.Context().Value(http.LocalAddrContextKey).(net.Addr)

	s.boshSessions.mu.Lock()
	if len(s.boshSessions.m) >= boshMaxSessions {
		s.boshSessions.mu.Unlock()
		boshTerminate(w, "policy-violation", http.StatusOK)
		return
	}
	s.boshSessions.m[sess.sid] = sess
	s.boshSessions.mu.Unlock()

	opts := c2s.ListenerOptions{}
	if r.TLS != nil {
		// Under TLS, but no channel binding: the requests of one session
		// travel over many TLS connections, so binding SCRAM to one of
		// them would mean nothing. A ConnectionState without an exporter
		// offers none (auth.ChannelBindingTypes).
		opts.TransportTLS = &tls.ConnectionState{Version: r.TLS.Version, HandshakeComplete: true,
			CipherSuite: r.TLS.CipherSuite, ServerName: r.TLS.ServerName, NegotiatedProtocol: r.TLS.NegotiatedProtocol}
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	sess.mu.Lock()
	sess.in = append(sess.in, boshInput{hdr: header(body, to)})
	sess.held = append(sess.held, &boshReq{rid: rid})
	sess.mu.Unlock()
	go func() {
		if err := s.cfg.C2S.ServeConn((*boshConn)(sess), opts, ip); err != nil {
			s.cfg.Log.Debug("bosh stream refused", "remote", r.RemoteAddr, "err", err)
		}
		sess.streamGone()
	}()
	writeBOSH(w, sess.respond(r, rid, true))
}

// request handles one request of an existing session and returns the
// response body.
func (s *boshSession) request(r *http.Request, body *xml.Element, rid int64) []byte {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return terminateBody("item-not-found")
	}
	if rid < s.nextRID {
		// §14.3: a client resending after a broken connection gets the
		// same response again, if it is still kept. A request still held
		// is answered at once (its first HTTP exchange is presumably
		// gone) and its response, cached, goes to the resend.
		for _, h := range s.held {
			if h.rid == rid {
				h.released = true
				s.cond.Broadcast()
			}
		}
		for s.isHeld(rid) && !s.done {
			s.cond.Wait()
		}
		b, ok := s.cache[rid]
		s.mu.Unlock()
		if !ok {
			s.terminate("item-not-found")
			return terminateBody("item-not-found")
		}
		return b
	}
	if rid >= s.nextRID+int64(s.requests) {
		// §14.2: beyond the window.
		s.mu.Unlock()
		s.terminate("item-not-found")
		return terminateBody("item-not-found")
	}
	// §14.2: payloads reach the stream in rid order; a request that
	// overtook an earlier one waits for it (at most the window's size).
	for s.nextRID != rid && !s.done {
		s.cond.Wait()
	}
	if s.done {
		s.mu.Unlock()
		return terminateBody("item-not-found")
	}
	s.nextRID++
	if s.inactT != nil {
		s.inactT.Stop()
	}
	empty := true
	if attr(body, "restart") == "true" {
		// XEP-0206 §5: a new stream header after SASL success.
		s.in = append(s.in, boshInput{hdr: header(body, s.domain)})
		empty = false
	}
	for ch := range body.Children() {
		s.pushData(ch.Append(nil, xml.NSClient))
		empty = false
	}
	terminate := body.Attr("type") == "terminate"
	if terminate {
		// §13: the client ends the session; its stream ends with it.
		s.in = append(s.in, boshInput{end: true})
		s.done = true
		empty = false
	}
	if empty && s.hold == 0 && !s.lastEmpty.IsZero() && time.Since(s.lastEmpty) < s.polling {
		// §12: polling faster than allowed.
		s.mu.Unlock()
		s.terminate("policy-violation")
		return terminateBody("policy-violation")
	}
	if empty {
		s.lastEmpty = time.Now()
	}
	s.cond.Broadcast()
	if terminate {
		s.mu.Unlock()
		s.web.boshSessions.remove(s)
		return []byte("<body type='terminate' xmlns='" + nsHTTPBind + "'/>")
	}
	// §11: a session holds at most 'hold' requests; the oldest is
	// answered (empty if need be) to make room for this one.
	if len(s.held) >= s.hold {
		for _, h := range s.held[:len(s.held)-s.hold+1] {
			h.released = true
		}
	}
	s.held = append(s.held, &boshReq{rid: rid})
	s.mu.Unlock()
	return s.respond(r, rid, false)
}

func (s *boshSession) isHeld(rid int64) bool {
	for _, h := range s.held {
		if h.rid == rid {
			return true
		}
	}
	return false
}

// respond waits until the held request rid may be answered and builds its
// response; the session creation response carries the session's
// attributes (§7.1, XEP-0206 §3).
func (s *boshSession) respond(r *http.Request, rid int64, create bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var req *boshReq
	for _, h := range s.held {
		if h.rid == rid {
			req = h
		}
	}
	timedOut := false
	t := time.AfterFunc(s.wait, func() {
		s.mu.Lock()
		timedOut = true
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	stop := context.AfterFunc(r.Context(), func() {
		s.mu.Lock()
		timedOut = true
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	for {
		oldest := len(s.held) > 0 && s.held[0] == req
		// A stream error is followed by the stream's end (WriteClose):
		// both go in one response, the one that terminates (§7).
		out := len(s.out) > 0 && (!s.streamErr || s.ended)
		ready := out || s.ended
		if create {
			// The creation response waits for the features (XEP-0206
			// §3: they may come in it) or the end of the stream.
			ready = s.ended || s.headerSeen && out
		}
		if oldest && (ready || req.released || timedOut || s.done) {
			break
		}
		if !oldest && (req.released || timedOut || s.done) {
			break
		}
		s.cond.Wait()
	}
	// Take the output only as the oldest request: responses carry
	// payloads in rid order.
	var payload [][]byte
	if len(s.held) > 0 && s.held[0] == req {
		payload, s.out, s.outBytes = s.out, nil, 0
	}
	for i, h := range s.held {
		if h == req {
			s.held = append(s.held[:i], s.held[i+1:]...)
			break
		}
	}
	b := []byte("<body xmlns='" + nsHTTPBind + "'")
	final := s.ended && len(s.out) == 0
	if final {
		cond := "remote-connection-failed"
		if s.streamErr {
			cond = "remote-stream-error" // XEP-0206 §7 (stream error inside)
		} else if s.headerSeen {
			cond = ""
		}
		b = append(b, " type='terminate'"...)
		if cond != "" {
			b = append(b, " condition='"+cond+"'"...)
		}
	}
	if create {
		b = append(b, " sid='"+s.sid+"' wait='"+strconv.Itoa(int(s.wait/time.Second))+"' hold='"+strconv.Itoa(s.hold)+
			"' requests='"+strconv.Itoa(s.requests)+"' polling='"+strconv.Itoa(int(s.polling/time.Second))+
			"' inactivity='"+strconv.Itoa(int(s.inactive/time.Second))+"' ver='1.11' ack='"+strconv.FormatInt(rid, 10)+
			"' xmpp:version='1.0' xmlns:xmpp='"+nsXBOSH+"' xmlns:stream='"+xml.NSStream+"' from='"...)
		b = xml.EscapeAttr(b, s.domain)
		b = append(b, "' authid='"...)
		b = xml.EscapeAttr(b, s.authID)
		b = append(b, '\'')
	}
	b = append(b, '>')
	for _, el := range payload {
		b = append(b, el...)
	}
	b = append(b, "</body>"...)
	if !final {
		s.cache[rid] = b
		delete(s.cache, rid-int64(s.requests))
	} else {
		s.done = true
		go s.web.boshSessions.remove(s)
	}
	if len(s.held) == 0 && !s.done {
		s.armInactivity()
	}
	s.cond.Broadcast()
	return b
}

// armInactivity ends a session whose client stopped polling (§10): the
// stream reader gets EOF, so c2s ends the session as for a dropped TCP
// connection. mu held.
func (s *boshSession) armInactivity() {
	if s.inactT != nil {
		s.inactT.Stop()
	}
	s.inactT = time.AfterFunc(s.inactive, func() {
		s.mu.Lock()
		idle := len(s.held) == 0 && !s.done
		s.mu.Unlock()
		if idle {
			s.web.cfg.Log.Debug("bosh session inactive", "sid", s.sid)
			s.terminate("")
		}
	})
}

// terminate ends the session from our side.
func (s *boshSession) terminate(cond string) {
	s.mu.Lock()
	s.done = true
	s.inEOF = true
	for _, h := range s.held {
		h.released = true
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	s.web.boshSessions.remove(s)
}

// streamGone: c2s is done with the transport. Output not yet collected
// stays for one more request (a stream error the client should read);
// the session goes after the inactivity period at the latest.
func (s *boshSession) streamGone() {
	s.mu.Lock()
	s.ended, s.inEOF = true, true
	s.cond.Broadcast()
	s.mu.Unlock()
	time.AfterFunc(s.inactive, func() { s.terminate("") })
}

// boshConn is the session seen as the client stream's transport.
type boshConn boshSession

var (
	_ net.Conn            = (*boshConn)(nil)
	_ stream.Framer       = (*boshConn)(nil)
	_ stream.HeaderReader = (*boshConn)(nil)
)

// next waits for the client's next header or element bytes (mu held):
// io.EOF at the end of the transport, xml.ErrStreamEnd at the end of
// the stream (type='terminate').
func (s *boshSession) next() (*boshInput, error) {
	for len(s.in) == 0 && !s.inEOF {
		s.cond.Wait()
	}
	switch {
	case len(s.in) == 0:
		return nil, io.EOF
	case s.in[0].end:
		return nil, xml.ErrStreamEnd
	}
	return &s.in[0], nil
}

// pop drops the input next returned, once used up (mu held).
func (s *boshSession) pop() {
	s.in[0] = boshInput{}
	s.in = s.in[1:]
	if len(s.in) == 0 {
		s.in = nil
	}
}

// Read gives the stream's elements as bytes; the end of the stream is
// xml.ErrStreamEnd (stream.HeaderReader).
func (c *boshConn) Read(p []byte) (int, error) {
	s := (*boshSession)(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.next()
	if err != nil {
		return 0, err
	}
	if in.hdr != nil {
		// XEP-0206 §5: a restart follows SASL success, which the stream
		// answers by waiting for it (ReadHeader), never in between.
		return 0, &stanza.StreamError{Condition: stanza.StreamBadFormat, Text: "stream restart where none is due (XEP-0206 §5)"}
	}
	n := copy(p, in.data)
	in.data = in.data[n:]
	if len(in.data) == 0 {
		s.pop()
	}
	return n, nil
}

// ReadHeader waits for the client's stream header: the session creation
// body, then each restart body (XEP-0206 §3, §5).
func (c *boshConn) ReadHeader() (*stream.Header, error) {
	s := (*boshSession)(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.next()
	if err != nil {
		return nil, err
	}
	if in.hdr == nil {
		// Elements where the restart is due: on TCP they would stand in
		// for the header and be refused as it (RFC 6120 §4.9.3.10).
		return nil, &stanza.StreamError{Condition: stanza.StreamInvalidNamespace, Text: "expected a restart (XEP-0206 §5: xmpp:restart='true')"}
	}
	h := in.hdr
	s.pop()
	return h, nil
}

// WriteHeader takes our stream header: its id is the session's authid
// (XEP-0206 §3), sent with the session creation response, which waits
// for it.
func (c *boshConn) WriteHeader(h *stream.Header) error {
	s := (*boshSession)(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connClosed {
		return net.ErrClosed
	}
	s.authID = h.ID
	s.headerSeen = true
	s.cond.Broadcast()
	return nil
}

// WriteClose takes the end of our stream: the session ends once the
// client collected what is queued (type='terminate').
func (c *boshConn) WriteClose() error {
	s := (*boshSession)(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connClosed {
		return net.ErrClosed
	}
	s.ended = true
	s.cond.Broadcast()
	return nil
}

// Write takes the stream's output, whole elements, and queues each
// element, its namespace declared, for the next response.
func (c *boshConn) Write(b []byte) (int, error) {
	s := (*boshSession)(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connClosed {
		return 0, net.ErrClosed
	}
	n := len(b)
	rest := b
	for len(bytes.TrimSpace(rest)) > 0 {
		el, tail, err := nextElement(rest)
		if err != nil {
			return 0, err
		}
		rest = tail
		if bytes.HasPrefix(el, []byte("<stream:error")) {
			s.streamErr = true
		}
		f := frame(el)
		s.out = append(s.out, f)
		s.outBytes += len(f)
	}
	s.cond.Broadcast()
	if s.outBytes > s.maxOut {
		// A client that stopped collecting: cut off like a slow TCP
		// reader rather than buffer without bound.
		s.ended, s.inEOF = true, true
		return 0, errors.New("web: bosh output buffer full")
	}
	return n, nil
}

// Unsent reports the output waiting for the client's next request (lost,
// once the session is gone), and the most the session holds: the c2s
// session paces a long series of stanzas (an offline backlog) by it, so
// that the series never overflows this buffer (c2s.unsentConn).
func (c *boshConn) Unsent() (n, limit int) {
	s := (*boshSession)(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outBytes, s.maxOut
}

func (c *boshConn) Close() error {
	s := (*boshSession)(c)
	s.mu.Lock()
	s.connClosed, s.inEOF, s.ended = true, true, true
	s.cond.Broadcast()
	s.mu.Unlock()
	return nil
}

func (c *boshConn) LocalAddr() net.Addr              { return c.local }
func (c *boshConn) RemoteAddr() net.Addr             { return c.remote }
func (c *boshConn) SetDeadline(time.Time) error      { return nil }
func (c *boshConn) SetReadDeadline(time.Time) error  { return nil }
func (c *boshConn) SetWriteDeadline(time.Time) error { return nil }
