package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/server"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/module"
)

// stopFails is a module registered only in this test binary: it fails to
// stop on a server whose data folder holds a file named stop-fails, and
// stops cleanly everywhere else.
type stopFails struct{ fail bool }

func (m *stopFails) Start(h *module.Handle) error {
	if h.DataDir != "" {
		_, err := os.Stat(filepath.Join(h.DataDir, "stop-fails"))
		m.fail = err == nil
	}
	return nil
}

func (m *stopFails) Stop() error {
	if m.fail {
		return errors.New("refusing to stop")
	}
	return nil
}

func init() { module.Register("servertest-stopfail", func() module.Module { return &stopFails{} }) }

// shutdownLog starts a server in dir, shuts it down and returns its log.
func shutdownLog(t *testing.T, dir string) string {
	t.Helper()
	cfg, err := config.Parse([]byte(testutil.BaseConfig(dir)), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.LogBuffer
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return logs.String()
}

// TestModuleStopErrorLogged: a module that fails to stop is named in an
// error line at shutdown (module.StopAll returned the error; it used to
// be dropped), and a clean shutdown logs no error.
func TestModuleStopErrorLogged(t *testing.T) {
	if out := shutdownLog(t, t.TempDir()); strings.Contains(out, "level=ERROR") {
		t.Fatalf("clean shutdown logged an error:\n%s", out)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stop-fails"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := shutdownLog(t, dir)
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "stop module servertest-stopfail: refusing to stop") {
		t.Fatalf("stop error not logged:\n%s", out)
	}
}
