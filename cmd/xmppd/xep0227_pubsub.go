package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/modules/pubsub/engine"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// PEP and pubsub nodes in XEP-0227 documents.
//
// XEP-0227 1.1 §5.3: a user's PEP nodes are a <pubsub
// xmlns='http://jabber.org/protocol/pubsub#owner'/> with, per node, a
// <configure node/> holding the node_config data form and optional
// <affiliations node/> and <subscriptions node/> in XEP-0060 syntax; and a
// <pubsub xmlns='http://jabber.org/protocol/pubsub'/> with the items,
// an <items node/> per node. Debian's Prosody 0.12.3 (prosody-migrator,
// input store "pep-pubsub") writes that, with two quirks this import
// takes: the form lists every field Prosody knows, empty ones included
// (<field var='pubsub#publish_model'/>), and a subscription's state is in
// a 'subscribed' attribute instead of XEP-0060's 'subscription'. Its
// items carry no publication time and come oldest first; xmppd writes
// them oldest first too, with XEP-0060's 'publisher' attribute, and the
// import publishes them in that order (so the last is the newest, the
// one sent on presence).
//
// Configuration fields xmppd does not know, or values it would refuse
// from an owner, are left out and said so (XEP-0227 §5.3.1: importers
// SHOULD ignore fields they do not recognise); the node keeps xmppd's
// default for them.
//
// The nodes of a pubsub service (pubsub.<host>) are out of XEP-0227's
// scope; xmppd writes them in the same two elements, as children of the
// service's own <host jid='pubsub.example.org'/>, and reads them back
// (Prosody 0.12's xep0227 store has no pubsub_nodes store to write them
// with).

const (
	nsPubSub      = "http://jabber.org/protocol/pubsub"
	nsPubSubOwner = "http://jabber.org/protocol/pubsub#owner"
	nsData        = "jabber:x:data"
)

// pieNode is what the document says of one node.
type pieNode struct {
	name          string
	config        *xml.Element // <x xmlns='jabber:x:data'/>, nil for none
	affiliations  []*xml.Element
	subscriptions []*xml.Element
	items         []*xml.Element
}

func (im *pieImport) limits() engine.Limits {
	c := *pubsubConfig(im.cfg)
	return engine.Limits{MaxItems: c.MaxItems, MaxNodes: c.MaxNodes, MaxPayload: c.MaxPayloadBytes}
}

// importService imports the nodes of a pubsub service's <host/>.
func (im *pieImport) importService(ctx context.Context, domain string, host *xml.Element) error {
	var owner, items *xml.Element
	for ch := range host.Children() {
		switch {
		case ch.Name() == "pubsub" && ch.NS() == nsPubSubOwner:
			owner = ch
		case ch.Name() == "pubsub" && ch.NS() == nsPubSub:
			items = ch
		}
	}
	if err := im.importNodes(ctx, domain, nil, owner, items); err != nil {
		return fmt.Errorf("%s: %w", domain, err)
	}
	return nil
}

// importNodes imports the nodes of a service: an account's PEP service
// (account its bare JID) or a pubsub service (account nil). Nodes that
// exist are left as they are.
func (im *pieImport) importNodes(ctx context.Context, service string, account *jid.JID, owner, items *xml.Element) error {
	var order []string
	nodes := map[string]*pieNode{}
	get := func(el *xml.Element, what string) *pieNode {
		name := el.Attr("node")
		if name == "" {
			im.badf("%s: <%s/> without a node", service, what)
			return nil
		}
		n := nodes[name]
		if n == nil {
			n = &pieNode{name: name}
			nodes[name] = n
			order = append(order, name)
		}
		return n
	}
	if owner != nil {
		for el := range owner.Children() {
			switch el.Name() {
			case "configure":
				if n := get(el, "configure"); n != nil {
					n.config = el.Child("x", nsData)
				}
			case "affiliations":
				if n := get(el, "affiliations"); n != nil {
					n.affiliations = slices.AppendSeq(n.affiliations, el.Children())
				}
			case "subscriptions":
				if n := get(el, "subscriptions"); n != nil {
					n.subscriptions = slices.AppendSeq(n.subscriptions, el.Children())
				}
			default:
				im.warnf("%s: <%s xmlns='%s'/> is not a pubsub#owner element xmppd knows: left out", service, el.Name(), nsPubSubOwner)
			}
		}
	}
	if items != nil {
		for el := range items.Children() {
			if el.Name() != "items" {
				im.warnf("%s: <%s xmlns='%s'/> is not <items/>: left out", service, el.Name(), nsPubSub)
				continue
			}
			if n := get(el, "items"); n != nil {
				n.items = slices.AppendSeq(n.items, el.Children())
			}
		}
	}
	for _, name := range order {
		if err := im.importNode(ctx, service, account, nodes[name]); err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
	}
	return nil
}

func (im *pieImport) importNode(ctx context.Context, service string, account *jid.JID, pn *pieNode) error {
	where := fmt.Sprintf("%s node %s", service, pn.name)
	cfg := map[string][]string{}
	if pn.config != nil {
		c, dropped, err := engine.ImportConfig(pn.config, im.limits())
		if err != nil {
			im.badf("%s: configuration: %v", where, err)
			return nil
		}
		if len(dropped) > 0 {
			im.warnf("%s: configuration fields left out (unknown to xmppd or values it refuses; xmppd's defaults apply): %v", where, dropped)
		}
		cfg = c
	}
	n := storage.PubSubNode{Service: service, Node: pn.name, Config: cfg}
	owner := ""
	if account != nil {
		n.AccountDomain, n.AccountUser = account.Domain(), account.Local()
		owner = account.String()
	}
	switch err := im.db.CreateNode(ctx, n, owner); {
	case errors.Is(err, storage.ErrExists):
		im.n.nodesThere++
		return nil
	case err != nil:
		return err
	}
	im.n.nodes++
	for _, a := range pn.affiliations {
		if a.Name() != "affiliation" {
			continue
		}
		j, err := jid.Parse(a.Attr("jid"))
		aff := a.Attr("affiliation")
		switch {
		case err != nil:
			im.badf("%s: <affiliation jid=%q/>: %v", where, a.Attr("jid"), err)
			continue
		case aff == "none":
			continue
		case aff != "owner" && aff != "publisher" && aff != "publish-only" && aff != "member" && aff != "outcast":
			im.badf("%s: <affiliation jid=%q affiliation=%q/>: not an XEP-0060 affiliation", where, a.Attr("jid"), aff)
			continue
		}
		if err := im.db.SetAffiliation(ctx, service, pn.name, j.Bare().String(), aff); err != nil {
			return err
		}
	}
	for _, s := range pn.subscriptions {
		if s.Name() != "subscription" {
			continue
		}
		j, err := jid.Parse(s.Attr("jid"))
		if err != nil {
			im.badf("%s: <subscription jid=%q/>: %v", where, s.Attr("jid"), err)
			continue
		}
		state := s.Attr("subscription")
		if state == "" {
			state = s.Attr("subscribed") // Prosody 0.12's attribute
		}
		switch state {
		case "none":
			continue
		case "subscribed", "pending", "unconfigured":
		default:
			im.badf("%s: <subscription jid=%q subscription=%q/>: not an XEP-0060 state", where, s.Attr("jid"), state)
			continue
		}
		sub := storage.PubSubSubscription{JID: j.String(), SubID: s.Attr("subid"), State: state}
		if err := im.db.SetSubscription(ctx, service, pn.name, sub); err != nil {
			return err
		}
	}
	// Items come oldest first and get times a millisecond apart in that
	// order: the store orders them by publication.
	max := engine.MaxItemsOf(cfg, account != nil, im.limits())
	at := time.Now().UTC().Add(-time.Duration(len(pn.items)) * time.Millisecond)
	for i, it := range pn.items {
		if it.Name() != "item" {
			continue
		}
		if it.Attr("id") == "" {
			im.badf("%s: <item/> %d has no id", where, i+1)
			continue
		}
		item := storage.PubSubItem{ID: it.Attr("id"), Published: at.Add(time.Duration(i) * time.Millisecond)}
		if p := it.Attr("publisher"); p != "" {
			if j, err := jid.Parse(p); err == nil {
				item.Publisher = j.String()
			}
		} else if account != nil {
			item.Publisher = account.String()
		}
		if p := it.FirstChild(); p != nil {
			item.Payload = p.Append(nil, "")
		}
		if _, err := im.db.PublishItem(ctx, service, pn.name, item, max); err != nil {
			return err
		}
		im.n.items++
	}
	return nil
}

// exportNodes writes the nodes of service into b, as XEP-0227 §5.3 has
// them: a pubsub#owner element with configuration, affiliations and
// subscriptions, and a pubsub element with the items, oldest first.
func exportNodes(ctx context.Context, db pieStore, b *xml.Builder, service string, warn func(string, ...any)) (int, error) {
	nodes, err := db.Nodes(ctx, service)
	if err != nil || len(nodes) == 0 {
		return 0, err
	}
	items := make([][]storage.PubSubItem, len(nodes))
	b.Start("pubsub", nsPubSubOwner)
	for i, n := range nodes {
		b.Start("configure", "").Attr("node", n.Node).Start("x", nsData).Attr("type", "submit")
		b.Start("field", "").Attr("var", "FORM_TYPE").Attr("type", "hidden").Start("value", "").Text(engine.NSNodeConfig).End().End()
		keys := make([]string, 0, len(n.Config))
		for k := range n.Config {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.Start("field", "").Attr("var", k)
			for _, v := range n.Config[k] {
				b.Start("value", "").Text(v).End()
			}
			b.End()
		}
		b.End().End()
		affs, err := db.Affiliations(ctx, service, n.Node)
		if err != nil {
			return 0, err
		}
		if len(affs) > 0 {
			b.Start("affiliations", "").Attr("node", n.Node)
			for _, a := range affs {
				b.Start("affiliation", "").Attr("jid", a.JID).Attr("affiliation", a.Affiliation).End()
			}
			b.End()
		}
		subs, err := db.Subscriptions(ctx, service, n.Node)
		if err != nil {
			return 0, err
		}
		if len(subs) > 0 {
			b.Start("subscriptions", "").Attr("node", n.Node)
			for _, s := range subs {
				b.Start("subscription", "").Attr("jid", s.JID).Attr("subscription", s.State)
				if s.SubID != "" {
					b.Attr("subid", s.SubID)
				}
				b.End()
			}
			b.End()
		}
		if items[i], err = db.Items(ctx, service, n.Node, nil, 0); err != nil {
			return 0, err
		}
	}
	b.End()
	b.Start("pubsub", nsPubSub)
	for i, n := range nodes {
		b.Start("items", "").Attr("node", n.Node)
		for j := len(items[i]) - 1; j >= 0; j-- { // oldest first
			it := items[i][j]
			b.Start("item", "").Attr("id", it.ID)
			if it.Publisher != "" {
				b.Attr("publisher", it.Publisher)
			}
			if len(it.Payload) > 0 {
				p, err := xml.ParseFragment(it.Payload)
				if err != nil {
					warn("%s node %s: item %s cannot be read: its payload is left out: %v", service, n.Node, it.ID, err)
				} else {
					b.Append(p)
				}
			}
			b.End()
		}
		b.End()
	}
	b.End()
	return len(nodes), nil
}

// service writes the nodes of a pubsub service as a <host/> of its own
// (nothing when it has none).
func (ex *pieExport) service(ctx context.Context, domain string) error {
	b := xml.NewBuilder("host", nsPIE).Attr("jid", domain)
	n, err := exportNodes(ctx, ex.db, b, domain, ex.warnf)
	if err != nil || n == 0 {
		return err
	}
	ex.n.nodes += n
	ex.buf = append(b.Element().Append(ex.buf, nsPIE), '\n')
	return ex.flush(false)
}
