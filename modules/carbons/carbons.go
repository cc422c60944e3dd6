// Package carbons implements XEP-0280 Message Carbons: a session that
// enabled carbons gets a copy of the messages its account's other
// resources receive (<received/>) and send (<sent/>).
package carbons

import (
	"context"
	"sync"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const (
	// NS is the XEP-0280 namespace (also its disco feature).
	NS = "urn:xmpp:carbons:2"
	// NSForward is XEP-0297 Stanza Forwarding.
	NSForward = "urn:xmpp:forward:0"
	// NSHints is XEP-0334 Message Processing Hints.
	NSHints = "urn:xmpp:hints"

	nsReceipts   = "urn:xmpp:receipts"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsMarkers    = "urn:xmpp:chat-markers:0"
	nsConference = "jabber:x:conference"
	nsMUCUser    = "http://jabber.org/protocol/muc#user"
)

func init() { module.Register("carbons", func() module.Module { return &mod{} }) }

type mod struct {
	h *module.Handle
	// enabled holds the carbons-enabled sessions, keyed by session
	// identity; an entry goes with SessionClosed.
	mu      sync.Mutex
	enabled map[module.Session]bool
	// users counts the enabled sessions per bare JID, so that a message
	// to or from an account with none costs one lookup, not a walk of
	// its sessions (the router's copy of the list, a closure). Keyed by
	// the bare JID's string: the runtime's string-keyed map path is the
	// cheaper one, and this is looked up twice per message.
	users map[string]int
}

// enable records s as enabled or not (under m.mu).
func (m *mod) enable(s module.Session, on bool) {
	if m.enabled[s] == on {
		return
	}
	bare := s.JID().Bare().String()
	if on {
		m.enabled[s] = true
		m.users[bare]++
		return
	}
	delete(m.enabled, s)
	if m.users[bare]--; m.users[bare] <= 0 {
		delete(m.users, bare)
	}
}

// anyEnabled reports whether a session of bare has carbons enabled.
func (m *mod) anyEnabled(bare jid.JID) bool {
	m.mu.Lock()
	n := m.users[bare.String()]
	m.mu.Unlock()
	if n > 0 {
		return true
	}
	if m.h.Cluster == nil {
		return false
	}
	// Sessions on other cluster nodes say so in their flags.
	for _, s := range m.h.Directory.Sessions(bare) {
		if module.HasFlag(s, flagCarbons) {
			return true
		}
	}
	return false
}

// flagCarbons marks a session with carbons enabled for the other cluster
// nodes (module.SessionFlags).
const flagCarbons = "carbons"

func (m *mod) Start(h *module.Handle) error {
	m.h = h
	m.enabled = map[module.Session]bool{}
	m.users = map[string]int{}
	h.AddFeature(NS)
	h.HandleIQ(module.TargetAccount, "set", NS, m.set)
	// Low priority: hooks that drop an outgoing stanza (blocking, privacy)
	// run first, so no copy of a message that is not sent goes out.
	h.Hook(module.HookOutbound, -100, m.sent)
	h.Hook(module.HookMessageDelivered, 0, m.received)
	h.OnSessionClosed(func(_ context.Context, s module.Session) {
		m.mu.Lock()
		m.enable(s, false)
		m.mu.Unlock()
	})
	// A session resumed on another cluster node (XEP-0198) keeps carbons
	// enabled there.
	h.CarrySession("carbons", module.SessionCarrier{
		Export: func(s module.Session) []byte {
			m.mu.Lock()
			defer m.mu.Unlock()
			if !m.enabled[s] {
				return nil
			}
			m.enable(s, false)
			return []byte("enabled")
		},
		Import: func(_ context.Context, s module.Session, _ []byte) {
			m.mu.Lock()
			bound := m.h.Directory.Session(s.JID()) == s
			if bound {
				m.enable(s, true)
			}
			m.mu.Unlock()
			if bound {
				module.SetFlag(m.h.Directory, s, flagCarbons, true)
			}
		},
	})
	return nil
}

// set handles <enable/> and <disable/> (XEP-0280 §4, §5). Repeating either
// is not an error (§9.1).
func (m *mod) set(_ context.Context, iq *module.IQ) (*xml.Element, error) {
	if iq.Origin == nil || (!iq.To.IsZero() && iq.To.Bare() != iq.From.Bare()) {
		// Another entity's carbons (or not a local client): §4.1, §5.1.
		return nil, stanza.NewError(stanza.NotAllowed, "")
	}
	var on bool
	switch iq.Payload.Name() {
	case "enable":
		on = true
	case "disable":
	default:
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	m.mu.Lock()
	m.enable(iq.Origin, on)
	m.mu.Unlock()
	// Other cluster nodes route messages for this account too.
	module.SetFlag(m.h.Directory, iq.Origin, flagCarbons, on)
	return nil, nil
}

// eligible applies XEP-0280 §6.1 (and §8: <private/>, XEP-0334 <no-copy/>)
// to a message; inbound says it is being received by the account.
// Error messages are not copied: telling which eligible message one
// answers would need per-message state.
func eligible(el *xml.Element, inbound bool) bool {
	if el.Child("private", NS) != nil || el.Child("no-copy", NSHints) != nil {
		return false
	}
	// A carbon itself is never copied again.
	if el.Child("received", NS) != nil || el.Child("sent", NS) != nil {
		return false
	}
	switch el.Attr("type") {
	case "groupchat", "error", "headline":
		return false
	case "chat":
	default: // normal
		if el.Child("body", xml.NSClient) == nil &&
			el.Child("request", nsReceipts) == nil && el.Child("received", nsReceipts) == nil &&
			!hasNS(el, nsChatStates) && !hasNS(el, nsMarkers) &&
			el.Child("x", nsConference) == nil && !invitation(el) {
			return false
		}
	}
	// A private message from a MUC participant is already replicated by
	// the room to every joined client (§6.1); invitations are copied.
	if inbound && el.Child("x", nsMUCUser) != nil && !invitation(el) {
		return false
	}
	return true
}

func hasNS(el *xml.Element, ns string) bool {
	for c := range el.Children() {
		if c.NS() == ns {
			return true
		}
	}
	return false
}

// invitation reports a XEP-0045 mediated invitation.
func invitation(el *xml.Element) bool {
	x := el.Child("x", nsMUCUser)
	return x != nil && x.Child("invite", "") != nil
}

// sent is the HookOutbound hook: a message a session sends is copied to
// the account's other carbons-enabled sessions (XEP-0280 §8), whether or
// not the sender enabled carbons. It never stops the chain.
func (m *mod) sent(_ context.Context, st *module.Stanza) bool {
	if st.Kind() != "message" || st.Origin == nil || !m.anyEnabled(st.From.Bare()) || !eligible(st.El, false) {
		return false
	}
	m.copyTo(st.From.Bare(), "sent", st.El, func(s module.Session) bool { return s == st.Origin })
	return false
}

// received is the HookMessageDelivered hook: resources of the recipient
// that did not get the message under RFC 6121 delivery rules and enabled
// carbons get a copy (XEP-0280 §7).
func (m *mod) received(_ context.Context, st *module.Stanza) bool {
	if st.To.IsZero() || !m.anyEnabled(st.To.Bare()) || !eligible(st.El, true) {
		return false
	}
	bare := st.To.Bare()
	sessions := m.h.Directory.Sessions(bare)
	// Who got the original: the bound full JID, or else the highest
	// non-negative priority resources (RFC 6121 §8.5.2.1.1).
	var direct module.Session
	if st.To.IsFull() {
		direct = m.h.Directory.Session(st.To)
	}
	best := -1 << 31
	if direct == nil {
		for _, s := range sessions {
			if s.Available() && s.Priority() >= 0 && s.Priority() > best {
				best = s.Priority()
			}
		}
	}
	gotIt := func(s module.Session) bool {
		if direct != nil {
			return s == direct
		}
		return s.Available() && s.Priority() >= 0 && s.Priority() == best
	}
	// The sender's own session (a message between two resources of one
	// account) has its <sent/> copy already.
	m.copyTo(bare, "received", st.El, func(s module.Session) bool {
		return gotIt(s) || s == st.Origin
	})
	return false
}

// copyTo delivers a <kind/> carbon of el to every carbons-enabled session
// of bare for which skip is false.
func (m *mod) copyTo(bare jid.JID, kind string, el *xml.Element, skip func(module.Session) bool) {
	var to []module.Session
	sessions := m.h.Directory.Sessions(bare)
	m.mu.Lock()
	for _, s := range sessions {
		if m.enabled[s] || module.HasFlag(s, flagCarbons) {
			to = append(to, s)
		}
	}
	m.mu.Unlock()
	for _, s := range to {
		if skip(s) {
			continue
		}
		// §7, §8: from the bare JID, to the full JID, same type.
		b := xml.NewBuilder("message", xml.NSClient).Attr("from", bare.String()).Attr("to", s.JID().String())
		if t := el.Attr("type"); t != "" {
			b.Attr("type", t)
		}
		b.Start(kind, NS).Start("forwarded", NSForward).Append(el).End().End()
		s.Deliver(b.Element())
	}
}
