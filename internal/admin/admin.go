// Package admin serves the admin listener ([[listen]] type = "admin"):
// Prometheus metrics at /metrics and a small JSON API for operators and the
// xmppd CLI (status, sessions, kick).
//
// What reaches it: with a token ([admin] token_file; required when the
// listener binds a non-loopback address), every request must carry it as
// "Authorization: Bearer". Without one, the listener is on loopback and
// only the Host check stands between it and a browser's page: a request
// must name the listener by address (localhost, a loopback or the
// listener's own IP; a DNS-rebound name is refused with 421). Either way a
// request with a foreign Origin is refused (403), and so is a POST that is
// not application/json (415): a page can send a cross-site text/plain or
// form POST without asking, but not a JSON one.
package admin

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/cluster"
	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
)

// Paths of the API.
const (
	PathStatus   = "/api/status"
	PathSessions = "/api/sessions"
	PathKick     = "/api/sessions/kick"
	PathMetrics  = "/metrics"
)

// KickText is the stream error text a kicked client reads.
const KickText = "session ended by the server administrator"

// Listener is one configured listener as the status reports it.
type Listener struct {
	Type    string `json:"type"`
	Address string `json:"address"`
	TLS     string `json:"tls,omitempty"`
}

// Status is GET /api/status.
type Status struct {
	Version       string     `json:"version"`
	Started       time.Time  `json:"started"`
	UptimeSeconds float64    `json:"uptime_seconds"`
	Hosts         []string   `json:"hosts"`
	Listeners     []Listener `json:"listeners"`
	Sessions      int        `json:"sessions"`
	Connections   int        `json:"connections"`
	Goroutines    int        `json:"goroutines"`
	// Memory: bytes obtained from the OS (runtime.MemStats.Sys) and live
	// heap (HeapAlloc).
	MemorySysBytes  uint64 `json:"memory_sys_bytes"`
	MemoryHeapBytes uint64 `json:"memory_heap_bytes"`
	// Cluster is the cluster as this node sees it (absent on a single
	// server); Sessions and Connections above are this node's.
	Cluster *cluster.Status `json:"cluster,omitempty"`
}

// Session is one entry of GET /api/sessions. On a cluster the list holds
// every node's sessions: another node's carry its name and what the
// session directory knows (no IP, transport or TLS: ask that node).
type Session struct {
	JID        string    `json:"jid"`
	Node       string    `json:"node,omitempty"`
	IP         string    `json:"ip,omitempty"`
	Since      time.Time `json:"since,omitzero"`
	Transport  string    `json:"transport,omitempty"`
	TLSVersion string    `json:"tls_version,omitempty"`
	SM         bool      `json:"sm_enabled"`
	// Available: the session sent available presence (RFC 6121 §4.2),
	// as the cluster's directory has it; absent on a single server.
	Available *bool `json:"available,omitempty"`
}

// Kick is the body of POST /api/sessions/kick.
type Kick struct {
	JID string `json:"jid"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// Config is what the admin listener reports on and acts upon.
type Config struct {
	Version     string
	Hosts       []string
	Listeners   func() []Listener // bound addresses, known once listening
	Sessions    func() []c2s.SessionInfo
	Connections func() int
	// Kick ends the session of a full JID; false when none is bound.
	Kick    func(full jid.JID, text string) bool
	Metrics http.Handler // nil: no /metrics
	// Cluster is this server's cluster membership, nil on a single
	// server. Kick reaches every node's sessions through the cluster's
	// directory already.
	Cluster *cluster.Node
	Log     *slog.Logger
	// Token, when set, is the bearer token every request must carry.
	Token string
}

// Server is the admin HTTP server.
type Server struct {
	cfg     Config
	started time.Time
	http    *http.Server
}

// New returns a server; Serve starts it on a listener.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, started: time.Now()}
	mux := http.NewServeMux()
	if cfg.Metrics != nil {
		mux.Handle("GET "+PathMetrics, cfg.Metrics)
	}
	mux.HandleFunc("GET "+PathStatus, s.status)
	mux.HandleFunc("GET "+PathSessions, s.sessions)
	mux.HandleFunc("POST "+PathKick, s.kick)
	s.http = &http.Server{Handler: s.guard(mux), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	return s
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// Close stops the server at once (nothing on it is worth waiting for).
func (s *Server) Close() error { return s.http.Close() }

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := Status{
		Version: s.cfg.Version, Started: s.started, UptimeSeconds: time.Since(s.started).Seconds(),
		Hosts: s.cfg.Hosts, Sessions: len(s.cfg.Sessions()), Connections: s.cfg.Connections(),
		Goroutines: runtime.NumGoroutine(), MemorySysBytes: ms.Sys, MemoryHeapBytes: ms.HeapAlloc,
	}
	if s.cfg.Listeners != nil {
		st.Listeners = s.cfg.Listeners()
	}
	if s.cfg.Cluster != nil {
		cs := s.cfg.Cluster.Status()
		st.Cluster = &cs
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	local := s.cfg.Sessions()
	node := ""
	if s.cfg.Cluster != nil {
		node = s.cfg.Cluster.Name()
	}
	out := make([]Session, 0, len(local))
	for _, l := range local {
		out = append(out, Session{JID: l.JID, Node: node, IP: l.IP, Since: l.Since, Transport: l.Transport, TLSVersion: l.TLSVersion, SM: l.SM})
	}
	if c := s.cfg.Cluster; c != nil {
		for i, l := range out {
			if j, err := jid.Parse(l.JID); err == nil {
				if sess := c.Directory().Local().Session(j); sess != nil {
					avail := sess.Available()
					out[i].Available = &avail
				}
			}
		}
		for _, r := range c.Directory().RemoteSessions() {
			i := r.Info()
			out = append(out, Session{JID: i.JID, Node: i.Node, Available: &i.Available})
		}
	}
	slices.SortFunc(out, func(a, b Session) int { return cmp.Or(cmp.Compare(a.JID, b.JID), cmp.Compare(a.Node, b.Node)) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) kick(w http.ResponseWriter, r *http.Request) {
	var k Kick
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&k); err != nil {
		writeJSON(w, http.StatusBadRequest, Error{"body must be JSON {\"jid\": \"user@host/resource\"}: " + err.Error()})
		return
	}
	j, err := jid.Parse(k.JID)
	if err != nil || !j.IsFull() {
		writeJSON(w, http.StatusBadRequest, Error{fmt.Sprintf("%q is not a full JID (user@host/resource)", k.JID)})
		return
	}
	res := map[string]string{"kicked": j.String()}
	if c := s.cfg.Cluster; c != nil {
		// The session may be on another node: Kick asks that node to
		// end it (its client gets the stream error from there).
		res["node"] = c.Name()
		if p, ok := c.Directory().Session(j).(module.Proxy); ok {
			res["node"] = p.NodeName()
		}
	}
	if !s.cfg.Kick(j, KickText) {
		writeJSON(w, http.StatusNotFound, Error{"no session " + j.String()})
		return
	}
	if s.cfg.Log != nil {
		s.cfg.Log.Info("session kicked by admin API", "jid", j.String(), "node", res["node"], "remote", r.RemoteAddr)
	}
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// guard refuses what a browser's page could send on its own (see the
// package comment) before next sees the request.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authorized := false
		if s.cfg.Token != "" {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.cfg.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="xmppd admin"`)
				writeJSON(w, http.StatusUnauthorized, Error{"this admin listener needs its token: Authorization: Bearer <the contents of [admin] token_file>"})
				return
			}
			// A page cannot know the token: a foreign name in Host is
			// then a proxy or a DNS name the operator uses, not a
			// rebinding attack.
			authorized = true
		}
		if !authorized && !localHost(r) {
			writeJSON(w, http.StatusMisdirectedRequest, Error{fmt.Sprintf("Host %q does not name this listener: use localhost or its IP address", r.Host)})
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
				writeJSON(w, http.StatusForbidden, Error{fmt.Sprintf("requests from the web page %q are refused", o)})
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, Error{"the body must be JSON (Content-Type: application/json)"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// localHost reports whether the request's Host names this listener:
// localhost, a loopback address, or the address the connection reached,
// with the listener's port if it names one.
func localHost(r *http.Request) bool {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if local == nil {
		return false
	}
	lhost, lport, err := net.SplitHostPort(local.String())
	if err != nil {
		return false
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "" // no port: the Host names none
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if port != "" && port != lport {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.Equal(net.ParseIP(lhost)))
}

// LoadToken reads the bearer token kept in path (surrounding white space
// ignored). With create, a missing file is made with a new random token,
// readable by its owner only; created reports that.
func LoadToken(path string, create bool) (token string, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		token = randid.Hex(32)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", false, fmt.Errorf("admin token: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", false, fmt.Errorf("admin token: %w", err)
		}
		_, err = f.WriteString(token + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return "", false, fmt.Errorf("admin token: writing %s: %w", path, err)
		}
		return token, true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	token = strings.TrimSpace(string(b))
	if len(token) < 16 {
		return "", false, fmt.Errorf("admin token: %s holds %d characters; at least 16 are needed (delete it and xmppd makes a new one)", path, len(token))
	}
	return token, false, nil
}
