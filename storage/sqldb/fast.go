package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.FastTokens = (*DB)(nil)

const fastColumns = `agent_id, slot, mechanism, token_hash, label, created_ms, expiry_ms`

// The statements of a FAST login, prepared once (prepare): parsing them
// cost more than running them, a tenth of the server's CPU per reconnect.
// 'new' sorts after 'current', hence DESC.
const (
	fastReadQuery = `SELECT ` + fastColumns + ` FROM fast_tokens
		WHERE domain = $1 AND username = $2 AND agent_id = $3 AND expiry_ms > $4
		ORDER BY slot DESC`
	fastPurgeQuery = `DELETE FROM fast_tokens WHERE domain = $1 AND username = $2 AND expiry_ms <= $3`
	fastIssueQuery = `INSERT INTO fast_tokens (domain, username, agent_id, slot, mechanism, token_hash, label, created_ms, expiry_ms)
		VALUES ($1, $2, $3, 'new', $4, $5, $6, $7, $8)
		ON CONFLICT (domain, username, agent_id, slot) DO UPDATE SET
		  mechanism = excluded.mechanism, token_hash = excluded.token_hash, label = excluded.label,
		  created_ms = excluded.created_ms, expiry_ms = excluded.expiry_ms`
	fastSlotQuery        = `SELECT slot FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = $3 AND token_hash = $4`
	fastDropCurrentQuery = `DELETE FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = $3 AND slot = 'current'`
	fastPromoteQuery     = `UPDATE fast_tokens SET slot = 'current' WHERE domain = $1 AND username = $2 AND agent_id = $3 AND slot = 'new'`
)

// fastStmts are the prepared statements of fast.go: read on the read
// pool, the others on the write pool (used in transactions).
type fastStmts struct {
	read, purge, issue, slot, dropCurrent, promote *sql.Stmt
}

func (db *DB) prepareFast(ctx context.Context) error {
	for _, p := range []struct {
		st   **sql.Stmt
		pool *sql.DB
		q    string
	}{
		{&db.fast.read, db.read, fastReadQuery},
		{&db.fast.purge, db.write, fastPurgeQuery},
		{&db.fast.issue, db.write, fastIssueQuery},
		{&db.fast.slot, db.write, fastSlotQuery},
		{&db.fast.dropCurrent, db.write, fastDropCurrentQuery},
		{&db.fast.promote, db.write, fastPromoteQuery},
	} {
		st, err := p.pool.PrepareContext(ctx, p.q)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

func (s *fastStmts) all() []*sql.Stmt {
	return []*sql.Stmt{s.read, s.purge, s.issue, s.slot, s.dropCurrent, s.promote}
}

// FastTokens implements storage.FastTokens.
func (db *DB) FastTokens(ctx context.Context, domain, username, agent string, now time.Time) ([]storage.FastToken, error) {
	rows, err := db.fast.read.QueryContext(ctx, domain, username, agent, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("sqldb: FAST tokens of %s@%s: %w", username, domain, err)
	}
	out, err := scanFast(rows)
	if err != nil {
		return nil, fmt.Errorf("sqldb: FAST tokens of %s@%s: %w", username, domain, err)
	}
	return out, nil
}

// ListFastTokens implements storage.FastTokens.
func (db *DB) ListFastTokens(ctx context.Context, domain, username string) ([]storage.FastToken, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+fastColumns+` FROM fast_tokens
		WHERE domain = $1 AND username = $2 ORDER BY agent_id, slot DESC`, domain, username)
	if err != nil {
		return nil, fmt.Errorf("sqldb: list FAST tokens of %s@%s: %w", username, domain, err)
	}
	out, err := scanFast(rows)
	if err != nil {
		return nil, fmt.Errorf("sqldb: list FAST tokens of %s@%s: %w", username, domain, err)
	}
	return out, nil
}

func scanFast(rows *sql.Rows) ([]storage.FastToken, error) {
	defer rows.Close()
	var out []storage.FastToken
	for rows.Next() {
		var (
			t                 storage.FastToken
			slot              string
			created, expiryMS int64
		)
		if err := rows.Scan(&t.AgentID, &slot, &t.Mechanism, &t.Hash, &t.Label, &created, &expiryMS); err != nil {
			return nil, err
		}
		t.New = slot == "new"
		t.Created, t.Expiry = time.UnixMilli(created).UTC(), time.UnixMilli(expiryMS).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// IssueFastToken implements storage.FastTokens.
func (db *DB) IssueFastToken(ctx context.Context, domain, username string, tok storage.FastToken) error {
	if err := db.inTx(ctx, func(tx *sql.Tx) error { return db.issueFast(ctx, tx, domain, username, tok) }); err != nil {
		return fmt.Errorf("sqldb: issue FAST token for %s@%s: %w", username, domain, err)
	}
	return nil
}

// issueFast drops the account's expired tokens and puts tok into its
// client's 'new' slot. A missing account fails the foreign key and
// becomes ErrNotFound.
func (db *DB) issueFast(ctx context.Context, tx *sql.Tx, domain, username string, tok storage.FastToken) error {
	if _, err := tx.StmtContext(ctx, db.fast.purge).ExecContext(ctx, domain, username, tok.Created.UnixMilli()); err != nil {
		return err
	}
	_, err := tx.StmtContext(ctx, db.fast.issue).ExecContext(ctx,
		domain, username, tok.AgentID, tok.Mechanism, tok.Hash, tok.Label, tok.Created.UnixMilli(), tok.Expiry.UnixMilli())
	if err != nil && isForeignKeyViolation(err) {
		return storage.ErrNotFound
	}
	return err
}

// UseFastToken implements storage.FastTokens.
func (db *DB) UseFastToken(ctx context.Context, domain, username, agent string, hash []byte, next *storage.FastToken) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var slot string
		err := tx.StmtContext(ctx, db.fast.slot).QueryRowContext(ctx, domain, username, agent, hash).Scan(&slot)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return storage.ErrNotFound
		case err != nil:
			return err
		}
		if slot == "new" {
			if _, err := tx.StmtContext(ctx, db.fast.dropCurrent).ExecContext(ctx, domain, username, agent); err != nil {
				return err
			}
			if _, err := tx.StmtContext(ctx, db.fast.promote).ExecContext(ctx, domain, username, agent); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		return db.issueFast(ctx, tx, domain, username, *next)
	})
	if err != nil {
		return fmt.Errorf("sqldb: use FAST token of %s@%s: %w", username, domain, err)
	}
	return nil
}

// RevokeFastTokens implements storage.FastTokens.
func (db *DB) RevokeFastTokens(ctx context.Context, domain, username, agent string) (int, error) {
	q, args := `DELETE FROM fast_tokens WHERE domain = $1 AND username = $2`, []any{domain, username}
	if agent != "" {
		q, args = q+` AND agent_id = $3`, append(args, agent)
	}
	res, err := db.write.ExecContext(ctx, q, args...)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return 0, fmt.Errorf("sqldb: revoke FAST tokens of %s@%s: %w", username, domain, err)
	}
	return int(n), nil
}
