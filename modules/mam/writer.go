package mam

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/xmppd/xmppd/storage"
)

const (
	// writerQueue bounds the messages waiting for the database. When it
	// is full the message path waits (back-pressure on the senders)
	// rather than memory growing or messages going unarchived.
	writerQueue = 4096
	// writerBatch is the most messages one transaction takes.
	writerBatch = 256
)

// writer appends archived messages in batches from one goroutine: the
// message path only queues (no database round trip per message), and a
// busy server pays one commit per batch instead of one per message.
// Order is kept: one FIFO, one writer.
//
// The cost: a message is delivered before its archive copy is durable; a
// crash loses what is queued (at most one batch in flight plus the
// queue). Queries first wait for everything queued before them (flush),
// so a client always finds the messages it was sent.
type writer struct {
	store storage.Archive
	log   *slog.Logger
	ch    chan writeReq
	done  chan struct{}

	// mu guards closed: hooks may still run while the module stops
	// (StopAll calls Stop before it removes the hooks), and a send on
	// the closed channel would panic.
	mu     sync.RWMutex
	closed bool
}

// writeReq is one message to append, or (entry.Archive == "") a barrier
// whose channel is closed once everything queued before it is written.
type writeReq struct {
	entry   storage.ArchiveEntry
	barrier chan struct{}
}

func newWriter(store storage.Archive, log *slog.Logger) *writer {
	w := &writer{store: store, log: log, ch: make(chan writeReq, writerQueue), done: make(chan struct{})}
	go w.run()
	return w
}

// append queues e (with its ID set) for writing; false once closed.
func (w *writer) append(e storage.ArchiveEntry) bool {
	return w.send(writeReq{entry: e}, nil)
}

// send queues r unless the writer is closed or ctx (if any) ends first.
// Holding the read lock while blocked is safe: run drains the queue
// without the lock.
func (w *writer) send(r writeReq, ctx context.Context) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	if ctx == nil {
		w.ch <- r
		return true
	}
	select {
	case w.ch <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// flush waits until everything queued before the call is written (or
// failed and was logged), or ctx ends.
func (w *writer) flush(ctx context.Context) error {
	b := make(chan struct{})
	if !w.send(writeReq{barrier: b}, ctx) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return nil // closed: everything is written
	}
	select {
	case <-b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close writes what is queued and stops the goroutine. Nothing may be
// queued after it.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	batch := make([]storage.ArchiveEntry, 0, writerBatch)
	var barriers []chan struct{}
	for req := range w.ch {
		collect := func(r writeReq) {
			if r.barrier != nil {
				barriers = append(barriers, r.barrier)
			} else {
				batch = append(batch, r.entry)
			}
		}
		collect(req)
		// Take what else is already queued, up to a batch: under load
		// batches grow by themselves, idle a message is written alone
		// at once (no timer adds latency).
	drain:
		for len(batch) < writerBatch {
			select {
			case r, ok := <-w.ch:
				if !ok {
					break drain
				}
				collect(r)
			default:
				break drain
			}
		}
		w.write(batch)
		for _, b := range barriers {
			close(b)
		}
		batch, barriers = batch[:0], barriers[:0]
	}
}

// write appends one batch; if the batch fails (a database error), each
// message is tried alone so one bad entry does not lose the others.
func (w *writer) write(batch []storage.ArchiveEntry) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := w.store.AppendBatch(ctx, batch)
	if err == nil {
		return
	}
	if len(batch) == 1 {
		w.log.Error("archive message", "archive", batch[0].Archive, "err", err)
		return
	}
	w.log.Warn("archive batch failed, writing one by one", "messages", len(batch), "err", err)
	for _, e := range batch {
		if _, err := w.store.Append(ctx, e.Archive, e.Message); err != nil {
			w.log.Error("archive message", "archive", e.Archive, "err", err)
		}
	}
}
