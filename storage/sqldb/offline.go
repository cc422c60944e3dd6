package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.Offline = (*DB)(nil)

// StoreOffline implements storage.Offline. The account row is read first
// (on PostgreSQL with FOR UPDATE, so concurrent stores for one account
// queue behind each other and the limit holds; SQLite's BEGIN IMMEDIATE
// already serialises all writers).
func (db *DB) StoreOffline(ctx context.Context, domain, username string, stanza []byte, stamp time.Time, limit int) error {
	lockQ := `SELECT 1 FROM accounts WHERE domain = $1 AND username = $2`
	if db.dialect == Postgres {
		lockQ += ` FOR UPDATE`
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, lockQ, domain, username).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return storage.ErrNotFound
			}
			return err
		}
		if limit > 0 {
			var n int
			if err := tx.QueryRowContext(ctx,
				`SELECT COUNT(*) FROM offline_messages WHERE domain = $1 AND username = $2`,
				domain, username).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return storage.ErrFull
			}
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO offline_messages (domain, username, stamp_ms, stanza) VALUES ($1, $2, $3, $4)`,
			domain, username, stamp.UnixMilli(), stanza)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldb: store offline message for %s@%s: %w", username, domain, err)
	}
	return nil
}

// OfflineMessages implements storage.Offline.
func (db *DB) OfflineMessages(ctx context.Context, domain, username string) ([]storage.OfflineMessage, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT id, stamp_ms, stanza FROM offline_messages WHERE domain = $1 AND username = $2 ORDER BY id`,
		domain, username)
	return scanOffline(rows, err, domain, username)
}

// OfflinePage implements storage.Offline. The index on (domain, username,
// id) serves the range and the order.
func (db *DB) OfflinePage(ctx context.Context, domain, username string, after int64, limit int) ([]storage.OfflineMessage, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqldb: offline messages of %s@%s: page limit %d is not positive", username, domain, limit)
	}
	rctx, err := db.pointRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqldb: offline messages of %s@%s: %w", username, domain, err)
	}
	rows, err := db.login.offlinePage.QueryContext(rctx, domain, username, after, limit)
	return scanOffline(rows, err, domain, username)
}

// scanOffline reads the rows of an offline query (err is the query's).
func scanOffline(rows *sql.Rows, err error, domain, username string) ([]storage.OfflineMessage, error) {
	if err != nil {
		return nil, fmt.Errorf("sqldb: offline messages of %s@%s: %w", username, domain, err)
	}
	defer rows.Close()
	var out []storage.OfflineMessage
	for rows.Next() {
		var (
			m  storage.OfflineMessage
			ms int64
		)
		if err := rows.Scan(&m.ID, &ms, &m.Stanza); err != nil {
			return nil, fmt.Errorf("sqldb: offline messages of %s@%s: %w", username, domain, err)
		}
		m.Stamp = time.UnixMilli(ms).UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: offline messages of %s@%s: %w", username, domain, err)
	}
	return out, nil
}

// DeleteOffline implements storage.Offline.
func (db *DB) DeleteOffline(ctx context.Context, domain, username string, upTo int64) (int, error) {
	res, err := db.write.ExecContext(ctx,
		`DELETE FROM offline_messages WHERE domain = $1 AND username = $2 AND id <= $3`,
		domain, username, upTo)
	if err != nil {
		return 0, fmt.Errorf("sqldb: delete offline messages of %s@%s: %w", username, domain, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqldb: delete offline messages of %s@%s: %w", username, domain, err)
	}
	return int(n), nil
}

// CountOffline implements storage.Offline.
func (db *DB) CountOffline(ctx context.Context, domain, username string) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM offline_messages WHERE domain = $1 AND username = $2`,
		domain, username).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqldb: count offline messages of %s@%s: %w", username, domain, err)
	}
	return n, nil
}
