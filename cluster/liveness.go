package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// stillBeating asks the bucket itself whether node id wrote a heartbeat
// since the last one the watcher brought, before it is taken for dead.
// The watcher is not the bucket: when a node leaves (a rolling upgrade),
// JetStream moves the stream's leadership and the watchers of the others
// can fall silent for longer than dead_after while every heartbeat is
// written. Burying live nodes then (they buried each other, and ignored
// each other's sessions for good) is far worse than a late burial. It
// also reports true when it cannot tell: the next round asks again.
// A watcher found behind is replaced.
func (n *Node) stillBeating(id string) bool {
	n.mu.Lock()
	p := n.peers[id]
	if p == nil {
		n.mu.Unlock()
		return false
	}
	name, rev := p.name, p.rev
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, err := n.kv.Get(ctx, nodeKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false // it left, or was buried
	}
	if err != nil {
		n.log.Debug("cluster: cannot read a silent node's heartbeat; asking again later", "node", name, "err", err)
		return true
	}
	var hb heartbeat
	if json.Unmarshal(e.Value(), &hb) != nil || hb.ID != id || e.Revision() <= rev {
		return false // silent, or its name belongs to a newer incarnation
	}
	n.mu.Lock()
	p.seen, p.rev = time.Now(), e.Revision()
	n.mu.Unlock()
	// The watcher missed a write: it may have stalled for good (seen
	// after a node left), so this node's mirror would freeze. A new one
	// replays the bucket (rewatch.go).
	n.log.Warn("cluster: the directory watcher missed a node's heartbeats; the node is alive, watching again", "node", name)
	n.dir.stopWatch()
	return true
}
