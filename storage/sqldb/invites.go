package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.Invites = (*DB)(nil)

// roleAdmin is the account_roles value an admin invite stores.
const roleAdmin = "admin"

const inviteColumns = `id, token_hash, domain, creator, username, admin, uses_left, created_ms, expires_ms`

func scanInvite(row interface{ Scan(...any) error }) (storage.Invite, error) {
	var (
		inv       storage.Invite
		cms, exms int64
	)
	if err := row.Scan(&inv.ID, &inv.TokenHash, &inv.Domain, &inv.Creator, &inv.Username, &inv.Admin, &inv.UsesLeft, &cms, &exms); err != nil {
		return storage.Invite{}, err
	}
	inv.Created, inv.Expires = time.UnixMilli(cms).UTC(), time.UnixMilli(exms).UTC()
	return inv, nil
}

// CreateInvite implements storage.Invites.
func (db *DB) CreateInvite(ctx context.Context, inv storage.Invite) error {
	if inv.ID == "" || len(inv.TokenHash) == 0 || inv.Domain == "" || inv.UsesLeft < 1 {
		return fmt.Errorf("sqldb: create invite: id, token hash, domain and at least one use are required")
	}
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO invites (`+inviteColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		inv.ID, inv.TokenHash, inv.Domain, inv.Creator, inv.Username, inv.Admin, inv.UsesLeft,
		inv.Created.UnixMilli(), inv.Expires.UnixMilli())
	if err != nil && isUniqueViolation(err) {
		err = storage.ErrExists
	}
	if err != nil {
		return fmt.Errorf("sqldb: create invite %s on %s: %w", inv.ID, inv.Domain, err)
	}
	return nil
}

// Invite implements storage.Invites.
func (db *DB) Invite(ctx context.Context, tokenHash []byte, now time.Time) (storage.Invite, error) {
	inv, err := scanInvite(db.read.QueryRowContext(ctx,
		`SELECT `+inviteColumns+` FROM invites WHERE token_hash = $1 AND expires_ms > $2 AND uses_left > 0`,
		tokenHash, now.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.Invite{}, fmt.Errorf("sqldb: invite: %w", err)
	}
	return inv, nil
}

// RedeemInvite implements storage.Invites. The use is taken first with an
// UPDATE, which on PostgreSQL row-locks the invite until commit (on SQLite
// BEGIN IMMEDIATE holds the write lock already), so two redemptions of the
// last use serialise and the second finds none left.
func (db *DB) RedeemInvite(ctx context.Context, tokenHash []byte, now time.Time, username string, creds []storage.Credential) (storage.Invite, error) {
	if err := checkCredentials(creds); err != nil {
		return storage.Invite{}, fmt.Errorf("sqldb: redeem invite for %s: %w", username, err)
	}
	var inv storage.Invite
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if inv, err = spendInvite(ctx, tx, tokenHash, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO accounts (domain, username) VALUES ($1, $2)`, inv.Domain, username); err != nil {
			if isUniqueViolation(err) {
				return storage.ErrExists
			}
			return err
		}
		if err := insertCredentials(ctx, tx, inv.Domain, username, creds); err != nil {
			return err
		}
		if inv.Admin {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO account_roles (domain, username, role) VALUES ($1, $2, $3)`,
				inv.Domain, username, roleAdmin); err != nil {
				return fmt.Errorf("admin role: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return storage.Invite{}, fmt.Errorf("sqldb: redeem invite for %s: %w", username, err)
	}
	return inv, nil
}

// spendInvite takes one use of the invite in tx and returns it as it was
// before; the last use deletes it (in the same transaction, so a rollback
// brings it back).
func spendInvite(ctx context.Context, tx *sql.Tx, tokenHash []byte, now time.Time) (storage.Invite, error) {
	inv, err := scanInvite(tx.QueryRowContext(ctx,
		`UPDATE invites SET uses_left = uses_left - 1
		 WHERE token_hash = $1 AND expires_ms > $2 AND uses_left > 0
		 RETURNING `+inviteColumns,
		tokenHash, now.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Invite{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.Invite{}, err
	}
	inv.UsesLeft++ // as it was before this use
	if inv.UsesLeft == 1 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM invites WHERE id = $1`, inv.ID); err != nil {
			return storage.Invite{}, fmt.Errorf("delete used invite: %w", err)
		}
	}
	return inv, nil
}

// UseInvite implements storage.Invites.
func (db *DB) UseInvite(ctx context.Context, tokenHash []byte, now time.Time) (storage.Invite, error) {
	var inv storage.Invite
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		inv, err = spendInvite(ctx, tx, tokenHash, now)
		return err
	})
	if err != nil {
		return storage.Invite{}, fmt.Errorf("sqldb: use invite: %w", err)
	}
	return inv, nil
}

// ListInvites implements storage.Invites.
func (db *DB) ListInvites(ctx context.Context, domain string, now time.Time) ([]storage.Invite, error) {
	q, args := `SELECT `+inviteColumns+` FROM invites WHERE expires_ms > $1 ORDER BY created_ms, id`, []any{now.UnixMilli()}
	if domain != "" {
		q, args = `SELECT `+inviteColumns+` FROM invites WHERE expires_ms > $1 AND domain = $2 ORDER BY created_ms, id`, append(args, domain)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqldb: list invites %q: %w", domain, err)
	}
	defer rows.Close()
	var out []storage.Invite
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			return nil, fmt.Errorf("sqldb: list invites %q: %w", domain, err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: list invites %q: %w", domain, err)
	}
	return out, nil
}

// RevokeInvite implements storage.Invites.
func (db *DB) RevokeInvite(ctx context.Context, domain, id string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM invites WHERE domain = $1 AND id = $2`, domain, id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = storage.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqldb: revoke invite %s on %s: %w", id, domain, err)
	}
	return nil
}

// DeleteExpiredInvites implements storage.Invites.
func (db *DB) DeleteExpiredInvites(ctx context.Context, now time.Time) (int, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM invites WHERE expires_ms <= $1`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("sqldb: delete expired invites: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqldb: delete expired invites: %w", err)
	}
	return int(n), nil
}

// AccountAdmin implements storage.Invites.
func (db *DB) AccountAdmin(ctx context.Context, domain, username string) (bool, error) {
	var one int
	err := db.read.QueryRowContext(ctx,
		`SELECT 1 FROM account_roles WHERE domain = $1 AND username = $2 AND role = $3`,
		domain, username, roleAdmin).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqldb: roles of %s@%s: %w", username, domain, err)
	}
	return true, nil
}
