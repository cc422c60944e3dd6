// Package roster implements RFC 6121 §2 roster management: jabber:iq:roster
// get, set and remove on the user's own roster, roster pushes to every
// interested resource, and roster versioning (XEP-0237, RFC 6121 §2.6).
// Subscription states are kept in storage but changed only by presence
// subscription handling (RFC 6121 §3, modules/presence), which pushes its
// changes through Push.
package roster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	// NS is the roster namespace (RFC 6121 §2.1).
	NS = "jabber:iq:roster"
	// NSVer is the stream feature announcing roster versioning (RFC 6121
	// §2.6.1, XEP-0237 §2.1).
	NSVer = "urn:xmpp:features:rosterver"
)

// Limits the server applies to roster sets (RFC 6121 §2.3.3 leaves them
// to the server; a set beyond one is refused with not-acceptable). The
// item count comes from the configuration ([roster] max_items).
const (
	MaxNameBytes  = 1023 // 'name' attribute, in bytes of UTF-8
	MaxGroupBytes = 1023 // one <group/>'s character data
	MaxGroups     = 100  // groups per item
)

func init() { module.Register("roster", func() module.Module { return &mod{} }) }

// Service is the name under which the module provides what other modules
// (presence subscriptions, RFC 6121 §3) need of it, through a value with
// the methods Push, OnRemove and MaxItems:
//
//	Push(own jid.JID, item storage.RosterItem, ver string)
//	OnRemove(fn func(ctx context.Context, own jid.JID, removed storage.RosterItem)) (uninstall func())
//	MaxItems() int // [roster] max_items
const Service = "roster"

// Deps implements module.Dependent.
func (m *mod) Deps() module.Deps { return module.Deps{Provides: []string{Service}} }

// Push sends a roster push of item (at roster version ver) to the
// interested resources of own, as a change through jabber:iq:roster does.
// Other modules that change roster items (presence subscriptions, RFC 6121
// §3) call it after storing the change.
func (m *mod) Push(own jid.JID, item storage.RosterItem, ver string) { m.push(own, item, ver) }

// RemoveHook is called after an item was removed through jabber:iq:roster
// and the removal pushed, with the item as it was (its subscription
// states included), before the IQ result goes out. RFC 6121 §2.5.2 asks
// the server to cancel the subscriptions the item carried; the presence
// module does that.
type RemoveHook = func(ctx context.Context, own jid.JID, removed storage.RosterItem)

// OnRemove installs fn as the RemoveHook (one at a time: the last
// installed wins) and returns the function that uninstalls it, which
// does nothing once another hook replaced it.
func (m *mod) OnRemove(fn RemoveHook) (uninstall func()) {
	p := &fn
	m.removeHook.Store(p)
	return func() { m.removeHook.CompareAndSwap(p, nil) }
}

type mod struct {
	h                                      *module.Handle
	store                                  storage.Rosters
	maxName, maxGroup, maxGroups, maxItems int

	// interested holds, by full JID, the sessions that requested the
	// roster (RFC 6121 §2.1.6: "interested resources"); only they receive
	// roster pushes. Keyed by JID so that a session replaced by a new one
	// with the same full JID (which is unbound without a SessionClosed)
	// leaves no entry behind: the new session's bind drops it.
	mu         sync.Mutex
	interested map[string]module.Session

	pushPrefix string
	pushSeq    atomic.Uint64

	removeHook atomic.Pointer[RemoveHook]
}

func (m *mod) Start(h *module.Handle) error {
	if h.Rosters == nil {
		return errors.New("no roster storage")
	}
	m.h, m.store = h, h.Rosters
	m.maxName, m.maxGroup, m.maxGroups = MaxNameBytes, MaxGroupBytes, MaxGroups
	m.maxItems = module.ConfigOf[*Config](h).MaxItems
	m.interested = map[string]module.Session{}
	m.pushPrefix = "push-" + randid.Hex(4) + "-"

	h.HandleIQ(module.TargetAccount, "get", NS, m.get)
	h.HandleIQ(module.TargetAccount, "set", NS, m.set)
	h.AddStreamFeature(module.StreamFeature{Name: "rosterver", Element: func(module.Stream) *xml.Element {
		return xml.NewBuilder("ver", NSVer).Element()
	}})
	// A new session has not asked yet; whatever is under its JID belongs
	// to the session it replaced.
	h.OnSessionBound(func(_ context.Context, s module.Session) {
		m.mu.Lock()
		delete(m.interested, s.JID().String())
		m.mu.Unlock()
	})
	h.OnSessionClosed(func(_ context.Context, s module.Session) {
		m.mu.Lock()
		if m.interested[s.JID().String()] == s {
			delete(m.interested, s.JID().String())
		}
		m.mu.Unlock()
	})
	// A session resumed on another cluster node stays interested there
	// (RFC 6121 §2.1.6 pushes go on).
	h.CarrySession("roster", module.SessionCarrier{
		Export: func(s module.Session) []byte {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.interested[s.JID().String()] != s {
				return nil
			}
			delete(m.interested, s.JID().String())
			return []byte("interested")
		},
		Import: func(_ context.Context, s module.Session, _ []byte) {
			m.mu.Lock()
			if m.h.Directory.Session(s.JID()) == s {
				m.interested[s.JID().String()] = s
			}
			m.mu.Unlock()
		},
	})
	module.Provide(h, Service, m)
	return nil
}

// owner returns the bare JID whose roster iq is about. Only the account
// itself may read or change its roster: an IQ addressed to another user's
// bare JID is refused (RFC 6121 §2.1.3, §2.3.3 forbidden).
func owner(iq *module.IQ) (jid.JID, error) {
	own := iq.From.Bare()
	if own.Local() == "" {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "")
	}
	if !iq.To.IsZero() && iq.To.Bare() != own {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "")
	}
	return own, nil
}

// get: RFC 6121 §2.1.3 and §2.6.3. With a 'ver' equal to the current
// version the result is empty (the client's cached roster is current);
// otherwise the whole roster with its version.
func (m *mod) get(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	own, err := owner(iq)
	if err != nil {
		return nil, err
	}
	if iq.Payload.Name() != "query" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	items, ver, err := m.store.Roster(ctx, own.Domain(), own.Local())
	if err != nil {
		return nil, err
	}
	// The session now counts as interested, whatever the answer.
	// Only while it is the session bound to its JID: a replaced session
	// still finishing its last stanzas must not shadow its successor.
	// Checked under m.mu, which the bind hook also takes after the
	// directory has the successor, so the two cannot interleave.
	if s := iq.Origin; s != nil {
		m.mu.Lock()
		bound := m.h.Directory.Session(s.JID()) == s
		if bound {
			m.interested[s.JID().String()] = s
		}
		m.mu.Unlock()
		if bound {
			// Roster changes made on other cluster nodes push to it too.
			module.SetFlag(m.h.Directory, s, flagInterested, true)
		}
	}
	if clientVer, ok := iq.Payload.LookupAttr("ver"); ok && clientVer == ver {
		return nil, nil
	}
	b := xml.NewBuilder("query", NS).Attr("ver", ver)
	for _, it := range items {
		if !it.Placeholder {
			appendItem(b, it)
		}
	}
	return b.Element(), nil
}

// set: RFC 6121 §2.3 (add), §2.4 (update), §2.5 (delete).
func (m *mod) set(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	own, err := owner(iq)
	if err != nil {
		return nil, err
	}
	if iq.Payload.Name() != "query" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	// §2.3.3: exactly one <item/>.
	var el *xml.Element
	n := 0
	for c := range iq.Payload.Children() {
		n++
		el = c
	}
	if n != 1 || el.Name() != "item" || el.NS() != NS {
		return nil, stanza.NewError(stanza.BadRequest, "a roster set carries exactly one item")
	}
	raw, ok := el.LookupAttr("jid")
	if !ok {
		return nil, stanza.NewError(stanza.BadRequest, "item without jid")
	}
	contact, err := jid.Parse(raw)
	if err != nil {
		return nil, stanza.NewError(stanza.JIDMalformed, "")
	}
	if !contact.IsBare() {
		// §2.1.2.3: the 'jid' of an item is a bare JID.
		return nil, stanza.NewError(stanza.BadRequest, "item jid must be a bare JID")
	}

	if el.Attr("subscription") == "remove" {
		items, _, err := m.store.Roster(ctx, own.Domain(), own.Local())
		if err != nil {
			return nil, err
		}
		var removed storage.RosterItem
		for _, it := range items {
			if it.JID == contact.String() {
				removed = it
				break
			}
		}
		if removed.Placeholder {
			// Not in the roster as the client sees it (§2.5.3); the
			// stored request is declined with "unsubscribed" instead.
			return nil, stanza.NewError(stanza.ItemNotFound, "")
		}
		ver, err := m.store.DeleteRosterItem(ctx, own.Domain(), own.Local(), contact.String())
		if errors.Is(err, storage.ErrNotFound) {
			return nil, stanza.NewError(stanza.ItemNotFound, "") // §2.5.3
		}
		if err != nil {
			return nil, err
		}
		m.push(own, storage.RosterItem{JID: contact.String(), Subscription: "remove"}, ver)
		if fn := m.removeHook.Load(); fn != nil && removed.JID != "" {
			(*fn)(ctx, own, removed)
		}
		return nil, nil
	}

	name := el.Attr("name")
	if len(name) > m.maxName {
		return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("name longer than %d bytes", m.maxName))
	}
	var groups []string
	seen := map[string]bool{}
	for g := range el.Children() {
		if g.Name() != "group" || g.NS() != NS {
			continue // unknown extensions are not stored
		}
		txt := g.Text()
		switch {
		case txt == "":
			return nil, stanza.NewError(stanza.NotAcceptable, "empty group")
		case len(txt) > m.maxGroup:
			return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("group longer than %d bytes", m.maxGroup))
		case seen[txt]:
			return nil, stanza.NewError(stanza.BadRequest, "duplicate group")
		}
		seen[txt] = true
		groups = append(groups, txt)
	}
	if len(groups) > m.maxGroups {
		return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("more than %d groups", m.maxGroups))
	}

	// The client does not set subscription, ask or approved (§2.1.2):
	// an existing item keeps its states, a new one starts at none.
	items, _, err := m.store.Roster(ctx, own.Domain(), own.Local())
	if err != nil {
		return nil, err
	}
	item := storage.RosterItem{JID: contact.String(), Name: name, Subscription: "none", Groups: groups}
	found, real := false, 0
	for _, it := range items {
		if !it.Placeholder {
			real++
		}
		if it.JID == item.JID {
			// A placeholder for a stored request becomes a real item
			// now that the user adds the contact; the request stays.
			item.Subscription, item.Ask, item.Approved, item.PendingIn = it.Subscription, it.Ask, it.Approved, it.PendingIn
			found = !it.Placeholder
		}
	}
	// Placeholders are not the user's contacts: strangers' requests must
	// not use up the roster limit (they have a bound of their own in the
	// presence module).
	if !found && real >= m.maxItems {
		return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("roster is limited to %d items", m.maxItems))
	}
	ver, err := m.store.SetRosterItem(ctx, own.Domain(), own.Local(), item)
	if err != nil {
		return nil, err
	}
	m.push(own, item, ver)
	return nil, nil
}

// flagInterested marks a session that requested the roster (RFC 6121
// §2.1.6) for the other cluster nodes (module.SessionFlags).
const flagInterested = "roster"

// push sends a roster push (RFC 6121 §2.1.6) of item to every interested
// resource of own, the one that made the change included. Pushes go out
// before the handler returns, so the initiating resource sees its push
// before the IQ result, as in the examples of §2.3.2.
func (m *mod) push(own jid.JID, item storage.RosterItem, ver string) {
	if item.Placeholder {
		return // not in the roster as clients see it
	}
	for _, s := range m.h.Directory.Sessions(own) {
		m.mu.Lock()
		ok := m.interested[s.JID().String()] == s || module.HasFlag(s, flagInterested)
		m.mu.Unlock()
		if !ok {
			continue
		}
		b := xml.NewBuilder("iq", xml.NSClient).
			Attr("type", "set").
			Attr("id", m.pushPrefix+strconv.FormatUint(m.pushSeq.Add(1), 10)).
			Attr("from", own.String()).
			Attr("to", s.JID().String())
		b.Start("query", NS).Attr("ver", ver)
		appendItem(b, item)
		b.End()
		s.Deliver(b.Element())
	}
}

// appendItem renders one <item/> (RFC 6121 §2.1.2).
func appendItem(b *xml.Builder, it storage.RosterItem) {
	b.Start("item", "").Attr("jid", it.JID)
	if it.Name != "" {
		b.Attr("name", it.Name)
	}
	sub := it.Subscription
	if sub == "" {
		sub = "none"
	}
	b.Attr("subscription", sub)
	if it.Ask {
		b.Attr("ask", "subscribe")
	}
	if it.Approved {
		b.Attr("approved", "true")
	}
	for _, g := range it.Groups {
		b.Start("group", "").Text(g).End()
	}
	b.End()
}
