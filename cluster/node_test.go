package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil/porttest"
	"github.com/xmppd/xmppd/router"
)

// startNodes starts n bare nodes (no XMPP server) in one cluster;
// adjust, if not nil, changes each node's configuration before it starts.
func startNodes(t *testing.T, n int, adjust func(*Config)) []*Node {
	ports := porttest.Free(t, n)
	nodes := make([]*Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("127.0.0.1:%d", p))
			}
		}
		cfg := Config{
			Node: fmt.Sprintf("n%d", i+1), Name: "xmppd", Secret: testSecret,
			Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes, StoreDir: t.TempDir(),
			Hosts: []string{"localhost"}, Heartbeat: 200 * time.Millisecond, DeadAfter: 1500 * time.Millisecond,
			JoinTimeout: 60 * time.Second,
		}
		if os.Getenv("XMPPD_TEST_LOG") != "" {
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", cfg.Node)
		} else {
			cfg.Log = slog.New(slog.DiscardHandler)
		}
		if adjust != nil {
			adjust(&cfg)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = Start(context.Background(), cfg, NewDirectory(router.NewLocal()))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Close()
		}
	})
	return nodes
}

func TestMembership(t *testing.T) {
	nodes := startNodes(t, 3, nil)
	// Membership converges by gossip: wait for each node to see the two
	// others, with a deadline, not for a guessed 3 s.
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for len(n.PeerNames()) != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s sees peers %v", n.Name(), n.PeerNames())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
