package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/xmppd/xmppd/storage"
)

const (
	credentialQuery = `SELECT salt, iterations, stored_key, server_key FROM credentials
		WHERE domain = $1 AND username = $2 AND hash = $3`
	existsQuery = `SELECT 1 FROM accounts WHERE domain = $1 AND username = $2`
)

// CreateAccount implements storage.Accounts.
func (db *DB) CreateAccount(ctx context.Context, domain, username string, creds []storage.Credential) error {
	if err := checkCredentials(creds); err != nil {
		return fmt.Errorf("sqldb: create account %s@%s: %w", username, domain, err)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO accounts (domain, username) VALUES ($1, $2)`,
			domain, username); err != nil {
			if isUniqueViolation(err) {
				return storage.ErrExists
			}
			return err
		}
		return insertCredentials(ctx, tx, domain, username, creds)
	})
	if err != nil {
		return fmt.Errorf("sqldb: create account %s@%s: %w", username, domain, err)
	}
	return nil
}

// SetCredentials implements storage.Accounts.
func (db *DB) SetCredentials(ctx context.Context, domain, username string, creds []storage.Credential) error {
	if err := checkCredentials(creds); err != nil {
		return fmt.Errorf("sqldb: set credentials %s@%s: %w", username, domain, err)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// A no-op UPDATE both proves the account exists and, on
		// PostgreSQL, row-locks it until commit, so two concurrent
		// password changes serialise instead of one failing on the
		// other's freshly inserted rows. (SELECT ... FOR UPDATE would do
		// the same but SQLite lacks it; there BEGIN IMMEDIATE already
		// holds the database write lock.)
		res, err := tx.ExecContext(ctx,
			`UPDATE accounts SET username = username WHERE domain = $1 AND username = $2`,
			domain, username)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM credentials WHERE domain = $1 AND username = $2`,
			domain, username); err != nil {
			return err
		}
		return insertCredentials(ctx, tx, domain, username, creds)
	})
	if err != nil {
		return fmt.Errorf("sqldb: set credentials %s@%s: %w", username, domain, err)
	}
	return nil
}

// DeleteAccount implements storage.Accounts. Credentials go with the
// account through ON DELETE CASCADE (SQLite: foreign_keys is switched on
// for every connection in Open).
func (db *DB) DeleteAccount(ctx context.Context, domain, username string) error {
	res, err := db.write.ExecContext(ctx,
		`DELETE FROM accounts WHERE domain = $1 AND username = $2`,
		domain, username)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = storage.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqldb: delete account %s@%s: %w", username, domain, err)
	}
	return nil
}

// Credential implements storage.Accounts.
func (db *DB) Credential(ctx context.Context, domain, username, hash string) (storage.Credential, error) {
	c := storage.Credential{Hash: hash}
	rctx, err := db.pointRead(ctx)
	if err != nil {
		return storage.Credential{}, fmt.Errorf("sqldb: credential %s for %s@%s: %w", hash, username, domain, err)
	}
	err = db.credentialStmt.QueryRowContext(rctx, domain, username, hash).Scan(&c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.Credential{}, fmt.Errorf("sqldb: credential %s for %s@%s: %w", hash, username, domain, err)
	}
	return c, nil
}

// AccountExists implements storage.Accounts.
func (db *DB) AccountExists(ctx context.Context, domain, username string) (bool, error) {
	var one int
	err := db.existsStmt.QueryRowContext(ctx, domain, username).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqldb: account exists %s@%s: %w", username, domain, err)
	}
	return true, nil
}

// ListAccounts implements storage.Accounts. Order is by bytes (SQLite's
// BINARY collation, COLLATE "C" in the PostgreSQL schema), which for UTF-8
// equals Go's string order. Across domains the order is that of the
// returned "username@domain" strings themselves.
func (db *DB) ListAccounts(ctx context.Context, domain string) ([]string, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if domain == "" {
		rows, err = db.read.QueryContext(ctx,
			`SELECT username || '@' || domain AS jid FROM accounts ORDER BY jid`)
	} else {
		rows, err = db.read.QueryContext(ctx,
			`SELECT username FROM accounts WHERE domain = $1 ORDER BY username`, domain)
	}
	if err != nil {
		return nil, fmt.Errorf("sqldb: list accounts %q: %w", domain, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("sqldb: list accounts %q: %w", domain, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: list accounts %q: %w", domain, err)
	}
	return out, nil
}

// checkCredentials rejects input that would otherwise surface as a
// misleading constraint error (a duplicate hash would look like ErrExists).
func checkCredentials(creds []storage.Credential) error {
	seen := make(map[string]bool, len(creds))
	for _, c := range creds {
		switch {
		case c.Hash == "":
			return errors.New("credential with empty hash name")
		case seen[c.Hash]:
			return fmt.Errorf("duplicate credential for hash %q", c.Hash)
		case c.Iterations <= 0:
			return fmt.Errorf("credential %s: iterations %d must be positive", c.Hash, c.Iterations)
		}
		seen[c.Hash] = true
	}
	return nil
}

func insertCredentials(ctx context.Context, tx *sql.Tx, domain, username string, creds []storage.Credential) error {
	for _, c := range creds {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO credentials (domain, username, hash, salt, iterations, stored_key, server_key)
			 VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			domain, username, c.Hash, nonNil(c.Salt), c.Iterations, nonNil(c.StoredKey), nonNil(c.ServerKey)); err != nil {
			if isForeignKeyViolation(err) {
				return storage.ErrNotFound
			}
			return fmt.Errorf("credential %s: %w", c.Hash, err)
		}
	}
	return nil
}

// nonNil turns a nil slice into an empty one: drivers bind nil []byte as
// NULL, which the NOT NULL columns would reject.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
