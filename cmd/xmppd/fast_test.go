package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
)

func TestFastCommands(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "xmppd.toml")
	if err := os.WriteFile(cfgPath, []byte(testutil.BaseConfig(dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "password\n", "user", "add", "-config", cfgPath, "alice@localhost"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	ctx := context.Background()
	issue := func(agent string, b byte) {
		t.Helper()
		_, db, err := openStorage(ctx, cfgPath, false, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		now := time.Now().UTC().Truncate(time.Second)
		if err := db.IssueFastToken(ctx, "localhost", "alice", storage.FastToken{
			AgentID: agent, New: true, Mechanism: "HT-SHA-256-NONE", Hash: []byte{b}, Label: "Dino on phone",
			Created: now, Expiry: now.Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
	}
	issue("phone", 1)
	issue("laptop", 2)
	code, out, errs := cli(t, "", "fast", "list", "-config", cfgPath, "alice@localhost")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "laptop\tnew\tHT-SHA-256-NONE\t") ||
		!strings.HasSuffix(lines[1], "\tDino on phone") {
		t.Fatalf("fast list: %d %q %q", code, out, errs)
	}
	for _, s := range []struct {
		stdin string
		args  []string
		code  int
		out   string
		err   string
	}{
		{"", []string{"fast", "revoke", "-config", cfgPath, "alice@localhost", "laptop"}, 0, "revoked 1 tokens of alice@localhost\n", ""},
		{"", []string{"fast", "list", "-config", cfgPath, "nobody@localhost"}, 1, "", "no account"},
		{"", []string{"fast", "list", "-config", cfgPath, "alice@elsewhere.example"}, 1, "", "not one of the configured hosts"},
		{"", []string{"fast", "list", "-config", cfgPath}, 1, "", "expected a JID"},
		{"", []string{"fast", "drop", "-config", cfgPath, "alice@localhost"}, 2, "", "unknown command"},
		// A new password revokes the rest.
		{"new password\n", []string{"user", "passwd", "-config", cfgPath, "alice@localhost"}, 0, "password changed: alice@localhost\n", ""},
		{"", []string{"fast", "list", "-config", cfgPath, "alice@localhost"}, 0, "", ""},
	} {
		code, out, errs := cli(t, s.stdin, s.args...)
		if code != s.code || out != s.out || (s.err != "" && !strings.Contains(errs, s.err)) {
			t.Fatalf("xmppd %s: code %d, stdout %q, stderr %q; want %d, %q, stderr containing %q",
				strings.Join(s.args, " "), code, out, errs, s.code, s.out, s.err)
		}
	}
	issue("phone", 3)
	if code, out, _ := cli(t, "", "fast", "revoke", "-config", cfgPath, "alice@localhost"); code != 0 || out != "revoked 1 tokens of alice@localhost\n" {
		t.Fatalf("fast revoke (all): %d %q", code, out)
	}
}
