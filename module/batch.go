package module

import (
	"context"
	"sync"
	"time"

	"github.com/xmppd/xmppd/xml"
)

// Batch collects the sessions whose output one reader's stanzas queued, so
// that reader writes it (Flush) just before it waits for more input: a
// burst of stanzas to one session leaves in one write, and no writer
// goroutine is started and woken per burst (docs/performance.md). The
// reader opens the batch when it has input to handle and flushes it before
// waiting; Add is refused while the batch is flushed, so a goroutine that
// got hold of the context elsewhere never leaves output waiting for a
// reader that sleeps. The price: output batched for a session waits for
// the rest of that reader's input to be handled, so a handler that blocks
// (a slow storage call) delays it by as much.
type Batch struct {
	mu   sync.Mutex
	open bool
	list []Flusher
}

// A Flusher writes its queued output without blocking.
type Flusher interface{ Flush() }

// BatchDeliverer is a Session that can queue output into a Batch.
type BatchDeliverer interface {
	// DeliverBatch is Deliver, except that the write may be left to
	// b's Flush.
	DeliverBatch(el *xml.Element, b *Batch) bool
}

// Open lets Add collect sessions until the next Flush.
func (b *Batch) Open() {
	b.mu.Lock()
	b.open = true
	b.mu.Unlock()
}

// Add puts f in the batch; false when the batch is not open (the caller
// writes by itself).
func (b *Batch) Add(f Flusher) bool {
	b.mu.Lock()
	ok := b.open
	if ok {
		b.list = append(b.list, f)
	}
	b.mu.Unlock()
	return ok
}

// A TimedFlusher is a Flusher that can take the time from its caller
// instead of reading the clock (FlushAt).
type TimedFlusher interface {
	Flusher
	FlushAt(now time.Time)
}

// Flush closes the batch and flushes what it collected. Open and Flush are
// the owning reader's alone; while closed nobody adds, so the list is
// flushed in place.
func (b *Batch) Flush() { b.FlushAt(time.Time{}) }

// FlushAt is Flush for a reader that has just read the clock: now (taken
// before the first write, so a few microseconds old by the last) goes to
// the TimedFlushers, which then need not read it again; a zero now is
// Flush. On the paced chat path that is one clock read per message
// fewer (the write deadline's check, docs/performance.md).
func (b *Batch) FlushAt(now time.Time) {
	timed := !now.IsZero()
	b.mu.Lock()
	b.open = false
	list := b.list
	b.mu.Unlock()
	for i, f := range list {
		if tf, ok := f.(TimedFlusher); ok && timed {
			tf.FlushAt(now)
		} else {
			f.Flush()
		}
		list[i] = nil
	}
	if cap(list) > 64 {
		list = nil // a big fan-out's list is not kept
	}
	b.mu.Lock()
	b.list = list[:0]
	b.mu.Unlock()
}

type batchKey struct{}

// WithBatch returns a context carrying b (for the reader that owns it).
func WithBatch(ctx context.Context, b *Batch) context.Context {
	return context.WithValue(ctx, batchKey{}, b)
}

// BatchFrom returns the batch ctx carries, or nil.
func BatchFrom(ctx context.Context) *Batch {
	b, _ := ctx.Value(batchKey{}).(*Batch)
	return b
}
