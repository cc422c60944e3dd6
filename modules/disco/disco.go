// Package disco answers XEP-0030 service discovery for the server from what
// the other modules registered (features, identities).
package disco

import (
	"context"
	"slices"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const (
	NSInfo  = "http://jabber.org/protocol/disco#info"
	NSItems = "http://jabber.org/protocol/disco#items"
)

func init() { module.Register("disco", func() module.Module { return &mod{} }) }

type mod struct {
	reg     *module.Registry
	contact map[string][]string // XEP-0157 fields
	caps    hostCaps            // XEP-0115 ver per virtual host
}

func (m *mod) Start(h *module.Handle) error {
	m.reg = h.Registry()
	m.contact = h.ContactAddresses
	h.AddFeature(NSInfo)
	h.AddFeature(NSItems)
	h.AddIdentity(module.Identity{Category: "server", Type: "im", Name: "xmppd"})
	h.HandleIQ(module.TargetServer, "get", NSInfo, m.info)
	h.HandleIQ(module.TargetServer, "get", NSItems, m.items)
	h.AddStreamFeature(module.StreamFeature{Name: "caps", Element: m.capsElement})
	h.HandleIQ(module.TargetAccount, "get", NSInfo, m.accountInfo)
	h.HandleIQ(module.TargetAccount, "get", NSItems, m.accountItems)
	return nil
}

// info: XEP-0030 §3.1. The XEP-0115 caps node (node#ver, §6.2) describes
// the server itself, with the ver of the host asked (capsElement); other
// nodes are the modules' (XEP-0050 commands), and one no module knows is
// item-not-found (§3.2).
func (m *mod) info(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	node := iq.Payload.Attr("node")
	if node != "" && node != CapsNode+"#"+m.hostVer(host(iq)) {
		if q := m.reg.ServerNode(ctx, host(iq), iq.From, node, false); q != nil {
			return q, nil
		}
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	b := xml.NewBuilder("query", NSInfo)
	if node != "" {
		b.Attr("node", node)
	}
	for _, id := range m.reg.Identities() {
		b.Start("identity", "").Attr("category", id.Category).Attr("type", id.Type)
		if id.Name != "" {
			b.Attr("name", id.Name)
		}
		b.End()
	}
	for _, f := range m.reg.FeaturesFor(host(iq)) {
		b.Start("feature", "").Attr("var", f).End()
	}
	if len(m.contact) > 0 {
		// XEP-0157 contact addresses as an XEP-0128 extended form.
		b.Start("x", nsData).Attr("type", "result")
		b.Start("field", "").Attr("var", "FORM_TYPE").Attr("type", "hidden").Start("value", "").Text(NSServerInfo).End().End()
		vars := make([]string, 0, len(m.contact))
		for v := range m.contact {
			vars = append(vars, v)
		}
		slices.Sort(vars)
		for _, v := range vars {
			b.Start("field", "").Attr("var", v).Attr("type", "list-multi")
			for _, a := range m.contact[v] {
				b.Start("value", "").Text(a).End()
			}
			b.End()
		}
		b.End()
	}
	return b.Element(), nil
}

// items: XEP-0030 §4.1: the components of the virtual host (multi-user
// chat, pubsub, upload), which is how clients find them.
func (m *mod) items(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	if node := iq.Payload.Attr("node"); node != "" {
		if q := m.reg.ServerNode(ctx, host(iq), iq.From, node, true); q != nil {
			return q, nil
		}
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	b := xml.NewBuilder("query", NSItems)
	for _, c := range m.reg.Components(host(iq)) {
		b.Start("item", "").Attr("jid", c.Domain)
		if c.Name != "" {
			b.Attr("name", c.Name)
		}
		b.End()
	}
	return b.Element(), nil
}

// host is the served domain an IQ to the server asks about: its 'to', or
// the sender's own domain for an IQ without one.
func host(iq *module.IQ) string {
	if d := iq.To.Domain(); d != "" {
		return d
	}
	return iq.From.Domain()
}

// nsPubSubPublish is the feature a PEP module announces on accounts.
const nsPubSubPublish = "http://jabber.org/protocol/pubsub#publish"

// accountInfo: disco#info on a local account's bare JID, which the server
// answers on the account's behalf (RFC 6121 §8.5.2.1.3; XEP-0030 §3.1
// with the account/registered identity), with the account-level features
// modules announce (PEP).
func (m *mod) accountInfo(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	if node := iq.Payload.Attr("node"); node != "" {
		// A node of the account (PEP, XEP-0060 §5.3), if a module knows it.
		owner := iq.To.Bare()
		if iq.To.IsZero() {
			owner = iq.From.Bare()
		}
		if q := m.reg.AccountNodeInfo(ctx, owner, iq.From, node); q != nil {
			return q, nil
		}
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	b := xml.NewBuilder("query", NSInfo).
		Start("identity", "").Attr("category", "account").Attr("type", "registered").End()
	feats := append([]string{NSInfo, NSItems}, m.reg.AccountFeatures()...)
	if slices.Contains(feats, nsPubSubPublish) {
		// XEP-0163 §6.1: an account with a PEP service says so with the
		// pubsub/pep identity beside account/registered.
		b.Start("identity", "").Attr("category", "pubsub").Attr("type", "pep").End()
	}
	slices.Sort(feats)
	for _, f := range slices.Compact(feats) {
		b.Start("feature", "").Attr("var", f).End()
	}
	return b.Element(), nil
}

// accountItems: what modules list on the account (PEP nodes).
func (m *mod) accountItems(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	if iq.Payload.Attr("node") != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	owner := iq.To.Bare()
	if iq.To.IsZero() {
		owner = iq.From.Bare()
	}
	b := xml.NewBuilder("query", NSItems)
	for _, it := range m.reg.AccountItems(ctx, owner, iq.From) {
		b.Start("item", "").Attr("jid", it.JID)
		if it.Node != "" {
			b.Attr("node", it.Node)
		}
		if it.Name != "" {
			b.Attr("name", it.Name)
		}
		b.End()
	}
	return b.Element(), nil
}
