package testutil

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil/pgtest"
	"github.com/xmppd/xmppd/internal/testutil/porttest"
)

// PostgresStorage returns a [storage] table for a fresh schema in the test
// database named by XMPPD_TEST_POSTGRES_DSN (scripts/test.sh starts one),
// dropped at test end, or skips the test without that variable.
func PostgresStorage(t testing.TB, prefix string) string {
	t.Helper()
	return postgresTable(pgtest.DSN(t, prefix))
}

func postgresTable(dsn string) string {
	return fmt.Sprintf("\n[storage]\ndriver = \"postgres\"\ndsn = %q\n", dsn)
}

// ClusterSecret is the [cluster] secret of test clusters.
const ClusterSecret = "test-cluster-secret-0123456789"

// ClusterConfig is node i's [cluster] table in a cluster whose embedded
// NATS servers take routes on ports.
func ClusterConfig(i int, ports []int, extra string) string {
	var routes []string
	for j, p := range ports {
		if j != i {
			routes = append(routes, fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d", p)))
		}
	}
	return fmt.Sprintf("\n[cluster]\nnode = \"n%d\"\nsecret = %q\nlisten = \"127.0.0.1:%d\"\nroutes = [%s]\nheartbeat = \"200ms\"\ndead_after = \"1500ms\"\njoin_timeout = \"60s\"\n%s",
		i+1, ClusterSecret, ports[i], strings.Join(routes, ", "), extra)
}

// StartCluster starts n nodes sharing one fresh PostgreSQL schema, each
// with BaseConfig plus extra, and returns them once all have joined. It
// skips without PostgreSQL.
func StartCluster(t testing.TB, n int, extra string) []*Server {
	t.Helper()
	nodes, _ := StartClusterDSN(t, n, extra)
	return nodes
}

// StartClusterDSN is StartCluster, and also returns the DSN of the nodes'
// schema, for a test that works on the database behind their back.
func StartClusterDSN(t testing.TB, n int, extra string) ([]*Server, string) {
	t.Helper()
	dsn := pgtest.DSN(t, "xmppd_cluster_")
	store := postgresTable(dsn)
	ports := porttest.Free(t, n)
	nodes := make([]*Server, n)
	var wg sync.WaitGroup
	for i := range n {
		dir := t.TempDir()
		cfg := BaseConfig(dir) + store + extra + ClusterConfig(i, ports, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = StartIn(t, dir, cfg)
		}()
	}
	wg.Wait()
	for _, s := range nodes {
		if s == nil {
			t.FailNow()
		}
	}
	return nodes, dsn
}
