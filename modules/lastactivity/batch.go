package lastactivity

import (
	"context"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
)

// batchWindow is how long a logout waits to be written with those that
// follow it: one transaction per window instead of one statement and
// commit per logout (3% of the server's CPU in a login burst,
// docs/performance.md). Last activity is informational (XEP-0012 §3): a
// crash loses the logouts of at most this window and the write under way,
// and the account's previous record stands.
const batchWindow = 100 * time.Millisecond

// account keys the records not yet written.
type account struct{ domain, username string }

// queue records a logout for the next batch, starting its writer; once the
// module is stopping, it is written at once.
func (m *mod) queue(r storage.LastActivityRecord) {
	k := account{r.Domain, r.Username}
	m.bmu.Lock()
	if old, ok := m.pending[k]; !ok || !r.At.Before(old.At) {
		m.pending[k] = r
	}
	start := !m.flushing
	m.flushing = true
	m.bmu.Unlock()
	if !start {
		return
	}
	if !m.h.Go(m.writeLoop) {
		// Stopping: no goroutine any more, the caller writes, and
		// what others queued meanwhile (they left it to this writer).
		for m.flush(context.Background()) {
		}
	}
}

// writeLoop writes the pending records a window after the first of them
// arrived, until none are left.
func (m *mod) writeLoop(ctx context.Context) {
	t := time.NewTimer(batchWindow)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			// Stopping: what is pending is written now, not lost.
		}
		if !m.flush(context.WithoutCancel(ctx)) {
			return
		}
		t.Reset(batchWindow)
	}
}

// flush writes the pending records in one batch. It reports whether more
// arrived meanwhile; if not, the writer's place is given up.
func (m *mod) flush(ctx context.Context) (more bool) {
	m.bmu.Lock()
	batch := m.pending
	m.pending = map[account]storage.LastActivityRecord{}
	m.writing = batch
	m.bmu.Unlock()
	if len(batch) > 0 {
		recs := make([]storage.LastActivityRecord, 0, len(batch))
		for _, r := range batch {
			recs = append(recs, r)
		}
		if err := m.store.SetLastActivities(ctx, recs); err != nil {
			m.h.Logger.Error("last activity: store", "accounts", len(recs), "err", err)
		}
	}
	m.bmu.Lock()
	defer m.bmu.Unlock()
	m.writing = nil
	if len(m.pending) > 0 {
		return true
	}
	m.flushing = false
	return false
}

// lookup is the account's last logout: one not yet written if there is
// one, else the stored record.
func (m *mod) lookup(ctx context.Context, acct jid.JID) (time.Time, string, error) {
	k := account{acct.Domain(), acct.Local()}
	m.bmu.Lock()
	r, ok := m.pending[k]
	if !ok {
		r, ok = m.writing[k]
	}
	m.bmu.Unlock()
	if ok {
		return r.At.Truncate(time.Millisecond).UTC(), r.Status, nil
	}
	return m.store.LastActivity(ctx, acct.Domain(), acct.Local())
}

// Stop implements module.Stopper: the goroutines of Go have returned, so
// anything still pending (queued while they wound down) is written here.
func (m *mod) Stop() error {
	m.bmu.Lock()
	left := len(m.pending) > 0 && !m.flushing
	if left {
		m.flushing = true
	}
	m.bmu.Unlock()
	if left {
		for m.flush(context.Background()) {
		}
	}
	return nil
}
