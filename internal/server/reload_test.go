package server_test

import (
	"io"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/testutil"
)

// TestReloadLimits: max_connections_per_ip lowered by a reload applies to
// the next connection; the one already open is not cut.
func TestReloadLimits(t *testing.T) {
	s := testutil.Start(t, "")
	first := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	first.Open("localhost")

	cfg, err := config.Parse([]byte(testutil.BaseConfig(s.DataDir)+"\n[limits]\nmax_connections_per_ip = 1\n"), "reload.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	// Over the limit: accepted, then closed before a stream header.
	second := testutil.Dial(t, s.StartTLS)
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(second); err != nil || len(b) != 0 {
		t.Fatalf("second connection from one address: read %q, %v; want it closed", b, err)
	}
	// The open stream still works.
	first.StartTLS("localhost")
}

// TestReloadHTTPLimit: the http listeners' per-address cap follows a
// reload too (it is the same max_connections_per_ip).
func TestReloadHTTPLimit(t *testing.T) {
	const http = "\n[[listen]]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\n"
	s := testutil.Start(t, http)
	first := testutil.Dial(t, s.HTTP) // counted from its accept, idle
	defer first.Close()

	cfg, err := config.Parse([]byte(testutil.BaseConfig(s.DataDir)+http+"\n[limits]\nmax_connections_per_ip = 1\n"), "reload.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	// Over the lowered limit: accepted, then closed at once.
	second := testutil.Dial(t, s.HTTP)
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(second); err != nil || len(b) != 0 {
		t.Fatalf("second http connection from one address: read %q, %v; want it closed", b, err)
	}
}
