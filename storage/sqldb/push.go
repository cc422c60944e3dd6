package sqldb

import (
	"context"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.PushRegistrations = (*DB)(nil)

// EnablePush implements storage.PushRegistrations. A missing account
// fails the foreign key and becomes ErrNotFound.
func (db *DB) EnablePush(ctx context.Context, domain, username string, r storage.PushRegistration) error {
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO push_registrations (domain, username, service, node, options, include_body, created_ms)
		 VALUES ($1, $2, $3, $4, $5, $6, $7)
		 ON CONFLICT (domain, username, service, node) DO UPDATE SET
		   options = excluded.options, include_body = excluded.include_body, created_ms = excluded.created_ms`,
		domain, username, r.Service, r.Node, r.Options, r.IncludeBody, r.Created.UnixMilli())
	if err != nil && isForeignKeyViolation(err) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqldb: enable push %s %q for %s@%s: %w", r.Service, r.Node, username, domain, err)
	}
	return nil
}

// DisablePush implements storage.PushRegistrations.
func (db *DB) DisablePush(ctx context.Context, domain, username, service, node string, allNodes bool) (int, error) {
	q, args := `DELETE FROM push_registrations WHERE domain = $1 AND username = $2 AND service = $3 AND node = $4`,
		[]any{domain, username, service, node}
	if allNodes {
		q, args = `DELETE FROM push_registrations WHERE domain = $1 AND username = $2 AND service = $3`, args[:3]
	}
	res, err := db.write.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("sqldb: disable push %s for %s@%s: %w", service, username, domain, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqldb: disable push %s for %s@%s: %w", service, username, domain, err)
	}
	return int(n), nil
}

// PushRegistrations implements storage.PushRegistrations.
func (db *DB) PushRegistrations(ctx context.Context, domain, username string) ([]storage.PushRegistration, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT service, node, options, include_body, created_ms FROM push_registrations
		 WHERE domain = $1 AND username = $2 ORDER BY service, node`,
		domain, username)
	if err != nil {
		return nil, fmt.Errorf("sqldb: push registrations of %s@%s: %w", username, domain, err)
	}
	defer rows.Close()
	var out []storage.PushRegistration
	for rows.Next() {
		var (
			r  storage.PushRegistration
			ms int64
		)
		if err := rows.Scan(&r.Service, &r.Node, &r.Options, &r.IncludeBody, &ms); err != nil {
			return nil, fmt.Errorf("sqldb: push registrations of %s@%s: %w", username, domain, err)
		}
		r.Created = time.UnixMilli(ms).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: push registrations of %s@%s: %w", username, domain, err)
	}
	return out, nil
}
