// Package component accepts external components (XEP-0114, the
// "jabber:component:accept" protocol): gateways, bots and services that run
// as programs of their own and serve a domain of their own through this
// server. Each configured domain is an in-process module.Component for the
// router; while its program is connected, stanzas to the domain go to it,
// otherwise they are answered with service-unavailable.
package component

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// NS is the content namespace of a component stream (XEP-0114 §3).
const NS = "jabber:component:accept"

// Allowed is one domain a component may serve.
type Allowed struct {
	Domain string // normalized
	Secret string
	Parent string // virtual host whose disco#items list it ("" none)
	Name   string
}

// Config is what the component server needs, assembled by internal/server.
type Config struct {
	Components       []Allowed
	Limits           xml.Limits
	HandshakeTimeout time.Duration // connect → accepted handshake
	WriteTimeout     time.Duration // one write to the socket
	QueueBytes       int           // pending output before the component is cut off
	Log              *slog.Logger
	// Cluster, on a cluster node, makes a component connected to one
	// node serve its domain from every node; nil on a single server.
	Cluster Cluster
}

// Cluster is what the component server needs from a cluster node
// (package cluster): where each domain's component is connected, and a
// way to hand stanzas to that node.
type Cluster interface {
	// ClaimComponent records that domain's component is connected to
	// this node, or returns the live node that already has it.
	ClaimComponent(ctx context.Context, domain string) (holder string, err error)
	// ReleaseComponent undoes a claim (the component disconnected).
	ReleaseComponent(domain string)
	// ComponentNode is the live other node domain's component is
	// connected to, or "".
	ComponentNode(domain string) string
	// ForwardComponent hands st to node, whose router takes it as
	// forwarded (module.Forwarded): it reaches the component there or is
	// answered there, never forwarded again.
	ForwardComponent(node string, st *module.Stanza) bool
}

// Server accepts component connections on any number of listeners.
type Server struct {
	cfg Config
	h   *module.Handle

	claimMu sync.Mutex // one handshake at a time claims a domain
	mu      sync.Mutex
	active  map[string]*conn // domain → connected component
	ls      stream.Listeners[*conn]
}

// New registers every allowed domain as a component through h (so the
// router sends their stanzas here from now on) and returns the server.
// Closing h unregisters them.
func New(cfg Config, h *module.Handle) *Server {
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.QueueBytes == 0 {
		cfg.QueueBytes = 16 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, h: h, active: map[string]*conn{}}
	for _, a := range cfg.Components {
		domain := a.Domain
		h.AddComponent(module.Component{Domain: domain, Parent: a.Parent, Name: a.Name, Handle: func(ctx context.Context, st *module.Stanza) {
			s.route(ctx, domain, st)
		}})
	}
	return s
}

// route hands st to the component connected for domain, or answers for it.
func (s *Server) route(ctx context.Context, domain string, st *module.Stanza) {
	s.mu.Lock()
	c := s.active[domain]
	s.mu.Unlock()
	if c != nil && c.deliver(st.El, st) {
		return
	}
	// Connected to another node: that node delivers it, or answers for
	// it if the component left meanwhile. A stanza forwarded here is
	// never sent on again.
	if cl := s.cfg.Cluster; cl != nil && c == nil && !module.Forwarded(ctx) {
		if node := cl.ComponentNode(domain); node != "" && cl.ForwardComponent(node, st) {
			return
		}
	}
	// Not connected (or just cut off): as for an entity that exists but
	// cannot take the stanza now (RFC 6120 §8.3.3.19), never answering an
	// error, a result or presence other than a probe or subscription.
	if stanza.IsError(st.El) {
		return
	}
	switch st.Kind() {
	case "iq":
		if t := st.Type(); t != "get" && t != "set" {
			return
		}
	case "presence":
		return
	}
	s.h.Router.Route(ctx, &module.Stanza{El: stanza.NewError(stanza.ServiceUnavailable, "").Reply(st.El), From: st.To, To: st.From})
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("component: server closed")

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.ls.Serve(ln, s.cfg.Log, nil, func(nc net.Conn, _ string) {
		c := &conn{srv: s, nc: nc, log: s.cfg.Log.With("remote", nc.RemoteAddr().String())}
		if !s.ls.Add(c) {
			nc.Close()
			return
		}
		go func() {
			defer s.ls.Done(c)
			c.serve()
		}()
	})
	if errors.Is(err, stream.ErrClosed) {
		return ErrServerClosed
	}
	return fmt.Errorf("component: accept: %w", err)
}

// Shutdown stops accepting, ends every component stream with
// system-shutdown and waits for them until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	for _, c := range s.ls.Close() {
		c.closeStream(stanza.StreamSystemShutdown, "")
	}
	if err := s.ls.Wait(ctx); err != nil {
		for _, c := range s.ls.Conns() {
			c.nc.Close()
		}
		return err
	}
	return nil
}

func (s *Server) allowed(domain string) (Allowed, bool) {
	for _, a := range s.cfg.Components {
		if a.Domain == domain {
			return a, true
		}
	}
	return Allowed{}, false
}

// conn is one component stream.
type conn struct {
	srv     *Server
	nc      net.Conn
	log     *slog.Logger
	dec     *xml.Decoder
	domain  string // once the handshake succeeded
	claimed bool   // in the cluster (Config.Cluster)

	wmu        sync.Mutex
	out        []byte
	writing    bool
	flushed    stream.Flushed // the writer stopped (finish waits for it)
	closing    bool
	headerSent bool
	streamID   string
}

func (c *conn) serve() {
	defer c.finish()
	// The stream's life: the component's stanzas are handled under it,
	// so work a module starts for them (an IQ handler waiting on storage
	// or another entity) ends with the stream, as a client's ends with
	// its session (issue 21). Cancelled once the reader has stopped, so a
	// stanza already read is still routed to the end.
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	timer := time.AfterFunc(c.srv.cfg.HandshakeTimeout, func() {
		c.closeStream(stanza.StreamConnectionTimeout, "no handshake in time")
	})
	c.dec = xml.NewDecoder(c.nc, c.srv.cfg.Limits)
	err := c.open()
	timer.Stop()
	if err == nil {
		err = c.run(life)
	}
	var se *stanza.StreamError
	switch {
	case errors.As(err, &se):
		c.log.Info("component stream error", "domain", c.domain, "condition", se.Condition, "text", se.Text)
		c.closeStream(se.Condition, se.Text)
	case err != nil:
		c.log.Debug("component connection ended", "domain", c.domain, "err", err)
	}
}

// open reads the header, answers it and checks the handshake (XEP-0114 §3).
// The header gets the checks c2s, s2s and the web transports make of
// theirs (a stream.Header, RFC 6120 §4.8 and §4.7.5), with XEP-0114's
// rules: 'to' is the component's domain, and the stream is pre-1.0 (our
// header has no version and no features follow), so a component may send
// no version or 1.0, but not one above.
func (c *conn) open() error {
	h, err := stream.ReadPeerHeader(c.nc, c.dec)
	if err != nil {
		return err
	}
	c.streamID = randid.Hex(12)
	to := strings.ToLower(strings.TrimSuffix(h.To, "."))
	a, ok := c.srv.allowed(to)
	if err := c.sendHeader(to, ok); err != nil {
		return err
	}
	if err := stream.CheckPeerNamespace(h, NS); err != nil {
		return err
	}
	if !ok {
		return &stanza.StreamError{Condition: stanza.StreamHostUnknown, Text: "no component is configured for " + strconv.Quote(to)}
	}
	if _, err := stream.PeerVersion(h); err != nil {
		return err
	}
	c.dec.AliasDefaultNS(NS, xml.NSClient)
	el, err := c.dec.Next()
	if err != nil {
		return readError(err)
	}
	if el.Name() != "handshake" || el.NS() != xml.NSClient {
		return &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "expected <handshake/>"}
	}
	// §3: the handshake is the hex SHA-1 of the stream ID and the secret.
	want := sha1.Sum([]byte(c.streamID + a.Secret))
	got, err := hex.DecodeString(strings.TrimSpace(el.Text()))
	if err != nil || subtle.ConstantTimeCompare(got, want[:]) != 1 {
		return &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "handshake does not match the secret"}
	}
	if err := c.srv.activate(c, to); err != nil {
		return err
	}
	c.log.Info("component connected", "domain", to)
	if !c.enqueue([]byte("<handshake/>")) {
		return io.ErrClosedPipe
	}
	return nil
}

// activate makes c the component of domain, on this node and, on a
// cluster node, in the cluster.
func (s *Server) activate(c *conn, domain string) error {
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	s.mu.Lock()
	taken := s.active[domain] != nil
	s.mu.Unlock()
	if taken {
		// One program per domain: the one connected keeps it.
		return &stanza.StreamError{Condition: stanza.StreamConflict, Text: "a component is already connected for " + domain}
	}
	if s.cfg.Cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
		holder, err := s.cfg.Cluster.ClaimComponent(ctx, domain)
		cancel()
		switch {
		case err != nil:
			c.log.Warn("component refused: the cluster could not record it", "domain", domain, "err", err)
			return &stanza.StreamError{Condition: stanza.StreamInternalServerError, Text: "the cluster could not record the component; try again"}
		case holder != "":
			return &stanza.StreamError{Condition: stanza.StreamConflict, Text: "a component is already connected for " + domain + " (to cluster node " + holder + ")"}
		}
		c.claimed = true
	}
	s.mu.Lock()
	c.domain = domain
	s.active[domain] = c
	s.mu.Unlock()
	return nil
}

// run routes the component's stanzas under ctx, the stream's life.
func (c *conn) run(ctx context.Context) error {
	for {
		el, err := c.dec.Next()
		if err != nil {
			return readError(err)
		}
		switch el.Name() {
		case "message", "presence", "iq":
		default:
			return &stanza.StreamError{Condition: stanza.StreamUnsupportedStanzaType, Text: "<" + el.Name() + "/> is not a stanza"}
		}
		if el.NS() != xml.NSClient {
			return &stanza.StreamError{Condition: stanza.StreamInvalidNamespace, Text: "stanzas must be in " + NS}
		}
		// §3.1: the component names its sender and addressee itself;
		// the sender must be at its own domain.
		from, err := jid.Parse(el.Attr("from"))
		if err != nil || from.Domain() != c.domain {
			return &stanza.StreamError{Condition: stanza.StreamInvalidFrom, Text: "'from' must be a JID at " + c.domain}
		}
		to, err := jid.Parse(el.Attr("to"))
		if err != nil {
			if stanza.IsError(el) {
				continue
			}
			reply := stanza.NewError(stanza.JIDMalformed, "'to' is missing or not a JID").Reply(el)
			c.deliver(reply, nil)
			continue
		}
		c.srv.h.Router.Route(ctx, &module.Stanza{El: el, From: from, To: to})
	}
}

// deliver queues el for the component. st, when given, supplies the
// addresses the router parsed, for stanzas made without 'from' or 'to'
// attributes.
func (c *conn) deliver(el *xml.Element, st *module.Stanza) bool {
	if st != nil {
		var add []xml.Attr
		if el.Attr("from") == "" && !st.From.IsZero() {
			add = append(add, xml.Attr{Name: "from", Value: st.From.String()})
		}
		if el.Attr("to") == "" && !st.To.IsZero() {
			add = append(add, xml.Attr{Name: "to", Value: st.To.String()})
		}
		if len(add) > 0 {
			el = el.WithAttrs(add...)
		}
	}
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return false
	}
	// Written as jabber:client with no xmlns, each stanza inherits the
	// stream's jabber:component:accept.
	c.out = el.Append(c.out, xml.NSClient)
	return c.kick()
}

func (c *conn) enqueue(b []byte) bool {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return false
	}
	c.out = append(c.out, b...)
	return c.kick()
}

// kick starts the writer and enforces the queue bound; called with wmu
// held, releases it.
func (c *conn) kick() bool {
	if len(c.out) > c.srv.cfg.QueueBytes {
		c.out = nil
		c.closing = true
		c.wmu.Unlock()
		c.log.Warn("component outbound queue overflow: closing", "domain", c.domain, "limit", c.srv.cfg.QueueBytes)
		c.nc.Close()
		return false
	}
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
	c.wmu.Unlock()
	return true
}

func (c *conn) writeLoop() {
	for {
		c.wmu.Lock()
		if len(c.out) == 0 {
			c.writing = false
			c.flushed.Idle()
			closing := c.closing
			c.wmu.Unlock()
			if closing {
				if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
				time.AfterFunc(2*time.Second, func() { c.nc.Close() })
			}
			return
		}
		buf := c.out
		c.out = nil
		c.wmu.Unlock()
		c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		if _, err := c.nc.Write(buf); err != nil {
			c.wmu.Lock()
			c.out, c.closing, c.writing = nil, true, false
			c.flushed.Idle()
			c.wmu.Unlock()
			c.nc.Close()
			return
		}
	}
}

func (c *conn) sendHeader(domain string, known bool) error {
	// XEP-0114 streams carry no version: they predate RFC 6120's.
	h := stream.Header{NS: NS, ID: c.streamID}
	if known {
		h.From = domain
	}
	b := h.Append(make([]byte, 0, 200))
	c.wmu.Lock()
	c.headerSent = true
	c.wmu.Unlock()
	if !c.enqueue(b) {
		return io.ErrClosedPipe
	}
	return nil
}

// closeStream sends an optional stream error and the closing tag; the
// socket closes once they are written.
func (c *conn) closeStream(condition, text string) {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return
	}
	var b []byte
	if !c.headerSent {
		// RFC 6120 §4.9.1.2: a header before the error.
		h := stream.Header{NS: NS, ID: randid.Hex(12)}
		b = h.Append(b)
		c.headerSent = true
	}
	c.out = append(c.out, stream.AppendEnd(b, condition, text)...)
	c.closing = true
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
	c.wmu.Unlock()
}

// finish releases the domain and closes the socket once output drained.
func (c *conn) finish() {
	if c.domain != "" {
		c.srv.mu.Lock()
		if c.srv.active[c.domain] == c {
			delete(c.srv.active, c.domain)
		}
		c.srv.mu.Unlock()
		if c.claimed {
			c.srv.cfg.Cluster.ReleaseComponent(c.domain)
		}
		c.log.Info("component disconnected", "domain", c.domain)
	}
	c.closeStream("", "")
	c.wmu.Lock()
	flushed := c.flushed.WaitIf(c.writing)
	c.wmu.Unlock()
	// The writer stops within WriteTimeout of its last write.
	stream.Await(flushed, c.srv.cfg.WriteTimeout)
	c.nc.Close()
}

// readError maps decoder errors to stream errors (RFC 6120 §4.9.3); the
// peer's closing tag ends the stream without one.
func readError(err error) error {
	if errors.Is(err, xml.ErrStreamEnd) {
		return nil
	}
	return stream.DecodeError(err)
}
