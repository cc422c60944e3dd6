// Package admin serves the admin listener ([[listen]] type = "admin"):
// Prometheus metrics at /metrics and a small JSON API for operators and the
// xmppd CLI (status, sessions, kick). It has no authentication, which is
// why config refuses a non-loopback address for it unless allow_remote is
// set.
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/jid"
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
	Log     *slog.Logger
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
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
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
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Sessions())
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
	if !s.cfg.Kick(j, KickText) {
		writeJSON(w, http.StatusNotFound, Error{"no session " + j.String()})
		return
	}
	if s.cfg.Log != nil {
		s.cfg.Log.Info("session kicked by admin API", "jid", j.String(), "remote", r.RemoteAddr)
	}
	writeJSON(w, http.StatusOK, map[string]string{"kicked": j.String()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
