//go:build unix

package sqldb_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
)

// BenchmarkArchiveWriterShape is the mam writer under chat load, in
// storage alone: AppendBatch of batches of n rows over 1,000 archives
// (500 pairs, each message in the sender's and the recipient's archive),
// after 80,000 rows of warm-up. One op is one row; cpu-µs/row is the
// process's CPU (user + system, getrusage), the figure issue 18 compares,
// since the wall time on a shared machine is mostly waiting. Per-row cost
// falls steeply with the batch size: rows of one archive share index
// leaves only within a batch (docs/performance.md, issue 18 second pass).
//
//	go test -run XXX -bench ArchiveWriterShape -benchtime=80000x ./storage/sqldb/
func BenchmarkArchiveWriterShape(b *testing.B) {
	archiveWriterShape(b, sqliteBackend(), []int{256, 512, 1024, 2048, 4096, 16384})
}

// BenchmarkArchiveWriterShapePostgres is the same on PostgreSQL (with
// XMPPD_TEST_POSTGRES_DSN set). cpu-µs/row is then xmppd's side only
// (encoding, the driver, the protocol): the server's backend is another
// process.
func BenchmarkArchiveWriterShapePostgres(b *testing.B) {
	archiveWriterShape(b, postgresBackend(b), []int{256, 1024, 4096})
}

func archiveWriterShape(b *testing.B, be backend, sizes []int) {
	stanza := []byte(`<message xmlns="jabber:client" from="u123@localhost/load" to="u124@localhost" type="chat" id="m-12345678"><body>` +
		strings.Repeat("x", 120) + `</body></message>`)
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			db := openNew(b, be)
			ctx := b.Context()
			at := time.Now()
			msg := 0
			fill := func(rows int) {
				for rows > 0 {
					es := make([]storage.ArchiveEntry, 0, n)
					for len(es) < n {
						p := msg % 500
						x, y := fmt.Sprintf("u%d@localhost", 2*p), fmt.Sprintf("u%d@localhost", 2*p+1)
						at = at.Add(50 * time.Microsecond)
						es = append(es,
							storage.ArchiveEntry{Archive: x, Message: storage.ArchivedMessage{With: y, Time: at, Stanza: stanza}},
							storage.ArchiveEntry{Archive: y, Message: storage.ArchivedMessage{With: x, Time: at, Stanza: stanza}})
						msg++
					}
					if err := db.AppendBatch(ctx, es); err != nil {
						b.Fatal(err)
					}
					rows -= len(es)
				}
			}
			fill(80000)
			b.ReportAllocs()
			b.ResetTimer()
			c0 := processCPU()
			fill(b.N)
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N)/1e3, "cpu-µs/row")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
