package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.BlockLists = (*DB)(nil)

// BlockList implements storage.BlockLists.
func (db *DB) BlockList(ctx context.Context, domain, username string) ([]string, error) {
	rctx, err := db.pointRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqldb: block list of %s@%s: %w", username, domain, err)
	}
	rows, err := db.login.blockList.QueryContext(rctx, domain, username)
	if err != nil {
		return nil, fmt.Errorf("sqldb: block list of %s@%s: %w", username, domain, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, fmt.Errorf("sqldb: block list of %s@%s: %w", username, domain, err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: block list of %s@%s: %w", username, domain, err)
	}
	return out, nil
}

// Block implements storage.BlockLists. A missing account fails the foreign
// key on the first insert and becomes ErrNotFound; the transaction makes a
// partial list impossible.
func (db *DB) Block(ctx context.Context, domain, username string, jids []string) error {
	if len(jids) == 0 {
		return nil
	}
	// Inserted in one order whatever the caller's: two PostgreSQL
	// transactions blocking overlapping sets then take the row locks in
	// the same order and cannot deadlock.
	sorted := slices.Clone(jids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, j := range sorted {
			if j == "" {
				return errors.New("empty JID")
			}
			_, err := tx.ExecContext(ctx,
				`INSERT INTO blocklist (domain, username, jid) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				domain, username, j)
			if err != nil {
				if isForeignKeyViolation(err) {
					return storage.ErrNotFound
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqldb: block %d JIDs for %s@%s: %w", len(jids), username, domain, err)
	}
	return nil
}

// Unblock implements storage.BlockLists.
func (db *DB) Unblock(ctx context.Context, domain, username string, jids []string) error {
	if len(jids) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, j := range jids {
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM blocklist WHERE domain = $1 AND username = $2 AND jid = $3`,
				domain, username, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqldb: unblock %d JIDs for %s@%s: %w", len(jids), username, domain, err)
	}
	return nil
}

// UnblockAll implements storage.BlockLists.
func (db *DB) UnblockAll(ctx context.Context, domain, username string) error {
	if _, err := db.write.ExecContext(ctx,
		`DELETE FROM blocklist WHERE domain = $1 AND username = $2`, domain, username); err != nil {
		return fmt.Errorf("sqldb: unblock all for %s@%s: %w", username, domain, err)
	}
	return nil
}
