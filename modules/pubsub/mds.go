package pubsub

import (
	"context"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/modules/pubsub/engine"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0490 §6 server assistance: a client updates its displayed marker
// by putting <displayed xmlns='urn:xmpp:mds:displayed:0'/> into a message
// it sends anyway (typically with its XEP-0333 displayed marker). The
// server strips the element before anything else sees the message (§7.2:
// before archiving and carbons; the contact must not learn the
// stanza-id) and publishes it to the account's urn:xmpp:mds:displayed:0
// node, the item id being the message's 'to' verbatim (§7.2), with the
// node configuration §4 asks clients for.

const (
	nsMDS       = "urn:xmpp:mds:displayed:0"
	nsMDSAssist = "urn:xmpp:mds:server-assist:0"
	nsSID       = "urn:xmpp:sid:0"
)

// mdsOptions are the publish-options XEP-0490 §4 requires; they also
// configure the node when the server creates it (§7.2, §9).
var mdsOptions = map[string][]string{
	engine.FieldPersistItems: {"true"},
	engine.FieldMaxItems:     {"max"},
	engine.FieldSendLast:     {"never"},
	engine.FieldAccessModel:  {"whitelist"},
}

// displayed is the HookOutbound hook (after blocking, before archiving
// and carbons). It runs for every stanza a session sends: anything but a
// message carrying the element costs a name compare and a child scan.
func (m *mod) displayed(_ context.Context, st *module.Stanza) bool {
	if st.Origin == nil || st.El.Name() != "message" {
		return false
	}
	d := st.El.Child("displayed", nsMDS)
	if d == nil {
		return false
	}
	st.El = without(st.El, d)
	item := st.El.Attr("to")
	own := st.From.Bare()
	sid := d.Child("stanza-id", nsSID)
	if item == "" || sid == nil || own.Local() == "" {
		m.h.Logger.Debug("mds: displayed element stripped, nothing published", "account", own.String(), "to", item)
		return false
	}
	// A fresh element with just the stanza-id (§4: "exactly one").
	payload := xml.NewBuilder("displayed", nsMDS).Append(sid).Element()
	m.async(func(ctx context.Context) { m.publishDisplayed(ctx, own, item, payload) })
	return false
}

func (m *mod) publishDisplayed(ctx context.Context, own jid.JID, item string, payload *xml.Element) {
	if _, err := m.eng.Publish(ctx, pep(own), own, nsMDS, item, payload, mdsOptions); err != nil {
		m.h.Logger.Info("mds: server-assisted displayed marker not published", "account", own.String(), "item", item, "err", err)
	}
}

// without copies el without its child c.
func without(el, c *xml.Element) *xml.Element {
	b := xml.NewBuilder(el.Name(), el.NS())
	for _, a := range el.Attrs() {
		b.Attr(a.Name, a.Value)
	}
	for x := range el.Children() {
		if x != c {
			b.Append(x)
		}
	}
	return b.Element()
}
