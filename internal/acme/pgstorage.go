package acme

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// PostgresStorage is a certmagic.Storage in xmppd's PostgreSQL database
// (table acme_storage, migration 00040), for the nodes of a cluster that
// share that database and no folder.
//
// Its locks are PostgreSQL session advisory locks, each held on a
// connection of its own until Unlock: a node that dies loses its locks
// with its connection, so there are no stale locks to wait out, as there
// are with lock files. The lock key is a hash of the schema and the
// name, so two xmppd databases in one PostgreSQL do not contend.
type PostgresStorage struct {
	// DB is a pool on the database; a lock holds one of its connections
	// for as long as an order takes, so a small pool of its own is best.
	DB *sql.DB

	mu   sync.Mutex
	held map[string]*sql.Conn
}

var _ certmagic.Storage = (*PostgresStorage)(nil)

const lockKey = `hashtextextended('xmppd acme lock ' || current_schema() || ' ' || $1, 0)`

// Lock blocks until the named lock is had or ctx ends.
func (s *PostgresStorage) Lock(ctx context.Context, name string) error {
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("acme storage: lock %s: %w", name, err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`, name); err != nil {
		// A cancelled wait may still have taken the lock: never give
		// this session back to the pool.
		discard(conn)
		return fmt.Errorf("acme storage: lock %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = map[string]*sql.Conn{}
	}
	s.held[name] = conn
	return nil
}

// Unlock releases a lock Lock took.
func (s *PostgresStorage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	conn := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if conn == nil {
		return fmt.Errorf("acme storage: unlock %s: not locked", name)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, name).Scan(&ok); err != nil || !ok {
		discard(conn) // ending the session releases the lock
		if err == nil {
			err = errors.New("lock was not held")
		}
		return fmt.Errorf("acme storage: unlock %s: %w", name, err)
	}
	return conn.Close()
}

// discard closes conn's session instead of returning it to the pool.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// Store writes value under key.
func (s *PostgresStorage) Store(ctx context.Context, key string, value []byte) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO acme_storage (key, value, modified_ms) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified_ms = excluded.modified_ms`,
		key, value, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("acme storage: store %s: %w", key, err)
	}
	return nil
}

// Load reads key's value; fs.ErrNotExist if there is none.
func (s *PostgresStorage) Load(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.DB.QueryRowContext(ctx, `SELECT value FROM acme_storage WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("acme storage: %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("acme storage: load %s: %w", key, err)
	}
	return v, nil
}

// Delete removes key and, as for a folder, every key under key/.
func (s *PostgresStorage) Delete(ctx context.Context, key string) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM acme_storage WHERE key = $1 OR starts_with(key, $1 || '/')`, key)
	if err != nil {
		return fmt.Errorf("acme storage: delete %s: %w", key, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("acme storage: %s: %w", key, fs.ErrNotExist)
	}
	return nil
}

// Exists reports whether key, or a key under it, exists.
func (s *PostgresStorage) Exists(ctx context.Context, key string) bool {
	var one int
	err := s.DB.QueryRowContext(ctx, `SELECT 1 FROM acme_storage WHERE key = $1 OR starts_with(key, $1 || '/') LIMIT 1`, key).Scan(&one)
	return err == nil
}

// List returns the keys under path: all of them with recursive, else
// the next level only (a "folder" once).
func (s *PostgresStorage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	prefix := strings.TrimSuffix(path, "/") + "/"
	rows, err := s.DB.QueryContext(ctx, `SELECT key FROM acme_storage WHERE starts_with(key, $1) ORDER BY key`, prefix)
	if err != nil {
		return nil, fmt.Errorf("acme storage: list %s: %w", path, err)
	}
	defer rows.Close()
	var out []string
	seen := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		if !recursive {
			rest, _, _ := strings.Cut(strings.TrimPrefix(k, prefix), "/")
			k = prefix + rest
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("acme storage: list %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("acme storage: %s: %w", path, fs.ErrNotExist)
	}
	return out, nil
}

// Stat describes key: a value, or a "folder" of keys under it.
func (s *PostgresStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	var size, modified int64
	err := s.DB.QueryRowContext(ctx, `SELECT length(value), modified_ms FROM acme_storage WHERE key = $1`, key).Scan(&size, &modified)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Size: size, Modified: time.UnixMilli(modified), IsTerminal: true}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return certmagic.KeyInfo{}, fmt.Errorf("acme storage: stat %s: %w", key, err)
	}
	if s.Exists(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("acme storage: %s: %w", key, fs.ErrNotExist)
}
