// Package presence implements RFC 6121 §4 presence broadcast and §3
// presence subscriptions for local users. See README.md for what is and is
// not implemented.
package presence

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

func init() { module.Register("presence", func() module.Module { return &mod{} }) }

// NSPreApproval is the stream feature namespace for subscription
// pre-approval (RFC 6121 §3.4).
const NSPreApproval = "urn:xmpp:features:pre-approval"

// rosterService is what the module uses of the roster module's service
// "roster": roster pushes for the subscription changes it stores
// (RFC 6121 §3) and the call after a roster removal (§2.5.2).
type rosterService interface {
	Push(own jid.JID, item storage.RosterItem, ver string)
	OnRemove(fn func(ctx context.Context, own jid.JID, removed storage.RosterItem)) (uninstall func())
}

// inviteService is what the module uses of the invites module's service
// "invites": XEP-0379 tokens in subscription requests.
type inviteService interface {
	ApproveSubscription(ctx context.Context, own, contact jid.JID, token string) bool
}

// Deps implements module.Dependent: without the roster module, changes go
// unpushed and removals cancel nothing (nothing removes items then);
// without the invites module, a XEP-0379 token is ignored.
func (m *mod) Deps() module.Deps { return module.Deps{Uses: []string{"roster", "invites"}} }

type mod struct {
	h       *module.Handle
	store   storage.Rosters
	roster  rosterService // nil without the roster module
	invites inviteService // nil without the invites module

	// avail holds, by full JID, the sessions that have sent available
	// presence and not yet unavailable: it tells initial presence
	// (RFC 6121 §4.2) from an update (§4.4).
	mu    sync.Mutex
	avail map[string]availEntry

	// watch counts the roster changes made in this process (nil when
	// others may write rosters too: a cluster's nodes): it lets an
	// unavailable broadcast skip the roster read (broadcast).
	watch rosterChanges

	// subMu serialises subscription state changes (read-modify-write of
	// two rosters).
	subMu sync.Mutex

	// directedTo holds, per session, the entities it sent directed
	// presence to (RFC 6121 §4.6; directed.go).
	dmu        sync.Mutex
	directedTo map[module.Session]*directedSet

	unhookRemove func() // uninstalls the roster removal hook

	maxItems int // [roster] max_items: bounds stored requests from strangers
}

func (m *mod) Start(h *module.Handle) error {
	if h.Rosters == nil {
		return errors.New("no roster storage")
	}
	m.h, m.store = h, h.Rosters
	// [roster] max_items is the roster module's: it says through its
	// service; without the module, its default.
	m.maxItems = 1000
	m.avail = map[string]availEntry{}
	if w, ok := h.Rosters.(rosterChanges); ok && h.Cluster == nil {
		m.watch = w
	}
	m.directedTo = map[module.Session]*directedSet{}
	// RFC 6121 §3.4: subscription pre-approval is supported.
	h.AddStreamFeature(module.StreamFeature{Name: "pre-approval", Element: func(module.Stream) *xml.Element {
		return xml.NewBuilder("sub", NSPreApproval).Element()
	}})
	switch rs, err := module.Require[rosterService](h, "roster"); {
	case err == nil:
		m.roster = rs
		m.unhookRemove = rs.OnRemove(m.removed)
		if l, ok := rs.(interface{ MaxItems() int }); ok {
			m.maxItems = l.MaxItems()
		}
	case !errors.Is(err, module.ErrNoService):
		return err
	}
	if is, err := module.Require[inviteService](h, "invites"); err == nil {
		m.invites = is
	}
	h.Hook(module.HookPresenceBroadcast, 0, m.broadcast)
	h.Hook(module.HookOutbound, 0, m.outbound)
	h.Hook(module.HookAccountPresence, 0, m.inbound)
	h.OnSessionBound(func(_ context.Context, s module.Session) {
		m.mu.Lock()
		delete(m.avail, s.JID().String())
		m.mu.Unlock()
	})
	h.OnSessionClosed(func(ctx context.Context, s module.Session) {
		m.mu.Lock()
		if m.avail[s.JID().String()].s == s {
			delete(m.avail, s.JID().String())
		}
		m.mu.Unlock()
		// §4.6.2 for a session that ends without unavailable presence
		// (abruptly, or never available): c2s broadcast unavailable for
		// an available one already, which sent these; what is left is
		// a session that never sent initial presence.
		m.endDirected(ctx, s, s.JID(), nil, false)
	})
	// A session resumed on another cluster node (XEP-0198) keeps the
	// entities it sent directed presence to: they get its unavailable
	// presence when it ends there, not when it leaves this node.
	h.CarrySession("presence-directed", module.SessionCarrier{Export: m.exportDirected, Import: m.importDirected})
	return nil
}

// Stop implements module.Stopper.
func (m *mod) Stop() error {
	if m.unhookRemove != nil {
		m.unhookRemove()
	}
	return nil
}

// availEntry is an available session (mod.avail). noFrom: its last
// broadcast found no contact with a 'from' subscription, when the roster
// watch's count was changes.
type availEntry struct {
	s       module.Session
	noFrom  bool
	changes uint64
}

// rosterChanges is storage.RosterWatch's count of roster changes.
type rosterChanges interface {
	Changes(domain, username string) uint64
}

// to returns el addressed to j.
func to(el *xml.Element, j jid.JID) *xml.Element {
	return el.WithAttrs(xml.Attr{Name: "to", Value: j.String()})
}

// item returns own's roster item for contact, if any.
func (m *mod) item(ctx context.Context, own, contact jid.JID) (storage.RosterItem, bool, error) {
	// One row, not the whole roster: probes ask this for every contact
	// of every login (K x K rows otherwise).
	it, err := m.store.RosterItem(ctx, own.Domain(), own.Local(), contact.String())
	if errors.Is(err, storage.ErrNotFound) {
		return storage.RosterItem{JID: contact.String(), Subscription: "none"}, false, nil
	}
	if err != nil {
		return storage.RosterItem{}, false, err
	}
	if it.Subscription == "" {
		it.Subscription = "none"
	}
	return it, true, nil
}

// lookup is item that also reports how many placeholders (requests from
// strangers, not shown as roster items) own's roster holds.
func (m *mod) lookup(ctx context.Context, own, contact jid.JID) (storage.RosterItem, bool, int, error) {
	items, _, err := m.store.Roster(ctx, own.Domain(), own.Local())
	if err != nil {
		return storage.RosterItem{}, false, 0, err
	}
	held := 0
	for _, it := range items {
		if it.Placeholder {
			held++
		}
	}
	for _, it := range items {
		if it.JID == contact.String() {
			return it, true, held, nil
		}
	}
	return storage.RosterItem{JID: contact.String(), Subscription: "none"}, false, held, nil
}

func subFrom(s string) bool { return s == "from" || s == "both" }
func subTo(s string) bool   { return s == "to" || s == "both" }

// subState names the subscription with the given directions.
func subState(to, from bool) string {
	switch {
	case to && from:
		return "both"
	case to:
		return "to"
	case from:
		return "from"
	}
	return "none"
}

// The four transitions of RFC 6121 Appendix A, each leaving the other
// direction as it was.
func addTo(s string) string    { return subState(true, subFrom(s)) }
func dropTo(s string) string   { return subState(false, subFrom(s)) }
func addFrom(s string) string  { return subState(subTo(s), true) }
func dropFrom(s string) string { return subState(subTo(s), false) }

// broadcast handles presence without 'to' from a session: RFC 6121 §4.2
// (initial), §4.4 (update), §4.5 (unavailable, also for a session that
// ended without one).
func (m *mod) broadcast(ctx context.Context, st *module.Stanza) bool {
	origin := st.Origin
	if origin == nil {
		return false
	}
	full := st.From
	key := full.String()
	var initial, noFrom bool
	switch st.Type() {
	case "":
		m.mu.Lock()
		initial = m.avail[key].s != origin
		m.avail[key] = availEntry{s: origin}
		m.mu.Unlock()
	case "unavailable":
		m.mu.Lock()
		e := m.avail[key]
		was := e.s == origin
		if was {
			delete(m.avail, key)
		}
		m.mu.Unlock()
		noFrom = was && e.noFrom && m.watch.Changes(full.Domain(), full.Local()) == e.changes
		if _, remote := origin.(module.Proxy); remote {
			// A session of a cluster node that died: this node
			// announces its end (its own node had it available).
			was = true
		}
		if !was {
			// §4.5.2 concerns an available resource; one that never sent
			// available presence has nothing to retract, except its
			// directed presence (§4.6.2).
			m.endDirected(ctx, origin, full, st.El, false)
			return true
		}
		defer m.endDirected(ctx, origin, full, st.El, true)
	default:
		return true // subscription types and probes without 'to' mean nothing
	}
	own := full.Bare()
	el := st.El

	// §4.2.2, §4.4.2, §4.5.2: to all of the user's available resources,
	// the sending one included.
	sentSelf := false
	for _, s := range m.h.Directory.Sessions(own) {
		if s.Available() || s == origin {
			s.Deliver(to(el, s.JID()))
			sentSelf = sentSelf || s == origin
		}
	}
	if !sentSelf && st.Type() == "unavailable" && m.h.Directory.Session(full) == origin {
		origin.Deliver(to(el, full))
	}

	if noFrom {
		// §4.5.2: the unavailable presence goes to the contacts with a
		// 'from' subscription, and the last broadcast found none in a
		// roster nothing has changed since: no read at logout.
		return true
	}
	var changes uint64
	if m.watch != nil {
		changes = m.watch.Changes(own.Domain(), own.Local()) // before the read: a change during it shows
	}
	items, _, err := m.store.Roster(ctx, own.Domain(), own.Local())
	if err != nil {
		m.h.Logger.Error("presence broadcast: roster", "jid", own.String(), "err", err)
		return true
	}
	if m.watch != nil && st.Type() == "" && !slices.ContainsFunc(items, func(it storage.RosterItem) bool { return subFrom(it.Subscription) }) {
		m.mu.Lock()
		if m.avail[key].s == origin {
			m.avail[key] = availEntry{s: origin, noFrom: true, changes: changes}
		}
		m.mu.Unlock()
	}
	for _, it := range items {
		c, err := jid.Parse(it.JID)
		if err != nil {
			continue
		}
		if subFrom(it.Subscription) {
			m.h.Router.Route(ctx, &module.Stanza{El: to(el, c), From: full, To: c})
		}
		if initial && subTo(it.Subscription) {
			m.probe(ctx, own, origin, c)
		}
		if initial && it.PendingIn {
			// §3.1.3: a stored request is delivered when the contact
			// (here: own) next becomes available. Routed, not handed to
			// the session, so that router hooks (XEP-0191 blocking) see
			// a stanza from the contact.
			req := xml.NewBuilder("presence", xml.NSClient).Attr("type", "subscribe").
				Attr("from", c.String()).Attr("to", own.String()).Element()
			m.h.Router.Route(ctx, &module.Stanza{El: req, From: c, To: full})
		}
	}
	return true
}

// probe answers for contact c what a presence probe from own would get
// (RFC 6121 §4.3.2): the last presence of each of c's available resources,
// routed to the newly available session's full JID only (through the
// router, so that its hooks, e.g. XEP-0191 blocking, see stanzas from the
// contact). A contact we do not serve gets a probe stanza through the
// router.
func (m *mod) probe(ctx context.Context, own jid.JID, origin module.Session, c jid.JID) {
	if !m.h.Hosts(c.Domain()) {
		p := xml.NewBuilder("presence", xml.NSClient).Attr("type", "probe").
			Attr("from", own.String()).Attr("to", c.String()).Element()
		m.h.Router.Route(ctx, &module.Stanza{El: p, From: own, To: c})
		return
	}
	// Which of c's resources have a presence to answer with: looked up
	// first because it is in memory, while the subscription check below
	// reads c's whole roster from storage. Most contacts are offline most
	// of the time; with the roster read first, an initial presence cost
	// one roster read per contact (57% of the server's CPU in the roster
	// benchmark, docs/performance.md).
	var answers []module.Session
	for _, s := range m.h.Directory.Sessions(c) {
		if s.Available() && s.Presence() != nil {
			answers = append(answers, s)
		}
	}
	if len(answers) == 0 {
		return
	}
	// Only if the contact's side agrees that own is subscribed.
	it, ok, err := m.item(ctx, c, own)
	if err != nil || !ok || !subFrom(it.Subscription) {
		return
	}
	for _, s := range answers {
		if p := s.Presence(); p != nil {
			m.h.Router.Route(ctx, &module.Stanza{El: to(p, origin.JID()), From: s.JID(), To: origin.JID()})
		}
	}
}
