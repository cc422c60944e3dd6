//go:build unix

package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
)

// BenchmarkScratchArchiveSchema measures a schema xmppd does not use (issue
// 18 target 1, candidate (a)): the archive's two random-leaf indexes keyed
// by the archive's and the peer's JID text (as archive_messages is) against
// keyed by integers (a JID table, ids cached in memory), on scratch tables
// beside the real schema, through the writer connection (its pragmas) of a
// real SQLite file, in the writer's shape: 500 pairs, two rows per
// message, batches of n, counts per archive per batch. SCRATCH_WARM sets
// the rows written before the timer (80,000 by default: 80 per archive;
// the larger, the more each archive's index range spans its own leaves,
// as in a long-lived archive), SCRATCH_VARIANTS the order ("text int").
// cpu-µs/row is process CPU. Figures: docs/performance.md, archive fourth
// pass.
//
//	SCRATCH_WARM=400000 go test -run XXX -bench ScratchArchiveSchema -benchtime=40000x ./storage/sqldb/
func BenchmarkScratchArchiveSchema(b *testing.B) {
	warm, _ := strconv.Atoi(os.Getenv("SCRATCH_WARM"))
	if warm == 0 {
		warm = 80000
	}
	variants := strings.Fields(os.Getenv("SCRATCH_VARIANTS"))
	if len(variants) == 0 {
		variants = []string{"text", "int"}
	}
	stanza := []byte(`<message xmlns="jabber:client" from="u123@localhost/load" to="u124@localhost" type="chat" id="m-12345678"><body>` +
		strings.Repeat("x", 120) + `</body></message>`)
	for _, n := range []int{200, 600, 1200} {
		for _, v := range variants {
			b.Run(fmt.Sprintf("%s/%d", v, n), func(b *testing.B) {
				ctx := context.Background()
				db, err := Open(ctx, "sqlite", filepath.Join(b.TempDir(), "x.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				intKeys := v == "int"
				schema := `CREATE TABLE s_msgs (seq INTEGER PRIMARY KEY AUTOINCREMENT, archive TEXT NOT NULL, id TEXT NOT NULL UNIQUE, with_jid TEXT NOT NULL, time_ms INTEGER NOT NULL, stanza BLOB NOT NULL);
CREATE INDEX s_order ON s_msgs (archive, time_ms, seq);
CREATE INDEX s_with ON s_msgs (archive, with_jid, time_ms, seq);
CREATE TABLE s_counts (archive TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;`
				if intKeys {
					schema = `CREATE TABLE s_archives (aid INTEGER PRIMARY KEY, jid TEXT NOT NULL UNIQUE, n INTEGER NOT NULL DEFAULT 0);
CREATE TABLE s_msgs (seq INTEGER PRIMARY KEY AUTOINCREMENT, archive INTEGER NOT NULL, id TEXT NOT NULL UNIQUE, with_id INTEGER NOT NULL, with_jid TEXT NOT NULL, time_ms INTEGER NOT NULL, stanza BLOB NOT NULL);
CREATE INDEX s_order ON s_msgs (archive, time_ms, seq);
CREATE INDEX s_with ON s_msgs (archive, with_id, time_ms, seq);`
				}
				for _, s := range strings.Split(schema, ";\n") {
					if _, err := db.write.ExecContext(ctx, s); err != nil {
						b.Fatal(s, err)
					}
				}
				ids := map[string]int64{}
				if intKeys {
					for i := 0; i < 1000; i++ {
						j := fmt.Sprintf("u%d@localhost", i)
						var id int64
						if err := db.write.QueryRowContext(ctx, `INSERT INTO s_archives (jid) VALUES (?) RETURNING aid`, j).Scan(&id); err != nil {
							b.Fatal(err)
						}
						ids[j] = id
					}
				}
				const rowsPer = 100
				cols := 5
				ins := `INSERT OR ROLLBACK INTO s_msgs (archive, id, with_jid, time_ms, stanza) VALUES `
				if intKeys {
					cols = 6
					ins = `INSERT OR ROLLBACK INTO s_msgs (archive, id, with_id, with_jid, time_ms, stanza) VALUES `
				}
				ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
				stmt, err := db.write.PrepareContext(ctx, ins+strings.TrimSuffix(strings.Repeat(ph+", ", rowsPer), ", "))
				if err != nil {
					b.Fatal(err)
				}
				at := time.Now()
				msg := 0
				args := make([]any, 0, cols*rowsPer)
				fill := func(rows int) {
					for rows > 0 {
						es := make([]storage.ArchiveEntry, 0, n)
						for len(es) < n {
							p := msg % 500
							x, y := fmt.Sprintf("u%d@localhost", 2*p), fmt.Sprintf("u%d@localhost", 2*p+1)
							at = at.Add(50 * time.Microsecond)
							es = append(es,
								storage.ArchiveEntry{Archive: x, Message: storage.ArchivedMessage{ID: storage.NewArchiveID(at), With: y, Time: at, Stanza: stanza}},
								storage.ArchiveEntry{Archive: y, Message: storage.ArchivedMessage{ID: storage.NewArchiveID(at), With: x, Time: at, Stanza: stanza}})
							msg++
						}
						counts := map[string]int{}
						for _, e := range es {
							counts[e.Archive]++
						}
						err := db.inTx(ctx, func(tx *sql.Tx) error {
							st := tx.StmtContext(ctx, stmt)
							for i := 0; i < len(es); i += rowsPer {
								args = args[:0]
								for _, e := range es[i:min(i+rowsPer, len(es))] {
									m := e.Message
									if intKeys {
										args = append(args, ids[e.Archive], m.ID, ids[m.With], m.With, m.Time.UnixMilli(), m.Stanza)
									} else {
										args = append(args, e.Archive, m.ID, m.With, m.Time.UnixMilli(), m.Stanza)
									}
								}
								if len(args) < cols*rowsPer {
									b.Fatal("batch not a multiple of 100")
								}
								if _, err := st.ExecContext(ctx, args...); err != nil {
									return err
								}
							}
							for a, c := range counts {
								var err error
								if intKeys {
									_, err = tx.ExecContext(ctx, `UPDATE s_archives SET n = n + ? WHERE aid = ?`, c, ids[a])
								} else {
									_, err = tx.ExecContext(ctx, `INSERT INTO s_counts (archive, n) VALUES (?, ?) ON CONFLICT (archive) DO UPDATE SET n = n + excluded.n`, a, c)
								}
								if err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							b.Fatal(err)
						}
						rows -= len(es)
					}
				}
				fill(warm)
				b.ResetTimer()
				c0 := scratchCPU()
				fill(b.N)
				b.ReportMetric(float64(scratchCPU()-c0)/float64(b.N)/1e3, "cpu-µs/row")
			})
		}
	}
}

func scratchCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
