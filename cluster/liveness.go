package cluster

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A peer's heartbeats reach this node through the bucket's watcher. When
// a node dies, JetStream elects new leaders for the bucket's stream and
// the watchers' consumers, and for some seconds neither writes nor the
// watch go through: silence then says nothing about the other nodes.
// Without these checks the survivors of a kill -9 took each other for
// dead (scripts/cluster-test.sh), and a node marked dead stays dead.

// noteHearing records whether this node's own heartbeat write succeeded:
// silence of the others only counts from when it can hear again.
func (n *Node) noteHearing(ok bool) {
	switch {
	case !ok:
		n.hearing.Store(0)
	case n.hearing.Load() == 0:
		n.hearing.Store(time.Now().UnixNano())
	}
}

// silentSince is when peer p was last heard from, or when this node could
// hear again, whichever is later; ok is false while this node is cut off.
func (n *Node) silentSince(p *peer) (since time.Time, ok bool) {
	h := n.hearing.Load()
	if h == 0 {
		return time.Time{}, false
	}
	since = p.seen
	if t := time.Unix(0, h); t.After(since) {
		since = t
	}
	return since, true
}

// stillAlive asks the bucket itself (its stream leader, not this node's
// watcher, which may lag) for the heartbeat of node id: a newer write
// than the watcher delivered means it is alive. An unreadable bucket is
// no proof of death either.
func (n *Node) stillAlive(id string) bool {
	n.mu.Lock()
	p := n.peers[id]
	var name string
	var rev uint64
	if p != nil {
		name, rev = p.name, p.rev
	}
	n.mu.Unlock()
	if p == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(n.cfg.Heartbeat, time.Second))
	defer cancel()
	e, err := n.kv.Get(ctx, nodeKey(name))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false
	case err != nil:
		return true
	case bytes.Contains(e.Value(), []byte(`"id":"`+id+`"`)) && e.Revision() > rev:
		n.mu.Lock()
		p.seen, p.rev = time.Now(), e.Revision()
		n.mu.Unlock()
		return true
	}
	return false
}
