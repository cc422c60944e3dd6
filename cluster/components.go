package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// External components (XEP-0114) connect to one node, yet their domain is
// served by every node: the node a component is connected to writes a
// "c.<b64 domain>" key, every node mirrors those keys (apply), and the
// component server of another node forwards the domain's stanzas there
// (package component, its Cluster interface).

// componentRecord is the value of a component key.
type componentRecord struct {
	Node string `json:"node"` // node name
	ID   string `json:"id"`   // node incarnation; nodeDied buries by it
}

// components is a node's part in component routing.
type components struct {
	mu   sync.RWMutex
	at   map[string]componentRecord // domain → holder, as the bucket says
	revs map[string]uint64          // domain → revision of our own claim
}

func componentKey(domain string) string {
	return "c." + base64.RawURLEncoding.EncodeToString([]byte(domain))
}

// ClaimComponent records that domain's component is now connected to this
// node, or returns the name of the live node that has it. A live node that holds it keeps it (XEP-0114 has one connection
// per domain; the one connected first keeps it, as on one server); a
// record left by a node that is gone is taken over.
func (n *Node) ClaimComponent(ctx context.Context, domain string) (string, error) {
	key := componentKey(domain)
	val, _ := json.Marshal(componentRecord{Node: n.cfg.Node, ID: n.id})
	for range 3 {
		rev, err := n.kv.Create(ctx, key, val)
		if err == nil {
			n.comps.setRev(domain, rev)
			return "", nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("cluster: record component %s: %w", domain, err)
		}
		e, err := n.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return "", fmt.Errorf("cluster: read component %s: %w", domain, err)
		}
		var rec componentRecord
		if json.Unmarshal(e.Value(), &rec) == nil && rec.ID != n.id && n.incarnationAlive(ctx, rec) {
			return rec.Node, nil
		}
		// Ours from a release that failed, or a gone node's: take it,
		// unless someone else does first (then look again).
		if rev, err := n.kv.Update(ctx, key, val, e.Revision()); err == nil {
			n.comps.setRev(domain, rev)
			return "", nil
		}
	}
	return "", fmt.Errorf("cluster: record component %s: claimed and released concurrently, again and again", domain)
}

// incarnationAlive reports whether the node incarnation that wrote rec
// still runs: known to this node and not dead, or, when this node has not
// heard of it, named by its node's heartbeat key.
func (n *Node) incarnationAlive(ctx context.Context, rec componentRecord) bool {
	n.mu.Lock()
	p := n.peers[rec.ID]
	known, alive := p != nil, p != nil && !p.dead
	n.mu.Unlock()
	if known {
		return alive
	}
	e, err := n.kv.Get(ctx, nodeKey(rec.Node))
	if err != nil {
		return false
	}
	var hb heartbeat
	return json.Unmarshal(e.Value(), &hb) == nil && hb.ID == rec.ID
}

// ReleaseComponent removes this node's claim on domain (its component
// disconnected). A claim another node took over meanwhile stays.
func (n *Node) ReleaseComponent(domain string) {
	n.comps.mu.Lock()
	rev, ok := n.comps.revs[domain]
	delete(n.comps.revs, domain)
	n.comps.mu.Unlock()
	if !ok {
		return
	}
	if err := n.releaseComponent(domain, rev); err == nil {
		return
	} else {
		n.log.Warn("cluster: component not removed from the directory yet; retrying", "domain", domain, "err", err)
	}
	// A claim left behind by this live node would keep the component
	// from connecting to any other node: retry while the node runs.
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		for {
			select {
			case <-n.stop:
				return
			case <-time.After(n.cfg.Heartbeat):
			}
			n.comps.mu.RLock()
			_, claimedAgain := n.comps.revs[domain]
			n.comps.mu.RUnlock()
			if claimedAgain || n.releaseComponent(domain, rev) == nil {
				return
			}
		}
	}()
}

// releaseComponent deletes our claim of revision rev; a newer one (ours
// again, or another node's) is not ours to delete, and counts as done.
func (n *Node) releaseComponent(domain string, rev uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	err := n.kv.Delete(ctx, componentKey(domain), jetstream.LastRevision(rev))
	if err != nil && (errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound)) {
		return nil
	}
	return err
}

// ComponentNode is the live node, other than this one, that domain's
// component is connected to, or "" when there is none.
func (n *Node) ComponentNode(domain string) string {
	n.comps.mu.RLock()
	rec, ok := n.comps.at[domain]
	n.comps.mu.RUnlock()
	if !ok || rec.ID == n.id {
		return ""
	}
	n.mu.Lock()
	p := n.peers[rec.ID]
	alive := p != nil && !p.dead
	n.mu.Unlock()
	if !alive {
		// Its node died (or restarted: a new incarnation has not
		// got it); nobody serves the domain until it reconnects.
		return ""
	}
	return rec.Node
}

// ForwardComponent hands st to node for the component connected there;
// the 'to' the router parsed goes along when the element has none.
//
// NATS takes a publish for a node that has just died without a word, so
// this node keeps a copy until that node confirms it routed the stanza
// (handed it to the component, or answered for it); when the node is taken
// for dead first, the copy is routed again here (rerouteKept): to the
// component's new node if it has connected again elsewhere, otherwise
// answered with service-unavailable (RFC 6120 §8.3.3.19) by the component
// server, as for any stanza to a component that is not connected.
func (n *Node) ForwardComponent(node string, st *module.Stanza) bool {
	if st.El.Attr("to") == "" && !st.To.IsZero() {
		st = &module.Stanza{El: st.El.WithAttrs(xml.Attr{Name: "to", Value: st.To.String()}), From: st.From, To: st.To}
	}
	id := n.idOf(node)
	if id == "" || id == n.id {
		return false
	}
	return n.sendKept(id, opRouteTracked, st.From, st.El, st.From)
}

func (c *components) setRev(domain string, rev uint64) {
	c.mu.Lock()
	if c.revs == nil {
		c.revs = map[string]uint64{}
	}
	c.revs[domain] = rev
	c.mu.Unlock()
}

// applyComponent takes a change of a component key into the mirror.
func (n *Node) applyComponent(key string, value []byte, deleted bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, "c."))
	if err != nil {
		return
	}
	domain := string(raw)
	c := &n.comps
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted {
		delete(c.at, domain)
		return
	}
	var rec componentRecord
	if json.Unmarshal(value, &rec) != nil || rec.ID == "" {
		return
	}
	if c.at == nil {
		c.at = map[string]componentRecord{}
	}
	c.at[domain] = rec
}
