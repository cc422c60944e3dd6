package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/xmppd/xmppd/internal/testutil/porttest"
	"github.com/xmppd/xmppd/router"
)

const testSecret = "0123456789abcdef-secret" // startNodes'

// natsLines keeps what a NATS server logs.
type natsLines struct {
	mu    sync.Mutex
	lines []string
}

func (c *natsLines) add(s string) { c.mu.Lock(); c.lines = append(c.lines, s); c.mu.Unlock() }
func (c *natsLines) count(sub string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}
func (c *natsLines) Noticef(f string, v ...any) { c.add(fmt.Sprintf(f, v...)) }
func (c *natsLines) Warnf(f string, v ...any)   { c.add(fmt.Sprintf(f, v...)) }
func (c *natsLines) Fatalf(f string, v ...any)  { c.add(fmt.Sprintf(f, v...)) }
func (c *natsLines) Errorf(f string, v ...any)  { c.add(fmt.Sprintf(f, v...)) }
func (c *natsLines) Debugf(f string, v ...any)  {}
func (c *natsLines) Tracef(f string, v ...any)  {}

// outsider is a NATS server of the cluster's name that routes to route
// with password pw, and a client on it listening to every subject.
type outsider struct {
	ns   *server.Server
	log  *natsLines
	msgs atomic.Int64
}

func startOutsider(t *testing.T, name, route, pw string) *outsider {
	t.Helper()
	o := &outsider{log: &natsLines{}}
	ns, err := server.NewServer(&server.Options{
		ServerName: name, Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		Cluster: server.ClusterOpts{Name: "xmppd", Host: "127.0.0.1", Port: server.RANDOM_PORT, Username: routeUser, Password: pw},
		Routes:  []*url.URL{{Scheme: "nats-route", User: url.UserPassword(routeUser, pw), Host: route}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.SetLoggerV2(o.log, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("outsider NATS server did not start")
	}
	o.ns = ns
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe(">", func(*nats.Msg) { o.msgs.Add(1) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close(); ns.Shutdown() })
	return o
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestOutsidersRefused: nothing without the cluster secret gets onto the
// nodes' NATS (issue 17: a forged cluster message is refused), and a node
// that would serve other hosts, or has a live node's name, stops at
// start-up with a message saying why.
func TestOutsidersRefused(t *testing.T) {
	nodes := startNodes(t, 3, nil)
	route := nodes[0].RouteAddr()

	// A NATS server with the wrong secret routing to n1: every route
	// it opens is refused, and none of the cluster's traffic (session
	// records, heartbeats, stanzas) reaches it, nor could anything it
	// published reach the nodes.
	bad := startOutsider(t, "intruder", route, "wrong-secret-0123456789")
	waitUntil(t, "the intruder's routes refused", func() bool { return bad.log.count("Authorization Violation") >= 2 })
	if r := bad.ns.NumRoutes(); r != 0 {
		t.Errorf("the intruder has %d routes", r)
	}
	if m := bad.msgs.Load(); m != 0 {
		t.Errorf("the intruder's client received %d cluster messages", m)
	}
	// The same server with the secret joins and hears the heartbeats:
	// what the intruder lacked was only the secret.
	good := startOutsider(t, "friend", route, testSecret)
	waitUntil(t, "the friend's routes and cluster traffic", func() bool { return good.ns.NumRoutes() > 0 && good.msgs.Load() > 0 })
	if r := bad.ns.NumRoutes(); r != 0 {
		t.Errorf("the intruder has %d routes", r)
	}

	// NATS clients: on the route port and on the embedded server's
	// loopback client port, nothing without the secret.
	clientURL := strings.TrimPrefix(nodes[0].ns.ClientURL(), "nats://")
	for _, u := range []string{
		"nats://" + route,
		"nats://" + routeUser + ":wrong-secret-0123456789@" + route,
		"nats://" + clientURL,
		"nats://" + routeUser + ":wrong-secret-0123456789@" + clientURL,
	} {
		nc, err := nats.Connect(u, nats.Timeout(5*time.Second), nats.MaxReconnects(0), nats.IgnoreDiscoveredServers())
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", u)
		} else if !strings.Contains(err.Error(), "Authorization Violation") {
			t.Errorf("%s: %v, want an authorization violation", u, err)
		}
	}

	var routes []string
	for _, n := range nodes {
		routes = append(routes, n.RouteAddr())
	}
	join := func(name string, hosts ...string) error {
		ports := porttest.Free(t, 1)
		cfg := Config{
			Node: name, Name: "xmppd", Secret: testSecret,
			Listen: fmt.Sprintf("127.0.0.1:%d", ports[0]), Routes: routes, StoreDir: t.TempDir(),
			Hosts: hosts, Heartbeat: 200 * time.Millisecond, DeadAfter: 1500 * time.Millisecond,
			JoinTimeout: 60 * time.Second, Log: slog.New(slog.DiscardHandler),
		}
		n, err := Start(context.Background(), cfg, NewDirectory(router.NewLocal()))
		if err == nil {
			n.Close()
		}
		return err
	}
	peersOK := func(when string) {
		t.Helper()
		for _, n := range nodes {
			if !n.Healthy() || len(n.PeerNames()) != 2 {
				t.Errorf("%s %s: healthy %v, peers %v", n.Name(), when, n.Healthy(), n.PeerNames())
			}
		}
	}
	peersOK("before the joins")
	// Other hosts than the live nodes: refused.
	err := join("n4", "example.org", "localhost")
	if err == nil || !strings.Contains(err.Error(), `serves hosts [localhost], this node [example.org localhost]: every node must have the same [[host]] list`) {
		t.Errorf("node with other hosts: %v", err)
	}
	peersOK("after n4")
	// A live node's name: refused before its NATS server joins the
	// routes (two JetStream servers of one name would break the
	// directory for everyone).
	err = join("n2", "localhost")
	if err == nil || !strings.Contains(err.Error(), `(a route) is already named "n2": every node needs its own [cluster] node name`) {
		t.Errorf("node with n2's name: %v", err)
	}
	for _, n := range nodes {
		if !n.Healthy() || len(n.PeerNames()) != 2 {
			t.Errorf("%s after the refused joins: healthy %v, peers %v", n.Name(), n.Healthy(), n.PeerNames())
		}
	}
}
