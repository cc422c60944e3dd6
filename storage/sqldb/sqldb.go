// Package sqldb is xmppd's one database/sql backend for both SQLite
// (modernc.org/sqlite, pure Go) and PostgreSQL (pgx through its stdlib
// adapter). The SQL text is shared wherever the engines agree: both accept
// $n placeholders, ON CONFLICT and RETURNING, so only the schema
// migrations are kept per dialect.
//
// Open applies the embedded goose migrations before it returns, so every
// caller sees the schema it was compiled against.
package sqldb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite" // registers driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/xmppd/xmppd/storage"
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// sqliteBusyTimeout bounds how long a statement waits for a lock held by
// another process (e.g. `xmppd user add` while the daemon runs). Inside
// one process writers queue in database/sql instead (see Open).
const sqliteBusyTimeout = 10 * time.Second

// sqliteWriterCacheKiB is the writer connection's page cache (see
// openSQLite).
const sqliteWriterCacheKiB = 32 << 10

// sqliteWALCheckpointPages is the writer connection's wal_autocheckpoint
// (see openSQLite).
const sqliteWALCheckpointPages = 8192

// DB is an open, migrated database. It is safe for concurrent use.
type DB struct {
	dialect Dialect
	// write takes every statement that may write. For SQLite it holds a
	// single connection; for PostgreSQL it is the only pool.
	write *sql.DB
	// read takes read-only statements. For SQLite it is a separate pool of
	// query_only connections that WAL lets run beside the writer; for
	// PostgreSQL (and SQLite :memory:) it is the same pool as write.
	read *sql.DB

	// Statements on the login path, prepared once: parsing the SQL costs
	// about a quarter of a SQLite point lookup. database/sql prepares a
	// *sql.Stmt lazily on each pool connection and keeps it there.
	credentialStmt *sql.Stmt
	existsStmt     *sql.Stmt
	fast           fastStmts    // XEP-0484 logins (fast.go)
	login          loginStmts   // bind, presence, logout (loginstmts.go)
	archive        archiveStmts // the archive writer (archive.go)
}

var _ storage.Accounts = (*DB)(nil)

// Open opens the database named by driver ("sqlite", or "pgx"/"postgres")
// and dsn (SQLite: a file path or file: URI; PostgreSQL: a pgx connection
// string), configures it and applies pending migrations.
func Open(ctx context.Context, driver, dsn string) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch driver {
	case "sqlite":
		db, err = openSQLite(dsn)
	case "pgx", "postgres", "postgresql":
		db, err = openPostgres(dsn)
	default:
		return nil, fmt.Errorf("sqldb: unknown driver %q (want sqlite or pgx)", driver)
	}
	if err != nil {
		return nil, err
	}
	if err := db.connect(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqldb: connect %s: %w", db.dialect, err)
	}
	if err := db.migrate(ctx, migrationFS); err != nil {
		db.Close()
		return nil, err
	}
	// Prepared after migrating: SQLite checks the tables at prepare time.
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openSQLite builds the two SQLite pools.
//
// Why one writer connection: SQLite allows one writer at a time per file.
// With several writer connections, concurrent writers are serialised by
// SQLite's busy handler, which polls with sleeps of up to 100 ms, and a
// deferred transaction that reads and then writes can fail with
// SQLITE_BUSY (snapshot) without the busy handler being consulted at all.
// With SetMaxOpenConns(1) on the writer pool, writers queue in
// database/sql (FIFO, wakes immediately, honours ctx) and never meet a
// lock inside this process. busy_timeout and _txlock=immediate remain for
// other processes sharing the file: immediate makes every transaction take
// the write lock at BEGIN, where waiting is safe, instead of upgrading
// midway, where it is not.
//
// Readers get their own pool: in WAL mode they read a snapshot without
// blocking the writer or each other, so a slow archive query does not
// stall logins. query_only guards against a write slipping into it.
//
// Consequence for callers of SQL(): never use the *sql.DB while holding a
// transaction from it (tx.Query, not db.Query, inside a tx), or the single
// connection deadlocks against itself.
func openSQLite(dsn string) (*DB, error) {
	if dsn == "" {
		return nil, errors.New("sqldb: empty SQLite path")
	}
	base, query, _ := strings.Cut(dsn, "?")
	memory := base == ":memory:" || strings.Contains(query, "mode=memory")
	params := func(extra ...string) string {
		p := []string{
			fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()),
			"_pragma=foreign_keys(1)",
			"_pragma=synchronous(NORMAL)",
			// Store time.Time as sortable text without the monotonic
			// clock reading Go's default String() would add.
			"_time_format=sqlite",
		}
		p = append(p, extra...)
		if query != "" {
			p = append(p, query)
		}
		return base + "?" + strings.Join(p, "&")
	}

	// journal_mode is persistent in the file, but setting it on every new
	// writer connection is cheap and repairs a file made elsewhere.
	//
	// The writer's page cache is larger than SQLite's 2 MiB default: the
	// archive's indexes lead with the archive's name, so a batch of chat
	// messages touches a leaf page per active account in each of them,
	// and with the default those pages were read back from the file for
	// most rows (with 1,000 accounts chatting, reads were a fifth of the
	// archive writer's time). It is an upper bound, filled only as pages
	// are used. temp_store keeps statement journals in memory rather than
	// in temporary files (a write syscall per page).
	//
	// wal_autocheckpoint: the writer copies the WAL back into the database
	// file once it holds 8,192 pages (32 MiB) rather than SQLite's 1,000.
	// Under chat load every archive commit dirtied ~1,000 index leaves
	// (two per row, one per active account in each index), so each commit
	// was followed by a checkpoint writing the same hot leaves again; with
	// a larger WAL a leaf changed by several commits is copied once.
	// Archive writes at 512 rows per commit: 62 -> 40 us of CPU per row
	// (docs/performance.md, issue 18). The price: the WAL file grows to
	// 32 MiB, and the commit that checkpoints takes longer (inside the
	// archive's stated window, docs/reliability.md).
	write, err := sql.Open("sqlite", params("_pragma=journal_mode(WAL)", "_txlock=immediate",
		fmt.Sprintf("_pragma=cache_size(%d)", -sqliteWriterCacheKiB), "_pragma=temp_store(MEMORY)",
		fmt.Sprintf("_pragma=wal_autocheckpoint(%d)", sqliteWALCheckpointPages)))
	if err != nil {
		return nil, fmt.Errorf("sqldb: open sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0) // keep it: reopening costs pragmas and page cache
	write.SetConnMaxIdleTime(0)
	if memory {
		// Each connection to :memory: is its own empty database, so the
		// one writer connection must serve reads too.
		return &DB{dialect: SQLite, write: write, read: write}, nil
	}

	read, err := sql.Open("sqlite", params("_query_only=1"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqldb: open sqlite readers: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{dialect: SQLite, write: write, read: read}, nil
}

func openPostgres(dsn string) (*DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open postgres: %w", err)
	}
	// PostgreSQL handles concurrent writers itself (row locks, MVCC); the
	// pool only bounds server-side backends, each of which costs memory.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	return &DB{dialect: Postgres, write: db, read: db}, nil
}

// connect opens the first writer connection. Switching a new SQLite file
// to WAL takes an exclusive lock, and SQLite reports SQLITE_BUSY for that
// without consulting busy_timeout; two processes creating the same file at
// once hit it (TestConcurrentOpenSQLite). Once the file is in WAL mode the
// pragma is a no-op, so retrying the first connection is enough.
func (db *DB) connect(ctx context.Context) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for {
		err := db.write.PingContext(ctx)
		if err == nil || db.dialect != SQLite || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// migrate applies the core's pending migrations.
func (db *DB) migrate(ctx context.Context, fsys fs.FS) error {
	sub, err := fs.Sub(fsys, "migrations/"+string(db.dialect))
	if err != nil {
		return fmt.Errorf("sqldb: migrations: %w", err)
	}
	if err := db.up(ctx, sub, ""); err != nil {
		return fmt.Errorf("sqldb: apply %s migrations: %w", db.dialect, err)
	}
	return nil
}

// ModuleVersionTable is the goose version table of a module's own
// migrations (MigrateModule).
func ModuleVersionTable(module string) string { return "goose_db_version_" + module }

// MigrateModule applies the pending migrations of a module that owns its
// tables: the goose files at the root of fsys, for this DB's dialect.
// They are versioned in the module's own table (ModuleVersionTable), so
// the numbers of one module's files have nothing to do with the core's
// or another module's. The error names the module and, when a file
// failed, the file.
func (db *DB) MigrateModule(ctx context.Context, module string, fsys fs.FS) error {
	if fsys == nil {
		return fmt.Errorf("sqldb: module %s: no %s migrations", module, db.dialect)
	}
	if err := db.up(ctx, fsys, ModuleVersionTable(module)); err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) && pe.Failed != nil && pe.Failed.Source != nil {
			return fmt.Errorf("sqldb: module %s: %s migration %s: %w", module, db.dialect, path.Base(pe.Failed.Source.Path), pe.Err)
		}
		return fmt.Errorf("sqldb: module %s: apply %s migrations: %w", module, db.dialect, err)
	}
	return nil
}

// up applies pending migrations of fsys, recorded in goose's version
// table, or in table when it is not "". goose runs each migration file
// and its version row in one transaction (both engines have transactional
// DDL), so a failed migration leaves no trace and is retried on next start.
func (db *DB) up(ctx context.Context, fsys fs.FS, table string) error {
	opts := []goose.ProviderOption{
		// Only this package's SQL files: Go migrations registered
		// globally by some other package must not leak in.
		goose.WithDisableGlobalRegistry(true),
		// goose logs only when verbose; the discard handler keeps it
		// quiet even if that default changes.
		goose.WithSlog(slog.New(slog.DiscardHandler)),
		// Migration numbers are handed out to branches in advance and
		// merged in any order (00009 archive landed after 00011
		// pubsub): a database that already has a higher version must
		// still get a lower one that arrives later. Migrations of
		// different concerns do not depend on each other.
		goose.WithAllowOutofOrder(true),
	}
	if table != "" {
		opts = append(opts, goose.WithTableName(table))
	}
	dialect := goose.DialectSQLite3
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Several xmppd nodes may start at once against one database: an
		// advisory lock lets exactly one of them migrate. SQLite needs no
		// such lock: the writer's BEGIN IMMEDIATE already serialises.
		// goose polls for the lock every 5 s by default; poll each second
		// (for up to 5 minutes) so a node or test that lost the race
		// starts soon after the winner is done. The core and every
		// module take the same lock, one after the other.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.write, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// SQLite has no lock goose could take, so two processes opening a new
	// file at once (daemon and CLI) can both decide to apply a migration;
	// the loser fails with "table already exists" after the winner
	// commits. Its own transaction rolled back, so if the schema version
	// moved meanwhile, someone else migrated: look again.
	for attempt := 0; ; attempt++ {
		before, verr := p.GetDBVersion(ctx)
		_, err := p.Up(ctx)
		if err == nil {
			return nil
		}
		if verr == nil && db.dialect == SQLite && attempt < 5 {
			if after, aerr := p.GetDBVersion(ctx); aerr == nil && after > before {
				continue
			}
		}
		return err
	}
}

// SchemaVersion reports the highest applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	sub, err := fs.Sub(migrationFS, "migrations/"+string(db.dialect))
	if err != nil {
		return 0, err
	}
	dialect := goose.DialectSQLite3
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, db.write, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, fmt.Errorf("sqldb: migrations: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqldb: schema version: %w", err)
	}
	return v, nil
}

func (db *DB) prepare(ctx context.Context) error {
	var err error
	if db.credentialStmt, err = db.read.PrepareContext(ctx, credentialQuery); err != nil {
		return fmt.Errorf("sqldb: prepare: %w", err)
	}
	if db.existsStmt, err = db.read.PrepareContext(ctx, existsQuery); err != nil {
		return fmt.Errorf("sqldb: prepare: %w", err)
	}
	if err = db.prepareFast(ctx); err != nil {
		return fmt.Errorf("sqldb: prepare: %w", err)
	}
	if err = db.prepareLogin(ctx); err != nil {
		return fmt.Errorf("sqldb: prepare: %w", err)
	}
	if err = db.prepareArchive(ctx); err != nil {
		return fmt.Errorf("sqldb: prepare: %w", err)
	}
	return nil
}

// Close closes the prepared statements and both pools.
func (db *DB) Close() error {
	var err error
	for _, st := range slices.Concat([]*sql.Stmt{db.credentialStmt, db.existsStmt}, db.fast.all(), db.login.all(), db.archive.all()) {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	err = errors.Join(err, db.write.Close())
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// SQL returns the pool for statements that write (and may also read).
// For SQLite it has a single connection: see openSQLite for the rule that
// follows from that.
func (db *DB) SQL() *sql.DB { return db.write }

// ReadSQL returns the pool for read-only statements. For SQLite its
// connections are query_only and read beside the writer; for PostgreSQL it
// is the same pool as SQL().
func (db *DB) ReadSQL() *sql.DB { return db.read }

// Dialect reports the engine, for the rare statement that must differ.
func (db *DB) Dialect() Dialect { return db.dialect }

// inTx runs fn in a write transaction, committing if fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUniqueViolation reports a primary-key or unique constraint failure on
// either engine.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return true
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	return false
}

// isBusy reports SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// isForeignKeyViolation reports a row that refers to a missing parent.
func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503" // foreign_key_violation
	}
	return false
}
