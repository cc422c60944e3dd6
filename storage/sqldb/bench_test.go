package sqldb_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// benchAccounts is large enough that lookups go through the B-tree rather
// than one cached page.
const benchAccounts = 10_000

func benchSetup(b *testing.B, be backend) storage.Accounts {
	db := openNew(b, be)
	ctx := b.Context()
	// One transaction for the whole fill: 10k autocommit inserts with a
	// WAL fsync each would dominate the benchmark's wall time.
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	key := make([]byte, 32)
	for i := range benchAccounts {
		u := fmt.Sprintf("user%05d", i)
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (domain, username) VALUES ($1, $2)`, "example.org", u); err != nil {
			b.Fatal(err)
		}
		for _, h := range []string{"SHA-1", "SHA-256", "SHA-512"} {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO credentials (domain, username, hash, salt, iterations, stored_key, server_key) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				"example.org", u, h, key[:16], 4096, key, key); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkCredentialLookup measures what every SCRAM login costs the
// store: one Credential call for a random existing account.
func BenchmarkCredentialLookup(b *testing.B) {
	backends := []struct {
		name string
		get  func(testing.TB) backend
	}{
		{"SQLite", func(testing.TB) backend { return sqliteBackend() }},
		{"PostgreSQL", postgresBackend}, // skips without XMPPD_TEST_POSTGRES_DSN
	}
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			s := benchSetup(b, bk.get(b))
			ctx := b.Context()
			b.Run("Serial", func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				b.ReportAllocs()
				for b.Loop() {
					u := fmt.Sprintf("user%05d", r.IntN(benchAccounts))
					if _, err := s.Credential(ctx, "example.org", u, "SHA-256"); err != nil {
						b.Fatal(err)
					}
				}
			})
			// Parallel shows whether readers really run side by side
			// (SQLite: the reader pool beside the single writer).
			b.Run("Parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					r := rand.New(rand.NewPCG(rand.Uint64(), 3))
					for pb.Next() {
						u := fmt.Sprintf("user%05d", r.IntN(benchAccounts))
						if _, err := s.Credential(ctx, "example.org", u, "SHA-256"); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// benchArchiveMessages is the size of the one archive the archive
// benchmark pages through; a fifth as many messages of 200 other archives
// sit beside it in the same table.
const benchArchiveMessages = 100_000

func benchArchiveSetup(b *testing.B, be backend) (*sqldb.DB, []string) {
	db := openNew(b, be)
	ctx := b.Context()
	stanza := []byte(`<message xmlns='jabber:client' from='bob@example.org/phone' to='alice@example.org' type='chat' id='x'><body>Hello there, this is a message of some ordinary length.</body></message>`)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]string, 0, benchArchiveMessages)
	// Batches of 1,000: one transaction each, so the fill takes seconds.
	var batch []storage.ArchiveEntry
	for i := 0; len(ids) < benchArchiveMessages; i++ {
		// The other archives' messages are interleaved in time with
		// alice's, as on a live server.
		archive, with := "alice@example.org", fmt.Sprintf("peer%02d@example.org", i%20)
		if i%6 == 5 {
			archive = fmt.Sprintf("user%03d@example.org", i%200)
		} else if i%1200 == 0 {
			// 1 in 1,000 of alice's: a contact she rarely writes to.
			with = "rare@example.org"
		}
		id := fmt.Sprintf("id%07d", i)
		batch = append(batch, storage.ArchiveEntry{Archive: archive, Message: storage.ArchivedMessage{
			ID: id, With: with, Time: t0.Add(time.Duration(i) * time.Second), Stanza: stanza}})
		if archive == "alice@example.org" {
			ids = append(ids, id)
		}
		if len(batch) == 1000 || len(ids) == benchArchiveMessages {
			if err := db.AppendBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, err := db.SQL().ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return db, ids
}

// BenchmarkArchivePage measures one MAM query page of 50 (items, the RSM
// count and the complete flag) over an archive of 100,000 messages: the
// first page, the last page (what clients fetch on login), a page in the
// middle after an RSM cursor, and the first page of a 'with' filter: a
// peer of 5,000 of the messages, the same from a start time in the middle
// (no stored count for it), and a rare peer (100 of the messages).
func BenchmarkArchivePage(b *testing.B) {
	backends := []struct {
		name string
		get  func(testing.TB) backend
	}{
		{"SQLite", func(testing.TB) backend { return sqliteBackend() }},
		{"PostgreSQL", postgresBackend}, // skips without XMPPD_TEST_POSTGRES_DSN
	}
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			db, ids := benchArchiveSetup(b, bk.get(b))
			ctx := b.Context()
			for _, c := range []struct {
				name string
				q    storage.ArchiveQuery
			}{
				{"First", storage.ArchiveQuery{Max: 50}},
				{"Last", storage.ArchiveQuery{Max: 50, Last: true}},
				{"After", storage.ArchiveQuery{Max: 50, AfterID: ids[len(ids)/2]}},
				{"With", storage.ArchiveQuery{Max: 50, With: "peer07@example.org"}},
				{"WithStart", storage.ArchiveQuery{Max: 50, With: "peer07@example.org", Start: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}},
				{"WithRare", storage.ArchiveQuery{Max: 50, With: "rare@example.org"}},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						p, err := db.QueryArchive(ctx, "alice@example.org", c.q)
						if err != nil {
							b.Fatal(err)
						}
						if len(p.Items) != 50 || p.Count == 0 {
							b.Fatalf("page of %d items, count %d", len(p.Items), p.Count)
						}
					}
				})
			}
		})
	}
}

// BenchmarkArchiveAppend measures what archiving costs per message beside
// 100,000 stored messages: one Append (a commit each), and AppendBatch of
// 64 (one commit per 64; ns/op is still per message).
func BenchmarkArchiveAppend(b *testing.B) {
	backends := []struct {
		name string
		get  func(testing.TB) backend
	}{
		{"SQLite", func(testing.TB) backend { return sqliteBackend() }},
		{"PostgreSQL", postgresBackend}, // skips without XMPPD_TEST_POSTGRES_DSN
	}
	m := storage.ArchivedMessage{With: "peer01@example.org", Stanza: []byte(`<message xmlns='jabber:client' from='bob@example.org/phone' to='alice@example.org' type='chat' id='x'><body>Hello there, this is a message of some ordinary length.</body></message>`)}
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			db, _ := benchArchiveSetup(b, bk.get(b))
			ctx := b.Context()
			b.Run("One", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m.Time = time.Now()
					if _, err := db.Append(ctx, "alice@example.org", m); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Batch64", func(b *testing.B) {
				b.ReportAllocs()
				batch := make([]storage.ArchiveEntry, 64)
				for i := 0; i < b.N; i += len(batch) {
					for j := range batch {
						batch[j] = storage.ArchiveEntry{Archive: "alice@example.org", Message: m}
						batch[j].Message.Time = time.Now()
					}
					if err := db.AppendBatch(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
			})
			// What a busy server writes: batches spread over 1,000
			// archives (each chat message goes to two); the mam writer
			// takes what one write_interval brings, up to 4,096.
			for _, size := range []int{256, 4096} {
				b.Run(fmt.Sprintf("Batch%dSpread", size), func(b *testing.B) {
					b.ReportAllocs()
					archives := make([]string, 1000)
					for i := range archives {
						archives[i] = fmt.Sprintf("u%d@example.org", i)
					}
					batch := make([]storage.ArchiveEntry, size)
					k := 0
					for i := 0; i < b.N; i += len(batch) {
						for j := range batch {
							batch[j] = storage.ArchiveEntry{Archive: archives[k%len(archives)], Message: m}
							batch[j].Message.With = archives[(k+1)%len(archives)]
							batch[j].Message.Time = time.Now()
							k++
						}
						if err := db.AppendBatch(ctx, batch); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkLoginReads measures what a login and its logout cost the store
// beside the credential: the reads at bind and initial presence (roster,
// archive preferences, the vCard for the avatar hash, the first offline
// page, the block list; all empty, as for most accounts) and the
// last-activity write at the end.
func BenchmarkLoginReads(b *testing.B) {
	backends := []struct {
		name string
		get  func(testing.TB) backend
	}{
		{"SQLite", func(testing.TB) backend { return sqliteBackend() }},
		{"PostgreSQL", postgresBackend}, // skips without XMPPD_TEST_POSTGRES_DSN
	}
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			db := benchSetup(b, bk.get(b)).(*sqldb.DB)
			ctx := b.Context()
			r := rand.New(rand.NewPCG(1, 2))
			at := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				u := fmt.Sprintf("user%05d", r.IntN(benchAccounts))
				if _, _, err := db.Roster(ctx, "example.org", u); err != nil && !errors.Is(err, storage.ErrNotFound) {
					b.Fatal(err)
				}
				if _, err := db.ArchivePrefs(ctx, u+"@example.org"); !errors.Is(err, storage.ErrNotFound) {
					b.Fatal(err)
				}
				if _, err := db.GetPrivate(ctx, "example.org", u, "vcard-temp vCard"); !errors.Is(err, storage.ErrNotFound) {
					b.Fatal(err)
				}
				if _, err := db.OfflinePage(ctx, "example.org", u, 0, 100); err != nil {
					b.Fatal(err)
				}
				if _, err := db.BlockList(ctx, "example.org", u); err != nil {
					b.Fatal(err)
				}
				if err := db.SetLastActivity(ctx, "example.org", u, at, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
