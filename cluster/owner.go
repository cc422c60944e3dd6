package cluster

import (
	"context"
	"slices"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

var _ module.Cluster = (*Node)(nil)

// liveNodes lists the names of the nodes alive as this node sees them,
// itself included, sorted.
func (n *Node) liveNodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	names := []string{n.cfg.Node}
	for _, p := range n.peers {
		if !p.dead && !slices.Contains(names, p.name) {
			names = append(names, p.name)
		}
	}
	slices.Sort(names)
	return names
}

// Owner picks key's node by rendezvous hashing over the live node names:
// the highest hash of (node, key) wins, so a node's death moves only the
// keys it owned, and a node coming back takes back its own.
func (n *Node) Owner(key string) (string, bool) {
	live := n.live.Load()
	if live == nil {
		l := n.liveNodes()
		live = &l
	}
	best, bestH := "", uint64(0)
	for _, name := range *live {
		h := rendezvous(name, key)
		if best == "" || h > bestH {
			best, bestH = name, h
		}
	}
	return best, best == n.cfg.Node
}

// rendezvous must give every node the same number for (node, key), so it
// is a fixed function of the bytes (FNV-1a), not maphash with a per-process
// seed.
func rendezvous(node, key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(node); i++ {
		h ^= uint64(node[i])
		h *= 1099511628211
	}
	h ^= 0xff
	h *= 1099511628211
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	// Finalize (splitmix64) so that near keys spread.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Forward sends st to the live node named node, whose router takes it
// with Forwarded(ctx) set.
func (n *Node) Forward(node string, st *module.Stanza) bool {
	id := n.idOf(node)
	if id == "" {
		return false
	}
	return n.send(id, opRoute, st.From, st.El.Append(nil, xml.NSClient))
}

// idOf is the current incarnation of the live node named name.
func (n *Node) idOf(name string) string {
	if name == n.cfg.Node {
		return n.id
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, p := range n.peers {
		if p.name == name && !p.dead {
			return id
		}
	}
	return ""
}

// OnMembership registers fn for changes of the live nodes.
func (n *Node) OnMembership(fn func()) {
	n.mu.Lock()
	n.onChange = append(n.onChange, fn)
	n.mu.Unlock()
}

func (n *Node) membershipChanged() {
	// Owner reads this copy: no allocation per stanza.
	l := n.liveNodes()
	n.live.Store(&l)
	n.mu.Lock()
	fns := slices.Clone(n.onChange)
	n.mu.Unlock()
	for _, fn := range fns {
		go fn()
	}
}

// routeForwarded routes a stanza another node forwarded (opRoute): from
// is the stamped sender, as that node's router had it.
func (n *Node) routeForwarded(from jid.JID, el *xml.Element) {
	deps := n.getDeps()
	if deps.Router == nil {
		return
	}
	st := &module.Stanza{El: el, From: from}
	if t, err := jid.Parse(el.Attr("to")); err == nil {
		st.To = t
	}
	deps.Router.Route(module.WithForwarded(context.Background()), st)
}
