package storage_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
)

func BenchmarkAccountExists(b *testing.B) {
	db, err := sqldb.Open(context.Background(), "sqlite", filepath.Join(b.TempDir(), "x.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, c := range []struct {
		name string
		s    storage.Accounts
	}{{"raw", db}, {"counted", storage.CountFailures(db, func(string) {})}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.s.AccountExists(ctx, "localhost", "alice")
			}
		})
	}
}
