package mam

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xmppd/xmppd/storage"
)

const (
	// writerQueue bounds the messages waiting for the database. When it
	// is full the message path waits (back-pressure on the senders)
	// rather than memory growing or messages going unarchived; it holds
	// a few full batches, so the writer never runs dry under load.
	writerQueue = 16384
	// writerBatch is the most messages one transaction takes: the whole
	// queue. It only matters when the database is behind (otherwise a
	// batch is what one write interval brings), and then the larger the
	// batch the cheaper each row: with 1,000 archives active, rows of one
	// archive share index leaf pages only within a batch, and 16,384 cost
	// a third less CPU per row than 4,096 (docs/performance.md, issue 18).
	writerBatch = writerQueue
	// writerWaitMax bounds how long the message path waits for room in a
	// full queue (the database stalled, not merely slower than the
	// messages: then senders wait a batch at a time). Past it the message
	// is delivered without an archive copy: logged and counted, never
	// silently.
	writerWaitMax = 10 * time.Second
)

// writer appends archived messages in batches from one goroutine: the
// message path only queues (no database round trip per message), and a
// busy server pays one commit per batch instead of one per message.
// Order is kept: one FIFO, one writer.
//
// Commits are at least interval apart: after one, the writer collects
// what arrives for the rest of the interval and writes it together. Under
// load a batch is the messages of one interval, which share index pages
// (fewer page writes per row) and a commit; an idle server writes a
// message at once. A flush (a query waiting for what was queued before
// it) does not wait for the interval.
//
// The cost: a message is delivered before its archive copy is committed.
// A message is committed within interval plus two commits (the one in
// progress when it is queued and its own) unless the queue is full; a
// crash loses at most that window (docs/performance.md, "Archive
// durability").
type writer struct {
	store    storage.Archive
	log      *slog.Logger
	interval time.Duration
	ch       chan writeReq
	done     chan struct{}

	// mu guards closed: hooks may still run while the module stops
	// (StopAll calls Stop before it removes the hooks), and a send on
	// the closed channel would panic.
	mu     sync.RWMutex
	closed bool

	// Counted for metrics and logs: appends that found the queue full
	// and waited, appends that gave up after writerWaitMax, and messages
	// the database refused (written alone after their batch failed).
	waited, dropped, failed atomic.Int64
	lastWarn                atomic.Int64 // unix seconds of the last back-pressure warning
}

// writeReq is one message to append, or (entry.Archive == "") a barrier
// whose channel is closed once everything queued before it is written.
type writeReq struct {
	entry   storage.ArchiveEntry
	barrier chan struct{}
}

func newWriter(store storage.Archive, log *slog.Logger, interval time.Duration) *writer {
	w := &writer{store: store, log: log, interval: interval, ch: make(chan writeReq, writerQueue), done: make(chan struct{})}
	go w.run()
	return w
}

// append queues e (with its ID set) for writing. False when it was not
// queued: the writer is closed, or the queue stayed full for
// writerWaitMax (logged and counted).
func (w *writer) append(e storage.ArchiveEntry) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	select {
	case w.ch <- writeReq{entry: e}:
		return true
	default:
	}
	// Full: the database is behind the message rate. Wait (the senders
	// slow down to what it writes), bounded.
	w.waited.Add(1)
	if now := time.Now().Unix(); w.lastWarn.Load() < now-60 && w.lastWarn.Swap(now) < now-60 {
		w.log.Warn("archive queue full: senders wait for the database", "queued", writerQueue, "waits", w.waited.Load())
	}
	t := time.NewTimer(writerWaitMax)
	defer t.Stop()
	select {
	case w.ch <- writeReq{entry: e}:
		return true
	case <-t.C:
		n := w.dropped.Add(1)
		w.log.Error("archive queue full for too long: message not archived", "archive", e.Archive, "wait", writerWaitMax, "dropped", n)
		return false
	}
}

// flush waits until everything queued before the call is written (or
// failed and was logged), or ctx ends. Holding the read lock while
// blocked is safe: run drains the queue without the lock.
func (w *writer) flush(ctx context.Context) error {
	b := make(chan struct{})
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ctx.Err() // closed: everything is written
	}
	select {
	case w.ch <- writeReq{barrier: b}:
	case <-ctx.Done():
	}
	w.mu.RUnlock()
	if err := ctx.Err(); err != nil {
		return err
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
	batch := make([]storage.ArchiveEntry, 0, 256)
	var (
		barriers []chan struct{}
		last     time.Time // end of the last commit
		open     = true
		timer    = time.NewTimer(0)
	)
	<-timer.C
	collect := func(r writeReq) {
		if r.barrier != nil {
			barriers = append(barriers, r.barrier)
		} else {
			batch = append(batch, r.entry)
		}
	}
	for open {
		r, ok := <-w.ch
		if !ok {
			break
		}
		collect(r)
		// Until interval has passed since the last commit, gather what
		// arrives; a flush or a full batch cuts the wait short.
		if wait := w.interval - time.Since(last); wait > 0 && len(barriers) == 0 {
			timer.Reset(wait)
		gather:
			for len(batch) < writerBatch && len(barriers) == 0 {
				select {
				case r, ok := <-w.ch:
					if !ok {
						open = false
						break gather
					}
					collect(r)
				case <-timer.C:
					break gather
				}
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		// Take what else is already queued, up to a batch.
	drain:
		for open && len(batch) < writerBatch {
			select {
			case r, ok := <-w.ch:
				if !ok {
					open = false
					break drain
				}
				collect(r)
			default:
				break drain
			}
		}
		w.write(batch)
		last = time.Now()
		for _, b := range barriers {
			close(b)
		}
		clear(batch) // the stanzas, for the collector
		batch, barriers = batch[:0], barriers[:0]
	}
	// Closed while gathering: what is left in the channel.
	for r := range w.ch {
		collect(r)
		if len(batch) == writerBatch {
			w.write(batch)
			batch = batch[:0]
		}
	}
	w.write(batch)
	for _, b := range barriers {
		close(b)
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
		w.failed.Add(1)
		w.log.Error("archive message", "archive", batch[0].Archive, "err", err)
		return
	}
	w.log.Warn("archive batch failed, writing one by one", "messages", len(batch), "err", err)
	for _, e := range batch {
		if _, err := w.store.Append(ctx, e.Archive, e.Message); err != nil {
			w.failed.Add(1)
			w.log.Error("archive message", "archive", e.Archive, "err", err)
		}
	}
}

// collectors reports the writer's queue and counters (Prometheus).
func (w *writer) collectors() []prometheus.Collector {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "xmppd", Subsystem: "archive", Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "xmppd", Subsystem: "archive", Name: "queued",
			Help: "Archive entries (XEP-0313) waiting for the database writer."},
			func() float64 { return float64(len(w.ch)) }),
		counter("queue_waits_total", "Archived messages whose sender waited for room in the full archive queue (the database behind the message rate).", &w.waited),
		counter("dropped_total", "Messages delivered without an archive copy: the archive queue stayed full for 10 s.", &w.dropped),
		counter("write_failures_total", "Archive entries the database refused (logged).", &w.failed),
	}
}
