package presence

import (
	"context"
	"errors"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// nsPreauth is XEP-0379's <preauth token='...'/> in a subscription
// request.
const nsPreauth = "urn:xmpp:pars:0"

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

// visible reports whether the change from a to b shows in a roster item
// and so needs a roster push: "Pending In" is not shown to clients.
func visible(a, b storage.RosterItem) bool {
	return a.Subscription != b.Subscription || a.Ask != b.Ask || a.Approved != b.Approved
}

// save stores it in own's roster; push says whether the change is visible
// to the client (pending-in alone is not) and so needs a roster push.
func (m *mod) save(ctx context.Context, own jid.JID, it storage.RosterItem, push bool) error {
	if it.Placeholder {
		switch {
		case it.Subscription != "none" || it.Ask || it.Approved:
			// The user answered or sent a request of its own: the
			// contact is now in the roster (§3.1.5, §3.1.2).
			it.Placeholder = false
		case !it.PendingIn:
			// The request was declined or withdrawn: nothing is left
			// to hold (Appendix A.1: no item was ever created).
			_, err := m.store.DeleteRosterItem(ctx, own.Domain(), own.Local(), it.JID)
			if errors.Is(err, storage.ErrNotFound) {
				err = nil
			}
			return err
		}
	}
	ver, err := m.store.SetRosterItem(ctx, own.Domain(), own.Local(), it)
	if err != nil {
		return err
	}
	if push {
		m.push(own, it, ver)
	}
	return nil
}

// push has the roster module push a change of own's roster.
func (m *mod) push(own jid.JID, it storage.RosterItem, ver string) {
	if m.roster != nil {
		m.roster.Push(own, it, ver)
	}
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

// outboundSub is RFC 6121 Appendix A.2: the user's item for a contact
// after the user sends a subscription stanza of typ to the contact, and
// whether the stanza is routed to the contact. Ask is "Pending Out",
// PendingIn is "Pending In".
func outboundSub(typ string, it storage.RosterItem) (storage.RosterItem, bool) {
	switch typ {
	case "subscribe": // A.2.1: always routed
		if !subTo(it.Subscription) {
			it.Ask = true
		}
		return it, true
	case "subscribed": // A.2.3
		if !it.PendingIn {
			// None, None + Pending Out, To: no request to approve, so a
			// pre-approval (§3.4), noted and not routed. From, From +
			// Pending Out, Both: already approved, nothing to do.
			if !subFrom(it.Subscription) {
				it.Approved = true
			}
			return it, false
		}
		it.PendingIn = false
		it.Subscription = addFrom(it.Subscription)
		return it, true
	case "unsubscribe": // A.2.2: always routed
		it.Ask = false
		it.Subscription = dropTo(it.Subscription)
		return it, true
	case "unsubscribed": // A.2.4
		// Routed only when it cancels something: a subscription or a
		// pending request. In None, None + Pending Out and To it is not
		// routed (the contact has nothing to lose), but it still cancels
		// a pre-approval (§3.4).
		route := it.PendingIn || subFrom(it.Subscription)
		it.PendingIn = false
		it.Approved = false
		it.Subscription = dropFrom(it.Subscription)
		return it, route
	}
	return it, false
}

// inboundSub is RFC 6121 Appendix A.3: the user's item for a contact after
// a subscription stanza of typ arrives from the contact, whether it is
// delivered to the user, and whether the server answers "subscribed" on the
// user's behalf.
func inboundSub(typ string, it storage.RosterItem) (_ storage.RosterItem, deliver, autoReply bool) {
	switch typ {
	case "subscribe": // A.3.1
		switch {
		case subFrom(it.Subscription):
			// From, From + Pending Out, Both: not delivered, the server
			// answers for the user (§3.1.3).
			return it, false, true
		case it.PendingIn:
			// Already pending in: a duplicate, not delivered again.
			return it, false, false
		case it.Approved:
			// Pre-approved (§3.4): approved by the server for the user,
			// not delivered; None → From, None + Pending Out → From +
			// Pending Out, To → Both.
			it.Approved = false
			it.Subscription = addFrom(it.Subscription)
			return it, false, true
		}
		it.PendingIn = true
		return it, true, false
	case "subscribed": // A.3.3
		if !it.Ask {
			return it, false, false
		}
		it.Ask = false
		it.Subscription = addTo(it.Subscription)
		return it, true, false
	case "unsubscribe": // A.3.2
		if !subFrom(it.Subscription) && !it.PendingIn {
			return it, false, false
		}
		it.PendingIn = false
		it.Subscription = dropFrom(it.Subscription)
		return it, true, false
	case "unsubscribed": // A.3.4
		if !subTo(it.Subscription) && !it.Ask {
			return it, false, false
		}
		it.Ask = false
		it.Subscription = dropTo(it.Subscription)
		return it, true, false
	}
	return it, false, false
}

// outbound handles subscription stanzas a user's session sends (RFC 6121
// §3.1.2, §3.2.2, §3.3.2, and §3.2.1 for approvals): the user's roster
// item changes as Appendix A says, the stanza goes out from the bare JID.
func (m *mod) outbound(ctx context.Context, st *module.Stanza) bool {
	if st.Kind() != "presence" || st.To.IsZero() {
		return false
	}
	if !isSubscription(st.Type()) {
		m.directed(ctx, st)
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
	it, route := outboundSub(typ, it)
	if changed(it, old) {
		if err := m.save(ctx, own, it, visible(old, it)); err != nil {
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
	if typ == "unsubscribed" && subFrom(old.Subscription) {
		// §3.2.2: while the contact is still subscribed, that is before
		// the "unsubscribed" goes out, it gets unavailable presence from
		// each of the user's available resources.
		m.sendPresence(ctx, own, contact, true)
	}
	out := subStanza(typ, own, contact)
	if p := st.El.Child("preauth", nsPreauth); p != nil && typ == "subscribe" {
		// XEP-0379: the token goes along to the contact's server, which
		// approves the request when the token is the contact's invite.
		out = xml.NewBuilder("presence", xml.NSClient).Attr("type", typ).
			Attr("from", own.String()).Attr("to", contact.String()).Append(p).Element()
	}
	m.h.Router.Route(ctx, &module.Stanza{El: out, From: own, To: contact, Origin: st.Origin})
	if typ == "subscribed" {
		// §3.1.5: the new subscriber gets the user's current presence.
		m.sendPresence(ctx, own, contact, false)
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
	// XEP-0379: a request carrying a token of an invite the user made is
	// approved for the user, as a pre-approval would be (§3.4), and the
	// user asks back, for the mutual subscription the invite was for.
	// The token is checked (and its use spent) before the lock: it is a
	// database write.
	preauth := false
	if typ == "subscribe" && m.invites != nil {
		if p := st.El.Child("preauth", nsPreauth); p != nil {
			preauth = m.invites.ApproveSubscription(ctx, own, from, p.Attr("token"))
		}
	}
	m.subMu.Lock()
	it, found, n, err := m.lookup(ctx, own, from)
	if err != nil {
		m.subMu.Unlock()
		m.h.Logger.Error("subscription: roster", "jid", own.String(), "err", err)
		return true
	}
	if !found && n >= m.maxItems {
		// Strangers' requests would otherwise grow the store without
		// bound: as many are held as the roster may have items, and one
		// more is dropped, as a request to an account that takes no
		// more contacts.
		m.subMu.Unlock()
		m.h.Logger.Warn("subscription request dropped: roster full", "jid", own.String(), "from", from.String())
		return true
	}
	old := it
	if preauth && !subFrom(it.Subscription) {
		it.PendingIn, it.Approved = false, true
	}
	it, deliver, autoReply := inboundSub(typ, it)
	ver := ""
	if changed(it, old) {
		if !found && !preauth {
			// A request from someone not in the roster is stored in a
			// placeholder the client never sees (Appendix A.1: "MUST
			// NOT create a roster item").
			it.Placeholder = true
		}
		if it.Placeholder && !it.PendingIn {
			// The contact withdrew its request: drop the placeholder.
			_, err = m.store.DeleteRosterItem(ctx, own.Domain(), own.Local(), it.JID)
			if errors.Is(err, storage.ErrNotFound) {
				err = nil
			}
		} else {
			ver, err = m.store.SetRosterItem(ctx, own.Domain(), own.Local(), it)
		}
		if err != nil {
			m.subMu.Unlock()
			m.h.Logger.Error("subscription: store", "jid", own.String(), "err", err)
			return true
		}
	}
	m.subMu.Unlock()
	if deliver {
		m.deliverAvailable(own, subStanza(typ, from, own))
	}
	if ver != "" && (found || preauth) && visible(old, it) {
		// §3.1.6, §3.2.3, §3.3.3: the stanza is delivered first, then
		// the roster push ("This MUST occur before sending the roster
		// push", §3.1.6).
		m.push(own, it, ver)
	}
	if autoReply {
		m.h.Router.Route(ctx, &module.Stanza{El: subStanza("subscribed", own, from), From: own, To: from})
		if !subFrom(old.Subscription) {
			// A pre-approved request (§3.4): as for an approval by
			// the user (§3.2.2), the new subscriber gets the current
			// presence.
			m.sendPresence(ctx, own, from, false)
		}
		if preauth && !subTo(it.Subscription) && !it.Ask {
			// The user's own request, as if its client had sent it
			// (RFC 6121 §3.1.2), with the roster change pushed.
			m.outbound(ctx, &module.Stanza{El: subStanza("subscribe", own, from), From: own, To: from})
		}
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

// removed cancels what a roster item removed by the user carried (RFC 6121
// §2.5.2): "unsubscribe" if the user was subscribed to the contact,
// "unsubscribed" if the contact was subscribed to the user, both for a
// mutual subscription. Pending requests go the same way (not spelt out in
// §2.5.2, but the item that held them is gone): a pending outbound request
// is withdrawn with "unsubscribe" (A.3.2 at the contact), a pending
// inbound one declined with "unsubscribed" (A.3.4 at the contact). The
// user's own item is already gone, so only the contact's side changes, by
// the normal inbound processing when the contact is local.
func (m *mod) removed(ctx context.Context, own jid.JID, it storage.RosterItem) {
	contact, err := jid.Parse(it.JID)
	if err != nil || contact == own {
		return
	}
	if subTo(it.Subscription) || it.Ask {
		m.h.Router.Route(ctx, &module.Stanza{El: subStanza("unsubscribe", own, contact), From: own, To: contact})
	}
	if subFrom(it.Subscription) || it.PendingIn {
		if subFrom(it.Subscription) {
			// §3.2.2: unavailable presence first, while the contact is
			// still subscribed.
			m.sendPresence(ctx, own, contact, true)
		}
		m.h.Router.Route(ctx, &module.Stanza{El: subStanza("unsubscribed", own, contact), From: own, To: contact})
	}
}
