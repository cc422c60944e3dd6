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

// FastTokens implements storage.FastTokens. 'new' sorts after 'current',
// hence DESC.
func (db *DB) FastTokens(ctx context.Context, domain, username, agent string, now time.Time) ([]storage.FastToken, error) {
	out, err := db.queryFast(ctx, `SELECT `+fastColumns+` FROM fast_tokens
		WHERE domain = $1 AND username = $2 AND agent_id = $3 AND expiry_ms > $4
		ORDER BY slot DESC`, domain, username, agent, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("sqldb: FAST tokens of %s@%s: %w", username, domain, err)
	}
	return out, nil
}

// ListFastTokens implements storage.FastTokens.
func (db *DB) ListFastTokens(ctx context.Context, domain, username string) ([]storage.FastToken, error) {
	out, err := db.queryFast(ctx, `SELECT `+fastColumns+` FROM fast_tokens
		WHERE domain = $1 AND username = $2 ORDER BY agent_id, slot DESC`, domain, username)
	if err != nil {
		return nil, fmt.Errorf("sqldb: list FAST tokens of %s@%s: %w", username, domain, err)
	}
	return out, nil
}

func (db *DB) queryFast(ctx context.Context, q string, args ...any) ([]storage.FastToken, error) {
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
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

// IssueFastToken implements storage.FastTokens. A missing account fails
// the foreign key and becomes ErrNotFound.
func (db *DB) IssueFastToken(ctx context.Context, domain, username string, tok storage.FastToken) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM fast_tokens WHERE domain = $1 AND username = $2 AND expiry_ms <= $3`,
			domain, username, tok.Created.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO fast_tokens (domain, username, agent_id, slot, mechanism, token_hash, label, created_ms, expiry_ms)
			 VALUES ($1, $2, $3, 'new', $4, $5, $6, $7, $8)
			 ON CONFLICT (domain, username, agent_id, slot) DO UPDATE SET
			   mechanism = excluded.mechanism, token_hash = excluded.token_hash, label = excluded.label,
			   created_ms = excluded.created_ms, expiry_ms = excluded.expiry_ms`,
			domain, username, tok.AgentID, tok.Mechanism, tok.Hash, tok.Label, tok.Created.UnixMilli(), tok.Expiry.UnixMilli())
		if err != nil && isForeignKeyViolation(err) {
			return storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldb: issue FAST token for %s@%s: %w", username, domain, err)
	}
	return nil
}

// UseFastToken implements storage.FastTokens.
func (db *DB) UseFastToken(ctx context.Context, domain, username, agent string, hash []byte) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var slot string
		err := tx.QueryRowContext(ctx,
			`SELECT slot FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = $3 AND token_hash = $4`,
			domain, username, agent, hash).Scan(&slot)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return storage.ErrNotFound
		case err != nil:
			return err
		case slot == "current":
			return nil
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM fast_tokens WHERE domain = $1 AND username = $2 AND agent_id = $3 AND slot = 'current'`,
			domain, username, agent); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE fast_tokens SET slot = 'current' WHERE domain = $1 AND username = $2 AND agent_id = $3 AND slot = 'new'`,
			domain, username, agent)
		return err
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
