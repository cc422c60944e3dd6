package blocking

import (
	"context"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

func subFrom(s string) bool { return s == "from" || s == "both" }
func subTo(s string) bool   { return s == "to" || s == "both" }

// changed lists, for roster contact c, the addresses that old did not
// block and cur does (blocked) and the reverse (unblocked): c itself when
// it is matched as a whole (bare, domain item), else c's full JIDs on the
// list.
func changed(c jid.JID, old, cur *blockSet) (blocked, unblocked []jid.JID) {
	was, is := old.match(c), cur.match(c)
	switch {
	case is && !was:
		blocked = append(blocked, c)
	case was && !is:
		unblocked = append(unblocked, c)
	}
	if !is && cur.fulls[c] > 0 {
		for j := range cur.jids {
			if j.IsFull() && j.Bare() == c && !old.match(j) {
				blocked = append(blocked, j)
			}
		}
	}
	if !was && old.fulls[c] > 0 {
		for j := range old.jids {
			if j.IsFull() && j.Bare() == c && !cur.match(j) {
				unblocked = append(unblocked, j)
			}
		}
	}
	return blocked, unblocked
}

// presenceChanged does the presence side of a change of own's list,
// XEP-0191 §3.4 and §3.5: a contact allowed to see the user's presence
// (subscription from or both, RFC 6121 §4) gets unavailable presence from
// each available resource when blocked, and their current presence when
// unblocked. A contact whose presence the user receives (to or both) is
// probed on unblock: what it sent while blocked was dropped, so the
// user's clients are out of date. Nothing is sent while the user has no
// available resource: the contacts already saw it go offline.
func (m *mod) presenceChanged(ctx context.Context, own jid.JID, old, cur *blockSet) {
	if m.h.Rosters == nil {
		return
	}
	var avail []module.Session
	for _, s := range m.h.Directory.Sessions(own) {
		if s.Available() {
			avail = append(avail, s)
		}
	}
	if len(avail) == 0 {
		return
	}
	items, _, err := m.h.Rosters.Roster(ctx, own.Domain(), own.Local())
	if err != nil {
		m.h.Logger.Error("blocking: roster", "jid", own.String(), "err", err)
		return
	}
	for _, it := range items {
		c, err := jid.Parse(it.JID)
		if err != nil {
			continue
		}
		blocked, unblocked := changed(c, old, cur)
		if subFrom(it.Subscription) {
			for _, target := range blocked {
				for _, s := range avail {
					el := xml.NewBuilder("presence", xml.NSClient).Attr("type", "unavailable").
						Attr("from", s.JID().String()).Attr("to", target.String()).Element()
					// Past own's list, which now blocks target.
					m.routeAs(ctx, own, &module.Stanza{El: el, From: s.JID(), To: target})
				}
			}
			for _, target := range unblocked {
				for _, s := range avail {
					p := s.Presence()
					if p == nil {
						continue
					}
					el := p.WithAttrs(xml.Attr{Name: "from", Value: s.JID().String()}, xml.Attr{Name: "to", Value: target.String()})
					m.h.Router.Route(ctx, &module.Stanza{El: el, From: s.JID(), To: target})
				}
			}
		}
		if subTo(it.Subscription) && len(unblocked) > 0 {
			// RFC 6121 §4.3.1: probes come from the bare JID.
			el := xml.NewBuilder("presence", xml.NSClient).Attr("type", "probe").
				Attr("from", own.String()).Attr("to", c.String()).Element()
			m.h.Router.Route(ctx, &module.Stanza{El: el, From: own, To: c})
		}
	}
}
