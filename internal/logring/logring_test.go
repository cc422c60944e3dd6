package logring

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestRing: records at WARN and above are kept, newest first, at most
// size of them, with the logger's own attributes; every record still
// reaches the wrapped handler; two rings do not share anything.
func TestRing(t *testing.T) {
	var out bytes.Buffer
	r := New(3, slog.LevelWarn)
	other := New(3, slog.LevelWarn)
	log := slog.New(r.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	_ = slog.New(other.Handler(slog.DiscardHandler))
	c := log.With("component", "c2s").WithGroup("g")
	c.Info("not kept")
	for i := range 5 {
		c.Error(fmt.Sprintf("failure %d", i), "err", "disk full", "n", i)
	}
	log.Warn("last", slog.Group("db", "op", "Append"))
	got := r.Records()
	if len(got) != 3 {
		t.Fatalf("%d records kept, want 3: %+v", len(got), got)
	}
	want := []struct{ msg, attrs string }{
		{"last", "db.op=Append"},
		{"failure 4", `component=c2s g.err="disk full" g.n=4`},
		{"failure 3", `component=c2s g.err="disk full" g.n=3`},
	}
	for i, w := range want {
		if got[i].Message != w.msg || got[i].Attrs != w.attrs {
			t.Errorf("record %d: %q %q, want %q %q", i, got[i].Message, got[i].Attrs, w.msg, w.attrs)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != 7 {
		t.Errorf("wrapped handler got %d lines, want 7:\n%s", n, out.String())
	}
	if len(other.Records()) != 0 {
		t.Errorf("the other ring got %d records", len(other.Records()))
	}
	// Fewer than size: newest first too.
	small := New(4, slog.LevelWarn)
	l := slog.New(small.Handler(slog.DiscardHandler))
	l.Warn("a")
	l.Warn("b")
	if rs := small.Records(); len(rs) != 2 || rs[0].Message != "b" || rs[1].Message != "a" {
		t.Errorf("partly filled ring: %+v", rs)
	}
}
