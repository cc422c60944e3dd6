package sqldb_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/xmppd/xmppd/storage"
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
