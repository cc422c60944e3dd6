// Package c2s serves client-to-server streams (RFC 6120): stream headers
// and features, STARTTLS or direct TLS (XEP-0368), SASL, resource binding,
// and the session that exchanges stanzas once bound. SASL2 and Bind 2
// (XEP-0388, XEP-0386; sasl2.go) do authentication and binding in one
// request, with XEP-0198 stream management (sm.go) enabled or a broken
// session resumed inline in it.
package c2s

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// Config is what the c2s server needs, assembled by internal/server.
type Config struct {
	// Host normalizes a stream 'to' and reports whether we serve it.
	Host func(to string) (domain string, ok bool)
	// DefaultDomain names us in a stream header when the peer asked for
	// a domain we do not serve (or none), before host-unknown.
	DefaultDomain string

	Limits      xml.Limits
	AuthTimeout time.Duration // connect → bound resource
	// StanzaTimeout bounds the time from the first byte of a top-level
	// element to its last; a stream that leaves one unfinished longer
	// ends with <policy-violation/>. 0: 60 seconds.
	StanzaTimeout      time.Duration
	HandshakeTimeout   time.Duration // TLS handshake
	WriteTimeout       time.Duration // one write to the socket
	OutboundQueueBytes int           // pending output per session before it is cut off
	MaxSessions        int           // 0 = unlimited
	// ResumeTimeout is how long a XEP-0198 session whose connection broke
	// waits for its client to resume it; 0 offers no resumption.
	ResumeTimeout time.Duration
	// IdleAfter is how long a bound session reads nothing before its
	// reader goroutine stops until the socket is readable again (Linux:
	// park_linux.go). 0: 10 seconds; negative: never.
	IdleAfter time.Duration

	Accounts    storage.Accounts
	FakeSaltKey []byte
	// Mechanisms, when not nil, are the SASL mechanisms offered
	// ([auth] mechanisms); nil offers every one the connection allows.
	Mechanisms map[string]bool
	Registry   *module.Registry
	Router     module.Router
	Directory  Directory
	Limiter    *Limiter
	Log        *slog.Logger
	// Observer hears counts (connections, authentications, stanzas,
	// errors); nil: none.
	Observer Observer

	// FastTokens stores XEP-0484 tokens (fast.go); nil offers no FAST.
	FastTokens storage.FastTokens
	// FastTokenLifetime is how long a FAST token is valid. 0:
	// DefaultFastTokenLifetime; negative: no FAST.
	FastTokenLifetime time.Duration
	// Handover moves XEP-0198 sessions between the nodes of a cluster
	// (handover.go); nil on a single server. With it, Shutdown closes
	// resumable sessions' connections without a word and waits up to
	// HandoverWait for their clients to resume them on other nodes.
	Handover     Handover
	HandoverWait time.Duration
}

// Directory is the session table c2s binds into: *router.Local on a single
// node, the cluster's directory (package cluster) on several.
type Directory interface {
	module.Directory
	// Bind adds s and returns the session it replaced (ended with
	// <conflict/>), which may live on another node.
	Bind(s module.Session) (replaced module.Session)
	// Unbind removes s if it is still the session bound to its JID.
	Unbind(s module.Session) bool
	// Count is the number of bound sessions (in the whole cluster).
	Count() int
	// Admit says whether a new session may bind now; an error says why not
	// (a cluster node cut off from the others takes no logins).
	Admit() error
	// Updated tells the directory that s changed its presence (available,
	// priority, last presence), so that other nodes see it.
	Updated(s module.Session)
}

// Claimer is a Directory that must record a session where others find it
// (a cluster node's replicated directory) before the session is bound.
// Claim runs before the bind is answered; an error refuses the bind
// (RFC 6120 §7.6.2.1, resource-constraint), and a claimed session that is
// not bound after all is passed to Unbind.
type Claimer interface {
	Claim(s module.Session) error
}

// ListenerOptions are per listening socket.
type ListenerOptions struct {
	// TLS is the server configuration; nil means no TLS on this listener.
	// Direct TLS listeners offer ALPN "xmpp-client" (XEP-0368); STARTTLS
	// ones offer none, since Go refuses a client whose ALPN list shares
	// nothing with ours.
	TLS        *tls.Config
	DirectTLS  bool // XEP-0368: TLS from the first byte
	RequireTLS bool // STARTTLS listeners: refuse SASL before TLS

	// TransportTLS is the TLS state of a transport that encrypts below the
	// XMPP stream (WebSocket over HTTPS, RFC 7395 §3.1): the stream counts
	// as under TLS from the start, with no STARTTLS, and channel bindings
	// refer to that connection. ServerCert is the DER of the certificate
	// it presented (for tls-server-end-point). Only for ServeConn.
	TransportTLS *tls.ConnectionState
	ServerCert   []byte
}

// Server accepts client connections on any number of listeners.
type Server struct {
	cfg Config

	// ls: the listeners, and the connections served (their transports'
	// sessions, once bound); counted until their readers end.
	ls stream.Listeners[*conn]

	resume resumable // XEP-0198 sessions that may be resumed

	// boundStates holds the TLS states bound sessions share (boundTLS),
	// by version and cipher suite.
	boundStates sync.Map // tlsKind → *tls.ConnectionState
}

// New returns a server; call Serve for each listener.
func New(cfg Config) *Server {
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.StanzaTimeout <= 0 {
		cfg.StanzaTimeout = 60 * time.Second
	}
	if cfg.OutboundQueueBytes == 0 {
		cfg.OutboundQueueBytes = 1 << 20
	}
	if cfg.IdleAfter == 0 {
		cfg.IdleAfter = 10 * time.Second
	} else if cfg.IdleAfter < 0 {
		cfg.IdleAfter = 0
	}
	if cfg.FastTokenLifetime == 0 {
		cfg.FastTokenLifetime = DefaultFastTokenLifetime
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewLimiter(0, 0, 0, 0, 0)
	}
	s := &Server{cfg: cfg}
	if cfg.Handover != nil {
		if err := cfg.Handover.ServeHandover(s.serveHandover); err != nil {
			// Resumption still works on this node; clients coming back
			// elsewhere log in again.
			s.logger().Error("XEP-0198 sessions of this node cannot be resumed on others", "err", err)
		}
	}
	return s
}

func (s *Server) logger() *slog.Logger {
	if s.cfg.Log != nil {
		return s.cfg.Log
	}
	return slog.Default()
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("c2s: server closed")

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener, opts ListenerOptions) error {
	// The limiter refuses a connection flood from one address before a
	// goroutine or a TLS handshake is spent on it.
	err := s.ls.Serve(ln, s.cfg.Log, s.cfg.Limiter, func(nc net.Conn, ip string) {
		spill, isSpill := newSpillConn(nc, s.cfg.OutboundQueueBytes)
		if isSpill {
			nc = spill
		}
		c := newConn(s, nc, opts, ip)
		if isSpill {
			c.sc = spill
			spill.notify(c.wake)
		}
		if !s.ls.Add(c) {
			s.cfg.Limiter.Release(ip)
			nc.Close()
			return
		}
		s.cfg.Observer.ConnOpened(c.transport)
		go c.serve()
	})
	if errors.Is(err, stream.ErrClosed) {
		return ErrServerClosed
	}
	return err
}

// ServeConn serves one client stream on nc, an already accepted transport
// (a WebSocket, RFC 7395), until it ends; ip is the peer's address for the
// per-address limits. It fails at once when the server is shutting down or
// the address is over its limits.
func (s *Server) ServeConn(nc net.Conn, opts ListenerOptions, ip string) error {
	if !s.cfg.Limiter.Admit(ip) {
		nc.Close()
		return errors.New("c2s: too many connections from " + ip)
	}
	c := newConn(s, nc, opts, ip)
	c.transport = TransportHTTP // ServeConn is the seam of web's transports
	if opts.TransportTLS != nil {
		c.tls, c.serverCert = opts.TransportTLS, opts.ServerCert
	}
	if !s.ls.Add(c) {
		s.cfg.Limiter.Release(ip)
		nc.Close()
		return ErrServerClosed
	}
	s.cfg.Observer.ConnOpened(c.transport)
	c.serve()
	return nil
}

func (s *Server) remove(c *conn, ip string) {
	s.cfg.Limiter.Release(ip)
	s.cfg.Observer.ConnClosed(c.transport)
	// The session that took this transport over (handedTo) ends with it
	// (or hibernates again, outside the connection count).
	s.ls.Done(c, c.handedTo)
}

// Count returns the number of open connections.
func (s *Server) Count() int { return s.ls.Len() }

// Shutdown stops accepting, sends <system-shutdown/> to every stream
// (RFC 6120 §4.9.3.22) and waits for them to close until ctx ends, then
// closes what is left. In a cluster, resumable XEP-0198 sessions are
// kept for other nodes to take over first (Config.Handover).
func (s *Server) Shutdown(ctx context.Context) error {
	for _, c := range s.ls.Close() {
		if s.cfg.Handover != nil && c.resumableSession() {
			// A rolling upgrade: the connection breaks as a network
			// would break it, with no stream error (after which
			// clients do not resume), and the client resumes the
			// session on another node (handover.go).
			c.abort()
			continue
		}
		c.CloseStream(stanza.StreamSystemShutdown, "")
	}
	if s.cfg.Handover != nil {
		s.awaitHandovers(ctx)
	}
	// Sessions waiting for resumption end now, while the modules that
	// hear of it are still running.
	for _, c := range s.resume.hibernatingSessions() {
		c.smEnd()
	}
	err := s.ls.Wait(ctx)
	if err != nil {
		for _, c := range s.ls.Conns() {
			c.abort()
		}
		s.ls.Wait(context.Background())
	}
	return err
}

// awaitHandovers waits until no resumable session is left here (each was
// resumed on another node, or ended), for at most HandoverWait or until
// ctx ends.
func (s *Server) awaitHandovers(ctx context.Context) {
	if s.resume.count() == 0 || len(s.cfg.Handover.PeerNames()) == 0 {
		return
	}
	deadline := time.NewTimer(s.cfg.HandoverWait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.resume.count() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			s.logger().Info("sessions not resumed on other nodes before shutdown", "count", s.resume.count())
			return
		case <-tick.C:
		}
	}
}
