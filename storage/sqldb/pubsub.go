package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xmppd/xmppd/storage"
)

var _ storage.PubSub = (*DB)(nil)

func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func encodeConfig(cfg map[string][]string) (string, error) {
	if cfg == nil {
		cfg = map[string][]string{}
	}
	b, err := json.Marshal(cfg)
	return string(b), err
}

func decodeConfig(s string) (map[string][]string, error) {
	cfg := map[string][]string{}
	if err := json.Unmarshal([]byte(s), &cfg); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	return cfg, nil
}

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// nodeID looks a node's row id up; ErrNotFound if there is none.
func nodeID(ctx context.Context, q queryer, service, node string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM pubsub_nodes WHERE service = $1 AND node = $2`, service, node).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, storage.ErrNotFound
	}
	return id, err
}

// CreateNode implements storage.PubSub.
func (db *DB) CreateNode(ctx context.Context, n storage.PubSubNode, owner string) error {
	cfg, err := encodeConfig(n.Config)
	if err != nil {
		return fmt.Errorf("sqldb: create node %q of %s: %w", n.Node, n.Service, err)
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx,
			`INSERT INTO pubsub_nodes (service, node, account_domain, account_user, config)
			 VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			n.Service, n.Node, nullable(n.AccountDomain), nullable(n.AccountUser), cfg).Scan(&id)
		switch {
		case err != nil && isUniqueViolation(err):
			return storage.ErrExists
		case err != nil && isForeignKeyViolation(err):
			return storage.ErrNotFound
		case err != nil:
			return err
		}
		if owner != "" {
			_, err = tx.ExecContext(ctx,
				`INSERT INTO pubsub_affiliations (node_id, jid, affiliation) VALUES ($1, $2, 'owner')`, id, owner)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldb: create node %q of %s: %w", n.Node, n.Service, err)
	}
	return nil
}

func scanNode(sc interface{ Scan(...any) error }) (storage.PubSubNode, error) {
	var (
		n        storage.PubSubNode
		dom, usr sql.NullString
		cfg      string
	)
	if err := sc.Scan(&n.Service, &n.Node, &dom, &usr, &cfg); err != nil {
		return n, err
	}
	n.AccountDomain, n.AccountUser = dom.String, usr.String
	var err error
	n.Config, err = decodeConfig(cfg)
	return n, err
}

// Node implements storage.PubSub.
func (db *DB) Node(ctx context.Context, service, node string) (storage.PubSubNode, error) {
	n, err := scanNode(db.read.QueryRowContext(ctx,
		`SELECT service, node, account_domain, account_user, config FROM pubsub_nodes WHERE service = $1 AND node = $2`,
		service, node))
	if errors.Is(err, sql.ErrNoRows) {
		return n, storage.ErrNotFound
	}
	if err != nil {
		return n, fmt.Errorf("sqldb: node %q of %s: %w", node, service, err)
	}
	return n, nil
}

// Nodes implements storage.PubSub.
func (db *DB) Nodes(ctx context.Context, service string) ([]storage.PubSubNode, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT service, node, account_domain, account_user, config FROM pubsub_nodes WHERE service = $1 ORDER BY node`,
		service)
	if err != nil {
		return nil, fmt.Errorf("sqldb: nodes of %s: %w", service, err)
	}
	defer rows.Close()
	var out []storage.PubSubNode
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("sqldb: nodes of %s: %w", service, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: nodes of %s: %w", service, err)
	}
	return out, nil
}

// exec1 runs a statement on one node and reports ErrNotFound when it
// touched no row.
func (db *DB) exec1(ctx context.Context, what, query string, args ...any) error {
	res, err := db.write.ExecContext(ctx, query, args...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = storage.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqldb: %s: %w", what, err)
	}
	return nil
}

// SetNodeConfig implements storage.PubSub.
func (db *DB) SetNodeConfig(ctx context.Context, service, node string, config map[string][]string) error {
	cfg, err := encodeConfig(config)
	if err != nil {
		return fmt.Errorf("sqldb: configure node %q of %s: %w", node, service, err)
	}
	return db.exec1(ctx, fmt.Sprintf("configure node %q of %s", node, service),
		`UPDATE pubsub_nodes SET config = $3 WHERE service = $1 AND node = $2`, service, node, cfg)
}

// DeleteNode implements storage.PubSub; the foreign keys cascade to the
// node's items, affiliations and subscriptions.
func (db *DB) DeleteNode(ctx context.Context, service, node string) error {
	return db.exec1(ctx, fmt.Sprintf("delete node %q of %s", node, service),
		`DELETE FROM pubsub_nodes WHERE service = $1 AND node = $2`, service, node)
}

// inNodeTx runs fn in a transaction with the node's row id.
func (db *DB) inNodeTx(ctx context.Context, service, node string, fn func(tx *sql.Tx, id int64) error) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		id, err := nodeID(ctx, tx, service, node)
		if err != nil {
			return err
		}
		return fn(tx, id)
	})
}

// SetAffiliation implements storage.PubSub.
func (db *DB) SetAffiliation(ctx context.Context, service, node, jid, affiliation string) error {
	err := db.inNodeTx(ctx, service, node, func(tx *sql.Tx, id int64) error {
		var err error
		if affiliation == "none" || affiliation == "" {
			_, err = tx.ExecContext(ctx, `DELETE FROM pubsub_affiliations WHERE node_id = $1 AND jid = $2`, id, jid)
		} else {
			_, err = tx.ExecContext(ctx,
				`INSERT INTO pubsub_affiliations (node_id, jid, affiliation) VALUES ($1, $2, $3)
				 ON CONFLICT (node_id, jid) DO UPDATE SET affiliation = excluded.affiliation`, id, jid, affiliation)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldb: affiliation of %s with node %q of %s: %w", jid, node, service, err)
	}
	return nil
}

// Affiliations implements storage.PubSub.
func (db *DB) Affiliations(ctx context.Context, service, node string) ([]storage.PubSubAffiliation, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT a.jid, a.affiliation FROM pubsub_affiliations a JOIN pubsub_nodes n ON n.id = a.node_id
		 WHERE n.service = $1 AND n.node = $2 ORDER BY a.jid`, service, node)
	if err != nil {
		return nil, fmt.Errorf("sqldb: affiliations of node %q of %s: %w", node, service, err)
	}
	defer rows.Close()
	var out []storage.PubSubAffiliation
	for rows.Next() {
		var a storage.PubSubAffiliation
		if err := rows.Scan(&a.JID, &a.Affiliation); err != nil {
			return nil, fmt.Errorf("sqldb: affiliations of node %q of %s: %w", node, service, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: affiliations of node %q of %s: %w", node, service, err)
	}
	return out, nil
}

// SetSubscription implements storage.PubSub.
func (db *DB) SetSubscription(ctx context.Context, service, node string, sub storage.PubSubSubscription) error {
	err := db.inNodeTx(ctx, service, node, func(tx *sql.Tx, id int64) error {
		var err error
		if sub.State == "none" || sub.State == "" {
			_, err = tx.ExecContext(ctx,
				`DELETE FROM pubsub_subscriptions WHERE node_id = $1 AND jid = $2 AND subid = $3`, id, sub.JID, sub.SubID)
		} else {
			_, err = tx.ExecContext(ctx,
				`INSERT INTO pubsub_subscriptions (node_id, jid, subid, state) VALUES ($1, $2, $3, $4)
				 ON CONFLICT (node_id, jid, subid) DO UPDATE SET state = excluded.state`, id, sub.JID, sub.SubID, sub.State)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldb: subscription of %s to node %q of %s: %w", sub.JID, node, service, err)
	}
	return nil
}

// Subscriptions implements storage.PubSub.
func (db *DB) Subscriptions(ctx context.Context, service, node string) ([]storage.PubSubSubscription, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT s.jid, s.subid, s.state FROM pubsub_subscriptions s JOIN pubsub_nodes n ON n.id = s.node_id
		 WHERE n.service = $1 AND n.node = $2 ORDER BY s.jid, s.subid`, service, node)
	if err != nil {
		return nil, fmt.Errorf("sqldb: subscriptions of node %q of %s: %w", node, service, err)
	}
	defer rows.Close()
	var out []storage.PubSubSubscription
	for rows.Next() {
		var s storage.PubSubSubscription
		if err := rows.Scan(&s.JID, &s.SubID, &s.State); err != nil {
			return nil, fmt.Errorf("sqldb: subscriptions of node %q of %s: %w", node, service, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: subscriptions of node %q of %s: %w", node, service, err)
	}
	return out, nil
}

// trim deletes the oldest items of node id beyond max.
func (db *DB) trim(ctx context.Context, tx *sql.Tx, id int64, max int) ([]string, error) {
	// SQLite wants a LIMIT before OFFSET (-1: none); PostgreSQL takes
	// OFFSET alone.
	limit := ""
	if db.dialect == SQLite {
		limit = " LIMIT -1"
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT item_id FROM pubsub_items WHERE node_id = $1 ORDER BY seq DESC`+limit+` OFFSET $2`, id, max)
	if err != nil {
		return nil, err
	}
	var gone []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		gone = append(gone, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, s := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE node_id = $1 AND item_id = $2`, id, s); err != nil {
			return nil, err
		}
	}
	return gone, nil
}

// PublishItem implements storage.PubSub. The old row is deleted and a new
// one inserted, so a republished item takes a new seq and becomes the
// newest.
func (db *DB) PublishItem(ctx context.Context, service, node string, it storage.PubSubItem, maxItems int) ([]string, error) {
	var gone []string
	err := db.inNodeTx(ctx, service, node, func(tx *sql.Tx, id int64) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE node_id = $1 AND item_id = $2`, id, it.ID); err != nil {
			return err
		}
		payload := it.Payload
		if payload == nil {
			payload = []byte{}
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO pubsub_items (node_id, item_id, publisher, payload, published_ms) VALUES ($1, $2, $3, $4, $5)`,
			id, it.ID, it.Publisher, payload, it.Published.UnixMilli()); err != nil {
			return err
		}
		if maxItems > 0 {
			var err error
			gone, err = db.trim(ctx, tx, id, maxItems)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: publish item %q to node %q of %s: %w", it.ID, node, service, err)
	}
	return gone, nil
}

// TrimItems implements storage.PubSub.
func (db *DB) TrimItems(ctx context.Context, service, node string, max int) ([]string, error) {
	if max <= 0 {
		return nil, nil
	}
	var gone []string
	err := db.inNodeTx(ctx, service, node, func(tx *sql.Tx, id int64) error {
		var err error
		gone, err = db.trim(ctx, tx, id, max)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: trim node %q of %s: %w", node, service, err)
	}
	return gone, nil
}

// Items implements storage.PubSub.
func (db *DB) Items(ctx context.Context, service, node string, ids []string, max int) ([]storage.PubSubItem, error) {
	id, err := nodeID(ctx, db.read, service, node)
	if err != nil {
		return nil, fmt.Errorf("sqldb: items of node %q of %s: %w", node, service, err)
	}
	q := `SELECT item_id, publisher, payload, published_ms FROM pubsub_items WHERE node_id = $1`
	args := []any{id}
	if len(ids) > 0 {
		ph := make([]string, len(ids))
		for i, s := range ids {
			args = append(args, s)
			ph[i] = fmt.Sprintf("$%d", i+2)
		}
		q += ` AND item_id IN (` + strings.Join(ph, ", ") + `)`
	}
	q += ` ORDER BY seq DESC`
	if len(ids) == 0 && max > 0 {
		q += fmt.Sprintf(` LIMIT %d`, max)
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqldb: items of node %q of %s: %w", node, service, err)
	}
	defer rows.Close()
	var out []storage.PubSubItem
	for rows.Next() {
		var (
			it storage.PubSubItem
			ms int64
		)
		if err := rows.Scan(&it.ID, &it.Publisher, &it.Payload, &ms); err != nil {
			return nil, fmt.Errorf("sqldb: items of node %q of %s: %w", node, service, err)
		}
		it.Published = time.UnixMilli(ms).UTC()
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: items of node %q of %s: %w", node, service, err)
	}
	return out, nil
}

// DeleteItem implements storage.PubSub.
func (db *DB) DeleteItem(ctx context.Context, service, node, itemID string) error {
	err := db.inNodeTx(ctx, service, node, func(tx *sql.Tx, id int64) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE node_id = $1 AND item_id = $2`, id, itemID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = storage.ErrNotFound
			}
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqldb: delete item %q of node %q of %s: %w", itemID, node, service, err)
	}
	return nil
}

// PurgeItems implements storage.PubSub.
func (db *DB) PurgeItems(ctx context.Context, service, node string) error {
	err := db.inNodeTx(ctx, service, node, func(tx *sql.Tx, id int64) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE node_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqldb: purge node %q of %s: %w", node, service, err)
	}
	return nil
}
