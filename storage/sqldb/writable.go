package sqldb

import (
	"context"
	"fmt"
)

// CheckWritable reports whether the database takes writes, so that a
// server finds out at start instead of at every message it then fails to
// store. The probe is an UPDATE that matches no row: both engines refuse
// it on a read-only database (SQLite: a read-only file, folder or mount,
// mode=ro, query_only; PostgreSQL: a standby, default_transaction_read_only)
// and it changes nothing anywhere else. A disk that is merely full is not
// seen here: nothing is written.
func (db *DB) CheckWritable(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, "UPDATE goose_db_version SET id = id WHERE 1 = 0"); err != nil {
		return fmt.Errorf("sqldb: the %s database is read-only, xmppd must write to it (file and folder owner and mode, a read-only mount, a PostgreSQL standby or read-only role): %w", db.dialect, err)
	}
	return nil
}
