package module

import (
	"context"
	"testing"
	"time"
)

type countFlusher struct{ n int }

func (f *countFlusher) Flush() { f.n++ }

// timedFlusher records the time FlushAt gave it (zero: Flush was called).
type timedFlusher struct {
	countFlusher
	at []time.Time
}

func (f *timedFlusher) Flush()                { f.at = append(f.at, time.Time{}); f.n++ }
func (f *timedFlusher) FlushAt(now time.Time) { f.at = append(f.at, now); f.n++ }

// TestBatchFlushAt: the reader's clock reading reaches the sessions that
// take one, the others are flushed as by Flush, and Flush passes none.
func TestBatchFlushAt(t *testing.T) {
	var b Batch
	plain, timed := &countFlusher{}, &timedFlusher{}
	now := time.Unix(1700000000, 0)
	b.Open()
	b.Add(plain)
	b.Add(timed)
	b.FlushAt(now)
	if plain.n != 1 || len(timed.at) != 1 || !timed.at[0].Equal(now) {
		t.Fatalf("FlushAt: plain flushed %d times, timed got %v", plain.n, timed.at)
	}
	b.Open()
	b.Add(timed)
	b.Flush()
	if len(timed.at) != 2 || !timed.at[1].IsZero() {
		t.Fatalf("Flush passed a time: %v", timed.at)
	}
}

func TestBatch(t *testing.T) {
	var b Batch
	a, c := &countFlusher{}, &countFlusher{}
	if b.Add(a) {
		t.Fatal("a batch nobody opened took a session: its output would wait for no one")
	}
	b.Open()
	if !b.Add(a) || !b.Add(c) {
		t.Fatal("an open batch refused a session")
	}
	b.Flush()
	if a.n != 1 || c.n != 1 {
		t.Fatalf("flushed %d and %d times, want once each", a.n, c.n)
	}
	if b.Add(a) {
		t.Fatal("Flush left the batch open")
	}
	b.Flush()
	if a.n != 1 {
		t.Fatal("a second Flush flushed again what the first did")
	}
	if BatchFrom(context.Background()) != nil || BatchFrom(WithBatch(context.Background(), &b)) != &b {
		t.Fatal("context round trip")
	}
}
