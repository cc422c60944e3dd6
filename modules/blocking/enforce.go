package blocking

import (
	"context"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// bypass marks a stanza this module routes itself (an error it answers
// with, unavailable presence on block) so that the route hook lets it
// through the list of owner it was made for. It names the stanza, not
// the whole context: anything routed further down the chain (another
// account's list, the router's own error replies) is checked as usual.
type bypass struct {
	st    *module.Stanza
	owner jid.JID
}

type bypassKey struct{}

func bypassed(ctx context.Context, st *module.Stanza, owner jid.JID) bool {
	b, ok := ctx.Value(bypassKey{}).(bypass)
	return ok && b.st == st && b.owner == owner
}

// routeAs routes st past owner's block list.
func (m *mod) routeAs(ctx context.Context, owner jid.JID, st *module.Stanza) {
	m.h.Router.Route(context.WithValue(ctx, bypassKey{}, bypass{st, owner}), st)
}

// local reports whether j is an account of a domain we serve.
func (m *mod) local(j jid.JID) bool { return j.Local() != "" && m.h.Hosts(j.Domain()) }

// outbound checks what a session sends before any other module sees it.
// The same check runs again in route (for stanzas modules generate on the
// user's behalf); here it keeps a refused stanza from having side effects
// such as a roster change for presence subscriptions or carbon copies.
func (m *mod) outbound(ctx context.Context, st *module.Stanza) bool {
	if st.To.IsZero() || st.To.Bare() == st.From.Bare() || !m.local(st.From) {
		return false
	}
	own := st.From.Bare()
	set, err := m.cache.get(ctx, own)
	if err != nil {
		m.h.Logger.Error("blocking: block list", "jid", own.String(), "err", err)
		m.refuse(ctx, st, own, stanza.NewError(stanza.InternalServerError, ""))
		return true
	}
	if set.match(st.To) {
		m.refuse(ctx, st, own, blockedError())
		return true
	}
	return false
}

// route is HookRoute: it runs for every routed stanza. Cheap for the
// stanzas it does not act on: at most two lookups in cached lists.
func (m *mod) route(ctx context.Context, st *module.Stanza) bool {
	from, to := st.From, st.To
	if from.IsZero() || to.IsZero() {
		return false
	}
	fb, tb := from.Bare(), to.Bare()
	// XEP-0191 §6: never between the resources of one account.
	if fb == tb {
		return false
	}
	if m.local(from) {
		set, err := m.cache.get(ctx, fb)
		if err != nil {
			m.h.Logger.Error("blocking: block list", "jid", fb.String(), "err", err)
			m.refuse(ctx, st, fb, stanza.NewError(stanza.InternalServerError, ""))
			return true
		}
		if set.match(to) {
			if !bypassed(ctx, st, fb) {
				// §3.4: the user's stanza to a blocked JID is not
				// routed.
				m.refuse(ctx, st, fb, blockedError())
				return true
			}
		} else if set.fulls[tb] > 0 && to.IsBare() && m.fanOut(ctx, st, set) {
			return true
		}
	}
	if m.local(to) {
		set, err := m.cache.get(ctx, tb)
		if err != nil {
			m.h.Logger.Error("blocking: block list", "jid", tb.String(), "err", err)
			m.refuse(ctx, st, tb, stanza.NewError(stanza.InternalServerError, ""))
			return true
		}
		if set.match(from) && !bypassed(ctx, st, tb) {
			// §3.4: nothing from a blocked JID reaches the user, and
			// it is not stored offline either: the user appears
			// offline to it.
			m.refuse(ctx, st, tb, stanza.NewError(stanza.ServiceUnavailable, ""))
			return true
		}
	}
	return false
}

// blockedError is the answer to the user's own stanza to a blocked JID
// (XEP-0191 §3.4, example "Error: JID is blocked").
func blockedError() *stanza.Error {
	e := stanza.NewError(stanza.NotAcceptable, "")
	e.AppCondition = xml.NewBuilder("blocked", NSErrors).Element()
	return e
}

// refuse drops or answers a stanza stopped by owner's list. XEP-0191 §3.4
// for inbound: presence (of any type, probes and subscriptions too) is
// dropped without a reply; messages get an error; IQ get/set get an
// error, results and errors are dropped. The user's own outbound stanzas
// follow the same shape with not-acceptable: presence is dropped, so no
// presence at all (broadcasts, directed, subscriptions) leaks to a blocked
// JID, and an error or result is never answered (RFC 6120 §8.3.1, §8.2.3).
func (m *mod) refuse(ctx context.Context, st *module.Stanza, owner jid.JID, e *stanza.Error) {
	switch st.Kind() {
	case "presence":
		return
	case "message":
		if st.Type() == "error" {
			return
		}
	case "iq":
		if t := st.Type(); t != "get" && t != "set" {
			return
		}
	default:
		return
	}
	reply := e.Reply(st.El).WithAttrs(
		xml.Attr{Name: "from", Value: st.To.String()},
		xml.Attr{Name: "to", Value: st.From.String()})
	if st.Origin != nil {
		st.Origin.Deliver(reply)
		return
	}
	m.routeAs(ctx, owner, &module.Stanza{El: reply, From: st.To, To: st.From})
}

// fanOut delivers available/unavailable presence from the user to a local
// contact's bare JID resource by resource, skipping the resources the
// user blocked by full JID (the router would otherwise hand the broadcast
// to all of them). It reports false when it did not take the stanza.
func (m *mod) fanOut(ctx context.Context, st *module.Stanza, set *blockSet) bool {
	if st.Kind() != "presence" || !m.local(st.To) {
		return false
	}
	if t := st.Type(); t != "" && t != "unavailable" {
		return false
	}
	for _, s := range m.h.Directory.Sessions(st.To) {
		full := s.JID()
		if !s.Available() || set.match(full) {
			continue
		}
		el := st.El.WithAttrs(xml.Attr{Name: "to", Value: full.String()})
		m.h.Router.Route(ctx, &module.Stanza{El: el, From: st.From, To: full})
	}
	return true
}
