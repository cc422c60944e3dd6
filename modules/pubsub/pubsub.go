// Package pubsub serves XEP-0060 publish-subscribe twice over one engine
// (modules/pubsub/engine): as XEP-0163 PEP on every local account's bare
// JID, with notifications filtered by the entity caps of the owner's and
// contacts' resources, and as the pubsub.<host> service component. The
// profiles on top of PEP (XEP-0084 avatars with XEP-0398, XEP-0402
// bookmarks with XEP-0411, XEP-0223) are in profiles.go. See README.md.
package pubsub

import (
	"context"
	"errors"
	"sync"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/modules/pubsub/engine"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

func init() { module.Register("pubsub", func() module.Module { return &mod{} }) }

// features are the XEP-0060 §10 features both services have (as
// "http://jabber.org/protocol/pubsub#" + name).
var features = []string{
	"access-open", "access-presence", "access-roster", "access-whitelist",
	"config-node", "config-node-max", "create-and-configure", "create-nodes", "delete-items", "delete-nodes",
	"item-ids", "last-published", "manage-subscriptions", "member-affiliation", "modify-affiliations",
	"multi-items", "outcast-affiliation", "persistent-items", "publish", "publish-options",
	"publisher-affiliation", "purge-nodes", "retract-items", "retrieve-affiliations", "retrieve-default",
	"retrieve-items", "retrieve-subscriptions", "subscribe", "subscription-options",
}

// pepFeatures are those only PEP has (XEP-0163 §7: auto-create on publish,
// auto-subscribe of presence subscribers, filtered notifications).
var pepFeatures = []string{"auto-create", "auto-subscribe", "filtered-notifications", "presence-notifications"}

type mod struct {
	h   *module.Handle
	eng *engine.Engine

	// pep state (pep.go): the available resources' caps and what they
	// have been sent, and the verified caps cache.
	mu       sync.Mutex
	res      map[module.Session]*resState
	caps     map[string]map[string]bool
	inflight map[string]*capsCall
	// noFeats is the feature set of every resource without caps, shared
	// and never written (a map each was ~50 bytes per idle session).
	noFeats map[string]bool

	profiles profiles
	// service: the pubsub.<host> components are served (config).
	service bool
}

func (m *mod) Start(h *module.Handle) error {
	if h.PubSub == nil {
		return errors.New("no pubsub storage")
	}
	m.h = h
	c := module.ConfigOf[*Config](h)
	lim := engine.Limits{MaxItems: c.MaxItems, MaxNodes: c.MaxNodes, MaxPayload: c.MaxPayloadBytes}
	m.eng = &engine.Engine{
		Store: h.PubSub, Rosters: h.Rosters, Router: h.Router, Hosts: h.Hosts, Limits: lim, Log: h.Logger,
		Interested: m.interested,
		Published:  m.published,
		Retracted:  m.retracted,
	}
	m.res = map[module.Session]*resState{}
	m.caps = map[string]map[string]bool{}
	m.inflight = map[string]*capsCall{}
	m.noFeats = map[string]bool{}

	for _, typ := range []string{"get", "set"} {
		h.HandleIQ(module.TargetAccount, typ, engine.NS, m.pepIQ)
		h.HandleIQ(module.TargetAccount, typ, engine.NSOwner, m.pepIQ)
	}
	for _, f := range append(append([]string{}, features...), pepFeatures...) {
		h.AddAccountFeature(engine.NS + "#" + f)
	}
	h.AddAccountItems(m.accountItems)
	h.AddAccountNodeInfo(m.accountNodeInfo)
	h.Hook(module.HookPresenceBroadcast, 100, m.presence)
	h.Hook(module.HookAccountPresence, 100, m.contactPresence)
	// XEP-0490 §6: after blocking (1000), before archiving (-50) and
	// carbons (-100), which must not see the element.
	h.Hook(module.HookOutbound, -10, m.displayed)
	h.AddAccountFeature(nsMDSAssist)
	h.OnSessionClosed(func(_ context.Context, s module.Session) {
		m.mu.Lock()
		delete(m.res, s)
		m.mu.Unlock()
	})
	m.service = c.Service
	if m.service {
		for _, host := range h.VHosts {
			d := "pubsub." + host.Domain
			h.AddComponent(module.Component{Domain: d, Parent: host.Domain, Name: "Publish-Subscribe", Handle: m.component})
		}
	}
	return m.startProfiles()
}

// Stop implements module.Stopper. The caps queries in flight (async)
// have ended before it runs: stopping the module cancels them and waits.
func (m *mod) Stop() error {
	m.stopProfiles()
	return nil
}

// async runs fn on a goroutine of the module's handle (module.Handle.Go),
// with a context cancelled when the module stops; once it stops, fn does
// not run. (The hooks stay installed until the handle closes, after Stop.)
func (m *mod) async(fn func(ctx context.Context)) { m.h.Go(fn) }

// pepIQ serves pubsub requests to an account's bare JID (or without 'to':
// the sender's own PEP service).
func (m *mod) pepIQ(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	owner := iq.To.Bare()
	if iq.To.IsZero() {
		owner = iq.From.Bare()
	}
	if owner.Local() == "" {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	payload, after, err := m.eng.HandleIQ(ctx, engine.Service{JID: owner, PEP: true}, iq)
	// The router sends the result when this returns; the last item
	// follows it (XEP-0060 §6.1.7).
	iq.After = after
	return payload, err
}

// accountItems: disco#items on an account lists the PEP nodes the
// requester may access (XEP-0163 §6.2? XEP-0060 §5.2).
func (m *mod) accountItems(ctx context.Context, owner, requester jid.JID) []module.DiscoItem {
	nodes, err := m.h.PubSub.Nodes(ctx, owner.String())
	if err != nil {
		m.h.Logger.Error("pep disco#items", "owner", owner.String(), "err", err)
		return nil
	}
	svc := engine.Service{JID: owner, PEP: true}
	var out []module.DiscoItem
	for _, n := range nodes {
		if m.eng.MayAccess(ctx, svc, n.Node, requester.Bare()) {
			out = append(out, module.DiscoItem{JID: owner.String(), Node: n.Node})
		}
	}
	return out
}

// accountNodeInfo: disco#info on a PEP node (XEP-0060 §5.3) for who may
// access it.
func (m *mod) accountNodeInfo(ctx context.Context, owner, requester jid.JID, node string) *xml.Element {
	q, err := m.nodeInfo(ctx, engine.Service{JID: owner, PEP: true}, node, requester.Bare())
	if err != nil {
		return nil
	}
	return q
}

// component serves every stanza addressed to pubsub.<host>.
func (m *mod) component(ctx context.Context, st *module.Stanza) {
	if st.Kind() != "iq" {
		if p := st.El.Child("caps", nsClusterCaps); p != nil && module.Forwarded(ctx) {
			m.sharedCaps(p)
			return
		}
		if st.Kind() == "message" && st.Type() != "error" && st.Type() != "headline" {
			m.reply(ctx, st, stanza.NewError(stanza.ServiceUnavailable, "").Reply(st.El))
		}
		return
	}
	typ := st.Type()
	if typ != "get" && typ != "set" {
		m.h.Registry().IQResponse(st)
		return
	}
	if m.forward(ctx, st) {
		return
	}
	iq := &module.IQ{Stanza: st, ID: st.El.Attr("id"), Type: typ, Payload: st.El.FirstChild()}
	if iq.Payload == nil || st.To.Local() != "" || st.To.Resource() != "" {
		m.reply(ctx, st, stanza.NewError(stanza.ServiceUnavailable, "").Reply(st.El))
		return
	}
	svc := engine.Service{JID: st.To.Bare()}
	var (
		payload *xml.Element
		after   func()
		err     error
	)
	switch iq.Payload.NS() + " " + typ {
	case nsDiscoInfo + " get":
		payload, err = m.serviceInfo(ctx, svc, iq)
	case nsDiscoItems + " get":
		payload, err = m.serviceItems(ctx, svc, iq)
	case engine.NS + " get", engine.NS + " set", engine.NSOwner + " get", engine.NSOwner + " set":
		payload, after, err = m.eng.HandleIQ(ctx, svc, iq)
	default:
		err = stanza.NewError(stanza.ServiceUnavailable, "")
	}
	if err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			m.h.Logger.Error("pubsub service", "from", st.From.String(), "err", err)
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		m.reply(ctx, st, se.Reply(st.El))
		return
	}
	m.reply(ctx, st, module.Result(iq, payload))
	if after != nil {
		after()
	}
}

func (m *mod) reply(ctx context.Context, st *module.Stanza, el *xml.Element) {
	m.h.Router.Route(ctx, &module.Stanza{El: el, From: st.To, To: st.From})
}

// serviceInfo: XEP-0060 §5.1 (the service) and §5.3 (a node).
func (m *mod) serviceInfo(ctx context.Context, svc engine.Service, iq *module.IQ) (*xml.Element, error) {
	if node := iq.Payload.Attr("node"); node != "" {
		return m.nodeInfo(ctx, svc, node, iq.From.Bare())
	}
	b := xml.NewBuilder("query", nsDiscoInfo)
	b.Start("identity", "").Attr("category", "pubsub").Attr("type", "service").Attr("name", "Publish-Subscribe").End()
	for _, f := range []string{nsDiscoInfo, nsDiscoItems, engine.NS} {
		b.Start("feature", "").Attr("var", f).End()
	}
	for _, f := range features {
		b.Start("feature", "").Attr("var", engine.NS+"#"+f).End()
	}
	b.Start("feature", "").Attr("var", engine.NS+"#instant-nodes").End()
	return b.Element(), nil
}

// nodeInfo: disco#info on a node (§5.3), with its meta-data (§5.4).
func (m *mod) nodeInfo(ctx context.Context, svc engine.Service, node string, requester jid.JID) (*xml.Element, error) {
	n, err := m.h.PubSub.Node(ctx, svc.JID.String(), node)
	if err != nil || !m.eng.MayAccess(ctx, svc, node, requester) {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	b := xml.NewBuilder("query", nsDiscoInfo).Attr("node", node)
	b.Start("identity", "").Attr("category", "pubsub").Attr("type", "leaf").End()
	b.Start("feature", "").Attr("var", engine.NS).End()
	// §5.4: the node meta-data as an extended form.
	cfg := engine.DefaultConfig(svc.PEP, m.eng.Limits)
	for k, v := range n.Config {
		cfg[k] = v
	}
	b.Start("x", engine.NSData).Attr("type", "result")
	b.Start("field", "").Attr("var", "FORM_TYPE").Attr("type", "hidden").Start("value", "").Text(engine.NS + "#meta-data").End().End()
	for _, f := range []string{engine.FieldTitle, engine.FieldType, engine.FieldAccessModel, engine.FieldPublishModel, engine.FieldMaxItems} {
		if v := cfg[f]; len(v) > 0 && v[0] != "" {
			b.Start("field", "").Attr("var", f).Start("value", "").Text(v[0]).End().End()
		}
	}
	b.End()
	return b.Element(), nil
}

// serviceItems: XEP-0060 §5.2 (nodes) and §5.5 (items of a node).
func (m *mod) serviceItems(ctx context.Context, svc engine.Service, iq *module.IQ) (*xml.Element, error) {
	b := xml.NewBuilder("query", nsDiscoItems)
	requester := iq.From.Bare()
	if node := iq.Payload.Attr("node"); node != "" {
		b.Attr("node", node)
		if !m.eng.MayAccess(ctx, svc, node, requester) {
			return nil, stanza.NewError(stanza.ItemNotFound, "")
		}
		items, err := m.eng.Items(ctx, svc, node)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			b.Start("item", "").Attr("jid", svc.JID.String()).Attr("name", it.ID).End()
		}
		return b.Element(), nil
	}
	nodes, err := m.h.PubSub.Nodes(ctx, svc.JID.String())
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if m.eng.MayAccess(ctx, svc, n.Node, requester) {
			b.Start("item", "").Attr("jid", svc.JID.String()).Attr("node", n.Node)
			if t := n.Config[engine.FieldTitle]; len(t) > 0 && t[0] != "" {
				b.Attr("name", t[0])
			}
			b.End()
		}
	}
	return b.Element(), nil
}

// forward sends a request to the service to the cluster node that owns
// the service (keyed by its JID), so that one node serializes the
// service's changes (item counts, node creation, subscriptions) the way
// a single server does; it reports whether st went there. Notifications
// reach subscribers on any node through the router. PEP requests are not
// forwarded: they are handled by the node of the requesting session,
// against the shared storage.
func (m *mod) forward(ctx context.Context, st *module.Stanza) bool {
	c := m.h.Cluster
	if c == nil || module.Forwarded(ctx) {
		return false
	}
	node, self := c.Owner(st.To.Bare().String())
	if self {
		return false
	}
	if !c.Forward(node, st) {
		m.reply(ctx, st, stanza.NewError(stanza.RemoteServerTimeout, "the service's cluster node is unreachable").Reply(st.El))
	}
	return true
}
