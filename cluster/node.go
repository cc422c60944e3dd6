// Package cluster makes several xmppd nodes serve the same hosts. The
// nodes talk over NATS (an embedded server per node with routes to the
// others, or an existing NATS cluster): a replicated JetStream key-value
// bucket holds the session directory and the nodes' heartbeats, and each
// node has an inbox subject where the others deliver stanzas for its
// sessions. See docs/clustering.md for the model and its failure cases.
package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config is one node's part in a cluster.
type Config struct {
	Node   string // this node's name, unique in the cluster
	Name   string // cluster name: NATS cluster name, subject and bucket prefix
	Secret string // shared by the nodes: route and client password
	// Listen and Routes configure the embedded NATS server: where it takes
	// routes, and the other nodes' Listen addresses. Ignored with URL.
	Listen string
	Routes []string
	// RouteTLS, when set, encrypts and authenticates the embedded
	// server's routes (see RouteTLS). Ignored with URL.
	RouteTLS *tls.Config
	// URL is an existing NATS cluster to use instead of the embedded one.
	URL string
	// StoreDir holds the embedded server's JetStream data.
	StoreDir string
	// Hosts are the served domains; every node must serve the same.
	Hosts       []string
	Replicas    int
	Heartbeat   time.Duration
	DeadAfter   time.Duration
	JoinTimeout time.Duration
	Log         *slog.Logger
}

const routeUser = "xmppd"

// Node is this server's membership in the cluster.
type Node struct {
	cfg     Config
	id      string // name + incarnation: a restarted node is a new id
	started time.Time
	log     *slog.Logger

	ns  *server.Server // embedded; nil with Config.URL
	nc  *nats.Conn
	kv  jetstream.KeyValue
	sub *nats.Subscription
	inq inboxQueues // the inbox's workers (inboxq.go)

	healthy atomic.Bool
	dir     *Directory
	stats   stats        // for operators (ops.go)
	hearing atomic.Int64 // liveness.go

	mu    sync.Mutex
	peers map[string]*peer // node id → what we last heard
	deps  Deps
	// selfSeen is when this node's own heartbeat last came back through
	// the watcher: silence from the others means something only while
	// it is recent.
	selfSeen time.Time
	// live is liveNodes() as of the last membership change.
	live atomic.Pointer[[]string]
	// onChange run after the live nodes changed (OnMembership).
	onChange []func()

	// Copies of messages sent to other nodes' sessions, by node id, until
	// their receipts come (ack.go); receipts owed to other nodes.
	pmu      sync.Mutex
	pend     map[string]*pending
	amu      sync.Mutex
	acks     map[string][]uint64
	rc       receipts
	rerouted atomic.Uint64

	comps  components // external components' nodes (components.go)
	topics topics     // subscriptions and awaited changes (topics.go)

	stop chan struct{}
	done sync.WaitGroup
	ho   handovers // handover.go
}

type peer struct {
	name  string
	seen  time.Time // local clock: when its heartbeat last arrived
	rev   uint64    // the bucket revision of that heartbeat
	hosts string
	dead  bool
}

// heartbeat is the value of a node's "n.<name>" key.
type heartbeat struct {
	ID       string `json:"id"`
	Hosts    string `json:"hosts"`
	Started  int64  `json:"started"`
	Sessions int    `json:"sessions"`
}

func (c *Config) hosts() string {
	h := slices.Clone(c.Hosts)
	slices.Sort(h)
	return strings.Join(h, " ")
}

func (c *Config) subject(parts ...string) string {
	return c.Name + "." + strings.Join(parts, ".")
}

// Start joins the cluster: starts the embedded NATS server (or connects to
// Config.URL), waits until the replicated directory can be written (a
// majority of the nodes is up), checks that no live node has this node's
// name or other hosts, and starts heartbeats. dir is this node's directory
// (NewDirectory); it starts mirroring the others' sessions.
func Start(ctx context.Context, cfg Config, dir *Directory) (*Node, error) {
	var inc [4]byte
	_, _ = rand.Read(inc[:])
	n := &Node{selfSeen: time.Now(), cfg: cfg, id: cfg.Node + "-" + hex.EncodeToString(inc[:]), started: time.Now(), log: cfg.Log, peers: map[string]*peer{}, stop: make(chan struct{}), dir: dir,
		pend: map[string]*pending{}, acks: map[string][]uint64{}}
	if n.log == nil {
		n.log = slog.Default()
	}
	dir.node = n
	if err := n.connect(); err != nil {
		n.Close()
		return nil, err
	}
	jctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()
	if err := n.bucket(jctx); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.checkPeers(jctx); err != nil {
		n.Close()
		return nil, err
	}
	n.startInbox()
	sub, err := n.nc.Subscribe(cfg.subject("node", n.id), n.inbox)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("cluster: subscribe to this node's inbox: %w", err)
	}
	n.sub = sub
	if err := sub.SetPendingLimits(-1, inboxPendingBytes); err != nil {
		n.Close()
		return nil, fmt.Errorf("cluster: this node's inbox: %w", err)
	}
	if err := n.subscribeApply(); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.subscribePing(); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.watch(jctx); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.beat(jctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("cluster: first heartbeat: %w", err)
	}
	n.healthy.Store(true)
	n.noteHearing(true)
	n.done.Add(2)
	go n.heartbeats()
	go n.receiptLoop()
	n.log.Info("cluster joined", "node", cfg.Node, "id", n.id, "peers", n.PeerNames())
	return n, nil
}

func (n *Node) connect() error {
	cfg := n.cfg
	opts := []nats.Option{
		nats.Name("xmppd " + cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.log.Warn("cluster: NATS connection lost", "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) { n.log.Info("cluster: NATS connection back") }),
		nats.ErrorHandler(n.natsError),
	}
	if cfg.URL != "" {
		if cfg.Secret != "" {
			opts = append(opts, nats.UserInfo(routeUser, cfg.Secret))
		}
		nc, err := nats.Connect(cfg.URL, opts...)
		if err != nil {
			return fmt.Errorf("cluster: connect to NATS %s: %w", redact(cfg.URL), err)
		}
		n.nc = nc
		return nil
	}
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("cluster: listen %q: %w", cfg.Listen, err)
	}
	if err := checkRouteNames(cfg); err != nil {
		return err
	}
	port, _ := strconv.Atoi(portStr)
	if port == 0 {
		port = server.RANDOM_PORT
	}
	routes := make([]*url.URL, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		routes = append(routes, &url.URL{Scheme: "nats-route", User: url.UserPassword(routeUser, cfg.Secret), Host: r})
	}
	sopts := &server.Options{
		ServerName: cfg.Node,
		// This node's own connection is in-process; the client port
		// exists only because the server starts routing once it listens
		// (DontListen would leave the routes down). Loopback, random
		// port, and the secret required.
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  cfg.StoreDir,
		// The in-process client authenticates like anyone else would.
		Username: routeUser,
		Password: cfg.Secret,
		Cluster: server.ClusterOpts{
			Name:     cfg.Name,
			Host:     host,
			Port:     port,
			Username: routeUser,
			Password: cfg.Secret,
		},
		Routes:     routes,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 8 << 20,
	}
	if cfg.RouteTLS != nil {
		sopts.Cluster.TLSConfig = cfg.RouteTLS.Clone()
		sopts.Cluster.TLSTimeout = 5
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return fmt.Errorf("cluster: embedded NATS server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{n.log.With("component", "nats")}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return fmt.Errorf("cluster: embedded NATS server did not start (route listener %s)", cfg.Listen)
	}
	n.ns = ns
	opts = append(opts, nats.InProcessServer(ns), nats.UserInfo(routeUser, cfg.Secret))
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return fmt.Errorf("cluster: connect to the embedded NATS server: %w", err)
	}
	n.nc = nc
	return nil
}

// RouteAddr is the address the embedded NATS server takes routes on ("" with
// an external NATS).
func (n *Node) RouteAddr() string {
	if n.ns == nil {
		return ""
	}
	if a := n.ns.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

func (n *Node) bucketName() string { return n.cfg.Name + "_sessions" }

// bucket creates or opens the directory bucket, retrying until JetStream
// has a leader (a majority of the nodes is up) or ctx ends.
func (n *Node) bucket(ctx context.Context) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("cluster: JetStream: %w", err)
	}
	replicas := n.cfg.Replicas
	if replicas == 0 {
		replicas = min(3, 1+len(n.cfg.Routes))
		if n.cfg.URL != "" {
			replicas = 3
		}
	}
	var last error
	waiting := time.Now()
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		kv, err := js.CreateOrUpdateKeyValue(actx, jetstream.KeyValueConfig{
			Bucket:      n.bucketName(),
			Description: "xmppd session directory and node heartbeats",
			History:     1,
			Replicas:    replicas,
			Storage:     jetstream.MemoryStorage,
		})
		cancel()
		if err == nil {
			n.kv = kv
			return nil
		}
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrBucketExists) {
			if kv, err2 := js.KeyValue(ctx, n.bucketName()); err2 == nil {
				n.kv = kv
				return nil
			}
		}
		if last == nil || last.Error() != err.Error() {
			n.log.Info("cluster: waiting for a majority of the nodes", "err", err, "waited", time.Since(waiting).Round(time.Second))
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: no majority of the nodes reachable within join_timeout (is every node's [cluster] routes list right?): %w", last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func nodeKey(name string) string { return "n." + name }

// checkPeers refuses to join when a live node has our name or serves
// other hosts.
func (n *Node) checkPeers(ctx context.Context) error {
	lister, err := n.kv.ListKeysFiltered(ctx, "n.*")
	if err != nil {
		return fmt.Errorf("cluster: read the nodes: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		e, err := n.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var hb heartbeat
		if json.Unmarshal(e.Value(), &hb) != nil {
			continue
		}
		name := strings.TrimPrefix(k, "n.")
		if name == n.cfg.Node {
			// Ours from a previous life, or a live node with our name:
			// a live one writes again within dead_after.
			if err := n.waitQuiet(ctx, k, e.Revision()); err != nil {
				return err
			}
			continue
		}
		if hb.Hosts != n.cfg.hosts() && time.Since(e.Created()) < n.cfg.DeadAfter {
			return fmt.Errorf("cluster: node %q serves hosts [%s], this node [%s]: every node must have the same [[host]] list", name, hb.Hosts, n.cfg.hosts())
		}
	}
	return nil
}

func (n *Node) waitQuiet(ctx context.Context, key string, rev uint64) error {
	t := time.NewTimer(n.cfg.DeadAfter)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	e, err := n.kv.Get(ctx, key)
	if err == nil && e.Revision() != rev {
		return fmt.Errorf("cluster: another live node is named %q: every node needs its own [cluster] node name", n.cfg.Node)
	}
	return nil
}

func (n *Node) beat(ctx context.Context) error {
	hb, _ := json.Marshal(heartbeat{ID: n.id, Hosts: n.cfg.hosts(), Started: n.started.Unix(), Sessions: n.dir.local.Count()})
	ctx, cancel := context.WithTimeout(ctx, max(n.cfg.Heartbeat, time.Second))
	defer cancel()
	_, err := n.kv.Put(ctx, nodeKey(n.cfg.Node), hb)
	return err
}

// heartbeats writes this node's key every Heartbeat (a write that fails
// means this node cannot reach a majority: it takes no logins until one
// succeeds) and looks for nodes that went quiet.
func (n *Node) heartbeats() {
	defer n.done.Done()
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		err := n.beat(context.Background())
		n.noteHearing(err == nil)
		switch {
		case err != nil && n.healthy.Swap(false):
			n.log.Error("cluster: cut off from the majority of the nodes; taking no new logins until it is back", "err", err)
		case err == nil && !n.healthy.Swap(true):
			n.log.Info("cluster: back in touch with the majority of the nodes; taking logins again")
		}
		n.reap()
	}
}

// Healthy reports whether this node is in touch with a majority.
func (n *Node) Healthy() bool { return n.healthy.Load() }

// ID is this node's incarnation: its name and a random suffix.
func (n *Node) ID() string { return n.id }

// Name is this node's configured name.
func (n *Node) Name() string { return n.cfg.Node }

// PeerNames lists the other nodes heard from and not dead.
func (n *Node) PeerNames() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, p := range n.peers {
		if !p.dead {
			out = append(out, p.name)
		}
	}
	slices.Sort(out)
	return out
}

// Close leaves the cluster: this node's sessions must already be unbound
// (their keys deleted); its heartbeat key goes, so that the others do not
// wait for it to die.
func (n *Node) Close() error {
	select {
	case <-n.stop:
		return nil
	default:
		close(n.stop)
	}
	if n.dir != nil {
		n.dir.stopWatch()
	}
	n.done.Wait()
	if !n.ho.finish(5 * time.Second) {
		n.log.Warn("cluster: handover answers still under way at shutdown")
	}
	if n.kv != nil && n.healthy.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if e, err := n.kv.Get(ctx, nodeKey(n.cfg.Node)); err == nil && strings.Contains(string(e.Value()), n.id) {
			_ = n.kv.Delete(ctx, nodeKey(n.cfg.Node), jetstream.LastRevision(e.Revision()))
		}
		cancel()
	}
	if n.nc != nil {
		_ = n.nc.Drain()
		n.nc.Close()
	}
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
	return nil
}

func redact(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = url.User(p.User.Username())
		return p.String()
	}
	return u
}

// natsLogger sends the embedded server's log lines to slog: notices at
// debug (route chatter), warnings and errors as such.
type natsLogger struct{ l *slog.Logger }

func (g natsLogger) Noticef(format string, v ...any) { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g natsLogger) Warnf(format string, v ...any)   { g.l.Warn(fmt.Sprintf(format, v...)) }
func (g natsLogger) Fatalf(format string, v ...any)  { g.l.Error(fmt.Sprintf(format, v...)) }
func (g natsLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, "Error trying to connect to route") {
		// Several a second for as long as a node is down: the
		// cluster's own "node is gone" line says it once.
		g.l.Debug(msg)
		return
	}
	g.l.Error(msg)
}
func (g natsLogger) Debugf(format string, v ...any) {}
func (g natsLogger) Tracef(format string, v ...any) {}

// Directory is the node's session directory.
func (n *Node) Directory() *Directory { return n.dir }

// Kill ends this node's part in the cluster as a crash would: no
// heartbeat, no key deleted, the embedded NATS server gone. The node's
// sessions stay connected but unreachable; the others must notice. For
// tests of the failure model; a real crash is scripts/cluster-test.sh's
// kill -9.
func (n *Node) Kill() {
	select {
	case <-n.stop:
		return
	default:
		close(n.stop)
	}
	n.healthy.Store(false)
	n.dir.stopWatch()
	n.nc.Close()
	if n.ns != nil {
		n.ns.Shutdown()
	}
	n.done.Wait()
}
