package presence

import (
	"bytes"
	"context"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// maxDirected bounds the entities remembered per session for directed
// presence (RFC 6121 §4.6). A session past it still sends its directed
// presence; the entities beyond the bound only miss the unavailable
// presence at the end. A variable so that tests can lower it.
var maxDirected = 1000

// directedSet is, for one session, the entities it sent directed
// available presence to, in the order it first did.
type directedSet struct {
	order []jid.JID
	has   map[jid.JID]bool
}

// directed handles presence with a 'to' from a session (RFC 6121 §4.6.2).
// It never consumes the stanza: the router delivers it as addressed.
//
// An available presence to an entity the user's broadcast does not reach
// (no from/both subscription) is remembered, so that the entity gets
// unavailable presence when the session goes unavailable or ends
// (§4.6.2, §4.5.2: "...also send unavailable presence to any entities to
// which the user has sent directed presence"). While the session has not
// sent initial presence there is no broadcast at all, so every entity is
// remembered. A directed unavailable presence forgets the entity.
func (m *mod) directed(ctx context.Context, st *module.Stanza) {
	origin := st.Origin
	target := st.To
	if origin == nil || target.Bare() == st.From.Bare() {
		// The user's own resources get the broadcast.
		return
	}
	switch st.Type() {
	case "":
		if origin.Available() && target.Local() != "" {
			it, _, err := m.item(ctx, st.From.Bare(), target.Bare())
			if err == nil && subFrom(it.Subscription) {
				return // §4.6.2: covered by the broadcast
			}
		}
		m.dmu.Lock()
		defer m.dmu.Unlock()
		set := m.directedTo[origin]
		if set == nil {
			set = &directedSet{has: map[jid.JID]bool{}}
			m.directedTo[origin] = set
		}
		if set.has[target] {
			return
		}
		if len(set.order) >= maxDirected {
			m.h.Logger.Warn("directed presence: too many entities, not tracking more",
				"jid", origin.JID().String(), "limit", maxDirected, "to", target.String())
			return
		}
		set.has[target] = true
		set.order = append(set.order, target)
	case "unavailable":
		m.dmu.Lock()
		defer m.dmu.Unlock()
		set := m.directedTo[origin]
		if set == nil || !set.has[target] {
			return
		}
		delete(set.has, target)
		for i, j := range set.order {
			if j == target {
				set.order = append(set.order[:i], set.order[i+1:]...)
				break
			}
		}
	}
}

// endDirected sends unavailable presence from the session to every entity
// it sent directed available presence to and forgets them (§4.6.2). el is
// the session's unavailable presence (its status is kept), nil for one
// generated here. skipSubscribed leaves out contacts with a from/both
// subscription: the broadcast that just went out reached them.
func (m *mod) endDirected(ctx context.Context, origin module.Session, from jid.JID, el *xml.Element, skipSubscribed bool) {
	m.dmu.Lock()
	set := m.directedTo[origin]
	delete(m.directedTo, origin)
	m.dmu.Unlock()
	if set == nil {
		return
	}
	if el == nil {
		el = xml.NewBuilder("presence", xml.NSClient).Attr("type", "unavailable").
			Attr("from", from.String()).Element()
	}
	var subscribed map[string]bool
	if skipSubscribed {
		items, _, err := m.store.Roster(ctx, from.Domain(), from.Local())
		if err != nil {
			m.h.Logger.Error("directed presence: roster", "jid", from.Bare().String(), "err", err)
		}
		subscribed = map[string]bool{}
		for _, it := range items {
			if subFrom(it.Subscription) {
				subscribed[it.JID] = true
			}
		}
	}
	for _, target := range set.order {
		if subscribed[target.Bare().String()] {
			continue
		}
		m.h.Router.Route(ctx, &module.Stanza{El: to(el, target), From: from, To: target})
	}
}

// exportDirected takes the session's directed presence entities for the
// node it moves to: one JID a line, in the order they were sent.
func (m *mod) exportDirected(s module.Session) []byte {
	m.dmu.Lock()
	set := m.directedTo[s]
	delete(m.directedTo, s)
	m.dmu.Unlock()
	if set == nil || len(set.order) == 0 {
		return nil
	}
	var b []byte
	for _, j := range set.order {
		b = append(b, j.String()...)
		b = append(b, '\n')
	}
	return b
}

// importDirected takes them on the node the session moved to.
func (m *mod) importDirected(_ context.Context, s module.Session, state []byte) {
	set := &directedSet{has: map[jid.JID]bool{}}
	for line := range bytes.SplitSeq(state, []byte{'\n'}) {
		j, err := jid.Parse(string(line))
		if err != nil || set.has[j] || len(set.order) >= maxDirected {
			continue
		}
		set.has[j] = true
		set.order = append(set.order, j)
	}
	if len(set.order) == 0 {
		return
	}
	m.dmu.Lock()
	if m.h.Directory.Session(s.JID()) == s {
		m.directedTo[s] = set
	}
	m.dmu.Unlock()
}
