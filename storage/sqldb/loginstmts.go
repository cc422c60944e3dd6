package sqldb

import (
	"context"
	"database/sql"
)

// The statements every login or logout runs (the reads at bind and initial
// presence, the last-activity write at the end), prepared once (prepare)
// like credentialQuery: in a burst of SCRAM logins against SQLite,
// parsing their SQL again on each call was 13% of the server's CPU, more
// than running them.
const (
	rosterQuery = `SELECT v.version, i.jid, i.name, i.subscription, i.ask, i.approved, i.pending_in, i.placeholder, i.item_groups
		 FROM roster_versions v
		 LEFT JOIN roster_items i ON i.domain = v.domain AND i.username = v.username
		 WHERE v.domain = $1 AND v.username = $2
		 ORDER BY i.jid`
	archivePrefsQuery    = `SELECT default_mode FROM archive_prefs WHERE archive = $1`
	privateQuery         = `SELECT data FROM private_xml WHERE domain = $1 AND username = $2 AND key = $3`
	offlinePageQuery     = `SELECT id, stamp_ms, stanza FROM offline_messages WHERE domain = $1 AND username = $2 AND id > $3 ORDER BY id LIMIT $4`
	blockListQuery       = `SELECT jid FROM blocklist WHERE domain = $1 AND username = $2 ORDER BY jid`
	setLastActivityQuery = `INSERT INTO last_activity (domain, username, at_ms, status) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (domain, username) DO UPDATE SET at_ms = excluded.at_ms, status = excluded.status`
)

// loginStmts are the prepared statements of the login path: reads on the
// read pool, the last-activity write on the write pool.
type loginStmts struct {
	roster, archivePrefs, private, offlinePage, blockList, setLastActivity *sql.Stmt
}

func (db *DB) prepareLogin(ctx context.Context) error {
	for _, p := range []struct {
		st   **sql.Stmt
		pool *sql.DB
		q    string
	}{
		{&db.login.roster, db.read, rosterQuery},
		{&db.login.archivePrefs, db.read, archivePrefsQuery},
		{&db.login.private, db.read, privateQuery},
		{&db.login.offlinePage, db.read, offlinePageQuery},
		{&db.login.blockList, db.read, blockListQuery},
		{&db.login.setLastActivity, db.write, setLastActivityQuery},
	} {
		st, err := p.pool.PrepareContext(ctx, p.q)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

func (s *loginStmts) all() []*sql.Stmt {
	return []*sql.Stmt{s.roster, s.archivePrefs, s.private, s.offlinePage, s.blockList, s.setLastActivity}
}

// pointRead is ctx for one of the short indexed reads above: on SQLite
// without its cancellation. A query on a context that can be cancelled
// costs two goroutines (database/sql's watcher of the rows and
// modernc.org/sqlite's interrupter) and a progress handler set and
// cleared, more than these reads of a few pages in the local file; there
// is nothing in them worth interrupting. A context already done still
// stops them before they start. PostgreSQL keeps the cancellation: a
// query there waits on the network.
func (db *DB) pointRead(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return ctx, err
	}
	if db.dialect != SQLite {
		return ctx, nil
	}
	return context.WithoutCancel(ctx), nil
}
