package module

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"sync"
)

// A module that keeps data owns its tables: it declares their schema in
// its own folder, next to its Register, as goose migration files per SQL
// dialect (RegisterSchema), and runs its own SQL on them through
// Services.SQL. The server applies every declared schema right after the
// core's migrations, before any module starts, each with a goose version
// table of its own, so a module's schema versions independently of the
// core's and of the other modules'. Modules never import storage/sqldb
// (modules/all/imports_test.go).

// SQL dialects, as SQL.Dialect reports them.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Schema is one module's migrations: goose SQL files (NNNNN_name.sql with
// "-- +goose Up" and "-- +goose Down") at the root of each file system,
// usually an embed.FS narrowed with fs.Sub. Both dialects are required:
// the server runs on either.
type Schema struct {
	SQLite   fs.FS
	Postgres fs.FS
}

// For returns the migrations of dialect (DialectSQLite, DialectPostgres),
// nil for another.
func (s Schema) For(dialect string) fs.FS {
	switch dialect {
	case DialectSQLite:
		return s.SQLite
	case DialectPostgres:
		return s.Postgres
	}
	return nil
}

// SQL is the database as a module that owns tables sees it. Statements
// use $n placeholders, which both engines accept; a module touches only
// its own tables (and reads the core's accounts table to refer to it).
//
// Writes and reads go to different pools: for SQLite ExecContext and
// BeginTx use the single writer connection, QueryContext and
// QueryRowContext a pool of read-only connections that read beside it
// (see storage/sqldb). Inside a transaction use the *sql.Tx's methods
// only: the writer is busy with it until it ends.
type SQL interface {
	// Dialect is DialectSQLite or DialectPostgres, for the rare
	// statement that must differ.
	Dialect() string
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// SQLFor is implemented by a Services.SQL that tells its users apart:
// NewHandle gives each module For(its name) (the server counts each
// module's storage failures under its name).
type SQLFor interface {
	SQL
	For(module string) SQL
}

// The declarations, made in init() like Register's and only read after.
var (
	schemasMu sync.Mutex
	schemas   = map[string]Schema{} // by module name
)

// RegisterSchema declares module name's migrations. Call it from init(),
// next to Register. A schema declared twice, one without a dialect, or a
// name that cannot be part of a table name ([a-z0-9_]) is a programming
// error: it panics.
func RegisterSchema(name string, s Schema) {
	if !tableSafe(name) {
		panic(fmt.Sprintf("module %q: a schema's module name must be [a-z0-9_]+ (it names the module's version table)", name))
	}
	if s.SQLite == nil || s.Postgres == nil {
		panic("module " + name + ": schema without SQLite or PostgreSQL migrations")
	}
	schemasMu.Lock()
	defer schemasMu.Unlock()
	if _, dup := schemas[name]; dup {
		panic("module " + name + ": schema declared twice")
	}
	schemas[name] = s
}

// NamedSchema is a Schema with the module that declared it.
type NamedSchema struct {
	Module string
	Schema
}

// Schemas lists the declared schemas, sorted by module name: the order
// the server applies them in. A module's tables may refer to the core's
// (accounts), never to another module's.
func Schemas() []NamedSchema {
	schemasMu.Lock()
	defer schemasMu.Unlock()
	out := make([]NamedSchema, 0, len(schemas))
	for n, s := range schemas {
		out = append(out, NamedSchema{n, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out
}

func tableSafe(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}
