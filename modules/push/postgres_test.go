package push_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// startPostgres starts a server with conf whose storage is a fresh
// schema in the test database named by XMPPD_TEST_POSTGRES_DSN (as the
// sqldb tests use it), or skips.
func startPostgres(t *testing.T) *testutil.Server {
	t.Helper()
	storage := testutil.PostgresStorage(t, "xmppd_push_")
	dir := t.TempDir()
	return testutil.StartIn(t, dir, testutil.BaseConfig(dir)+storage+conf)
}
