package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.Archive = (*DB)(nil)

// maxArchiveID bounds caller-chosen IDs (storage.ArchivedMessage.ID).
const maxArchiveID = 64

// batchRows is how many rows one INSERT of AppendBatch carries (5
// parameters each, far below both engines' limits: SQLite's default
// SQLITE_MAX_VARIABLE_NUMBER is 32766, PostgreSQL's 65535).
const batchRows = 100

func validArchiveID(id string) bool {
	if id == "" || len(id) > maxArchiveID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Append implements storage.Archive: one message, one transaction (an
// INSERT and the archive's count), nothing read.
func (db *DB) Append(ctx context.Context, archive string, m storage.ArchivedMessage) (string, error) {
	e := []storage.ArchiveEntry{{Archive: archive, Message: m}}
	if err := db.appendEntries(ctx, e); err != nil {
		return "", fmt.Errorf("sqldb: append to archive %s: %w", archive, err)
	}
	return e[0].Message.ID, nil
}

// AppendBatch implements storage.Archive: one transaction for the batch,
// one count upsert per archive in it.
func (db *DB) AppendBatch(ctx context.Context, entries []storage.ArchiveEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := db.appendEntries(ctx, entries); err != nil {
		return fmt.Errorf("sqldb: append batch of %d to archives: %w", len(entries), err)
	}
	return nil
}

// insertArchivedSQLite begins a multi-row INSERT, with OR ROLLBACK: a duplicate id
// rolls back the whole transaction, which AppendBatch does anyway (all or
// none). With the default (ABORT) SQLite must be able to undo one
// statement of a multi-row INSERT inside a transaction, so it copies every
// page the statement changes into a statement journal first: that copying
// was a fifth of the archive writer's CPU.
const insertArchivedSQLite = `INSERT OR ROLLBACK INTO archive_messages (archive, id, with_jid, time_ms, stanza) VALUES `

// appendEntries inserts entries (IDs filled in where empty) and adds them
// to archive_counts, in one transaction. The counts are kept here rather
// than by a trigger per row (migration 00018): one upsert per archive per
// batch instead of one per message.
func (db *DB) appendEntries(ctx context.Context, entries []storage.ArchiveEntry) error {
	for i := range entries {
		m := &entries[i].Message
		if m.ID == "" {
			m.ID = storage.NewArchiveID(m.Time)
		} else if !validArchiveID(m.ID) {
			return fmt.Errorf("invalid id %q", m.ID)
		}
	}
	var (
		archives []string
		counts   = make(map[string]int, min(len(entries), 1024))
	)
	for _, e := range entries {
		if counts[e.Archive] == 0 {
			archives = append(archives, e.Archive)
		}
		counts[e.Archive]++
	}
	// One lock order on the count rows for all writers: two PostgreSQL
	// transactions (say the MUC module's and the writer's) cannot
	// deadlock on them.
	slices.Sort(archives)
	var err error
	if db.dialect == Postgres {
		err = db.appendPostgres(ctx, entries, archives, counts)
	} else {
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			if err := db.insertArchived(ctx, tx, entries); err != nil {
				return err
			}
			return db.addArchiveCounts(ctx, tx, archives, counts)
		})
	}
	if isUniqueViolation(err) {
		err = fmt.Errorf("%w: %w", storage.ErrExists, err)
	}
	return err
}

// appendPostgres writes a batch with COPY (pgx's CopyFrom, binary) and
// the count upserts, in one transaction on one pooled connection, through
// pgx directly: database/sql has no COPY. The rows arrive in slice order,
// so seq (an identity column) keeps it. COPY replaces one INSERT of five
// unnested arrays, whose array encoding (and its growing buffers, then
// copied into the Bind message) cost xmppd more CPU and garbage than the
// rows themselves (docs/performance.md, archive fourth pass).
func (db *DB) appendPostgres(ctx context.Context, entries []storage.ArchiveEntry, archives []string, counts map[string]int) error {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		// After Commit a no-op; otherwise the connection goes back to the
		// pool with no transaction open (or, if ctx ended, pgx closed it
		// and the pool drops it).
		defer tx.Rollback(context.WithoutCancel(ctx))
		if _, err := tx.CopyFrom(ctx, archiveTable, archiveColumns, newArchiveRows(entries)); err != nil {
			return err
		}
		ns := make([]int64, len(archives))
		for i, a := range archives {
			ns[i] = int64(counts[a])
		}
		// One statement for all (unnest of two arrays; each archive
		// once, as ON CONFLICT DO UPDATE requires).
		if _, err := tx.Exec(ctx, `INSERT INTO archive_counts (archive, n)
			SELECT * FROM unnest($1::text[], $2::bigint[])
			ON CONFLICT (archive) DO UPDATE SET n = archive_counts.n + excluded.n`, archives, ns); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

var (
	archiveTable   = pgx.Identifier{"archive_messages"}
	archiveColumns = []string{"archive", "id", "with_jid", "time_ms", "stanza"}
)

// archiveRows is a batch as pgx.CopyFromSource. Values hands out pointers
// into the batch (and into times, filled once), so no row boxes its
// values into fresh interfaces: pgx encodes each row before it asks for
// the next.
type archiveRows struct {
	entries []storage.ArchiveEntry
	times   []int64
	i       int
	vals    [5]any
}

func newArchiveRows(entries []storage.ArchiveEntry) *archiveRows {
	r := &archiveRows{entries: entries, times: make([]int64, len(entries)), i: -1}
	for i, e := range entries {
		r.times[i] = e.Message.Time.UnixMilli()
	}
	return r
}

func (r *archiveRows) Next() bool { r.i++; return r.i < len(r.entries) }

func (r *archiveRows) Values() ([]any, error) {
	e := &r.entries[r.i]
	r.vals = [5]any{&e.Archive, &e.Message.ID, &e.Message.With, &r.times[r.i], &e.Message.Stanza}
	return r.vals[:], nil
}

func (r *archiveRows) Err() error { return nil }

// archiveStmts are the archive writer's statements on SQLite, prepared
// once (pgx keeps its own per-connection statement cache). Compiling them
// on every call cost more than a tenth of the writer's CPU under chat
// load, and for the room archive's small batches (a few rows every 25
// ms) compiling was as costly as the rows.
type archiveStmts struct {
	// inserts[k] is insertArchivedSQLite with insertSizes[k] rows: a
	// chunk of n rows is written as the binary digits of n (at most 7
	// statements for any n < batchRows), never compiled on the way.
	inserts [len(insertSizes)]*sql.Stmt
	// count1 is upsertCount (one archive's count).
	count1 *sql.Stmt
}

// insertSizes are the row counts of the prepared INSERTs, largest first:
// batchRows, then powers of two below it.
var insertSizes = [...]int{batchRows, 64, 32, 16, 8, 4, 2, 1}

func (db *DB) prepareArchive(ctx context.Context) error {
	if db.dialect != SQLite {
		return nil
	}
	for k, n := range insertSizes {
		q := insertArchivedSQLite + strings.Repeat("(?, ?, ?, ?, ?), ", n-1) + "(?, ?, ?, ?, ?)"
		st, err := db.write.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		db.archive.inserts[k] = st
	}
	st, err := db.write.PrepareContext(ctx, upsertCount)
	if err != nil {
		return err
	}
	db.archive.count1 = st
	return nil
}

func (s archiveStmts) all() []*sql.Stmt { return append(s.inserts[:], s.count1) }

func (db *DB) insertArchived(ctx context.Context, tx *sql.Tx, entries []storage.ArchiveEntry) error {
	// SQLite (PostgreSQL: appendPostgres): multi-row INSERTs, batchRows rows each at most, prepared
	// (archiveStmts). Each statement is a call through database/sql and
	// the driver (which arms an interrupt watcher, a goroutine, per
	// call): a statement per row cost more than its B-tree work.
	// Anonymous '?' parameters: SQLite resolves numbered ones ($N) by a
	// linear search per parameter, quadratic in a long VALUES list
	// (sqlite3VListNameToNum). Rows are inserted in statement order and
	// VALUES order, so seq keeps the slice order.
	args := make([]any, 0, 5*min(len(entries), batchRows))
	var inTx [len(insertSizes)]*sql.Stmt // db.archive.inserts in tx, as needed
	for k, n := range insertSizes {
		for len(entries) >= n {
			chunk := entries[:n]
			entries = entries[n:]
			args = args[:0]
			for _, e := range chunk {
				m := e.Message
				args = append(args, e.Archive, m.ID, m.With, m.Time.UnixMilli(), m.Stanza)
			}
			if inTx[k] == nil {
				inTx[k] = tx.StmtContext(ctx, db.archive.inserts[k])
			}
			if _, err := inTx[k].ExecContext(ctx, args...); err != nil {
				return err
			}
		}
	}
	return nil
}

const upsertCount = `INSERT INTO archive_counts (archive, n) VALUES ($1, $2)
	ON CONFLICT (archive) DO UPDATE SET n = archive_counts.n + excluded.n`

// addArchiveCounts adds counts[a] to each archive a's row of
// archive_counts, on SQLite (appendPostgres has its own).
func (db *DB) addArchiveCounts(ctx context.Context, tx *sql.Tx, archives []string, counts map[string]int) error {
	if len(archives) == 1 {
		_, err := tx.StmtContext(ctx, db.archive.count1).ExecContext(ctx, archives[0], counts[archives[0]])
		return err
	}
	// Multi-row, as insertArchived (each archive once per statement, as
	// ON CONFLICT DO UPDATE requires).
	var q strings.Builder
	args := make([]any, 0, 2*min(len(archives), batchRows))
	for len(archives) > 0 {
		chunk := archives[:min(len(archives), batchRows)]
		archives = archives[len(chunk):]
		q.Reset()
		q.WriteString(`INSERT OR ROLLBACK INTO archive_counts (archive, n) VALUES `)
		args = args[:0]
		for i, a := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?)")
			args = append(args, a, counts[a])
		}
		q.WriteString(` ON CONFLICT (archive) DO UPDATE SET n = archive_counts.n + excluded.n`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// cursor is a message's position in archive order.
type cursor struct{ ms, seq int64 }

func archiveCursor(ctx context.Context, q querier, archive, id string) (cursor, error) {
	var c cursor
	err := q.QueryRowContext(ctx,
		`SELECT time_ms, seq FROM archive_messages WHERE id = $1 AND archive = $2`, id, archive).Scan(&c.ms, &c.seq)
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	return c, err
}

// QueryArchive implements storage.Archive. A page is at most three
// statements, each an index range scan: the cursor lookups (by the unique
// id), the page itself (max+1 rows in archive order, the extra one only
// tells whether the page is complete) and the count: one row for the
// whole archive, an index-only scan for a filter (it grows with the number
// of messages the filter selects, see docs/performance.md).
func (db *DB) QueryArchive(ctx context.Context, archive string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	fail := func(err error) (storage.ArchivePage, error) {
		return storage.ArchivePage{}, fmt.Errorf("sqldb: query archive %s: %w", archive, err)
	}
	// One read transaction: the cursors, the page and the count come from
	// one snapshot, so a trim or prune in between cannot make the count
	// disagree with the items (SQLite's read transactions are snapshots;
	// PostgreSQL needs repeatable read for that).
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.read.BeginTx(ctx, opts)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	page, err := queryArchive(ctx, tx, archive, q)
	if err != nil {
		return fail(err)
	}
	return page, nil
}

// querier is what a query needs of a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func queryArchive(ctx context.Context, db querier, archive string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	var page storage.ArchivePage
	fail := func(err error) (storage.ArchivePage, error) { return storage.ArchivePage{}, err }
	var (
		where strings.Builder
		args  = []any{archive}
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where.WriteString("archive = $1")
	if q.With != "" {
		where.WriteString(" AND with_jid = " + arg(q.With))
	}
	if !q.Start.IsZero() {
		where.WriteString(" AND time_ms >= " + arg(q.Start.UnixMilli()))
	}
	if !q.End.IsZero() {
		where.WriteString(" AND time_ms <= " + arg(q.End.UnixMilli()))
	}
	if len(q.IDs) > 0 {
		where.WriteString(" AND id IN (")
		for i, id := range q.IDs {
			if i > 0 {
				where.WriteString(", ")
			}
			where.WriteString(arg(id))
		}
		where.WriteString(")")
	}
	// Row values compare (time_ms, seq) lexicographically, which is
	// archive order; both engines use them as a range on the index.
	bound := func(id, op string) error {
		if id == "" {
			return nil
		}
		c, err := archiveCursor(ctx, db, archive, id)
		if err != nil {
			return fmt.Errorf("id %q: %w", id, err)
		}
		where.WriteString(" AND (time_ms, seq) " + op + " (" + arg(c.ms) + ", " + arg(c.seq) + ")")
		return nil
	}
	if err := bound(q.FilterAfterID, ">"); err != nil {
		return fail(err)
	}
	if err := bound(q.FilterBeforeID, "<"); err != nil {
		return fail(err)
	}
	filter, filterArgs := where.String(), slices.Clone(args)
	if err := bound(q.AfterID, ">"); err != nil {
		return fail(err)
	}
	if err := bound(q.BeforeID, "<"); err != nil {
		return fail(err)
	}

	if q.Max > 0 {
		order := "time_ms, seq"
		if q.Last {
			order = "time_ms DESC, seq DESC"
		}
		rows, err := db.QueryContext(ctx,
			`SELECT id, with_jid, time_ms, stanza FROM archive_messages WHERE `+where.String()+
				` ORDER BY `+order+` LIMIT `+arg(q.Max+1), args...)
		if err != nil {
			return fail(err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				m  storage.ArchivedMessage
				ms int64
			)
			if err := rows.Scan(&m.ID, &m.With, &ms, &m.Stanza); err != nil {
				return fail(err)
			}
			m.Time = time.UnixMilli(ms).UTC()
			page.Items = append(page.Items, m)
		}
		if err := rows.Err(); err != nil {
			return fail(err)
		}
		rows.Close()
		page.Complete = len(page.Items) <= q.Max
		if !page.Complete {
			page.Items = page.Items[:q.Max]
		}
		if q.Last {
			slices.Reverse(page.Items)
		}
	} else {
		// No items: complete when nothing lies in the paging direction.
		var n int
		if err := db.QueryRowContext(ctx,
			`SELECT count(*) FROM (SELECT 1 FROM archive_messages WHERE `+where.String()+` LIMIT 1) x`,
			args...).Scan(&n); err != nil {
			return fail(err)
		}
		page.Complete = n == 0
	}

	// The whole archive's count is kept by triggers (migration 00009);
	// a filter's is counted on its index.
	countQ := `SELECT count(*) FROM archive_messages WHERE ` + filter
	if len(filterArgs) == 1 {
		countQ = `SELECT n FROM archive_counts WHERE archive = $1`
	}
	err := db.QueryRowContext(ctx, countQ, filterArgs...).Scan(&page.Count)
	if err != nil && !errors.Is(err, sql.ErrNoRows) { // no row: never appended to
		return fail(err)
	}
	return page, nil
}

// ReplaceArchived implements storage.Archive.
func (db *DB) ReplaceArchived(ctx context.Context, archive, id string, stanza []byte) error {
	res, err := db.write.ExecContext(ctx,
		`UPDATE archive_messages SET stanza = $1 WHERE archive = $2 AND id = $3`, stanza, archive, id)
	if err != nil {
		return fmt.Errorf("sqldb: replace archived %s in %s: %w", id, archive, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqldb: replace archived %s in %s: %w", id, archive, err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// DeleteArchive implements storage.Archive.
func (db *DB) DeleteArchive(ctx context.Context, archive string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM archive_messages WHERE archive = $1`, archive); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM archive_counts WHERE archive = $1`, archive); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM archive_prefs WHERE archive = $1`, archive)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldb: delete archive %s: %w", archive, err)
	}
	return nil
}

// PruneArchives implements storage.Archive. The subquery walks the
// archives (archive_counts) and, for each, the start of its order index up
// to 'before': an index probe per archive plus the rows it deletes, with
// no index on time alone to maintain on every Append.
func (db *DB) PruneArchives(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	res, err := db.write.ExecContext(ctx,
		`DELETE FROM archive_messages WHERE seq IN
		 (SELECT m.seq FROM archive_counts c JOIN archive_messages m ON m.archive = c.archive
		  WHERE c.n > 0 AND m.time_ms < $1 LIMIT $2)`,
		before.UnixMilli(), limit)
	if err != nil {
		return 0, fmt.Errorf("sqldb: prune archives: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqldb: prune archives: %w", err)
	}
	return int(n), nil
}

// TrimArchive implements storage.Archive: find the oldest message to keep
// (OFFSET on the order index, newest first), delete everything before it.
func (db *DB) TrimArchive(ctx context.Context, archive string, keep int) (int, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		q := `DELETE FROM archive_messages WHERE archive = $1`
		args := []any{archive}
		if keep > 0 {
			var c cursor
			err := tx.QueryRowContext(ctx,
				`SELECT time_ms, seq FROM archive_messages WHERE archive = $1
				 ORDER BY time_ms DESC, seq DESC LIMIT 1 OFFSET $2`, archive, keep-1).Scan(&c.ms, &c.seq)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // no more than keep messages
			}
			if err != nil {
				return err
			}
			q += ` AND (time_ms, seq) < ($2, $3)`
			args = append(args, c.ms, c.seq)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqldb: trim archive %s: %w", archive, err)
	}
	return int(n), nil
}

// ArchivePrefs implements storage.Archive.
func (db *DB) ArchivePrefs(ctx context.Context, archive string) (storage.ArchivePrefs, error) {
	var p storage.ArchivePrefs
	fail := func(err error) (storage.ArchivePrefs, error) {
		return storage.ArchivePrefs{}, fmt.Errorf("sqldb: archive prefs of %s: %w", archive, err)
	}
	rctx, err := db.pointRead(ctx)
	if err != nil {
		return fail(err)
	}
	err = db.login.archivePrefs.QueryRowContext(rctx, archive).Scan(&p.Default)
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return fail(err)
	}
	rows, err := db.read.QueryContext(ctx,
		`SELECT jid, mode FROM archive_pref_jids WHERE archive = $1 ORDER BY jid`, archive)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var j, mode string
		if err := rows.Scan(&j, &mode); err != nil {
			return fail(err)
		}
		if mode == storage.ArchiveAlways {
			p.Always = append(p.Always, j)
		} else {
			p.Never = append(p.Never, j)
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return p, nil
}

// SetArchivePrefs implements storage.Archive. A JID in both lists is
// kept in Never: not archiving is the safer reading of a contradiction.
func (db *DB) SetArchivePrefs(ctx context.Context, archive string, p storage.ArchivePrefs) error {
	switch p.Default {
	case storage.ArchiveAlways, storage.ArchiveNever, storage.ArchiveRoster:
	default:
		return fmt.Errorf("sqldb: set archive prefs of %s: invalid default %q", archive, p.Default)
	}
	modes := map[string]string{}
	for _, j := range p.Always {
		modes[j] = storage.ArchiveAlways
	}
	for _, j := range p.Never {
		modes[j] = storage.ArchiveNever
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO archive_prefs (archive, default_mode) VALUES ($1, $2)
			 ON CONFLICT (archive) DO UPDATE SET default_mode = excluded.default_mode`,
			archive, p.Default); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM archive_pref_jids WHERE archive = $1`, archive); err != nil {
			return err
		}
		for j, mode := range modes {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO archive_pref_jids (archive, jid, mode) VALUES ($1, $2, $3)`, archive, j, mode); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqldb: set archive prefs of %s: %w", archive, err)
	}
	return nil
}
