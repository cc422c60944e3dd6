package push_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// postgresStorage returns a [storage] table for a fresh schema in the
// test database named by XMPPD_TEST_POSTGRES_DSN (as the sqldb tests use
// it), or skips.
func postgresStorage(t *testing.T) string {
	t.Helper()
	return testutil.PostgresStorage(t, "xmppd_push_")
}
