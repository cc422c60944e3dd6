// Package s2s is server-to-server federation (RFC 6120 with the
// "jabber:server" namespace): inbound streams from other servers on "s2s"
// listeners, and an outbound pool that keeps one stream per (local domain,
// remote domain) for stanzas the router cannot deliver locally.
//
// Streams are unidirectional (RFC 6120 §4.1: no XEP-0288): a peer's stanzas
// arrive on the stream it opened to us; ours leave on the one we open.
// Both sides require TLS by default (STARTTLS, or direct TLS per XEP-0368)
// and authenticate the sending domain with SASL EXTERNAL (XEP-0178) when
// its certificate validates, otherwise with dialback (XEP-0220), whose keys
// are HMAC-SHA256 of a secret kept in the data folder (§2.4 via XEP-0185).
//
// Inbound stanzas are checked before the router sees them: 'from' must be
// at a domain the peer authenticated (else <invalid-from/>), 'to' at a
// domain we serve (else <host-unknown/>).
package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	xstream "github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// Namespaces of the s2s negotiation.
const (
	NSDialback        = "jabber:server:dialback"
	NSDialbackFeature = "urn:xmpp:features:dialback"
	nsTLS             = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL            = "urn:ietf:params:xml:ns:xmpp-sasl"
)

// Route is a static route: a remote domain's address, bypassing DNS.
type Route struct {
	Address   string // host:port
	DirectTLS bool   // XEP-0368: TLS from the first byte
}

// Resolver is the part of net.Resolver the pool uses (tests replace it).
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// Config is what the s2s server needs, assembled by internal/server.
type Config struct {
	// Serves reports whether we answer for domain: a host or a component.
	Serves func(domain string) bool
	// Certificate returns our certificate for a local domain (presented to
	// peers as client certificate on outbound streams), nil if none.
	Certificate func(domain string) *tls.Certificate
	Secret      []byte         // dialback secret (XEP-0185)
	TLSVerify   bool           // peers' certificates must validate
	RequireTLS  bool           // outbound: refuse peers without STARTTLS
	Roots       *x509.CertPool // trust anchors; nil = system roots
	Dialback    bool           // allow XEP-0220
	Routes      map[string]Route
	Resolver    Resolver // nil = net.DefaultResolver

	Limits           xml.Limits
	HandshakeTimeout time.Duration // one TLS handshake
	AuthTimeout      time.Duration // inbound: connect → first authenticated domain
	ConnectTimeout   time.Duration // outbound: resolve → authenticated
	IdleTimeout      time.Duration // a stream that carried nothing this long closes
	WriteTimeout     time.Duration
	QueueStanzas     int // stanzas queued per outbound stream while it connects
	QueueBytes       int // bytes pending on a ready outbound stream before it is cut
	Limiter          *c2s.Limiter
	Router           module.Router
	Log              *slog.Logger
}

// ListenerOptions is one s2s listener's TLS setup.
type ListenerOptions struct {
	TLS        *tls.Config
	DirectTLS  bool
	RequireTLS bool
}

type pair struct{ local, remote string }

// Server is the inbound listener side and the outbound pool.
type Server struct {
	cfg Config

	mu       sync.Mutex
	routes   map[string]Route
	out      map[pair]*outConn
	shutdown bool
	wg       sync.WaitGroup // outbound streams

	in xstream.Listeners[*inConn]

	// life is the context of what the server does for peers and for the
	// stanzas it sends them: each inbound stream's contexts derive from
	// it, and outbound streams connect and bounce under it. Shutdown
	// ends it once the streams have ended, or when its wait runs out, so
	// that nothing started for a peer outlives the server.
	life    context.Context
	endLife context.CancelFunc
}

// New returns a server; Serve accepts on listeners, RouteRemote sends.
func New(cfg Config) *Server {
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.AuthTimeout == 0 {
		cfg.AuthTimeout = 60 * time.Second
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.QueueStanzas == 0 {
		cfg.QueueStanzas = 1000
	}
	if cfg.QueueBytes == 0 {
		cfg.QueueBytes = 16 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	s := &Server{cfg: cfg, routes: map[string]Route{}, out: map[pair]*outConn{}}
	s.life, s.endLife = context.WithCancel(context.Background())
	for d, r := range cfg.Routes {
		s.routes[d] = r
	}
	return s
}

// SetRoute adds or replaces a static route at run time (tests whose peers
// listen on ports known only after both started).
func (s *Server) SetRoute(domain string, r Route) {
	s.mu.Lock()
	s.routes[strings.ToLower(domain)] = r
	s.mu.Unlock()
}

func (s *Server) route(domain string) (Route, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.routes[domain]
	return r, ok
}

// Streams reports the open inbound streams and the outbound ones (ready or
// being set up), for tests and monitoring.
func (s *Server) Streams() (inbound, outbound int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in.Len(), len(s.out)
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("s2s: server closed")

// errUnroutable: RouteRemote cannot take the stanza (the router then
// bounces it with remote-server-not-found).
var errUnroutable = errors.New("s2s: stanza cannot be sent to a remote server")

// RouteRemote queues st for the server of st.To's domain (router.Remote).
func (s *Server) RouteRemote(ctx context.Context, st *module.Stanza) error {
	local, remote := st.From.Domain(), st.To.Domain()
	if local == "" || remote == "" || !s.cfg.Serves(local) {
		// We may only speak for our own domains (RFC 6120 §13.5: a
		// server must not forge another's addresses).
		return errUnroutable
	}
	st = &module.Stanza{El: stamped(st), From: st.From, To: st.To}
	for range 3 {
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			return errUnroutable
		}
		p := pair{local, remote}
		o := s.out[p]
		if o == nil {
			o = newOutConn(s, local, remote)
			s.out[p] = o
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				o.run()
			}()
		}
		s.mu.Unlock()
		switch err := o.send(st); {
		case err == nil:
			return nil
		case errors.Is(err, errQueueFull):
			s.bounce(ctx, st, stanza.ResourceConstraint, "too many stanzas waiting for "+remote)
			return nil
		}
		// Closed between lookup and send: a new stream is made.
	}
	return errUnroutable
}

// forget removes o from the pool if it is still the one for its pair.
func (s *Server) forget(o *outConn) {
	s.mu.Lock()
	if p := (pair{o.local, o.remote}); s.out[p] == o {
		delete(s.out, p)
	}
	s.mu.Unlock()
}

// stamped is st's element with its 'from' and 'to' written out: a peer
// needs both on every stanza (RFC 6120 §8.1.1.1, §8.1.2.1).
func stamped(st *module.Stanza) *xml.Element {
	el := st.El
	var add []xml.Attr
	if !st.From.IsZero() && el.Attr("from") != st.From.String() {
		add = append(add, xml.Attr{Name: "from", Value: st.From.String()})
	}
	if !st.To.IsZero() && el.Attr("to") != st.To.String() {
		add = append(add, xml.Attr{Name: "to", Value: st.To.String()})
	}
	if len(add) > 0 {
		el = el.WithAttrs(add...)
	}
	return el
}

// bounce answers a stanza we could not send with a stanza error from the
// remote address (RFC 6120 §8.3.3.14 remote-server-not-found, §8.3.3.15
// remote-server-timeout). Errors are never answered with errors (§8.3.1),
// and IQ results have nobody waiting for an answer.
func (s *Server) bounce(ctx context.Context, st *module.Stanza, condition, text string) {
	if stanza.IsError(st.El) || (st.Kind() == "iq" && st.Type() == "result") {
		return
	}
	el := stanza.NewError(condition, text).Reply(st.El)
	s.cfg.Router.Route(ctx, &module.Stanza{El: el, From: st.To, To: st.From})
}

// Serve accepts inbound streams on ln until Shutdown.
func (s *Server) Serve(ln net.Listener, opts ListenerOptions) error {
	// The limiter is asked here rather than by the accept loop, to log
	// the refusal: a peer server refused is worth an operator's look.
	err := s.in.Serve(ln, s.cfg.Log, nil, func(nc net.Conn, ip string) {
		if s.cfg.Limiter != nil && !s.cfg.Limiter.Admit(ip) {
			s.cfg.Log.Warn("s2s connection refused: limit for address", "remote", ip)
			nc.Close()
			return
		}
		c := &inConn{srv: s, nc: nc, opts: opts, ip: ip, log: s.cfg.Log.With("dir", "in", "remote", nc.RemoteAddr().String()), authed: map[string]bool{}}
		c.life, c.endLife = context.WithCancel(s.life)
		c.waits, c.endWaits = context.WithCancel(c.life)
		if !s.in.Add(c) {
			c.endLife()
			if s.cfg.Limiter != nil {
				s.cfg.Limiter.Release(ip)
			}
			nc.Close()
			return
		}
		go func() {
			c.serve()
			if s.cfg.Limiter != nil {
				s.cfg.Limiter.Release(ip)
			}
			s.in.Done(c)
		}()
	})
	if errors.Is(err, xstream.ErrClosed) {
		return ErrServerClosed
	}
	return fmt.Errorf("s2s: accept: %w", err)
}

// Shutdown stops accepting, ends every stream (inbound ones with
// <system-shutdown/>), bounces what is still queued and waits until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	ins := s.in.Close()
	outs := make([]*outConn, 0, len(s.out))
	for _, o := range s.out {
		outs = append(outs, o)
	}
	s.mu.Unlock()
	for _, c := range ins {
		c.closeStream(stanza.StreamSystemShutdown, "")
	}
	for _, o := range outs {
		o.close()
	}
	outDone := make(chan struct{})
	go func() { s.wg.Wait(); close(outDone) }()
	err := s.in.Wait(ctx)
	if err == nil {
		select {
		case <-outDone:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	// Streams still running past the wait are cut off, and what was
	// started for their peers is cancelled.
	s.endLife()
	if err != nil {
		for _, c := range ins {
			c.conn().Close()
		}
	}
	return err
}

// verifyPeer reports whether the chain a peer presented validates for
// domain under our trust anchors (RFC 6125 DNS-ID; the self-signed
// certificates xmppd makes carry domain and *.domain).
func (s *Server) verifyPeer(certs []*x509.Certificate, domain string, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("no certificate presented")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{DNSName: domain, Roots: s.cfg.Roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}
