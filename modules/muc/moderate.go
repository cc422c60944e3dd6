package muc

import (
	"context"
	"errors"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0425 moderated message retraction: a moderator retracts an
// occupant's groupchat message (spam, abuse); the room tells every
// occupant with an XEP-0424 <retract/> and keeps only a tombstone of it in
// its history and its archive.

const (
	nsModerate = "urn:xmpp:message-moderate:1"
	nsRetract  = "urn:xmpp:message-retract:1"
)

// moderate handles <moderate id='stanza-id'><retract/><reason/></moderate>
// sent to the room (§3); r.mu is held.
func (r *room) moderate(ctx context.Context, st *module.Stanza, p *xml.Element) *stanza.Error {
	m := r.svc.m
	mod := r.byJID[st.From]
	if mod == nil || mod.role != roleModerator {
		return errOf(stanza.Forbidden, "only moderators may retract other participants' messages")
	}
	id := p.Attr("id")
	if id == "" {
		return errOf(stanza.BadRequest, "<moderate/> names the message by its stanza-id")
	}
	if p.Child("retract", nsRetract) == nil {
		return errOf(stanza.FeatureNotImplemented, "retraction is the only moderation action supported")
	}
	reason := ""
	if rs := p.Child("reason", nsModerate); rs != nil {
		reason = rs.Text()
	}
	orig, inHistory, e := r.findMessage(ctx, id)
	if e != nil {
		return e
	}
	if orig.Child("retracted", nsRetract) != nil {
		return errOf(stanza.ItemNotFound, "that message was retracted already")
	}
	by := r.occupantJID(mod.nick).String()
	now := m.now()

	// §4: the tombstone keeps who sent the message (its 'from' and
	// occupant id) and its ids, and nothing of what it said.
	tb := xml.NewBuilder("message", xml.NSClient)
	for _, a := range orig.Attrs() {
		tb.Attr(a.Name, a.Value)
	}
	for c := range orig.Children() {
		if c.NS() == nsOccID || c.NS() == nsSID && c.Name() == "stanza-id" {
			tb.Append(c)
		}
	}
	tb.Start("retracted", nsRetract).Attr("stamp", stamp(now))
	moderated(tb, by, mod.id)
	if reason != "" {
		tb.Start("reason", nsModerate).Text(reason).End()
	}
	tomb := tb.End().Element()

	if m.archive != nil {
		m.flushArchive(ctx)
		err := m.archive.ReplaceArchived(ctx, r.jid.String(), id, tomb.Append(nil, ""))
		if err != nil && !(errors.Is(err, storage.ErrNotFound) && inHistory) {
			m.log.Error("replace a moderated room message", "room", r.jid.String(), "id", id, "err", err)
			return errOf(stanza.InternalServerError, "")
		}
	}
	for i := range r.history {
		if h := &r.history[i]; roomStanzaID(h.el, r.jid.String()) == id {
			h.el, h.chars = tomb, -1
		}
	}

	// §3.1: every occupant, the moderator included, learns of it.
	b := xml.NewBuilder("message", xml.NSClient).Attr("from", r.jid.String()).Attr("type", "groupchat").
		Attr("id", randid.Hex(8))
	b.Start("retract", nsRetract).Attr("id", id)
	moderated(b, by, mod.id)
	if reason != "" {
		b.Start("reason", nsModerate).Text(reason).End()
	}
	el := b.End().Element()
	for _, o := range r.occ {
		for _, s := range o.sessions {
			r.sendFrom(ctx, el, r.jid, s.jid)
		}
	}
	return nil
}

// moderated writes the <moderated by/> element with the moderator's
// occupant id (XEP-0421), which stays the same across their nicks.
func moderated(b *xml.Builder, by, occID string) {
	b.Start("moderated", nsModerate).Attr("by", by).
		Start("occupant-id", nsOccID).Attr("id", occID).End().
		End()
}

// findMessage looks up the room's groupchat message with stanza-id id: in
// the in-memory history first, then in the archive. inHistory tells that
// the history had it (a room without an archive has only the history).
func (r *room) findMessage(ctx context.Context, id string) (el *xml.Element, inHistory bool, e *stanza.Error) {
	self := r.jid.String()
	for i := len(r.history) - 1; i >= 0; i-- {
		if h := r.history[i].el; roomStanzaID(h, self) == id {
			return h, true, nil
		}
	}
	m := r.svc.m
	if m.archive == nil {
		return nil, false, errOf(stanza.ItemNotFound, "no such message")
	}
	m.flushArchive(ctx)
	page, err := m.archive.QueryArchive(ctx, self, storage.ArchiveQuery{IDs: []string{id}, Max: 1})
	if err != nil {
		m.log.Error("find a room message", "room", self, "id", id, "err", err)
		return nil, false, errOf(stanza.InternalServerError, "")
	}
	if len(page.Items) == 0 {
		return nil, false, errOf(stanza.ItemNotFound, "no such message")
	}
	els, err := xml.ParseFragments(page.Items[0].Stanza)
	if err != nil || len(els) != 1 {
		m.log.Error("stored room message", "room", self, "id", id, "err", err)
		return nil, false, errOf(stanza.InternalServerError, "")
	}
	return els[0], false, nil
}

// roomStanzaID is the XEP-0359 stanza-id the room itself (by) gave el; ""
// for none.
func roomStanzaID(el *xml.Element, by string) string {
	for c := range el.Children() {
		if c.Name() == "stanza-id" && c.NS() == nsSID && c.Attr("by") == by {
			return c.Attr("id")
		}
	}
	return ""
}
