package muc

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// countingArchive counts the transactions the room archive writer asks
// of a real SQLite archive.
type countingArchive struct {
	*sqldb.DB
	appends, batches atomic.Int64
	// gate holds the first Append until it is closed: the writer is
	// busy while the test queues the rest, whatever the machine's speed.
	gate chan struct{}
}

func (c *countingArchive) Append(ctx context.Context, a string, m storage.ArchivedMessage) (string, error) {
	if c.appends.Add(1) == 1 {
		<-c.gate
	}
	return c.DB.Append(ctx, a, m)
}

func (c *countingArchive) AppendBatch(ctx context.Context, es []storage.ArchiveEntry) error {
	c.batches.Add(1)
	return c.DB.AppendBatch(ctx, es)
}

// TestArchiveWriterBatches: room messages queued faster than one commit
// each are committed together (at most one commit per archiveInterval),
// in the order queued, and a delete or a barrier in between still sees
// exactly what was queued before it.
func TestArchiveWriterBatches(t *testing.T) {
	db, err := sqldb.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ca := &countingArchive{DB: db, gate: make(chan struct{})}
	m := &mod{log: slog.New(slog.DiscardHandler), archive: ca,
		archQ: make(chan archiveJob, archiveQueue), archStopped: make(chan struct{}), archInterval: archiveInterval}
	go m.archiveLoop()
	stopped := false
	defer func() {
		if !stopped {
			m.stopArchive()
		}
	}()
	ctx := context.Background()
	at := time.Now()
	msg := func(room string, i int) archiveJob {
		return archiveJob{room: room, msg: storage.ArchivedMessage{
			ID: storage.NewArchiveID(at), With: "r@conference.localhost/n", Time: at,
			Stanza: fmt.Appendf(nil, "<message type='groupchat'><body>%d</body></message>", i)}}
	}
	bodies := func(room string) string {
		p, err := db.QueryArchive(ctx, room, storage.ArchiveQuery{Max: 1000})
		if err != nil {
			t.Fatal(err)
		}
		s := ""
		for _, it := range p.Items {
			s += string(it.Stanza[len("<message type='groupchat'><body>"):len(it.Stanza)-len("</body></message>")]) + ","
		}
		return s
	}
	want := ""
	for i := range 300 {
		m.enqueue(ctx, msg("a@conference.localhost", i))
		want += fmt.Sprint(i) + ","
	}
	// b gets 5 messages, is dropped, then gets 2: only those 2 remain.
	for i := range 5 {
		m.enqueue(ctx, msg("b@conference.localhost", i))
	}
	m.enqueue(ctx, archiveJob{room: "b@conference.localhost", drop: true})
	m.enqueue(ctx, msg("b@conference.localhost", 5))
	m.enqueue(ctx, msg("b@conference.localhost", 6))
	close(ca.gate)
	m.flushArchive(ctx)
	if got := bodies("a@conference.localhost"); got != want {
		t.Fatalf("room a: %s", got)
	}
	if got := bodies("b@conference.localhost"); got != "5,6," {
		t.Fatalf("room b after its drop: %s", got)
	}
	// 307 messages queued while the writer was busy with the first: a
	// few commits, not one each.
	commits := ca.appends.Load() + ca.batches.Load()
	if commits > 20 {
		t.Fatalf("%d commits (%d single, %d batches) for 307 queued messages", commits, ca.appends.Load(), ca.batches.Load())
	}
	// A message queued while the module stops is written before Stop
	// returns.
	m.enqueue(ctx, msg("a@conference.localhost", 300))
	m.stopArchive()
	stopped = true
	if got := bodies("a@conference.localhost"); got != want+"300," {
		t.Fatalf("after stop: %s", got)
	}
	t.Logf("%d single appends, %d batches", ca.appends.Load(), ca.batches.Load())
}
