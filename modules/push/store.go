package push

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
)

// The module owns its table, push_registrations: its schema is in
// migrations/<dialect>, versioned in goose_db_version_push, and the
// server applies it before modules start (module.RegisterSchema).
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

func init() {
	module.RegisterSchema("push", module.Schema{SQLite: sub("sqlite"), Postgres: sub("postgres")})
}

func sub(dialect string) fs.FS {
	f, err := fs.Sub(migrations, "migrations/"+dialect)
	if err != nil {
		panic(err) // a constant path into the embedded files
	}
	return f
}

// Registration is one XEP-0357 push service enabled by an account: the
// app server's XMPP Push Service JID and node, with the publish options
// (a serialized jabber:x:data form, "" for none) to send with every
// notification. (Service, Node) is the key within an account.
type Registration struct {
	Service string // push service JID, normalized by the caller
	Node    string // "" allowed (the node attribute is a SHOULD)
	// Options is the publish-options form as XML, "" for none.
	Options string
	// IncludeBody lets notifications carry the last message's body.
	IncludeBody bool
	Created     time.Time // when it was (last) enabled; kept to the millisecond, UTC
}

// registrations stores the push services of each account. Keys are
// (domain, username) of the account, as in storage.Accounts; deleting
// the account deletes its registrations (a foreign key, ON DELETE
// CASCADE).
type registrations interface {
	// EnablePush adds r or replaces the one with the same Service and
	// Node (XEP-0357 §5: the last request's options win).
	// storage.ErrNotFound if the account does not exist.
	EnablePush(ctx context.Context, domain, username string, r Registration) error
	// DisablePush removes the registration (service, node), or with
	// allNodes every registration of service, and reports how many went.
	DisablePush(ctx context.Context, domain, username, service, node string, allNodes bool) (int, error)
	// PushRegistrations returns the account's registrations ordered by
	// Service, then Node; none (and no error) for an unknown account.
	PushRegistrations(ctx context.Context, domain, username string) ([]Registration, error)
}

// sqlStore keeps the registrations in the server's database.
type sqlStore struct{ db module.SQL }

var _ registrations = sqlStore{}

// EnablePush inserts from the account's own row, so that a missing
// account inserts nothing and is told apart without reading the
// drivers' constraint errors.
func (s sqlStore) EnablePush(ctx context.Context, domain, username string, r Registration) error {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO push_registrations (domain, username, service, node, options, include_body, created_ms)
		 SELECT domain, username, $3, $4, $5, $6, $7 FROM accounts WHERE domain = $1 AND username = $2
		 ON CONFLICT (domain, username, service, node) DO UPDATE SET
		   options = excluded.options, include_body = excluded.include_body, created_ms = excluded.created_ms`,
		domain, username, r.Service, r.Node, r.Options, r.IncludeBody, r.Created.UnixMilli())
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err == nil && n == 0 {
		err = storage.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("push: enable %s %q for %s@%s: %w", r.Service, r.Node, username, domain, err)
	}
	return nil
}

func (s sqlStore) DisablePush(ctx context.Context, domain, username, service, node string, allNodes bool) (int, error) {
	q, args := `DELETE FROM push_registrations WHERE domain = $1 AND username = $2 AND service = $3 AND node = $4`,
		[]any{domain, username, service, node}
	if allNodes {
		q, args = `DELETE FROM push_registrations WHERE domain = $1 AND username = $2 AND service = $3`, args[:3]
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("push: disable %s for %s@%s: %w", service, username, domain, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("push: disable %s for %s@%s: %w", service, username, domain, err)
	}
	return int(n), nil
}

func (s sqlStore) PushRegistrations(ctx context.Context, domain, username string) (_ []Registration, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("push: registrations of %s@%s: %w", username, domain, err)
		}
	}()
	rows, err := s.db.QueryContext(ctx,
		`SELECT service, node, options, include_body, created_ms FROM push_registrations
		 WHERE domain = $1 AND username = $2 ORDER BY service, node`,
		domain, username)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Registration
	for rows.Next() {
		var (
			r  Registration
			ms int64
		)
		if err := rows.Scan(&r.Service, &r.Node, &r.Options, &r.IncludeBody, &ms); err != nil {
			return nil, err
		}
		r.Created = time.UnixMilli(ms).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
