package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.LastActivity = (*DB)(nil)

// SetLastActivity implements storage.LastActivity. A missing account
// fails the foreign key and becomes ErrNotFound.
func (db *DB) SetLastActivity(ctx context.Context, domain, username string, at time.Time, status string) error {
	_, err := db.login.setLastActivity.ExecContext(ctx, domain, username, at.UnixMilli(), status)
	if err != nil && isForeignKeyViolation(err) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqldb: set last activity of %s@%s: %w", username, domain, err)
	}
	return nil
}

// SetLastActivities implements storage.LastActivity: one transaction, the
// prepared upsert once per record. A record whose account is gone fails
// its foreign key, which on PostgreSQL aborts the transaction: then the
// records are written one by one and the missing accounts skipped.
func (db *DB) SetLastActivities(ctx context.Context, recs []storage.LastActivityRecord) error {
	if len(recs) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		st := tx.StmtContext(ctx, db.login.setLastActivity)
		defer st.Close()
		for _, r := range recs {
			if _, err := st.ExecContext(ctx, r.Domain, r.Username, r.At.UnixMilli(), r.Status); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if !isForeignKeyViolation(err) {
		return fmt.Errorf("sqldb: set last activity of %d accounts: %w", len(recs), err)
	}
	for _, r := range recs {
		if err := db.SetLastActivity(ctx, r.Domain, r.Username, r.At, r.Status); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}

// LastActivity implements storage.LastActivity.
func (db *DB) LastActivity(ctx context.Context, domain, username string) (time.Time, string, error) {
	var (
		ms     int64
		status string
	)
	err := db.read.QueryRowContext(ctx,
		`SELECT at_ms, status FROM last_activity WHERE domain = $1 AND username = $2`,
		domain, username).Scan(&ms, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", storage.ErrNotFound
	}
	if err != nil {
		return time.Time{}, "", fmt.Errorf("sqldb: last activity of %s@%s: %w", username, domain, err)
	}
	return time.UnixMilli(ms).UTC(), status, nil
}
