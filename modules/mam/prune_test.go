package mam

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// TestPruneRetention: one pass deletes every message older than the
// retention, in more than one batch, from every archive, and keeps the
// rest.
func TestPruneRetention(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	old := pruneBatch + 10 // more than one batch
	var batch []storage.ArchiveEntry
	for i := range old {
		batch = append(batch, storage.ArchiveEntry{Archive: []string{"a@localhost", "b@localhost"}[i%2],
			Message: storage.ArchivedMessage{Time: now.Add(-48 * time.Hour), Stanza: []byte("<message/>")}})
	}
	batch = append(batch, storage.ArchiveEntry{Archive: "a@localhost",
		Message: storage.ArchivedMessage{Time: now.Add(-time.Hour), Stanza: []byte("<message/>")}})
	if err := db.AppendBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	m := &mod{
		store: db,
		cfg:   Config{Retention: module.Duration{Duration: 24 * time.Hour}},
		log:   slog.New(slog.DiscardHandler),
		now:   func() time.Time { return now },
		dirty: map[string]struct{}{},
	}
	m.prune(ctx)
	for archive, want := range map[string]int{"a@localhost": 1, "b@localhost": 0} {
		p, err := db.QueryArchive(ctx, archive, storage.ArchiveQuery{Max: 10})
		if err != nil {
			t.Fatal(err)
		}
		if p.Count != want || len(p.Items) != want {
			t.Errorf("%s: %d messages left (count %d), want %d", archive, len(p.Items), p.Count, want)
		}
	}
}
