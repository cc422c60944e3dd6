package storage

import (
	"context"
	"hash/maphash"
	"sync/atomic"
)

// RosterWatch is a Rosters that counts the changes made through it, so
// that a caller which read a roster can tell, without reading it again,
// that nothing changed it since (modules/presence at logout). It only sees
// the writes of this process through it: a cluster's other nodes, or
// another process on the same database, write behind its back.
type RosterWatch struct {
	Rosters
	seed maphash.Seed
	// Counters by a hash of the account: a change to one account moves
	// its bucket, and so also tells the others in it that something may
	// have changed, which costs them a read, never a missed change.
	buckets [256]atomic.Uint64
}

// WatchRosters returns r counting its changes.
func WatchRosters(r Rosters) *RosterWatch {
	return &RosterWatch{Rosters: r, seed: maphash.MakeSeed()}
}

func (w *RosterWatch) bucket(domain, username string) *atomic.Uint64 {
	var h maphash.Hash
	h.SetSeed(w.seed)
	h.WriteString(domain)
	h.WriteByte('@')
	h.WriteString(username)
	return &w.buckets[h.Sum64()%uint64(len(w.buckets))]
}

// Changes is a count that moves whenever the roster of the account may
// have changed through w: read before a Roster call and again later, the
// same value means the roster read is still what is stored.
func (w *RosterWatch) Changes(domain, username string) uint64 {
	return w.bucket(domain, username).Load()
}

// SetRosterItem implements Rosters; the count moves after the write, so
// that a reader who took the count before reading either read the change
// or sees the count moved.
func (w *RosterWatch) SetRosterItem(ctx context.Context, domain, username string, item RosterItem) (string, error) {
	defer w.bucket(domain, username).Add(1)
	return w.Rosters.SetRosterItem(ctx, domain, username, item)
}

// DeleteRosterItem implements Rosters, moving the count like SetRosterItem.
func (w *RosterWatch) DeleteRosterItem(ctx context.Context, domain, username, jid string) (string, error) {
	defer w.bucket(domain, username).Add(1)
	return w.Rosters.DeleteRosterItem(ctx, domain, username, jid)
}
