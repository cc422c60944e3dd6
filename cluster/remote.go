package cluster

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// Remote is a session bound on another node, as this node's router and
// modules see it: what its record says, and delivery through its node's
// inbox. Records are immutable: a presence change replaces the Remote.
type Remote struct {
	node *Node
	key  string
	full jid.JID
	rec  record

	presOnce sync.Once
	pres     *xml.Element
}

var _ module.Session = (*Remote)(nil)

func (r *Remote) JID() jid.JID    { return r.full }
func (r *Remote) Available() bool { return r.rec.Avail }
func (r *Remote) Priority() int   { return r.rec.Prio }

// Flag reports a flag the session's node set (module.Flagged).
func (r *Remote) Flag(flag string) bool { return slices.Contains(r.rec.Flags, flag) }

// NodeName is the node the session is on (module.Proxy).
func (r *Remote) NodeName() string { return r.rec.Node }

// Presence is the session's last available presence, read from its record
// the first time it is asked for.
func (r *Remote) Presence() *xml.Element {
	r.presOnce.Do(func() {
		if r.rec.Pres != "" {
			r.pres, _ = xml.ParseFragment([]byte(r.rec.Pres))
		}
	})
	return r.pres
}

// Deliver sends el to the session's node, which queues it for the client.
// It reports false when the message could not be handed to NATS.
func (r *Remote) Deliver(el *xml.Element) bool {
	if tracked(el) {
		return r.node.sendTracked(r.rec.ID, r.full, el)
	}
	return r.node.send(r.rec.ID, opDeliver, r.full, el.Append(nil, xml.NSClient))
}

// CloseStream asks the session's node to end it.
func (r *Remote) CloseStream(condition, text string) {
	r.node.send(r.rec.ID, opClose, r.full, []byte(condition+"\n"+text))
}

const (
	opDeliver = 'd' // to a session of the receiving node
	opClose   = 'c' // end a session of the receiving node
	opRoute   = 'r' // route on the receiving node (Cluster.Forward)
	// A message delivered with a copy kept by the sender (ack.go): the
	// header line is followed by a line with its sequence number.
	opDeliverTracked = 'D'
	// Receipts: the header is the sending node's id, the payload uvarint
	// sequence numbers.
	opAck = 'a'
	// A forwarded stanza (opRoute) whose sender keeps a copy: stanzas for
	// an external component (components.go). The header is the stamped
	// sender, then a sequence line as for opDeliverTracked.
	opRouteTracked = 'R'
)

// send publishes to node id's inbox: op, the session's full JID, a
// newline, the payload.
func (n *Node) send(id string, op byte, full jid.JID, payload []byte) bool {
	j := full.String()
	buf := make([]byte, 0, 1+len(j)+1+len(payload))
	buf = append(buf, op)
	buf = append(buf, j...)
	buf = append(buf, '\n')
	buf = append(buf, payload...)
	if err := n.nc.Publish(n.cfg.subject("node", id), buf); err != nil {
		n.log.Warn("cluster: stanza not sent to its node", "node", id, "jid", j, "err", err)
		n.stats.sendFails.Add(1)
		return false
	}
	n.stats.sent.Add(1)
	return true
}

// Deps are what a node needs from the server once its modules run: the
// router for stanzas whose session left before they arrived, the registry
// for the hooks a dead node's sessions need run.
type Deps struct {
	// LocalRouter routes with this node's sessions only: a stanza that
	// came from another node is never sent on to a third.
	LocalRouter module.Router
	// Router is the cluster-wide router, for forwarded stanzas.
	Router   module.Router
	Registry *module.Registry
}

// SetDeps hands the node what it needs to take stanzas and bury nodes.
func (n *Node) SetDeps(d Deps) {
	n.mu.Lock()
	n.deps = d
	n.mu.Unlock()
}

func (n *Node) getDeps() Deps {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.deps
}

func (n *Node) reroute(el *xml.Element) {
	deps := n.getDeps()
	if deps.LocalRouter == nil {
		return
	}
	st := &module.Stanza{El: el}
	if f, err := jid.Parse(el.Attr("from")); err == nil {
		st.From = f
	}
	if t, err := jid.Parse(el.Attr("to")); err == nil {
		st.To = t
	}
	deps.LocalRouter.Route(context.Background(), st)
}

func (n *Node) notePeer(id, name string) {
	n.mu.Lock()
	isNew := n.peers[id] == nil
	if isNew {
		// Known from a record before its heartbeat: it gets dead_after
		// from now to show itself.
		n.peers[id] = &peer{name: name, seen: time.Now()}
	}
	n.mu.Unlock()
	if isNew {
		n.membershipChanged()
	}
}

func (n *Node) isDead(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[id]
	return p != nil && p.dead
}

// reap looks for nodes whose heartbeat stopped.
func (n *Node) reap() {
	now := time.Now()
	var dead []string
	n.mu.Lock()
	if now.Sub(n.selfSeen) > n.cfg.DeadAfter && n.Healthy() {
		// Our own heartbeats are written but do not come back: it is
		// this node's view that is stale (its watcher's consumer was
		// on a NATS server that went away), not the others that are
		// dead. A new watcher replays the bucket.
		n.mu.Unlock()
		n.rewatch()
		return
	}
	for id, p := range n.peers {
		if since, ok := n.silentSince(p); ok && !p.dead && now.Sub(since) > n.cfg.DeadAfter {
			dead = append(dead, id)
		}
	}
	n.mu.Unlock()
	for _, id := range dead {
		if !n.stillAlive(id) {
			// Not on this goroutine: a burial waits for the bucket
			// (its stream may be electing a leader after the death)
			// and for the hooks, and a heartbeat that waits with it
			// makes the others take this node for dead too.
			n.done.Add(1)
			go func() {
				defer n.done.Done()
				n.nodeDied(id)
			}()
		}
	}
}

// nodeDied buries node id: its sessions leave this node's mirror at once
// (stanzas for them now go to offline storage or fall back as RFC 6121
// §8.5 says). One node, the first to claim the burial in the bucket,
// deletes their keys and tells their contacts they went away, as for an
// abrupt close (RFC 6121 §4.5.2... via the IM module's hook).
func (n *Node) nodeDied(id string) {
	n.mu.Lock()
	p := n.peers[id]
	if p == nil {
		p = &peer{name: id}
		n.peers[id] = p
	}
	if p.dead {
		n.mu.Unlock()
		return
	}
	p.dead = true
	n.mu.Unlock()
	gone := n.dir.removeNode(id)
	n.stats.deaths.Add(1) // after: counted means routed around
	n.log.Warn("cluster: node is gone", "node", p.name, "id", id, "sessions", len(gone))
	n.membershipChanged()
	// What this node sent there and was not confirmed: every node
	// re-routes its own copies, whoever buries the node.
	if k := n.rerouteKept(id); k > 0 {
		n.log.Warn("cluster: messages sent to the gone node and not confirmed routed again", "node", p.name, "messages", k)
	}
	if !n.Healthy() {
		return // a minority does not bury anyone
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := n.kv.Create(ctx, "x."+id, []byte(n.id)); err != nil {
		return // another node buries it, or already did
	}
	n.stats.burials.Add(1)
	began := time.Now()
	defer func() {
		n.log.Info("cluster: node buried: its sessions left the directory and their contacts were told", "node", p.name, "id", id, "sessions", len(gone), "took", time.Since(began).Round(time.Millisecond))
	}()
	deps := n.getDeps()
	// Every key of that node, also those the mirror had not seen yet;
	// LastRevision keeps a newer bind of the same JID elsewhere.
	bury := func(k string) {
		e, err := n.kv.Get(ctx, k)
		if err == nil && bytes.Contains(e.Value(), []byte(`"id":"`+id+`"`)) {
			_ = n.kv.Delete(ctx, k, jetstream.LastRevision(e.Revision()))
		}
	}
	// Those in the mirror first: the key listing below can hang until
	// its context ends (its watcher's end-of-initial-values marker
	// sometimes never comes after a node's death: burials took exactly
	// the minute in scripts/cluster-test.sh), so it gets a short one.
	for _, r := range gone {
		bury(r.key)
	}
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
	if lister, err := n.kv.ListKeysFiltered(lctx, "s.>"); err == nil {
		for k := range lister.Keys() {
			bury(k)
		}
	}
	lcancel()
	if e, err := n.kv.Get(ctx, nodeKey(p.name)); err == nil && bytes.Contains(e.Value(), []byte(id)) {
		_ = n.kv.Delete(ctx, nodeKey(p.name), jetstream.LastRevision(e.Revision()))
	}
	if deps.Registry == nil {
		return
	}
	for _, r := range gone {
		if r.rec.Avail {
			un := xml.NewBuilder("presence", xml.NSClient).Attr("type", "unavailable").Attr("from", r.full.String()).Element()
			deps.Registry.RunHook(ctx, module.HookPresenceBroadcast, &module.Stanza{El: un, From: r.full, Origin: r})
		}
		deps.Registry.SessionClosed(ctx, r)
	}
}
