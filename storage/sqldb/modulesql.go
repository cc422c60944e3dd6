package sqldb

import (
	"context"
	"database/sql"
)

// ModuleSQL is the database as a module that owns its tables uses it
// (module.SQL; this package does not import module, the method set is
// the contract): statements that write, and transactions, go to the
// writer, queries to the read pool. See openSQLite for why a statement
// inside a transaction must use the *sql.Tx.
type ModuleSQL struct{ db *DB }

// ModuleSQL returns db as modules see it.
func (db *DB) ModuleSQL() ModuleSQL { return ModuleSQL{db} }

// Dialect is "sqlite" or "postgres".
func (m ModuleSQL) Dialect() string { return string(m.db.dialect) }

func (m ModuleSQL) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return m.db.write.ExecContext(ctx, query, args...)
}

func (m ModuleSQL) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return m.db.read.QueryContext(ctx, query, args...)
}

func (m ModuleSQL) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return m.db.read.QueryRowContext(ctx, query, args...)
}

func (m ModuleSQL) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	return m.db.write.BeginTx(ctx, opts)
}
