// Package web is xmppd's HTTP side: XMPP over WebSocket (RFC 7395) for
// browser clients, and the XEP-0156 host-meta documents that tell clients
// where to find them; BOSH (XEP-0124, XEP-0206) at /http-bind; the admin
// pages at /admin/ (Config.Admin, package web/adminweb); every other path
// goes to the routes modules registered (Config.Routes: XEP-0363 uploads).
// For people it serves a landing page per host at / and a bundled web
// client (Converse.js) at /web/ (site.go).
package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/internal/accept"
	"github.com/xmppd/xmppd/xml"
)

// WebSocketPath is where clients open XMPP WebSocket connections (the path
// Prosody and ejabberd use, so clients configured for them work as they are).
const WebSocketPath = "/xmpp-websocket"

// Config is what the HTTP server needs, assembled by internal/server.
type Config struct {
	C2S *c2s.Server
	// Certificate returns the certificate served for a name (SNI), for
	// tls-server-end-point channel binding over HTTPS; nil without TLS.
	Certificate func(hello *tls.ClientHelloInfo) (*tls.Certificate, error)
	// OriginPatterns limit the pages whose scripts may connect (as
	// path.Match patterns of the Origin's host, e.g. "chat.example.org");
	// empty allows every origin: XMPP authenticates in-band, so a foreign
	// page gains nothing a user's own credentials do not give.
	OriginPatterns []string
	Limits         xml.Limits
	Log            *slog.Logger
	// Admin serves the admin pages at /admin/ (package web/adminweb,
	// [admin] web); nil: not served.
	Admin http.Handler
	// Routes serves every request the paths above do not (modules'
	// routes, such as XEP-0363 uploads); nil: 404 as before.
	Routes http.Handler
	// BOSHQueueBytes bounds the output a BOSH session keeps for its
	// client's next request; default 1 MiB.
	BOSHQueueBytes int
	// BodyTimeout is how long a request body may go without a byte
	// arriving (as nginx's client_body_timeout: per read, not for the
	// whole body, so a large upload over a slow link is not cut while it
	// moves); default 30s.
	BodyTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request; default 60s. An established WebSocket is not HTTP
	// any more: its liveness is the XMPP stream's business.
	IdleTimeout time.Duration
	// Limiter bounds the connections of one remote address on every
	// listener served (nil: unbounded). XMPP streams over WebSocket and
	// BOSH count against c2s's own limiter as well.
	Limiter accept.Admitter
	// Site is the landing page at / and the web client at /web/
	// (site.go); no hosts: neither.
	Site Site
}

// Server serves HTTP on any number of listeners.
type Server struct {
	cfg  Config
	http *http.Server

	boshSessions boshSessions
	siteHosts    map[string]SiteHost // by lowercased domain
}

// New returns a server; call Serve for each listener.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	s := &Server{cfg: cfg, boshSessions: boshSessions{m: map[string]*boshSession{}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+WebSocketPath, s.websocket)
	mux.HandleFunc("POST "+BOSHPath, s.bosh)
	mux.HandleFunc("OPTIONS "+BOSHPath, s.bosh)
	mux.HandleFunc("GET /.well-known/host-meta", s.hostMeta)
	mux.HandleFunc("GET /.well-known/host-meta.json", s.hostMetaJSON)
	// Pages for people: / and the web client (site.go).
	s.siteRoutes(mux)
	if cfg.Admin != nil {
		mux.Handle("/admin/", cfg.Admin)
	}
	if cfg.Routes != nil {
		mux.Handle("/", cfg.Routes)
	}
	s.http = &http.Server{
		Handler:           s.bodyDeadline(mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	return s
}

// Serve accepts on ln until Shutdown: HTTPS with tlsConfig, plain HTTP
// (behind a TLS-terminating proxy) when it is nil. The per-address limit
// applies to the TCP connections, beneath TLS.
func (s *Server) Serve(ln net.Listener, tlsConfig *tls.Config) error {
	if s.cfg.Limiter != nil {
		ln = accept.Limit(ln, s.cfg.Limiter)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting; WebSocket streams are ended by the client
// stream server's own shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

func (s *Server) websocket(w http.ResponseWriter, r *http.Request) {
	limit := int64(s.cfg.Limits.MaxStanzaBytes) + 1024
	ws, err := websocket.Accept(&guardWriter{ResponseWriter: w, limit: limit}, r, &websocket.AcceptOptions{
		// RFC 7395 §3.1: the "xmpp" subprotocol must be negotiated.
		Subprotocols:       []string{"xmpp"},
		OriginPatterns:     s.cfg.OriginPatterns,
		InsecureSkipVerify: len(s.cfg.OriginPatterns) == 0,
	})
	if err != nil {
		s.cfg.Log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	if ws.Subprotocol() != "xmpp" {
		ws.Close(websocket.StatusPolicyViolation, "the xmpp subprotocol is required (RFC 7395)")
		return
	}
	ws.SetReadLimit(limit)
	remote, _ := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	nc := &wsConn{ws: ws, remote: remote, local: local, limits: s.cfg.Limits}
	opts := c2s.ListenerOptions{}
	if r.TLS != nil {
		opts.TransportTLS = r.TLS
		if s.cfg.Certificate != nil {
			if cert, err := s.cfg.Certificate(&tls.ClientHelloInfo{ServerName: r.TLS.ServerName}); err == nil && cert != nil && len(cert.Certificate) > 0 {
				opts.ServerCert = cert.Certificate[0]
			}
		}
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if err := s.cfg.C2S.ServeConn(nc, opts, ip); err != nil {
		s.cfg.Log.Debug("websocket stream refused", "remote", r.RemoteAddr, "err", err)
	}
}

// wsURL is the WebSocket address of this server as the request reached it.
func wsURL(r *http.Request) string {
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	return fmt.Sprintf("%s://%s%s", scheme, r.Host, WebSocketPath)
}

// boshURL is the BOSH address of this server as the request reached it.
func boshURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s%s", scheme, r.Host, BOSHPath)
}

// hostMeta: XEP-0156 §3 (XRD).
func (s *Server) hostMeta(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xrd+xml")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	var b strings.Builder
	b.WriteString("<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n  <Link rel='urn:xmpp:alt-connections:websocket' href='")
	b.Write(xml.EscapeAttr(nil, wsURL(r)))
	b.WriteString("'/>\n  <Link rel='urn:xmpp:alt-connections:xbosh' href='")
	b.Write(xml.EscapeAttr(nil, boshURL(r)))
	b.WriteString("'/>\n</XRD>\n")
	w.Write([]byte(b.String()))
}

// hostMetaJSON: XEP-0156 §3 (JRD).
func (s *Server) hostMetaJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	json.NewEncoder(w).Encode(map[string]any{
		"links": []map[string]string{
			{"rel": "urn:xmpp:alt-connections:websocket", "href": wsURL(r)},
			{"rel": "urn:xmpp:alt-connections:xbosh", "href": boshURL(r)},
		},
	})
}

// bodyDeadline bounds the wait for each read of a request body with
// BodyTimeout: without it, a request announcing a body and sending none
// holds its connection (and goroutine) for as long as the client likes,
// since net/http's ReadHeaderTimeout ends with the headers. The deadline
// is set before the handler runs, so it also bounds net/http's discarding
// of a body the handler did not read, and cleared at the body's end: a
// read deadline left on the connection would cancel a held BOSH request
// from net/http's background read.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	d := s.cfg.BodyTimeout
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // -1: chunked
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, d: d}
			}
		}
		next.ServeHTTP(w, r)
	})
}

type deadlineBody struct {
	io.ReadCloser
	rc *http.ResponseController
	d  time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.d))
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
