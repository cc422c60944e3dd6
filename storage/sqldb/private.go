package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.PrivateXML = (*DB)(nil)

// GetPrivate implements storage.PrivateXML.
func (db *DB) GetPrivate(ctx context.Context, domain, username, key string) ([]byte, error) {
	var data []byte
	rctx, err := db.pointRead(ctx)
	if err == nil {
		err = db.login.private.QueryRowContext(rctx, domain, username, key).Scan(&data)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqldb: private %q of %s@%s: %w", key, username, domain, err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// PrivateKeys implements storage.PrivateXML.
func (db *DB) PrivateKeys(ctx context.Context, domain, username string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT key FROM private_xml WHERE domain = $1 AND username = $2 ORDER BY key`, domain, username)
	if err != nil {
		return nil, fmt.Errorf("sqldb: private keys of %s@%s: %w", username, domain, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("sqldb: private keys of %s@%s: %w", username, domain, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: private keys of %s@%s: %w", username, domain, err)
	}
	return keys, nil
}

// SetPrivate implements storage.PrivateXML. A missing account fails the
// foreign key and becomes ErrNotFound.
func (db *DB) SetPrivate(ctx context.Context, domain, username, key string, data []byte) error {
	var err error
	if data == nil {
		_, err = db.write.ExecContext(ctx,
			`DELETE FROM private_xml WHERE domain = $1 AND username = $2 AND key = $3`,
			domain, username, key)
	} else {
		_, err = db.write.ExecContext(ctx,
			`INSERT INTO private_xml (domain, username, key, data) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (domain, username, key) DO UPDATE SET data = excluded.data`,
			domain, username, key, data)
		if err != nil && isForeignKeyViolation(err) {
			err = storage.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqldb: set private %q of %s@%s: %w", key, username, domain, err)
	}
	return nil
}
