package sqldb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.MUCRooms = (*DB)(nil)

// SaveMUCRoom implements storage.MUCRooms.
func (db *DB) SaveMUCRoom(ctx context.Context, r storage.MUCRoom) error {
	cfg := r.Config
	if cfg == nil {
		cfg = []byte{} // NOT NULL: an empty configuration is still one
	}
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO muc_rooms (service, name, config, vcard) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (service, name) DO UPDATE SET config = excluded.config, vcard = excluded.vcard`,
		r.Service, r.Name, cfg, r.VCard)
	if err != nil {
		return fmt.Errorf("sqldb: save room %s@%s: %w", r.Name, r.Service, err)
	}
	return nil
}

// DeleteMUCRoom implements storage.MUCRooms; the affiliations go with
// the room (ON DELETE CASCADE).
func (db *DB) DeleteMUCRoom(ctx context.Context, service, name string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM muc_rooms WHERE service = $1 AND name = $2`, service, name)
	if err != nil {
		return fmt.Errorf("sqldb: delete room %s@%s: %w", name, service, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// SetMUCAffiliation implements storage.MUCRooms. A missing room fails the
// foreign key on insert; a removal checks for the room explicitly.
func (db *DB) SetMUCAffiliation(ctx context.Context, service, name string, a storage.MUCAffiliation) error {
	if a.Affiliation == "" || a.Affiliation == "none" {
		return db.inTx(ctx, func(tx *sql.Tx) error {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM muc_rooms WHERE service = $1 AND name = $2`, service, name).Scan(&one)
			if err == sql.ErrNoRows {
				return storage.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("sqldb: room %s@%s: %w", name, service, err)
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM muc_affiliations WHERE service = $1 AND name = $2 AND jid = $3`, service, name, a.JID)
			if err != nil {
				return fmt.Errorf("sqldb: remove affiliation of %s in %s@%s: %w", a.JID, name, service, err)
			}
			return nil
		})
	}
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO muc_affiliations (service, name, jid, affiliation, nick, reason) VALUES ($1, $2, $3, $4, $5, $6)
		 ON CONFLICT (service, name, jid) DO UPDATE SET affiliation = excluded.affiliation, nick = excluded.nick, reason = excluded.reason`,
		service, name, a.JID, a.Affiliation, a.Nick, a.Reason)
	if err != nil && isForeignKeyViolation(err) {
		return storage.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqldb: set affiliation of %s in %s@%s: %w", a.JID, name, service, err)
	}
	return nil
}

// MUCRooms implements storage.MUCRooms: two queries, merged in name order.
func (db *DB) MUCRooms(ctx context.Context, service string) ([]storage.MUCRoom, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT name, config, vcard FROM muc_rooms WHERE service = $1 ORDER BY name`, service)
	if err != nil {
		return nil, fmt.Errorf("sqldb: rooms of %s: %w", service, err)
	}
	var out []storage.MUCRoom
	idx := map[string]int{}
	for rows.Next() {
		r := storage.MUCRoom{Service: service}
		if err := rows.Scan(&r.Name, &r.Config, &r.VCard); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqldb: rooms of %s: %w", service, err)
		}
		idx[r.Name] = len(out)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: rooms of %s: %w", service, err)
	}
	rows.Close()
	arows, err := db.read.QueryContext(ctx,
		`SELECT name, jid, affiliation, nick, reason FROM muc_affiliations WHERE service = $1 ORDER BY name, jid`, service)
	if err != nil {
		return nil, fmt.Errorf("sqldb: affiliations of %s: %w", service, err)
	}
	defer arows.Close()
	for arows.Next() {
		var name string
		var a storage.MUCAffiliation
		if err := arows.Scan(&name, &a.JID, &a.Affiliation, &a.Nick, &a.Reason); err != nil {
			return nil, fmt.Errorf("sqldb: affiliations of %s: %w", service, err)
		}
		if i, ok := idx[name]; ok {
			out[i].Affiliations = append(out[i].Affiliations, a)
		}
	}
	if err := arows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: affiliations of %s: %w", service, err)
	}
	return out, nil
}
