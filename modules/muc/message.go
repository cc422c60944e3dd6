package muc

import (
	"context"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// message handles a message to the room or to an occupant JID; r.mu is
// held.
func (r *room) message(ctx context.Context, st *module.Stanza) {
	m := r.svc.m
	o := r.byJID[st.From]
	if st.To.Resource() != "" {
		r.privateMessage(ctx, st, o)
		return
	}
	if st.Type() == "groupchat" {
		r.groupchat(ctx, st, o)
		return
	}
	if x := st.El.Child("x", NSUser); x != nil {
		if inv := x.Child("invite", NSUser); inv != nil {
			r.invite(ctx, st, o, inv)
			return
		}
		if dec := x.Child("decline", NSUser); dec != nil {
			r.decline(ctx, st, dec)
			return
		}
	}
	if f := parseForm(st.El); f != nil && f.formType() == NS+"#register" && f.typ == "submit" {
		r.approveRegistration(ctx, st, f)
		return
	}
	if f := parseForm(st.El); f != nil && f.formType() == NS+"#request" {
		if f.typ == "submit" && f.has("muc#request_allow") {
			r.approveVoice(ctx, st, o, f)
		} else {
			r.requestVoice(ctx, st, o)
		}
		return
	}
	m.fail(ctx, st, errOf(stanza.NotAcceptable, "send groupchat messages to the room"))
}

// allow is the per-occupant token bucket of [muc] message_rate.
func (r *room) allow(o *occupant) bool {
	c := r.svc.m.cfg
	if c.MessageRate <= 0 {
		return true
	}
	now := r.svc.m.now()
	o.tokens += now.Sub(o.last).Seconds() * c.MessageRate
	o.last = now
	if max := float64(c.MessageBurst); o.tokens > max {
		o.tokens = max
	}
	if o.tokens < 1 {
		return false
	}
	o.tokens--
	return true
}

func errRate() *stanza.Error {
	return &stanza.Error{Type: "wait", Condition: stanza.ResourceConstraint, Text: "you are sending messages too fast"}
}

// groupchat is §7.4 (and §8.1 subject changes): built once, sent to every
// session of every occupant, the sender's included (its echo).
func (r *room) groupchat(ctx context.Context, st *module.Stanza, o *occupant) {
	m := r.svc.m
	if o == nil || !mayPresent(o.role) {
		m.fail(ctx, st, errOf(stanza.NotAcceptable, "only occupants may send messages to the room"))
		return
	}
	if !r.allow(o) {
		m.fail(ctx, st, errRate())
		return
	}
	subj := st.El.Child("subject", "")
	isSubject := subj != nil && st.El.Child("body", "") == nil
	if isSubject {
		if !mayChangeSubject(&r.cfg, o.role) {
			m.fail(ctx, st, errOf(stanza.Forbidden, "you may not change the subject")) // §8.1
			return
		}
	} else if !maySendGroupchat(o.role) {
		m.fail(ctx, st, errOf(stanza.Forbidden, "visitors may not speak in this moderated room")) // §7.4
		return
	}
	from := r.occupantJID(o.nick)
	now := m.now()
	b := xml.NewBuilder("message", xml.NSClient).Attr("from", from.String()).Attr("type", "groupchat")
	if id := st.El.Attr("id"); id != "" {
		b.Attr("id", id)
	}
	if l := st.El.Attr("xml:lang"); l != "" {
		b.Attr("xml:lang", l)
	}
	for c := range st.El.Children() {
		// A sender may not forge the room's ids (XEP-0359 §3.1, XEP-0421 §3).
		if (c.NS() == nsSID && c.Name() == "stanza-id" && c.Attr("by") == r.jid.String()) || c.NS() == nsOccID {
			continue
		}
		b.Append(c)
	}
	b.Start("occupant-id", nsOccID).Attr("id", o.id).End()
	sid := storage.NewArchiveID(time.Now()) // also the archive id (XEP-0313 §5: the stanza-id is the MAM id)
	b.Start("stanza-id", nsSID).Attr("id", sid).Attr("by", r.jid.String()).End()
	el := b.Element()
	for _, p := range r.occ {
		for _, s := range p.sessions {
			r.sendFrom(ctx, el, from, s.jid)
		}
	}
	if isSubject {
		r.subject, r.subjectNick, r.subjectAt, r.subjectSet = subj.Text(), o.nick, now, true
		r.save(ctx)
		return
	}
	r.remember(el, now)
	if st.El.Child("body", "") != nil {
		r.archive(ctx, sid, el, from, now)
		r.pushOffline(el)
	}
}

func (r *room) occupantJID(nick string) jid.JID {
	j, err := r.jid.WithResource(nick)
	if err != nil {
		return r.jid
	}
	return j
}

// remember keeps el in the discussion history, bounded by [muc]
// history_messages. The slice grows to twice the bound before the oldest
// half is dropped, so that a message costs no copy of the whole history.
func (r *room) remember(el *xml.Element, at time.Time) {
	max := r.svc.m.cfg.HistoryMessages
	if max <= 0 {
		return
	}
	if len(r.history) >= 2*max {
		n := copy(r.history, r.history[len(r.history)-max:])
		clear(r.history[n:])
		r.history = r.history[:n]
	}
	r.history = append(r.history, histEntry{el: el, at: at, chars: -1})
}

// recentHistory is the history within the bound.
func (r *room) recentHistory() []histEntry {
	if max := r.svc.m.cfg.HistoryMessages; len(r.history) > max {
		return r.history[len(r.history)-max:]
	}
	return r.history
}

// sendHistory is §7.2.13/§7.2.14: the newest messages that meet every
// limit the client gave (maxstanzas, maxchars, seconds, since), oldest
// first, each with a delay stamp from the room.
func (r *room) sendHistory(ctx context.Context, to jid.JID, h *xml.Element) {
	hist := r.recentHistory()
	maxStanzas, maxChars := len(hist), -1
	var since time.Time
	if h != nil {
		if v, err := strconv.Atoi(h.Attr("maxstanzas")); err == nil && v >= 0 && v < maxStanzas {
			maxStanzas = v
		}
		if v, err := strconv.Atoi(h.Attr("maxchars")); err == nil && v >= 0 {
			maxChars = v
		}
		if v, err := strconv.Atoi(h.Attr("seconds")); err == nil && v >= 0 {
			since = r.svc.m.now().Add(-time.Duration(v) * time.Second)
		}
		if t, err := time.Parse(time.RFC3339, h.Attr("since")); err == nil && t.After(since) {
			since = t
		}
	}
	start, chars := len(hist), 0
	for i := len(hist) - 1; i >= 0 && len(hist)-i <= maxStanzas; i-- {
		e := &hist[i]
		if !since.IsZero() && !e.at.After(since) {
			break
		}
		if maxChars >= 0 {
			if e.chars < 0 {
				// Counted on demand: few joins ask for maxchars, every
				// message would pay for counting up front.
				e.chars = utf8.RuneCount(e.el.Append(nil, ""))
			}
			if chars+e.chars > maxChars {
				break
			}
			chars += e.chars
		}
		start = i
	}
	for _, e := range hist[start:] {
		b := xml.NewBuilder("message", xml.NSClient)
		for _, a := range e.el.Attrs() {
			b.Attr(a.Name, a.Value)
		}
		b.Attr("to", to.String())
		for c := range e.el.Children() {
			b.Append(c)
		}
		b.Start("delay", nsDelay).Attr("from", r.jid.String()).Attr("stamp", stamp(e.at)).End()
		from, _ := jid.Parse(e.el.Attr("from"))
		r.svc.m.send(ctx, b.Element(), from, to)
	}
}

// sendSubject is §7.2.15: always sent, last, empty when none is set.
func (r *room) sendSubject(ctx context.Context, to jid.JID) {
	from := r.jid
	if r.subjectNick != "" {
		from = r.occupantJID(r.subjectNick)
	}
	b := xml.NewBuilder("message", xml.NSClient).Attr("from", from.String()).Attr("to", to.String()).
		Attr("type", "groupchat").Attr("id", randid.Hex(8))
	b.Start("subject", "").Text(r.subject).End()
	if r.subjectSet {
		b.Start("delay", nsDelay).Attr("from", r.jid.String()).Attr("stamp", stamp(r.subjectAt)).End()
	}
	r.svc.m.send(ctx, b.Element(), from, to)
}

// privateMessage is §7.5: to every session of the addressed nick, from
// the sender's occupant JID.
func (r *room) privateMessage(ctx context.Context, st *module.Stanza, o *occupant) {
	m := r.svc.m
	if o == nil {
		m.fail(ctx, st, errOf(stanza.NotAcceptable, "only occupants may send private messages"))
		return
	}
	if st.Type() == "groupchat" {
		m.fail(ctx, st, errOf(stanza.BadRequest, "groupchat messages go to the room")) // §7.5
		return
	}
	target := r.occ[st.To.Resource()]
	if target == nil {
		m.fail(ctx, st, errOf(stanza.ItemNotFound, "no such occupant"))
		return
	}
	if !maySendPM(&r.cfg, o.role) {
		m.fail(ctx, st, errOf(stanza.Forbidden, "private messages are not allowed in this room"))
		return
	}
	if !r.allow(o) {
		m.fail(ctx, st, errRate())
		return
	}
	from := r.occupantJID(o.nick)
	b := xml.NewBuilder("message", xml.NSClient).Attr("from", from.String())
	for _, a := range st.El.Attrs() {
		if a.Name != "from" && a.Name != "to" {
			b.Attr(a.Name, a.Value)
		}
	}
	hasX := false
	for c := range st.El.Children() {
		if c.NS() == nsOccID {
			continue
		}
		if c.NS() == NSUser && c.Name() == "x" {
			hasX = true
		}
		b.Append(c)
	}
	if !hasX {
		b.Start("x", NSUser).End() // §7.5: marks it as a private message through a room
	}
	b.Start("occupant-id", nsOccID).Attr("id", o.id).End()
	el := b.Element()
	for _, s := range target.sessions {
		r.sendFrom(ctx, el, from, s.jid)
	}
}

// invite is §7.8.2, mediated invitations.
func (r *room) invite(ctx context.Context, st *module.Stanza, o *occupant, inv *xml.Element) {
	m := r.svc.m
	ae := r.affiliationOf(st.From)
	if o == nil && ae.aff < affAdmin {
		m.fail(ctx, st, errOf(stanza.NotAcceptable, "only occupants may invite"))
		return
	}
	ro := roleModerator
	if o != nil {
		ro = o.role
	}
	if !mayInvite(&r.cfg, ro) {
		m.fail(ctx, st, errOf(stanza.Forbidden, "you may not invite others to this room"))
		return
	}
	to, err := jid.Parse(inv.Attr("to"))
	if err != nil {
		m.fail(ctx, st, errOf(stanza.JIDMalformed, ""))
		return
	}
	if r.cfg.MembersOnly && ae.aff >= affAdmin && r.affiliationOf(to).aff == affNone {
		// §7.8.2: an admin's invitation to a members-only room makes the
		// invitee a member.
		r.setAffiliation(ctx, to.Bare().String(), affEntry{aff: affMember}, nil)
	}
	b := xml.NewBuilder("message", xml.NSClient).Attr("from", r.jid.String()).Attr("to", to.String())
	if id := st.El.Attr("id"); id != "" {
		b.Attr("id", id)
	}
	b.Start("x", NSUser).Start("invite", "").Attr("from", st.From.String())
	if rs := inv.Child("reason", NSUser); rs != nil {
		b.Start("reason", "").Text(rs.Text()).End()
	}
	if c := inv.Child("continue", NSUser); c != nil {
		b.Append(c)
	}
	b.End()
	if r.cfg.PasswordProtected {
		b.Start("password", "").Text(r.cfg.Password).End()
	}
	b.End()
	// XEP-0249 §3's element too, so that clients that only know direct
	// invitations see it.
	b.Start("x", nsConf).Attr("jid", r.jid.String()).End()
	m.send(ctx, b.Element(), r.jid, to)
}

// decline is §7.8.2's answer, passed on to the inviter.
func (r *room) decline(ctx context.Context, st *module.Stanza, dec *xml.Element) {
	to, err := jid.Parse(dec.Attr("to"))
	if err != nil {
		r.svc.m.fail(ctx, st, errOf(stanza.JIDMalformed, ""))
		return
	}
	b := xml.NewBuilder("message", xml.NSClient).Attr("from", r.jid.String()).Attr("to", to.String())
	b.Start("x", NSUser).Start("decline", "").Attr("from", st.From.Bare().String())
	if rs := dec.Child("reason", NSUser); rs != nil {
		b.Start("reason", "").Text(rs.Text()).End()
	}
	b.End().End()
	r.svc.m.send(ctx, b.Element(), r.jid, to)
}

// requestVoice is §7.13: a visitor asks; every moderator gets the
// approval form of §8.6.
func (r *room) requestVoice(ctx context.Context, st *module.Stanza, o *occupant) {
	m := r.svc.m
	if o == nil {
		m.fail(ctx, st, errOf(stanza.NotAcceptable, "only occupants may request voice"))
		return
	}
	if !r.cfg.VoiceRequests || o.role != roleVisitor {
		m.fail(ctx, st, errOf(stanza.Forbidden, "voice requests are not accepted"))
		return
	}
	if !r.allow(o) {
		m.fail(ctx, st, errRate())
		return
	}
	fields := []field{
		{v: "muc#role", typ: "list-single", label: "Requested role", values: []string{"participant"}},
		{v: "muc#jid", typ: "jid-single", label: "User ID", values: []string{o.latest().jid.String()}},
		{v: "muc#roomnick", typ: "text-single", label: "Room Nickname", values: []string{o.nick}},
		{v: "muc#request_allow", typ: "boolean", label: "Grant voice to this person?", values: []string{"false"}},
	}
	form := formEl("form", "Voice request", NS+"#request", fields)
	el := xml.NewBuilder("message", xml.NSClient).Attr("from", r.jid.String()).Append(form).Element()
	for _, p := range r.occ {
		if p.role != roleModerator {
			continue
		}
		for _, s := range p.sessions {
			r.sendFrom(ctx, el, r.jid, s.jid)
		}
	}
}

// approveVoice is §8.6: a moderator submits the form back.
func (r *room) approveVoice(ctx context.Context, st *module.Stanza, o *occupant, f *form) {
	m := r.svc.m
	if o == nil || o.role != roleModerator {
		m.fail(ctx, st, errOf(stanza.Forbidden, "only moderators approve voice requests"))
		return
	}
	allow, _ := f.boolean("muc#request_allow", false)
	if !allow {
		return
	}
	t := r.occ[f.one("muc#roomnick")]
	if t == nil || t.role != roleVisitor {
		return
	}
	t.role = roleParticipant
	r.broadcastPresence(ctx, t, false, nil, nil, &extra{actor: o.nick})
}
