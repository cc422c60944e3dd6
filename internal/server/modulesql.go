package server

import (
	"context"
	"database/sql"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// migrateModules applies the migrations of every module that owns tables
// (module.RegisterSchema), after the core's, so that the CLI, which opens
// storage without starting modules, sees the same schema as the daemon.
// Modules are migrated whether or not the configuration enables them: a
// module switched on later finds its tables, and its rows still go with
// their account (foreign keys).
func migrateModules(ctx context.Context, db *sqldb.DB) error {
	for _, s := range module.Schemas() {
		if err := db.MigrateModule(ctx, s.Module, s.For(string(db.Dialect()))); err != nil {
			// A read-only database fails the first module whose version
			// table is missing, with goose's "no such table": say what
			// is wrong instead.
			if werr := db.CheckWritable(ctx); werr != nil {
				return werr
			}
			return err
		}
	}
	return nil
}

// countingSQL is module.SQL with every failure counted, as
// storage.CountFailures counts the core stores', under the module's name
// ("push.Exec"), so that a module's own tables fail no less visibly.
// QueryRowContext's errors surface only at Scan, past this wrapper: they
// are not counted.
type countingSQL struct {
	module.SQL
	name   string
	failed func(op string)
}

var _ module.SQLFor = countingSQL{}

func (c countingSQL) For(name string) module.SQL {
	c.name = name
	return c
}

func (c countingSQL) check(ctx context.Context, op string, err error) {
	if err != nil && storage.Failed(ctx, err) {
		c.failed(c.name + "." + op)
	}
}

func (c countingSQL) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := c.SQL.ExecContext(ctx, query, args...)
	c.check(ctx, "Exec", err)
	return r, err
}

func (c countingSQL) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r, err := c.SQL.QueryContext(ctx, query, args...)
	c.check(ctx, "Query", err)
	return r, err
}

func (c countingSQL) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	tx, err := c.SQL.BeginTx(ctx, opts)
	c.check(ctx, "BeginTx", err)
	return tx, err
}
