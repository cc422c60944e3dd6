package module

import (
	"context"
	"testing"
)

type countFlusher struct{ n int }

func (f *countFlusher) Flush() { f.n++ }

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
