// Package testutil starts a real xmppd on loopback ports from an inline
// configuration and provides a wire-level XMPP client for tests.
package testutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/server"
	"github.com/xmppd/xmppd/storage"
)

// Server is a running xmppd for one test.
type Server struct {
	*server.Server
	DataDir   string
	StartTLS  string // address of the STARTTLS listener
	DirectTLS string // address of the direct TLS listener
	Component string // address of the XEP-0114 listener, if the config has one
	S2SAddr   string // address of the (first) s2s listener, if any
	HTTP      string // address of the (first) http listener, if any
	Admin     string // address of the admin listener (metrics, admin API), if any
	done      chan error
	stopOnce  sync.Once
}

// BaseConfig is the inline configuration every test server starts from;
// extra TOML given to Start is appended (so it may add tables or override
// [limits] keys by appending a full [limits] table).
func BaseConfig(dataDir string) string {
	return fmt.Sprintf(`
data_dir = %q
log_level = "debug"

[[host]]
domain = "localhost"

[[host]]
domain = "example.test"

[[listen]]
type = "c2s"
address = "127.0.0.1:0"
tls = "starttls"

[[listen]]
type = "c2s"
address = "127.0.0.1:0"
tls = "direct"
`, dataDir)
}

// FederatedConfig is the configuration of a one-domain server for
// federation tests: data in dir, a c2s listener with STARTTLS and an s2s
// listener with tls ("starttls" or "direct"), both on free ports, then
// extra.
func FederatedConfig(dir, domain, tls, extra string) string {
	return fmt.Sprintf(`
data_dir = %q
log_level = "debug"

[[host]]
domain = %q

[[listen]]
type = "c2s"
address = "127.0.0.1:0"

[[listen]]
type = "s2s"
address = "127.0.0.1:0"
tls = %q
`, dir, domain, tls) + extra
}

// Start runs xmppd with BaseConfig plus extra and stops it at test end.
func Start(t testing.TB, extra string) *Server {
	t.Helper()
	dir := t.TempDir()
	return StartIn(t, dir, BaseConfig(dir)+extra)
}

// StartIn runs xmppd from a full TOML text with data in dir.
func StartIn(t testing.TB, dir, toml string) *Server {
	t.Helper()
	cfg, err := config.Parse([]byte(toml), "test.toml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if v := os.Getenv("XMPPD_TEST_IDLE_AFTER"); v != "" {
		// Every test server parks idle sessions this soon: the whole
		// suite then runs through park and resume (scripts/test.sh).
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("XMPPD_TEST_IDLE_AFTER: %v", err)
		}
		cfg.Limits.IdleAfter = config.Duration{Duration: d}
	}
	if !strings.Contains(toml, "[s2s]") && !strings.Contains(toml, `"s2s"`) {
		// A test that says nothing about federation keeps remote
		// domains (remote.example, ...) answered by the router alone:
		// no DNS lookups, no dialling out from the test machine.
		cfg.S2S.Enabled = false
	}
	var logw io.Writer = io.Discard
	if os.Getenv("XMPPD_TEST_LOG") != "" {
		logw = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start xmppd: %v", err)
	}
	s := &Server{Server: srv, DataDir: dir, done: make(chan error, 1)}
	for i, a := range srv.Addrs() {
		switch {
		case cfg.Listen[i].Type == "component":
			s.Component = a.String()
		case cfg.Listen[i].Type == "s2s":
			if s.S2SAddr == "" {
				s.S2SAddr = a.String()
			}
		case cfg.Listen[i].Type == "admin":
			s.Admin = a.String()
		case cfg.Listen[i].Type == "http":
			if s.HTTP == "" {
				s.HTTP = a.String()
			}
		case cfg.Listen[i].TLS == "direct":
			s.DirectTLS = a.String()
		default:
			s.StartTLS = a.String()
		}
	}
	go func() { s.done <- srv.Serve() }()
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the server down (idempotent: the first call waits for it).
func (s *Server) Stop(t testing.TB) {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Errorf("xmppd did not stop")
		}
	})
}

// AddUser creates local@domain (domain "localhost" if jid has no '@').
func (s *Server) AddUser(t testing.TB, jid, password string) {
	t.Helper()
	local, domain, ok := strings.Cut(jid, "@")
	if !ok {
		domain = "localhost"
	}
	creds, err := auth.DeriveCredentials(password, auth.DefaultIterations)
	if err != nil {
		t.Fatal(err)
	}
	sc := make([]storage.Credential, len(creds))
	for i, c := range creds {
		sc[i] = storage.Credential(c)
	}
	if err := s.Accounts().CreateAccount(context.Background(), domain, local, sc); err != nil {
		t.Fatalf("add user %s: %v", jid, err)
	}
}

// Dial opens a plain TCP connection to addr.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// HasUser reports whether the account local@domain exists (domain
// "localhost" if jid has no '@').
func (s *Server) HasUser(t testing.TB, jid string) bool {
	t.Helper()
	local, domain, ok := strings.Cut(jid, "@")
	if !ok {
		domain = "localhost"
	}
	exists, err := s.Accounts().AccountExists(context.Background(), domain, local)
	if err != nil {
		t.Fatal(err)
	}
	return exists
}
