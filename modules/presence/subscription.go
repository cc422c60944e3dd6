package presence

import (
	"context"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/modules/roster"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

func isSubscription(typ string) bool {
	switch typ {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		return true
	}
	return false
}

// changed reports whether the subscription states of a and b differ.
func changed(a, b storage.RosterItem) bool {
	return a.Subscription != b.Subscription || a.Ask != b.Ask || a.PendingIn != b.PendingIn || a.Approved != b.Approved
}

// save stores it in own's roster; push says whether the change is visible
// to the client (pending-in alone is not) and so needs a roster push.
func (m *mod) save(ctx context.Context, own jid.JID, it storage.RosterItem, push bool) error {
	ver, err := m.store.SetRosterItem(ctx, own.Domain(), own.Local(), it)
	if err != nil {
		return err
	}
	if push {
		roster.Push(own, it, ver)
	}
	return nil
}

// subStanza builds a subscription stanza of typ from bare 'from' to bare 'to'.
func subStanza(typ string, from, to jid.JID) *xml.Element {
	return xml.NewBuilder("presence", xml.NSClient).Attr("type", typ).
		Attr("from", from.String()).Attr("to", to.String()).Element()
}

// deliverAvailable gives el to every available resource of own.
func (m *mod) deliverAvailable(own jid.JID, el *xml.Element) {
	for _, s := range m.h.Directory.Sessions(own) {
		if s.Available() {
			s.Deliver(el)
		}
	}
}

// sendPresence routes the current presence of each of own's available
// resources (or unavailable presence from each) to contact.
func (m *mod) sendPresence(ctx context.Context, own, contact jid.JID, unavailable bool) {
	for _, s := range m.h.Directory.Sessions(own) {
		if !s.Available() {
			continue
		}
		el := s.Presence()
		if unavailable || el == nil {
			el = xml.NewBuilder("presence", xml.NSClient).Attr("type", "unavailable").
				Attr("from", s.JID().String()).Element()
		}
		m.h.Router.Route(ctx, &module.Stanza{El: to(el, contact), From: s.JID(), To: contact})
	}
}

// outbound handles subscription stanzas a user's session sends (RFC 6121
// §3.1.2, §3.2.2, §3.3.2, and §3.2.1 for approvals): the user's roster
// item changes as Appendix A says, the stanza goes out from the bare JID.
func (m *mod) outbound(ctx context.Context, st *module.Stanza) bool {
	if st.Kind() != "presence" || st.To.IsZero() || !isSubscription(st.Type()) {
		return false
	}
	typ := st.Type()
	own, contact := st.From.Bare(), st.To.Bare()
	if own.Local() == "" || contact == own {
		return true
	}
	m.subMu.Lock()
	it, _, err := m.item(ctx, own, contact)
	if err != nil {
		m.subMu.Unlock()
		m.h.Logger.Error("subscription: roster", "jid", own.String(), "err", err)
		return true
	}
	old := it
	route := true
	switch typ {
	case "subscribe":
		if !subTo(it.Subscription) {
			it.Ask = true
		}
	case "subscribed":
		switch {
		case it.PendingIn:
			it.PendingIn = false
			if it.Subscription == "none" {
				it.Subscription = "from"
			} else if it.Subscription == "to" {
				it.Subscription = "both"
			}
		default:
			// No request to approve: no state change and nothing is
			// routed (Appendix A.2.2). Pre-approval (§3.4) is not
			// implemented.
			route = false
		}
	case "unsubscribe":
		it.Ask = false
		switch it.Subscription {
		case "to":
			it.Subscription = "none"
		case "both":
			it.Subscription = "from"
		}
	case "unsubscribed":
		it.PendingIn = false
		switch it.Subscription {
		case "from":
			it.Subscription = "none"
		case "both":
			it.Subscription = "to"
		}
	}
	if changed(it, old) {
		visible := it.Subscription != old.Subscription || it.Ask != old.Ask
		if err := m.save(ctx, own, it, visible); err != nil {
			m.subMu.Unlock()
			m.h.Logger.Error("subscription: store", "jid", own.String(), "err", err)
			return true
		}
	}
	// Unlocked before routing: a local contact's side runs inbound, which
	// takes the lock.
	m.subMu.Unlock()
	if !route {
		return true
	}
	m.h.Router.Route(ctx, &module.Stanza{El: subStanza(typ, own, contact), From: own, To: contact, Origin: st.Origin})
	switch {
	case typ == "subscribed":
		// §3.2.2 (contact's side): the new subscriber gets the contact's
		// current presence.
		m.sendPresence(ctx, own, contact, false)
	case typ == "unsubscribed" && subFrom(old.Subscription):
		// §3.2.2/§3.3: a cancelled subscriber sees the resources go away.
		m.sendPresence(ctx, own, contact, true)
	}
	return true
}

// inbound handles presence to a local account's bare JID (RFC 6121 §3.1.3,
// §3.2.3, §3.3.3, and §4.3.2 probes). Available and unavailable presence is
// left to the router.
func (m *mod) inbound(ctx context.Context, st *module.Stanza) bool {
	typ := st.Type()
	if typ == "probe" {
		m.answerProbe(ctx, st)
		return true
	}
	if !isSubscription(typ) {
		return false
	}
	own, from := st.To.Bare(), st.From.Bare()
	if own.IsZero() || from.IsZero() {
		return true
	}
	m.subMu.Lock()
	it, found, err := m.item(ctx, own, from)
	if err != nil {
		m.subMu.Unlock()
		m.h.Logger.Error("subscription: roster", "jid", own.String(), "err", err)
		return true
	}
	old := it
	deliver := false
	autoReply := false
	switch typ {
	case "subscribe":
		switch {
		case subFrom(it.Subscription):
			autoReply = true // §3.1.3: already subscribed, answer for the user
		default:
			it.PendingIn = true
			deliver = true
		}
	case "subscribed":
		if it.Ask {
			it.Ask = false
			if it.Subscription == "none" {
				it.Subscription = "to"
			} else if it.Subscription == "from" {
				it.Subscription = "both"
			}
			deliver = true
		}
	case "unsubscribe":
		if subFrom(it.Subscription) || it.PendingIn {
			deliver = subFrom(it.Subscription)
			it.PendingIn = false
			switch it.Subscription {
			case "from":
				it.Subscription = "none"
			case "both":
				it.Subscription = "to"
			}
		}
	case "unsubscribed":
		if subTo(it.Subscription) || it.Ask {
			deliver = true
			it.Ask = false
			switch it.Subscription {
			case "to":
				it.Subscription = "none"
			case "both":
				it.Subscription = "from"
			}
		}
	}
	if changed(it, old) {
		// A request stored for a contact not in the roster creates an
		// item, with no push: pending-in is not shown to clients.
		visible := found && (it.Subscription != old.Subscription || it.Ask != old.Ask)
		if err := m.save(ctx, own, it, visible); err != nil {
			m.subMu.Unlock()
			m.h.Logger.Error("subscription: store", "jid", own.String(), "err", err)
			return true
		}
	}
	m.subMu.Unlock()
	if deliver {
		m.deliverAvailable(own, subStanza(typ, from, own))
	}
	if autoReply {
		m.h.Router.Route(ctx, &module.Stanza{El: subStanza("subscribed", own, from), From: own, To: from})
	}
	if typ == "unsubscribe" && subFrom(old.Subscription) {
		// §3.3.3: the former subscriber sees the resources go away.
		m.sendPresence(ctx, own, from, true)
	}
	return true
}

// answerProbe: RFC 6121 §4.3.2. A subscribed prober gets the presence of
// each available resource; anyone else gets nothing (no reply is one of the
// two options the RFC allows, and it reveals nothing).
func (m *mod) answerProbe(ctx context.Context, st *module.Stanza) {
	own, from := st.To.Bare(), st.From.Bare()
	it, ok, err := m.item(ctx, own, from)
	if err != nil || !ok || !subFrom(it.Subscription) {
		return
	}
	m.sendPresence(ctx, own, st.From, false)
}
