package pubsub

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/modules/internal/caps"
	"github.com/xmppd/xmppd/modules/pubsub/engine"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0163 ties notifications to presence: each available resource of the
// owner and of its contacts gets the notifications of the nodes it asked
// for with "<node>+notify" among the XEP-0115 features of its caps
// (XEP-0060 §9.2 filtered notifications), and the last item of each such
// node when it becomes available (XEP-0163 §4.3.4, "including the account
// owner itself"). The server learns a caps ver's features by asking the
// resource (disco#info to node#ver, XEP-0115 §6.2) and caches them by ver
// once the hash checks out (§5.4).

// capsQueryTimeout bounds the disco#info query to a resource.
const capsQueryTimeout = 30 * time.Second

// maxCapsCache bounds the verified caps cache (distinct client versions
// are few; the bound only stops a flood of made-up vers).
const maxCapsCache = 10000

// resState is what the PEP service knows of one available resource.
type resState struct {
	capsKey string          // "hash ver" of its caps, "" when it has none
	feats   map[string]bool // its features; nil until known
	sent    map[string]bool // "owner node" whose last item it was sent (or a newer one); nil until one is
}

// markSent records that the resource has owner's node's last item ("owner
// node"). The map is made on first use: most idle sessions never get one.
func (rs *resState) markSent(k string) {
	if rs.sent == nil {
		rs.sent = map[string]bool{}
	}
	rs.sent[k] = true
}

// capsCall is one disco#info query in flight, shared by the resources
// that announce the same caps.
type capsCall struct {
	done  chan struct{}
	feats map[string]bool // nil when the query failed or did not verify
}

// presence watches the broadcast presence of local sessions (running
// before modules/presence, never consuming it): available presence
// records the caps, unavailable forgets the resource.
func (m *mod) presence(_ context.Context, st *module.Stanza) bool {
	s := st.Origin
	if s == nil {
		return false
	}
	switch st.Type() {
	case "":
	case "unavailable":
		m.mu.Lock()
		delete(m.res, s)
		m.mu.Unlock()
		return false
	default:
		return false
	}
	c := st.El.Child("c", caps.NS)
	key := ""
	if c != nil && c.Attr("ver") != "" {
		key = c.Attr("hash") + " " + c.Attr("ver")
	}
	m.mu.Lock()
	rs := m.res[s]
	if rs == nil {
		rs = &resState{capsKey: "-"}
		m.res[s] = rs
	}
	changed := rs.capsKey != key
	if changed {
		rs.capsKey = key
		rs.feats = m.caps[key]
		if key == "" {
			rs.feats = m.noFeats // no caps: no notifications (§9.2)
		}
	}
	feats := rs.feats
	m.mu.Unlock()
	if !changed {
		return false // XEP-0163 §4.3.3: only initial presence sends last items
	}
	full := s.JID()
	m.async(func(ctx context.Context) {
		if feats == nil && c != nil {
			feats = m.resolveCaps(ctx, full, c, key)
			m.mu.Lock()
			if m.res[s] == rs && rs.capsKey == key {
				rs.feats = feats
			}
			m.mu.Unlock()
		}
		m.sendLastItems(ctx, s, rs, key)
	})
	return false
}

// resolveCaps returns the features behind caps element c of resource
// full: from the cache, or by asking the resource.
func (m *mod) resolveCaps(ctx context.Context, full jid.JID, c *xml.Element, key string) map[string]bool {
	hash := c.Attr("hash")
	m.mu.Lock()
	if f := m.caps[key]; f != nil {
		m.mu.Unlock()
		return f
	}
	call := m.inflight[key]
	owner := call == nil && hash != "" // legacy caps (no hash) are per resource
	if owner {
		call = &capsCall{done: make(chan struct{})}
		m.inflight[key] = call
	}
	m.mu.Unlock()
	if call != nil && !owner {
		select {
		case <-call.done:
			if call.feats != nil {
				return call.feats
			}
		case <-ctx.Done():
			return map[string]bool{}
		}
	}
	feats, verified := m.queryCaps(ctx, full, c)
	if owner {
		m.mu.Lock()
		if verified {
			if len(m.caps) >= maxCapsCache {
				m.caps = map[string]map[string]bool{}
			}
			m.caps[key] = feats
			call.feats = feats
		}
		delete(m.inflight, key)
		m.mu.Unlock()
		close(call.done)
		if verified {
			m.shareCaps(key, feats)
		}
	}
	return feats
}

// queryCaps asks full for the disco#info of its caps node (XEP-0115 §6.2)
// and reports its features and whether they match the ver (§5.4).
func (m *mod) queryCaps(ctx context.Context, full jid.JID, c *xml.Element) (map[string]bool, bool) {
	ctx, cancel := context.WithTimeout(ctx, capsQueryTimeout)
	defer cancel()
	q := xml.NewBuilder("iq", xml.NSClient).Attr("type", "get").
		Start("query", nsDiscoInfo).Attr("node", c.Attr("node")+"#"+c.Attr("ver")).End().Element()
	server, err := jid.Parse(full.Domain())
	if err != nil {
		return map[string]bool{}, false
	}
	res, err := m.h.SendIQ(ctx, q, server, full)
	if err != nil {
		m.h.Logger.Debug("caps query", "jid", full.String(), "err", err)
		return map[string]bool{}, false
	}
	query := res.Child("query", nsDiscoInfo)
	if query == nil {
		return map[string]bool{}, false
	}
	feats := map[string]bool{}
	for f := range query.Children() {
		if f.Name() == "feature" {
			feats[f.Attr("var")] = true
		}
	}
	ver, err := caps.Ver(query, c.Attr("hash"))
	ok := err == nil && ver == c.Attr("ver")
	if !ok {
		// §5.4 step 7: not cached, but usable for this resource.
		m.h.Logger.Debug("caps hash does not verify", "jid", full.String(), "ver", c.Attr("ver"), "computed", ver, "err", err)
	}
	return feats, ok
}

// notifyNodes lists the nodes a feature set asks notifications for.
func notifyNodes(feats map[string]bool) []string {
	var out []string
	for f := range feats {
		if n, ok := strings.CutSuffix(f, "+notify"); ok && n != "" {
			out = append(out, n)
		}
	}
	return out
}

// sendLastItems sends resource s the last item of each node it newly
// asked for, from its own account's PEP service and from each local
// contact it is subscribed to (XEP-0163 §4.3.4).
func (m *mod) sendLastItems(ctx context.Context, s module.Session, rs *resState, key string) {
	m.mu.Lock()
	gone := m.res[s] != rs || rs.capsKey != key // or its caps changed again meanwhile
	none := len(notifyNodes(rs.feats)) == 0
	m.mu.Unlock()
	if gone || none {
		return
	}
	full := s.JID()
	own := full.Bare()
	owners := []jid.JID{own}
	items, _, err := m.h.Rosters.Roster(ctx, own.Domain(), own.Local())
	if err != nil {
		m.h.Logger.Error("pep: roster", "jid", own.String(), "err", err)
	}
	for _, it := range items {
		if it.Placeholder || (it.Subscription != "to" && it.Subscription != "both") {
			continue
		}
		if c, err := jid.Parse(it.JID); err == nil && c.Local() != "" && m.h.Hosts(c.Domain()) {
			owners = append(owners, c)
		}
	}
	for _, o := range owners {
		m.sendLastFrom(ctx, o, s)
	}
}

// sendLastFrom sends session s the last item of each of owner's nodes it
// asked for and was not sent yet.
func (m *mod) sendLastFrom(ctx context.Context, owner jid.JID, s module.Session) {
	m.mu.Lock()
	rs := m.res[s]
	var nodes []string
	if rs != nil {
		for _, n := range notifyNodes(rs.feats) {
			if k := owner.String() + " " + n; !rs.sent[k] {
				rs.markSent(k)
				nodes = append(nodes, n)
			}
		}
	}
	m.mu.Unlock()
	if len(nodes) == 0 {
		return
	}
	// One read of the owner's nodes rather than one per asked-for node:
	// most contacts have few of them.
	have, err := m.h.PubSub.Nodes(ctx, owner.String())
	if err != nil {
		m.h.Logger.Error("pep: nodes", "owner", owner.String(), "err", err)
		return
	}
	var wanted []storage.PubSubNode
	for _, n := range have {
		if slices.Contains(nodes, n.Node) {
			wanted = append(wanted, n)
		}
	}
	m.eng.SendLastOf(ctx, engine.Service{JID: owner, PEP: true}, wanted, s.JID())
}

// contactPresence watches available presence routed to a local account
// from a local contact (running before modules/presence, never consuming
// it). It is how a new presence subscription shows: when bob approves
// alice, bob's presence reaches alice, and alice's resources get bob's
// last items they did not have (XEP-0163 §4 "auto-subscribe"). For a
// contact whose items a resource already got at its login, nothing is
// sent again.
func (m *mod) contactPresence(_ context.Context, st *module.Stanza) bool {
	if st.Type() != "" || st.From.IsZero() || st.From.Local() == "" || !m.h.Hosts(st.From.Domain()) {
		return false
	}
	owner, to := st.From.Bare(), st.To.Bare()
	if owner == to {
		return false
	}
	var pending []module.Session
	m.mu.Lock()
	for _, s := range m.h.Directory.Sessions(to) {
		rs := m.res[s]
		if rs == nil || rs.feats == nil {
			continue // not available yet, or its caps are being resolved (it will be sent then)
		}
		for _, n := range notifyNodes(rs.feats) {
			if !rs.sent[owner.String()+" "+n] {
				pending = append(pending, s)
				break
			}
		}
	}
	m.mu.Unlock()
	if len(pending) == 0 {
		return false
	}
	m.async(func(ctx context.Context) {
		for _, s := range pending {
			m.sendLastFrom(ctx, owner, s)
		}
	})
	return false
}

// wants reports whether session s asked for notifications of node.
func (m *mod) wants(ctx context.Context, s module.Session, owner jid.JID, node string) bool {
	if _, remote := s.(module.Proxy); remote {
		return m.remoteFeats(s)[node+"+notify"]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.res[s]
	if rs == nil || !rs.feats[node+"+notify"] {
		return false
	}
	// It has the newest item now: no need to send it the last one later.
	rs.markSent(owner.String() + " " + node)
	return true
}

// interested implements engine.Engine.Interested for PEP: the owner's
// available resources and those of local contacts subscribed to the
// owner's presence (XEP-0163 §4: "auto-subscribe"), each if it asked with
// "+notify".
func (m *mod) interested(ctx context.Context, svc engine.Service, node string, may func(jid.JID) bool) []jid.JID {
	var out []jid.JID
	add := func(bare jid.JID, check bool) {
		for _, s := range m.h.Directory.Sessions(bare) {
			if s.Available() && m.wants(ctx, s, svc.JID, node) && (!check || may(s.JID())) {
				out = append(out, s.JID())
			}
		}
	}
	add(svc.JID, false)
	items, _, err := m.h.Rosters.Roster(ctx, svc.JID.Domain(), svc.JID.Local())
	if err != nil {
		m.h.Logger.Error("pep: roster", "jid", svc.JID.String(), "err", err)
		return out
	}
	for _, it := range items {
		if it.Placeholder || (it.Subscription != "from" && it.Subscription != "both") {
			continue
		}
		if c, err := jid.Parse(it.JID); err == nil && c.Local() != "" && m.h.Hosts(c.Domain()) {
			add(c, true)
		}
	}
	return out
}

// remoteFeats are the features of a session bound on another cluster
// node (module.Proxy). The presence hooks that fill m.res run on the
// session's own node, so here the caps come from the presence in its
// directory record and their features from this node's verified caps
// cache, which the node that verified a ver shares with the others
// (shareCaps). A ver no node has verified yet gets nothing: asking the
// session from here would not work, its answer goes to its own node.
func (m *mod) remoteFeats(s module.Session) map[string]bool {
	p := s.Presence()
	if p == nil {
		return nil
	}
	c := p.Child("c", caps.NS)
	if c == nil || c.Attr("ver") == "" {
		return nil // no caps: no notifications (XEP-0060 §9.2)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.caps[c.Attr("hash")+" "+c.Attr("ver")]
}

// nsClusterCaps is the payload of the message that shares a verified caps
// ver with the other nodes. It is accepted only from a cluster node
// (module.Forwarded): a verified ver names its features for everyone
// (XEP-0115 §5.4), so any node may cache them.
const nsClusterCaps = "urn:xmppd:cluster:caps"

// nodeLister is the part of package cluster's Node that names this node
// and the live ones.
type nodeLister interface {
	Name() string
	Nodes() []string
}

// shareCaps tells the other cluster nodes the features of a caps ver this
// node just verified, so that they can filter PEP notifications for this
// node's sessions (remoteFeats).
// The pubsub.<host> component of the first host takes it, so nothing is
// shared with the service turned off.
func (m *mod) shareCaps(key string, feats map[string]bool) {
	c, ok := m.h.Cluster.(nodeLister)
	if !ok || !m.service || len(m.h.VHosts) == 0 {
		return
	}
	to, err := jid.Parse("pubsub." + m.h.VHosts[0].Domain)
	if err != nil {
		return
	}
	b := xml.NewBuilder("message", xml.NSClient).Attr("type", "headline").Attr("to", to.String()).
		Start("caps", nsClusterCaps).Attr("key", key)
	for f := range feats {
		b.Start("feature", "").Attr("var", f).End()
	}
	el := b.End().Element()
	from, _ := jid.Parse(m.h.VHosts[0].Domain)
	for _, node := range c.Nodes() {
		if node == c.Name() {
			continue
		}
		m.h.Cluster.Forward(node, &module.Stanza{El: el, From: from, To: to})
	}
}

// sharedCaps takes a caps ver another node verified (shareCaps).
func (m *mod) sharedCaps(el *xml.Element) {
	key := el.Attr("key")
	if key == "" {
		return
	}
	feats := map[string]bool{}
	for f := range el.Children() {
		if f.Name() == "feature" && f.Attr("var") != "" {
			feats[f.Attr("var")] = true
		}
	}
	m.mu.Lock()
	if m.caps[key] == nil {
		if len(m.caps) >= maxCapsCache {
			m.caps = map[string]map[string]bool{}
		}
		m.caps[key] = feats
	}
	m.mu.Unlock()
}
