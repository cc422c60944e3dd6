package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
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
	if n.answersPing(ctx, id) {
		// Its heartbeat writes are stuck (after a death JetStream may
		// take seconds to elect leaders again, longer for some nodes
		// than for others), but it is there and takes its inbox: a
		// node that routes stanzas to its sessions must not bury them
		// (scripts/cluster-test.sh saw a survivor of a kill -9 take the
		// other survivor for dead, for good).
		n.mu.Lock()
		p.seen = time.Now()
		n.mu.Unlock()
		return true
	}
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

func (n *Node) pingSubject(id string) string { return n.cfg.subject("ping", id) }

// subscribePing answers the others' liveness checks over plain NATS, which
// does not wait for JetStream's leaders.
func (n *Node) subscribePing() error {
	if _, err := n.nc.Subscribe(n.pingSubject(n.id), func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
		return fmt.Errorf("cluster: subscribe to this node's pings: %w", err)
	}
	return nil
}

// answersPing reports whether node id answers a ping within ctx. A node
// that is gone has no subscriber, so the request fails at once (no
// responders) and the burial is not delayed.
func (n *Node) answersPing(ctx context.Context, id string) bool {
	_, err := n.nc.RequestWithContext(ctx, n.pingSubject(id), nil)
	return err == nil
}
