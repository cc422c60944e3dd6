// Package engine is xmppd's one XEP-0060 publish-subscribe implementation,
// shared by PEP (XEP-0163: a service on every account's bare JID) and the
// pubsub service component (pubsub.<host>). It answers the pubsub and
// pubsub#owner IQs of a Service and sends the event notifications; who
// else is interested in a PEP node (the owner's resources and contacts
// that asked with "+notify" in their entity caps) is the caller's to say
// through Engine.Interested.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	NS               = "http://jabber.org/protocol/pubsub"
	NSOwner          = NS + "#owner"
	NSEvent          = NS + "#event"
	NSErrors         = NS + "#errors"
	NSNodeConfig     = NS + "#node_config"
	NSPublishOptions = NS + "#publish-options"
	NSSubOptions     = NS + "#subscribe_options"
	NSData           = "jabber:x:data"
	NSDelay          = "urn:xmpp:delay"
)

// Limits bound what a service holds.
type Limits struct {
	MaxItems   int // items per node: the ceiling of pubsub#max_items, and what "max" means
	MaxNodes   int // nodes per service
	MaxPayload int // bytes of one item's payload
}

// Service is one pubsub service: a PEP service (JID = the account's bare
// JID) or a component (JID = its domain).
type Service struct {
	JID jid.JID
	PEP bool
}

// Engine serves pubsub requests. Set the fields, then use it from any
// number of goroutines.
type Engine struct {
	Store   storage.PubSub
	Rosters storage.Rosters
	Router  module.Router
	Hosts   func(domain string) bool
	Limits  Limits
	Log     *slog.Logger
	// Interested (PEP) returns the full JIDs of available resources that
	// asked for notifications of node (XEP-0163 §4, filtered by "+notify",
	// XEP-0060 §9.2) and for which may reports true, besides explicit
	// subscribers. Nil for the component.
	Interested func(ctx context.Context, svc Service, node string, may func(jid.JID) bool) []jid.JID
	// Published and Retracted run after an item was stored or deleted
	// and notified (profiles: XEP-0398, XEP-0411). Either may be nil.
	Published func(ctx context.Context, svc Service, node string, it storage.PubSubItem, payload *xml.Element)
	Retracted func(ctx context.Context, svc Service, node, id string)
}

// perr is a stanza error with a pubsub#errors application condition.
func perr(cond, app string) *stanza.Error {
	e := stanza.NewError(cond, "")
	if app != "" {
		e.AppCondition = xml.NewBuilder(app, NSErrors).Element()
	}
	return e
}

// unsupported is feature-not-implemented with <unsupported feature=…/>
// (XEP-0060 §7.1.3.1 and elsewhere).
func unsupported(feature string) *stanza.Error {
	e := stanza.NewError(stanza.FeatureNotImplemented, "")
	e.AppCondition = xml.NewBuilder("unsupported", NSErrors).Attr("feature", feature).Element()
	return e
}

// Parse reads a stored payload back: its first element, nil when it holds
// none.
func Parse(data []byte) (*xml.Element, error) {
	els, err := xml.ParseFragments(data)
	if err != nil || len(els) == 0 {
		return nil, err
	}
	return els[0], nil
}

// node is a node with its configuration over the defaults.
type node struct {
	storage.PubSubNode
	cfg Config
}

func (e *Engine) node(ctx context.Context, svc Service, name string) (*node, error) {
	n, err := e.Store.Node(ctx, svc.JID.String(), name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	if err != nil {
		return nil, err
	}
	return &node{n, merged(n.Config, svc.PEP, e.Limits)}, nil
}

// affiliation of bare with n (XEP-0060 §4.1). The account is the owner of
// every node of its PEP service.
func (e *Engine) affiliation(ctx context.Context, svc Service, name string, bare jid.JID) (string, error) {
	if svc.PEP && bare == svc.JID {
		return "owner", nil
	}
	affs, err := e.Store.Affiliations(ctx, svc.JID.String(), name)
	if err != nil {
		return "", err
	}
	for _, a := range affs {
		if a.JID == bare.String() {
			return a.Affiliation, nil
		}
	}
	return "none", nil
}

// owners are the entities whose rosters the presence and roster access
// models consult: the account of a PEP service, a node's owners elsewhere.
func (e *Engine) owners(ctx context.Context, svc Service, name string) ([]jid.JID, error) {
	if svc.PEP {
		return []jid.JID{svc.JID}, nil
	}
	affs, err := e.Store.Affiliations(ctx, svc.JID.String(), name)
	if err != nil {
		return nil, err
	}
	var out []jid.JID
	for _, a := range affs {
		if a.Affiliation == "owner" {
			if j, err := jid.Parse(a.JID); err == nil {
				out = append(out, j)
			}
		}
	}
	return out, nil
}

// rosterItem returns owner's roster item for contact (local owners only).
func (e *Engine) rosterItem(ctx context.Context, owner, contact jid.JID) (storage.RosterItem, bool, error) {
	if e.Rosters == nil || e.Hosts == nil || !e.Hosts(owner.Domain()) || owner.Local() == "" {
		return storage.RosterItem{}, false, nil
	}
	items, _, err := e.Rosters.Roster(ctx, owner.Domain(), owner.Local())
	if err != nil {
		return storage.RosterItem{}, false, err
	}
	for _, it := range items {
		if it.JID == contact.String() && !it.Placeholder {
			return it, true, nil
		}
	}
	return storage.RosterItem{}, false, nil
}

// access applies the node's access model to bare with affiliation aff:
// nil, or the error XEP-0060 §6.1.3 and §6.5.9 give.
func (e *Engine) access(ctx context.Context, svc Service, n *node, bare jid.JID, aff string) error {
	switch aff {
	case "owner", "publisher", "member":
		return nil
	case "outcast":
		return perr(stanza.Forbidden, "")
	}
	switch n.cfg.AccessModel() {
	case "open":
		return nil
	case "presence", "roster":
		owners, err := e.owners(ctx, svc, n.Node)
		if err != nil {
			return err
		}
		roster := n.cfg.AccessModel() == "roster"
		for _, o := range owners {
			it, ok, err := e.rosterItem(ctx, o, bare)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if !roster && (it.Subscription == "from" || it.Subscription == "both") {
				return nil
			}
			if roster {
				for _, g := range it.Groups {
					if slices.Contains(n.cfg[FieldRosterGroups], g) {
						return nil
					}
				}
			}
		}
		if roster {
			return perr(stanza.NotAuthorized, "not-in-roster-group")
		}
		return perr(stanza.NotAuthorized, "presence-subscription-required")
	default: // whitelist
		return perr(stanza.NotAllowed, "closed-node")
	}
}

// MayAccess reports whether bare may retrieve node's items and receive its
// notifications.
func (e *Engine) MayAccess(ctx context.Context, svc Service, name string, bare jid.JID) bool {
	n, err := e.node(ctx, svc, name)
	if err != nil {
		return false
	}
	return e.mayAccess(ctx, svc, n, bare)
}

func (e *Engine) mayAccess(ctx context.Context, svc Service, n *node, bare jid.JID) bool {
	aff, err := e.affiliation(ctx, svc, n.Node, bare)
	return err == nil && e.access(ctx, svc, n, bare, aff) == nil
}

// checker returns mayAccess for many entities at once: the node's
// affiliations and its owners' rosters are read once, not per recipient
// (a publish to a PEP node of a user with hundreds of contacts).
func (e *Engine) checker(ctx context.Context, svc Service, n *node) func(jid.JID) bool {
	return e.checkerWith(ctx, svc, n, rosterCache{})
}

// rosterCache holds owners' rosters read for access checks, by owner:
// contact → the contact's items (one per owner roster).
type rosterCache map[jid.JID]map[string]storage.RosterItem

func (e *Engine) roster(ctx context.Context, cache rosterCache, o jid.JID) map[string]storage.RosterItem {
	if r, ok := cache[o]; ok {
		return r
	}
	r := map[string]storage.RosterItem{}
	cache[o] = r
	if e.Rosters == nil || e.Hosts == nil || o.Local() == "" || !e.Hosts(o.Domain()) {
		return r
	}
	items, _, err := e.Rosters.Roster(ctx, o.Domain(), o.Local())
	if err != nil {
		e.Log.Error("pubsub: roster", "owner", o.String(), "err", err)
		return r
	}
	for _, it := range items {
		if !it.Placeholder {
			r[it.JID] = it
		}
	}
	return r
}

func (e *Engine) checkerWith(ctx context.Context, svc Service, n *node, cache rosterCache) func(jid.JID) bool {
	affs := map[jid.JID]string{}
	stored, err := e.Store.Affiliations(ctx, svc.JID.String(), n.Node)
	if err != nil {
		e.Log.Error("pubsub: affiliations", "service", svc.JID.String(), "node", n.Node, "err", err)
		return func(jid.JID) bool { return false }
	}
	var owners []jid.JID
	for _, a := range stored {
		if j, err := jid.Parse(a.JID); err == nil {
			affs[j] = a.Affiliation
			if a.Affiliation == "owner" {
				owners = append(owners, j)
			}
		}
	}
	if svc.PEP {
		affs[svc.JID] = "owner"
		owners = []jid.JID{svc.JID}
	}
	model := n.cfg.AccessModel()
	var rosters map[string][]storage.RosterItem // contact → its items in each owner's roster
	if model == "presence" || model == "roster" {
		rosters = map[string][]storage.RosterItem{}
		for _, o := range owners {
			for c, it := range e.roster(ctx, cache, o) {
				rosters[c] = append(rosters[c], it)
			}
		}
	}
	return func(j jid.JID) bool {
		bare := j.Bare()
		switch affs[bare] {
		case "owner", "publisher", "member":
			return true
		case "outcast":
			return false
		}
		switch model {
		case "open":
			return true
		case "presence":
			for _, it := range rosters[bare.String()] {
				if it.Subscription == "from" || it.Subscription == "both" {
					return true
				}
			}
		case "roster":
			for _, it := range rosters[bare.String()] {
				for _, g := range it.Groups {
					if slices.Contains(n.cfg[FieldRosterGroups], g) {
						return true
					}
				}
			}
		}
		return false
	}
}

// HandleIQ answers a pubsub or pubsub#owner request to svc. after, when
// not nil, must run once the reply is sent (the last published item for
// a new subscriber, XEP-0060 §6.1.7: after the IQ result).
func (e *Engine) HandleIQ(ctx context.Context, svc Service, iq *module.IQ) (payload *xml.Element, after func(), err error) {
	if iq.From.IsZero() {
		return nil, nil, stanza.NewError(stanza.BadRequest, "")
	}
	p := iq.Payload
	if p.Name() != "pubsub" {
		return nil, nil, stanza.NewError(stanza.BadRequest, "")
	}
	r := &req{e: e, svc: svc, iq: iq, from: iq.From, bare: iq.From.Bare()}
	// The operation is the first child, but for the companions that may
	// follow it in one request (create + configure §8.1.3, publish +
	// publish-options §7.1.5, subscribe + options §6.3.7).
	var op *xml.Element
	for c := range p.Children() {
		if p.NS() == NS && (c.Name() == "configure" || c.Name() == "publish-options" || c.Name() == "options") {
			continue
		}
		op = c
		break
	}
	if op == nil && p.NS() == NS {
		if op = p.Child("options", NS); op == nil {
			op = p.Child("configure", NS)
		}
	}
	if op == nil {
		return nil, nil, stanza.NewError(stanza.BadRequest, "")
	}
	if p.NS() == NSOwner {
		payload, err = r.owner(ctx, op)
		return payload, nil, err
	}
	switch iq.Type + " " + op.Name() {
	case "set create":
		payload, err = r.create(ctx, op, p.Child("configure", NS))
	case "set publish":
		payload, err = r.publishIQ(ctx, op, p.Child("publish-options", NS))
	case "set retract":
		err = r.retract(ctx, op)
	case "set subscribe":
		payload, after, err = r.subscribe(ctx, op)
	case "set unsubscribe":
		err = r.unsubscribe(ctx, op)
	case "get options", "set options":
		payload, err = r.options(ctx, op)
	case "get items":
		payload, err = r.items(ctx, op)
	case "get subscriptions":
		payload, err = r.subscriptions(ctx, op)
	case "get affiliations":
		payload, err = r.affiliations(ctx, op)
	case "get default":
		payload, err = r.defaultConfig(NS)
	case "set configure":
		// XEP-0060 §8.2: configuration is an owner request.
		err = stanza.NewError(stanza.BadRequest, "")
	default:
		err = unsupported(op.Name())
	}
	return payload, after, err
}

// req is one request being served.
type req struct {
	e    *Engine
	svc  Service
	iq   *module.IQ
	from jid.JID
	bare jid.JID
}

func nodeAttr(op *xml.Element) (string, error) {
	n := op.Attr("node")
	if n == "" {
		return "", perr(stanza.BadRequest, "nodeid-required")
	}
	return n, nil
}

func pubsub(ns string) *xml.Builder { return xml.NewBuilder("pubsub", ns) }

// create: XEP-0060 §8.1 (with §8.1.3 configure-and-create).
func (r *req) create(ctx context.Context, op, configure *xml.Element) (*xml.Element, error) {
	e, svc := r.e, r.svc
	name := op.Attr("node")
	instant := name == ""
	if instant {
		if svc.PEP {
			return nil, perr(stanza.NotAcceptable, "nodeid-required")
		}
		name = randid.Hex(8)
	}
	if svc.PEP && r.bare != svc.JID {
		return nil, perr(stanza.Forbidden, "")
	}
	if !svc.PEP && (r.bare.Local() == "" || e.Hosts == nil || !e.Hosts(r.bare.Domain())) {
		// Only local users create nodes on the service.
		return nil, perr(stanza.Forbidden, "")
	}
	var vals map[string][]string
	if configure != nil {
		if x := configure.Child("x", NSData); x != nil && x.Attr("type") != "cancel" {
			ft, v := formValues(x)
			if ft != "" && ft != NSNodeConfig {
				return nil, stanza.NewError(stanza.BadRequest, "FORM_TYPE must be "+NSNodeConfig)
			}
			if err := validate(v, e.Limits); err != nil {
				return nil, err
			}
			vals = normalize(v)
		}
	}
	if err := e.createNode(ctx, svc, name, r.bare, vals); err != nil {
		return nil, err
	}
	if !instant {
		return nil, nil
	}
	return pubsub(NS).Start("create", "").Attr("node", name).End().Element(), nil
}

// createNode stores a node with cfg over the defaults, owned by owner.
func (e *Engine) createNode(ctx context.Context, svc Service, name string, owner jid.JID, cfg map[string][]string) error {
	if e.Limits.MaxNodes > 0 {
		ns, err := e.Store.Nodes(ctx, svc.JID.String())
		if err != nil {
			return err
		}
		if len(ns) >= e.Limits.MaxNodes {
			return perr(stanza.NotAllowed, "max-nodes-exceeded")
		}
	}
	n := storage.PubSubNode{Service: svc.JID.String(), Node: name, Config: cfg}
	if svc.PEP {
		n.AccountDomain, n.AccountUser = svc.JID.Domain(), svc.JID.Local()
	}
	if n.Config == nil {
		n.Config = map[string][]string{}
	}
	err := e.Store.CreateNode(ctx, n, owner.String())
	if errors.Is(err, storage.ErrExists) {
		return perr(stanza.Conflict, "")
	}
	return err
}

// publishIQ: XEP-0060 §7.1, with §7.1.5 publish-options and (PEP)
// auto-create.
func (r *req) publishIQ(ctx context.Context, op, options *xml.Element) (*xml.Element, error) {
	name, err := nodeAttr(op)
	if err != nil {
		return nil, err
	}
	var item *xml.Element
	for c := range op.Children() {
		if c.Name() != "item" {
			continue
		}
		if item != nil {
			return nil, perr(stanza.BadRequest, "invalid-payload")
		}
		item = c
	}
	if item == nil {
		return nil, perr(stanza.BadRequest, "item-required")
	}
	var payload *xml.Element
	for c := range item.Children() {
		if payload != nil {
			return nil, perr(stanza.BadRequest, "invalid-payload")
		}
		payload = c
	}
	var pre map[string][]string
	if options != nil {
		if x := options.Child("x", NSData); x != nil {
			ft, v := formValues(x)
			if ft != NSPublishOptions {
				return nil, perr(stanza.BadRequest, "invalid-options")
			}
			if err := validate(v, r.e.Limits); err != nil {
				return nil, err
			}
			pre = v
		}
	}
	id, err := r.e.Publish(ctx, r.svc, r.from, name, item.Attr("id"), payload, pre)
	if err != nil {
		return nil, err
	}
	return pubsub(NS).Start("publish", "").Attr("node", name).Start("item", "").Attr("id", id).End().End().Element(), nil
}

// Publish stores and notifies one item published by publisher to node of
// svc (id "" makes one), with optional publish-options preconditions, as
// the publish request of XEP-0060 §7.1 does, and returns the item id. The
// profiles call it too (XEP-0411 bookmarks from private storage).
func (e *Engine) Publish(ctx context.Context, svc Service, publisher jid.JID, name, id string, payload *xml.Element, pre map[string][]string) (string, error) {
	bare := publisher.Bare()
	n, err := e.node(ctx, svc, name)
	var se *stanza.Error
	if errors.As(err, &se) && se.Condition == stanza.ItemNotFound {
		// §7.1.5 / XEP-0163 §3: a PEP service auto-creates the node on
		// the owner's first publish, with the preconditions as its
		// configuration; the component does not auto-create.
		if !svc.PEP || bare != svc.JID {
			if svc.PEP {
				return "", perr(stanza.Forbidden, "")
			}
			return "", err
		}
		if err := e.createNode(ctx, svc, name, bare, normalize(pre)); err != nil && !isConflict(err) {
			return "", err
		}
		if n, err = e.node(ctx, svc, name); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	if err := e.mayPublish(ctx, svc, n, bare); err != nil {
		return "", err
	}
	if pre != nil && !preconditionsMet(n.cfg, pre) {
		return "", perr(stanza.Conflict, "precondition-not-met")
	}
	var data []byte
	if payload != nil {
		data = payload.Append(nil, "")
	}
	maxPayload := e.Limits.MaxPayload
	if v, err := strconv.Atoi(n.cfg.str(FieldMaxPayload)); err == nil && v > 0 && (maxPayload <= 0 || v < maxPayload) {
		maxPayload = v
	}
	if maxPayload > 0 && len(data) > maxPayload {
		return "", perr(stanza.NotAcceptable, "payload-too-big")
	}
	if payload == nil && (n.cfg.flag(FieldPersistItems) || n.cfg.flag(FieldDeliverPayloads)) {
		return "", perr(stanza.BadRequest, "payload-required")
	}
	if id == "" {
		id = randid.Hex(8)
	}
	it := storage.PubSubItem{ID: id, Publisher: publisher.String(), Payload: data, Published: time.Now().UTC()}
	if n.cfg.flag(FieldPersistItems) {
		if _, err := e.Store.PublishItem(ctx, svc.JID.String(), name, it, n.cfg.MaxItems(e.Limits)); err != nil {
			return "", err
		}
	}
	e.notify(ctx, svc, n, func(b *xml.Builder) {
		b.Start("items", "").Attr("node", name)
		itemElement(b, id, payload, n.cfg.flag(FieldDeliverPayloads))
		b.End()
	})
	if e.Published != nil {
		e.Published(ctx, svc, name, it, payload)
	}
	return id, nil
}

func isConflict(err error) bool {
	var se *stanza.Error
	return errors.As(err, &se) && se.Condition == stanza.Conflict
}

func itemElement(b *xml.Builder, id string, payload *xml.Element, withPayload bool) {
	b.Start("item", "").Attr("id", id)
	if withPayload && payload != nil {
		b.Append(payload)
	}
	b.End()
}

// mayPublish applies pubsub#publish_model (§7.1.3.1: forbidden). On PEP
// only the account publishes (XEP-0163 §3).
func (e *Engine) mayPublish(ctx context.Context, svc Service, n *node, bare jid.JID) error {
	aff, err := e.affiliation(ctx, svc, n.Node, bare)
	if err != nil {
		return err
	}
	switch {
	case aff == "owner" || aff == "publisher" || aff == "publish-only":
		return nil
	case svc.PEP || aff == "outcast":
		return perr(stanza.Forbidden, "")
	}
	switch n.cfg.str(FieldPublishModel) {
	case "open":
		return nil
	case "subscribers":
		subs, err := e.Store.Subscriptions(ctx, svc.JID.String(), n.Node)
		if err != nil {
			return err
		}
		for _, s := range subs {
			if j, err := jid.Parse(s.JID); err == nil && j.Bare() == bare && s.State == "subscribed" {
				return nil
			}
		}
	}
	return perr(stanza.Forbidden, "")
}

// retract: XEP-0060 §7.2.
func (r *req) retract(ctx context.Context, op *xml.Element) error {
	name, err := nodeAttr(op)
	if err != nil {
		return err
	}
	item := op.Child("item", NS)
	if item == nil || item.Attr("id") == "" {
		return perr(stanza.BadRequest, "item-required")
	}
	var notify *bool
	switch op.Attr("notify") {
	case "1", "true":
		t := true
		notify = &t
	case "0", "false":
		f := false
		notify = &f
	}
	return r.e.Retract(ctx, r.svc, r.bare, name, item.Attr("id"), notify)
}

// Retract deletes an item (§7.2) and notifies the subscribers when notify
// says so (nil: as pubsub#notify_retract says).
func (e *Engine) Retract(ctx context.Context, svc Service, bare jid.JID, name, id string, notify *bool) error {
	n, err := e.node(ctx, svc, name)
	if err != nil {
		return err
	}
	aff, err := e.affiliation(ctx, svc, name, bare)
	if err != nil {
		return err
	}
	if aff != "owner" && aff != "publisher" {
		return perr(stanza.Forbidden, "")
	}
	if err := e.Store.DeleteItem(ctx, svc.JID.String(), name, id); errors.Is(err, storage.ErrNotFound) {
		return perr(stanza.ItemNotFound, "")
	} else if err != nil {
		return err
	}
	if (notify == nil && n.cfg.flag(FieldNotifyRetract)) || (notify != nil && *notify) {
		e.notify(ctx, svc, n, func(b *xml.Builder) {
			b.Start("items", "").Attr("node", name).Start("retract", "").Attr("id", id).End().End()
		})
	}
	if e.Retracted != nil {
		e.Retracted(ctx, svc, name, id)
	}
	return nil
}

// subscribe: XEP-0060 §6.1.
func (r *req) subscribe(ctx context.Context, op *xml.Element) (*xml.Element, func(), error) {
	e, svc := r.e, r.svc
	name, err := nodeAttr(op)
	if err != nil {
		return nil, nil, err
	}
	j, err := jid.Parse(op.Attr("jid"))
	if err != nil || j.Bare() != r.bare {
		// §6.1.3.1: the JIDs do not match.
		return nil, nil, perr(stanza.BadRequest, "invalid-jid")
	}
	n, err := e.node(ctx, svc, name)
	if err != nil {
		return nil, nil, err
	}
	aff, err := e.affiliation(ctx, svc, name, r.bare)
	if err != nil {
		return nil, nil, err
	}
	if err := e.access(ctx, svc, n, r.bare, aff); err != nil {
		return nil, nil, err
	}
	if err := e.Store.SetSubscription(ctx, svc.JID.String(), name, storage.PubSubSubscription{JID: j.String(), State: "subscribed"}); err != nil {
		return nil, nil, err
	}
	res := pubsub(NS).Start("subscription", "").Attr("node", name).Attr("jid", j.String()).Attr("subscription", "subscribed").End().Element()
	var after func()
	if sl := n.cfg.str(FieldSendLast); (sl == "on_sub" || sl == "on_sub_and_presence") && n.cfg.flag(FieldDeliverNotif) {
		// Read now, sent after the result: the subscriber gets the item
		// that was last when it subscribed, and later ones as events.
		if last := e.lastMessage(ctx, svc, n, j); last != nil {
			after = func() { e.Router.Route(context.WithoutCancel(ctx), &module.Stanza{El: last, From: svc.JID, To: j}) }
		}
	}
	return res, after, nil
}

// unsubscribe: XEP-0060 §6.2.
func (r *req) unsubscribe(ctx context.Context, op *xml.Element) error {
	e, svc := r.e, r.svc
	name, err := nodeAttr(op)
	if err != nil {
		return err
	}
	j, err := jid.Parse(op.Attr("jid"))
	if err != nil {
		return perr(stanza.BadRequest, "invalid-jid")
	}
	if j.Bare() != r.bare {
		if aff, err := e.affiliation(ctx, svc, name, r.bare); err != nil || aff != "owner" {
			return perr(stanza.Forbidden, "")
		}
	}
	if _, err := e.node(ctx, svc, name); err != nil {
		return err
	}
	subs, err := e.Store.Subscriptions(ctx, svc.JID.String(), name)
	if err != nil {
		return err
	}
	found := false
	for _, s := range subs {
		if s.JID == j.String() && (op.Attr("subid") == "" || op.Attr("subid") == s.SubID) {
			found = true
			s.State = "none"
			if err := e.Store.SetSubscription(ctx, svc.JID.String(), name, s); err != nil {
				return err
			}
		}
	}
	if !found {
		return perr(stanza.UnexpectedRequest, "not-subscribed")
	}
	return nil
}

// options: XEP-0060 §6.3, minimal: one option, pubsub#deliver, always on.
func (r *req) options(ctx context.Context, op *xml.Element) (*xml.Element, error) {
	name, err := nodeAttr(op)
	if err != nil {
		return nil, err
	}
	j, err := jid.Parse(op.Attr("jid"))
	if err != nil || j.Bare() != r.bare {
		return nil, perr(stanza.Forbidden, "")
	}
	if _, err := r.e.node(ctx, r.svc, name); err != nil {
		return nil, err
	}
	subs, err := r.e.Store.Subscriptions(ctx, r.svc.JID.String(), name)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(subs, func(s storage.PubSubSubscription) bool { return s.JID == j.String() }) {
		return nil, perr(stanza.UnexpectedRequest, "not-subscribed")
	}
	if r.iq.Type == "set" {
		return nil, nil
	}
	b := pubsub(NS).Start("options", "").Attr("node", name).Attr("jid", j.String())
	b.Start("x", NSData).Attr("type", "form")
	b.Start("field", "").Attr("var", "FORM_TYPE").Attr("type", "hidden").Start("value", "").Text(NSSubOptions).End().End()
	b.Start("field", "").Attr("var", "pubsub#deliver").Attr("type", "boolean").Attr("label", "Enable delivery?").
		Start("value", "").Text("1").End().End()
	return b.Element(), nil
}

// items: XEP-0060 §6.5 (all, the newest max_items, or by id), oldest
// first.
func (r *req) items(ctx context.Context, op *xml.Element) (*xml.Element, error) {
	e, svc := r.e, r.svc
	name, err := nodeAttr(op)
	if err != nil {
		return nil, err
	}
	max := 0
	if v := op.Attr("max_items"); v != "" {
		if max, err = strconv.Atoi(v); err != nil || max < 1 {
			return nil, stanza.NewError(stanza.BadRequest, "max_items must be a positive integer")
		}
	}
	var ids []string
	for c := range op.Children() {
		if c.Name() == "item" && c.Attr("id") != "" {
			ids = append(ids, c.Attr("id"))
		}
	}
	n, err := e.node(ctx, svc, name)
	if err != nil {
		return nil, err
	}
	aff, err := e.affiliation(ctx, svc, name, r.bare)
	if err != nil {
		return nil, err
	}
	if aff == "publish-only" {
		return nil, perr(stanza.Forbidden, "")
	}
	if err := e.access(ctx, svc, n, r.bare, aff); err != nil {
		return nil, err
	}
	items, err := e.Store.Items(ctx, svc.JID.String(), name, ids, max)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 && len(items) == 0 {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	b := pubsub(NS).Start("items", "").Attr("node", name)
	for i := len(items) - 1; i >= 0; i-- {
		var payload *xml.Element
		if len(items[i].Payload) > 0 {
			if payload, err = Parse(items[i].Payload); err != nil {
				return nil, fmt.Errorf("stored item %q of %s node %q: %w", items[i].ID, svc.JID, name, err)
			}
		}
		itemElement(b, items[i].ID, payload, true)
	}
	return b.Element(), nil
}

// subscriptions: the requester's subscriptions, XEP-0060 §5.6.
func (r *req) subscriptions(ctx context.Context, op *xml.Element) (*xml.Element, error) {
	return r.perNode(ctx, op, "subscriptions", func(b *xml.Builder, node string) error {
		subs, err := r.e.Store.Subscriptions(ctx, r.svc.JID.String(), node)
		if err != nil {
			return err
		}
		for _, s := range subs {
			if j, err := jid.Parse(s.JID); err == nil && j.Bare() == r.bare {
				b.Start("subscription", "").Attr("node", node).Attr("jid", s.JID).Attr("subscription", s.State)
				if s.SubID != "" {
					b.Attr("subid", s.SubID)
				}
				b.End()
			}
		}
		return nil
	})
}

// affiliations: the requester's affiliations, XEP-0060 §5.7.
func (r *req) affiliations(ctx context.Context, op *xml.Element) (*xml.Element, error) {
	return r.perNode(ctx, op, "affiliations", func(b *xml.Builder, node string) error {
		aff, err := r.e.affiliation(ctx, r.svc, node, r.bare)
		if err != nil {
			return err
		}
		if aff != "none" {
			b.Start("affiliation", "").Attr("node", node).Attr("affiliation", aff).End()
		}
		return nil
	})
}

// perNode answers the requester's listings of XEP-0060 §5.6 and §5.7:
// <pubsub><name/></pubsub> with what add writes for each of the service's
// nodes, or only for the node op names (then name carries it too).
func (r *req) perNode(ctx context.Context, op *xml.Element, name string, add func(b *xml.Builder, node string) error) (*xml.Element, error) {
	ns, err := r.e.Store.Nodes(ctx, r.svc.JID.String())
	if err != nil {
		return nil, err
	}
	only := op.Attr("node")
	b := pubsub(NS).Start(name, "")
	if only != "" {
		b.Attr("node", only)
	}
	for _, n := range ns {
		if only != "" && n.Node != only {
			continue
		}
		if err := add(b, n.Node); err != nil {
			return nil, err
		}
	}
	return b.Element(), nil
}

// defaultConfig: XEP-0060 §8.3.
func (r *req) defaultConfig(ns string) (*xml.Element, error) {
	b := pubsub(ns).Start("default", "")
	DefaultConfig(r.svc.PEP, r.e.Limits).form(b, "form", NSNodeConfig)
	return b.Element(), nil
}

// owner: the pubsub#owner requests, XEP-0060 §8.
func (r *req) owner(ctx context.Context, op *xml.Element) (*xml.Element, error) {
	e, svc := r.e, r.svc
	if op.Name() == "default" && r.iq.Type == "get" {
		return r.defaultConfig(NSOwner)
	}
	name, err := nodeAttr(op)
	if err != nil {
		return nil, err
	}
	n, err := e.node(ctx, svc, name)
	if err != nil {
		return nil, err
	}
	aff, err := e.affiliation(ctx, svc, name, r.bare)
	if err != nil {
		return nil, err
	}
	if aff != "owner" {
		return nil, perr(stanza.Forbidden, "")
	}
	switch r.iq.Type + " " + op.Name() {
	case "get configure":
		b := pubsub(NSOwner).Start("configure", "").Attr("node", name)
		n.cfg.form(b, "form", NSNodeConfig)
		return b.Element(), nil
	case "set configure":
		return nil, e.configure(ctx, svc, n, op.Child("x", NSData))
	case "set delete":
		return nil, e.deleteNode(ctx, svc, n)
	case "set purge":
		if err := e.Store.PurgeItems(ctx, svc.JID.String(), name); err != nil {
			return nil, err
		}
		if n.cfg.flag(FieldNotifyRetract) {
			e.notify(ctx, svc, n, func(b *xml.Builder) { b.Start("purge", "").Attr("node", name).End() })
		}
		return nil, nil
	case "get subscriptions":
		subs, err := e.Store.Subscriptions(ctx, svc.JID.String(), name)
		if err != nil {
			return nil, err
		}
		b := pubsub(NSOwner).Start("subscriptions", "").Attr("node", name)
		for _, s := range subs {
			b.Start("subscription", "").Attr("jid", s.JID).Attr("subscription", s.State)
			if s.SubID != "" {
				b.Attr("subid", s.SubID)
			}
			b.End()
		}
		return b.Element(), nil
	case "set subscriptions":
		return nil, r.setSubscriptions(ctx, op)
	case "get affiliations":
		affs, err := e.Store.Affiliations(ctx, svc.JID.String(), name)
		if err != nil {
			return nil, err
		}
		b := pubsub(NSOwner).Start("affiliations", "").Attr("node", name)
		if svc.PEP {
			b.Start("affiliation", "").Attr("jid", svc.JID.String()).Attr("affiliation", "owner").End()
		}
		for _, a := range affs {
			if svc.PEP && a.JID == svc.JID.String() {
				continue
			}
			b.Start("affiliation", "").Attr("jid", a.JID).Attr("affiliation", a.Affiliation).End()
		}
		return b.Element(), nil
	case "set affiliations":
		return nil, r.setAffiliations(ctx, op)
	}
	return nil, unsupported(op.Name())
}

// configure: XEP-0060 §8.2.4. Fields not in the form keep their value.
func (e *Engine) configure(ctx context.Context, svc Service, n *node, x *xml.Element) error {
	if x == nil {
		return stanza.NewError(stanza.BadRequest, "")
	}
	if x.Attr("type") == "cancel" {
		return nil
	}
	ft, vals := formValues(x)
	if ft != "" && ft != NSNodeConfig {
		return stanza.NewError(stanza.BadRequest, "FORM_TYPE must be "+NSNodeConfig)
	}
	if err := validate(vals, e.Limits); err != nil {
		return err
	}
	cfg := map[string][]string{}
	for k, v := range n.Config {
		cfg[k] = v
	}
	for k, v := range normalize(vals) {
		cfg[k] = v
	}
	if err := e.Store.SetNodeConfig(ctx, svc.JID.String(), n.Node, cfg); err != nil {
		return err
	}
	nn := &node{n.PubSubNode, merged(cfg, svc.PEP, e.Limits)}
	nn.Config = cfg
	if nn.cfg.MaxItems(e.Limits) < n.cfg.MaxItems(e.Limits) {
		if _, err := e.Store.TrimItems(ctx, svc.JID.String(), n.Node, nn.cfg.MaxItems(e.Limits)); err != nil {
			return err
		}
	}
	if nn.cfg.flag(FieldNotifyConfig) {
		e.notify(ctx, svc, nn, func(b *xml.Builder) { b.Start("configuration", "").Attr("node", n.Node).End() })
	}
	return nil
}

// deleteNode: XEP-0060 §8.4; subscribers are told (pubsub#notify_delete)
// before the subscriptions go with the node.
func (e *Engine) deleteNode(ctx context.Context, svc Service, n *node) error {
	if n.cfg.flag(FieldNotifyDelete) {
		e.notify(ctx, svc, n, func(b *xml.Builder) { b.Start("delete", "").Attr("node", n.Node).End() })
	}
	if err := e.Store.DeleteNode(ctx, svc.JID.String(), n.Node); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// DeleteNode deletes a node as its owner would (profiles).
func (e *Engine) DeleteNode(ctx context.Context, svc Service, name string) error {
	n, err := e.node(ctx, svc, name)
	if err != nil {
		return err
	}
	return e.deleteNode(ctx, svc, n)
}

// setSubscriptions: XEP-0060 §8.8.2.
func (r *req) setSubscriptions(ctx context.Context, op *xml.Element) error {
	name := op.Attr("node")
	for c := range op.Children() {
		if c.Name() != "subscription" {
			continue
		}
		j, err := jid.Parse(c.Attr("jid"))
		if err != nil {
			return stanza.NewError(stanza.JIDMalformed, "")
		}
		state := c.Attr("subscription")
		switch state {
		case "none", "subscribed":
		default:
			return stanza.NewError(stanza.NotAcceptable, "subscription must be none or subscribed")
		}
		if err := r.e.Store.SetSubscription(ctx, r.svc.JID.String(), name,
			storage.PubSubSubscription{JID: j.String(), SubID: c.Attr("subid"), State: state}); err != nil {
			return err
		}
	}
	return nil
}

// setAffiliations: XEP-0060 §8.9.2. A PEP service has one owner, the
// account; a component node keeps at least one owner.
func (r *req) setAffiliations(ctx context.Context, op *xml.Element) error {
	e, svc := r.e, r.svc
	name := op.Attr("node")
	type change struct {
		j   jid.JID
		aff string
	}
	var changes []change
	for c := range op.Children() {
		if c.Name() != "affiliation" {
			continue
		}
		j, err := jid.Parse(c.Attr("jid"))
		if err != nil {
			return stanza.NewError(stanza.JIDMalformed, "")
		}
		aff := c.Attr("affiliation")
		switch aff {
		case "owner", "publisher", "publish-only", "member", "none", "outcast":
		default:
			return stanza.NewError(stanza.BadRequest, "unknown affiliation")
		}
		if svc.PEP && (j.Bare() == svc.JID || aff == "owner") {
			return stanza.NewError(stanza.NotAcceptable, "a PEP node's only owner is the account")
		}
		changes = append(changes, change{j.Bare(), aff})
	}
	if !svc.PEP {
		affs, err := e.Store.Affiliations(ctx, svc.JID.String(), name)
		if err != nil {
			return err
		}
		owners := map[string]bool{}
		for _, a := range affs {
			if a.Affiliation == "owner" {
				owners[a.JID] = true
			}
		}
		for _, c := range changes {
			owners[c.j.String()] = c.aff == "owner"
		}
		n := 0
		for _, o := range owners {
			if o {
				n++
			}
		}
		if n == 0 {
			return stanza.NewError(stanza.NotAcceptable, "a node keeps at least one owner")
		}
	}
	for _, c := range changes {
		if err := e.Store.SetAffiliation(ctx, svc.JID.String(), name, c.j.String(), c.aff); err != nil {
			return err
		}
		if c.aff == "outcast" {
			// §8.9.2.4 (banning): an outcast's subscriptions end.
			subs, err := e.Store.Subscriptions(ctx, svc.JID.String(), name)
			if err != nil {
				return err
			}
			for _, s := range subs {
				if j, err := jid.Parse(s.JID); err == nil && j.Bare() == c.j {
					s.State = "none"
					if err := e.Store.SetSubscription(ctx, svc.JID.String(), name, s); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// notify sends an event to everyone who should hear of it: explicit
// subscribers the access model still admits, and (PEP) the interested
// resources. A bare-JID subscriber some of whose resources already get
// the event is not sent another copy (XEP-0163 §4.3.2).
func (e *Engine) notify(ctx context.Context, svc Service, n *node, event func(b *xml.Builder)) {
	if !n.cfg.flag(FieldDeliverNotif) {
		return
	}
	may := e.checker(ctx, svc, n)
	var to []jid.JID
	if e.Interested != nil {
		to = e.Interested(ctx, svc, n.Node, may)
	}
	subs, err := e.Store.Subscriptions(ctx, svc.JID.String(), n.Node)
	if err != nil {
		e.Log.Error("pubsub notify: subscriptions", "service", svc.JID.String(), "node", n.Node, "err", err)
	}
	for _, s := range subs {
		j, err := jid.Parse(s.JID)
		if err != nil || s.State != "subscribed" {
			continue
		}
		if slices.ContainsFunc(to, func(t jid.JID) bool { return t == j || (!j.IsFull() && t.Bare() == j) }) {
			continue
		}
		if may(j) {
			to = append(to, j)
		}
	}
	for _, j := range to {
		e.send(ctx, svc, n, j, event, time.Time{})
	}
}

// send routes one notification message.
func (e *Engine) send(ctx context.Context, svc Service, n *node, to jid.JID, event func(b *xml.Builder), delay time.Time) {
	e.Router.Route(ctx, &module.Stanza{El: e.message(svc, n, to, event, delay), From: svc.JID, To: to})
}

// message builds one notification message.
func (e *Engine) message(svc Service, n *node, to jid.JID, event func(b *xml.Builder), delay time.Time) *xml.Element {
	typ := n.cfg.str(FieldNotificationTyp)
	if typ != "normal" {
		typ = "headline"
	}
	b := xml.NewBuilder("message", xml.NSClient).Attr("from", svc.JID.String()).Attr("to", to.String()).
		Attr("type", typ).Attr("id", randid.Hex(8))
	b.Start("event", NSEvent)
	event(b)
	b.End()
	if !delay.IsZero() {
		b.Start("delay", NSDelay).Attr("from", svc.JID.String()).Attr("stamp", delay.UTC().Format("2006-01-02T15:04:05.000Z")).End()
	}
	return b.Element()
}

// SendLast sends the last published item of node to 'to' if to's bare JID
// may see it (XEP-0163 §4.3.4: to a newly available resource).
func (e *Engine) SendLast(ctx context.Context, svc Service, name string, to jid.JID) {
	n, err := e.node(ctx, svc, name)
	if err != nil {
		return
	}
	e.sendLastOn(ctx, svc, n, to)
}

// SendLastOf is SendLast for nodes of svc the caller has read already
// (the owner's roster is read once for all of them).
func (e *Engine) SendLastOf(ctx context.Context, svc Service, nodes []storage.PubSubNode, to jid.JID) {
	cache := rosterCache{}
	for _, sn := range nodes {
		n := &node{sn, merged(sn.Config, svc.PEP, e.Limits)}
		if n.cfg.str(FieldSendLast) != "on_sub_and_presence" || !n.cfg.flag(FieldDeliverNotif) {
			continue
		}
		if e.checkerWith(ctx, svc, n, cache)(to) {
			e.sendLast(ctx, svc, n, to)
		}
	}
}

func (e *Engine) sendLastOn(ctx context.Context, svc Service, n *node, to jid.JID) {
	if n.cfg.str(FieldSendLast) != "on_sub_and_presence" || !n.cfg.flag(FieldDeliverNotif) || !e.mayAccess(ctx, svc, n, to.Bare()) {
		return
	}
	e.sendLast(ctx, svc, n, to)
}

func (e *Engine) sendLast(ctx context.Context, svc Service, n *node, to jid.JID) {
	if el := e.lastMessage(ctx, svc, n, to); el != nil {
		e.Router.Route(ctx, &module.Stanza{El: el, From: svc.JID, To: to})
	}
}

// lastMessage builds the notification of n's last item for 'to' (with
// the item's time as a delay, XEP-0163 §4.3.4), nil when n has no item.
func (e *Engine) lastMessage(ctx context.Context, svc Service, n *node, to jid.JID) *xml.Element {
	items, err := e.Store.Items(ctx, svc.JID.String(), n.Node, nil, 1)
	if err != nil || len(items) == 0 {
		return nil
	}
	it := items[0]
	var payload *xml.Element
	if len(it.Payload) > 0 {
		if payload, err = Parse(it.Payload); err != nil {
			e.Log.Error("pubsub: stored item does not parse", "service", svc.JID.String(), "node", n.Node, "err", err)
			return nil
		}
	}
	return e.message(svc, n, to, func(b *xml.Builder) {
		b.Start("items", "").Attr("node", n.Node)
		itemElement(b, it.ID, payload, n.cfg.flag(FieldDeliverPayloads))
		b.End()
	}, it.Published)
}

// Items returns the items of a node, newest first, for the profiles
// (ErrNotFound when there is no such node).
func (e *Engine) Items(ctx context.Context, svc Service, name string) ([]storage.PubSubItem, error) {
	return e.Store.Items(ctx, svc.JID.String(), name, nil, 0)
}
