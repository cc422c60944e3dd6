package cluster

import (
	"context"
	"fmt"
	"slices"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// Nodes lists the names of the live nodes, this one included, sorted:
// for modules that tell every node something (modules/pubsub shares the
// entity caps it verified).
func (n *Node) Nodes() []string { return n.liveNodes() }

// BucketPlacement names (servers are named after their nodes) the node
// whose NATS server leads the session bucket's stream and the one that
// holds this node's watcher (its consumer). For tests that kill a node
// and expect the others to stay alive: a watcher whose consumer was on
// the killed server goes quiet until the client library notices (idle
// heartbeats, seconds), longer than a test's dead_after, and its node
// then takes the live nodes for dead too. Embedded NATS only.
func (n *Node) BucketPlacement(ctx context.Context) (leader, watcher string, err error) {
	if n.ns == nil {
		return "", "", fmt.Errorf("cluster: no embedded NATS server")
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		return "", "", fmt.Errorf("cluster: jetstream: %w", err)
	}
	st, err := js.Stream(ctx, "KV_"+n.bucketName())
	if err != nil {
		return "", "", fmt.Errorf("cluster: bucket stream: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return "", "", fmt.Errorf("cluster: bucket stream info: %w", err)
	}
	if info.Cluster != nil {
		leader = info.Cluster.Leader
	}
	// This node's watcher is the consumer that delivers to a subject this
	// node's connection (a client of its own server) subscribes to.
	cz, err := n.ns.Connz(&server.ConnzOptions{Subscriptions: true})
	if err != nil {
		return "", "", fmt.Errorf("cluster: connz: %w", err)
	}
	var subs []string
	for _, c := range cz.Conns {
		subs = append(subs, c.Subs...)
	}
	cl := st.ListConsumers(ctx)
	for ci := range cl.Info() {
		if ci.Cluster != nil && ci.Config.DeliverSubject != "" && slices.Contains(subs, ci.Config.DeliverSubject) {
			watcher = ci.Cluster.Leader
		}
	}
	return leader, watcher, cl.Err()
}
