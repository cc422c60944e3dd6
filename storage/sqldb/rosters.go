package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.Rosters = (*DB)(nil)

// bumpRosterVersion increases an account's roster version inside tx and
// returns it. The first change creates the row with version 1; a missing
// account fails the foreign key and becomes ErrNotFound. On PostgreSQL the
// upsert row-locks the version until commit, so concurrent changes to one
// roster serialise and each gets its own version.
func bumpRosterVersion(ctx context.Context, tx *sql.Tx, domain, username string) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx,
		`INSERT INTO roster_versions (domain, username, version) VALUES ($1, $2, 1)
		 ON CONFLICT (domain, username) DO UPDATE SET version = roster_versions.version + 1
		 RETURNING version`,
		domain, username).Scan(&v)
	if err != nil {
		if isForeignKeyViolation(err) {
			return 0, storage.ErrNotFound
		}
		return 0, err
	}
	return v, nil
}

// Roster implements storage.Rosters. One statement reads the version and
// the items, so both come from the same snapshot on either engine.
func (db *DB) Roster(ctx context.Context, domain, username string) ([]storage.RosterItem, string, error) {
	rctx, err := db.pointRead(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("sqldb: roster of %s@%s: %w", username, domain, err)
	}
	rows, err := db.login.roster.QueryContext(rctx, domain, username)
	if err != nil {
		return nil, "", fmt.Errorf("sqldb: roster of %s@%s: %w", username, domain, err)
	}
	defer rows.Close()
	var (
		items   []storage.RosterItem
		version int64
	)
	for rows.Next() {
		var (
			jid, name, sub, groups             sql.NullString
			ask, approved, pendIn, placeholder sql.NullBool
		)
		if err := rows.Scan(&version, &jid, &name, &sub, &ask, &approved, &pendIn, &placeholder, &groups); err != nil {
			return nil, "", fmt.Errorf("sqldb: roster of %s@%s: %w", username, domain, err)
		}
		if !jid.Valid {
			continue // the LEFT JOIN's row for an empty roster
		}
		it := storage.RosterItem{JID: jid.String, Name: name.String, Subscription: sub.String, Ask: ask.Bool, Approved: approved.Bool, PendingIn: pendIn.Bool, Placeholder: placeholder.Bool}
		if err := json.Unmarshal([]byte(groups.String), &it.Groups); err != nil {
			return nil, "", fmt.Errorf("sqldb: roster of %s@%s: groups of %s: %w", username, domain, jid.String, err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqldb: roster of %s@%s: %w", username, domain, err)
	}
	return items, strconv.FormatInt(version, 10), nil
}

// RosterItem implements storage.Rosters: one row by the primary key.
func (db *DB) RosterItem(ctx context.Context, domain, username, jid string) (storage.RosterItem, error) {
	var (
		name, sub, groups                  sql.NullString
		ask, approved, pendIn, placeholder sql.NullBool
	)
	err := db.read.QueryRowContext(ctx,
		`SELECT name, subscription, ask, approved, pending_in, placeholder, item_groups
		 FROM roster_items WHERE domain = $1 AND username = $2 AND jid = $3`,
		domain, username, jid).Scan(&name, &sub, &ask, &approved, &pendIn, &placeholder, &groups)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.RosterItem{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.RosterItem{}, fmt.Errorf("sqldb: roster item %s of %s@%s: %w", jid, username, domain, err)
	}
	it := storage.RosterItem{JID: jid, Name: name.String, Subscription: sub.String, Ask: ask.Bool, Approved: approved.Bool, PendingIn: pendIn.Bool, Placeholder: placeholder.Bool}
	if err := json.Unmarshal([]byte(groups.String), &it.Groups); err != nil {
		return storage.RosterItem{}, fmt.Errorf("sqldb: roster item %s of %s@%s: groups: %w", jid, username, domain, err)
	}
	return it, nil
}

// SetRosterItem implements storage.Rosters.
func (db *DB) SetRosterItem(ctx context.Context, domain, username string, item storage.RosterItem) (string, error) {
	sub := item.Subscription
	if sub == "" {
		sub = "none"
	}
	groups := item.Groups
	if groups == nil {
		groups = []string{}
	}
	gj, err := json.Marshal(groups)
	if err != nil {
		return "", fmt.Errorf("sqldb: set roster item %s for %s@%s: %w", item.JID, username, domain, err)
	}
	if item.JID == "" {
		return "", fmt.Errorf("sqldb: set roster item for %s@%s: empty JID", username, domain)
	}
	var v int64
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if v, err = bumpRosterVersion(ctx, tx, domain, username); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO roster_items (domain, username, jid, name, subscription, ask, approved, pending_in, placeholder, item_groups)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			 ON CONFLICT (domain, username, jid) DO UPDATE SET
			   name = excluded.name, subscription = excluded.subscription, ask = excluded.ask,
			   approved = excluded.approved, pending_in = excluded.pending_in,
			   placeholder = excluded.placeholder, item_groups = excluded.item_groups`,
			domain, username, item.JID, item.Name, sub, item.Ask, item.Approved, item.PendingIn, item.Placeholder, string(gj))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqldb: set roster item %s for %s@%s: %w", item.JID, username, domain, err)
	}
	return strconv.FormatInt(v, 10), nil
}

// DeleteRosterItem implements storage.Rosters.
func (db *DB) DeleteRosterItem(ctx context.Context, domain, username, jid string) (string, error) {
	var v int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM roster_items WHERE domain = $1 AND username = $2 AND jid = $3`,
			domain, username, jid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		v, err = bumpRosterVersion(ctx, tx, domain, username)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqldb: delete roster item %s for %s@%s: %w", jid, username, domain, err)
	}
	return strconv.FormatInt(v, 10), nil
}
