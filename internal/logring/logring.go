// Package logring keeps the last records of a server's log at WARN and
// above, for the admin web pages' "recent errors": a slog.Handler wrapper
// copies each such record into a bounded ring owned by one server (no
// package state: two servers in one process keep their own).
package logring

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Record is one kept log record, flattened for display.
type Record struct {
	Time    time.Time
	Level   slog.Level
	Message string
	// Attrs are the record's attributes, those of the logger it came
	// from (component=...) first, as key=value text.
	Attrs string
}

// Ring holds the last Size records at MinLevel and above.
type Ring struct {
	min slog.Level

	mu   sync.Mutex
	buf  []Record
	next int // where the next record goes once buf is full
}

// New returns a ring keeping the last size records at level min and above.
func New(size int, min slog.Level) *Ring {
	return &Ring{min: min, buf: make([]Record, 0, max(size, 1))}
}

// Records returns the kept records, newest first.
func (r *Ring) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, 0, len(r.buf))
	for i := range len(r.buf) {
		// next-1 is the newest once the ring has wrapped; before, the
		// last appended.
		j := (r.next - 1 - i + 2*len(r.buf)) % len(r.buf)
		out = append(out, r.buf[j])
	}
	return out
}

func (r *Ring) add(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, rec)
		r.next = len(r.buf) % cap(r.buf)
		return
	}
	r.buf[r.next] = rec
	r.next = (r.next + 1) % len(r.buf)
}

// Handler passes every record to next and copies those at the ring's level
// into it.
func (r *Ring) Handler(next slog.Handler) slog.Handler {
	return &handler{ring: r, next: next}
}

type handler struct {
	ring   *Ring
	next   slog.Handler
	prefix string // WithAttrs/WithGroup text, rendered once
	group  string // open group, as a key prefix
}

// Enabled: a WARN record reaches the ring even when next would drop it
// (it never does at the levels xmppd offers, but the ring must not depend
// on that).
func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.ring.min || h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= h.ring.min {
		var b strings.Builder
		b.WriteString(h.prefix)
		rec.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.group, a)
			return true
		})
		h.ring.add(Record{Time: rec.Time, Level: rec.Level, Message: rec.Message, Attrs: strings.TrimSpace(b.String())})
	}
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range attrs {
		appendAttr(&b, h.group, a)
	}
	return &handler{ring: h.ring, next: h.next.WithAttrs(attrs), prefix: b.String(), group: h.group}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{ring: h.ring, next: h.next.WithGroup(name), prefix: h.prefix, group: h.group + name + "."}
}

func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range v.Group() {
			appendAttr(b, g, ga)
		}
		return
	}
	if a.Key == "" {
		return
	}
	fmt.Fprintf(b, " %s%s=%s", group, a.Key, quote(v.String()))
}

// quote quotes values with spaces or quotes, as slog's text handler does,
// and bounds them: a record is shown, not archived.
func quote(s string) string {
	const maxValue = 512
	if len(s) > maxValue {
		s = s[:maxValue] + "…"
	}
	if s == "" || strings.ContainsAny(s, " \"=\n\t") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
