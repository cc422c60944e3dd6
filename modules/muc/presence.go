package muc

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// presence handles presence to a room or occupant JID (XEP-0045 §7.2
// entering, §7.6 nick change, §7.7 status change, §7.14 exit); the room's
// runner calls it with r.mu held.
func (r *room) presence(ctx context.Context, st *module.Stanza) {
	switch st.Type() {
	case "unavailable":
		if o := r.byJID[st.From]; o != nil {
			r.leave(ctx, o, o.session(st.From), st.El, nil)
		}
	case "":
		if st.To.Resource() == "" {
			// §7.2.1: no nick.
			r.svc.m.fail(ctx, st, errOf(stanza.JIDMalformed, "a room nickname is required"))
			return
		}
		r.available(ctx, st)
	}
	// Probes and subscriptions carry nothing for a room (§17.3, presence
	// business rules).
}

// newRoomFor is presence to a room that does not exist: a join
// (<x xmlns='…muc'/>) creates it, anything else is answered here. nil
// when there is no room to post st to.
func (s *service) newRoomFor(ctx context.Context, st *module.Stanza) *room {
	if st.Type() != "" {
		return nil // unavailable from a non-occupant, probes, subscriptions
	}
	if st.To.Resource() == "" {
		s.m.fail(ctx, st, errOf(stanza.JIDMalformed, "a room nickname is required")) // §7.2.1
		return nil
	}
	if st.El.Child("x", NS) == nil {
		s.kickUnsynced(ctx, st) // no such room, so not an occupant either
		return nil
	}
	r, e := s.create(st.To.Bare(), st.From)
	if e != nil {
		s.m.fail(ctx, st, e)
		return nil
	}
	return r
}

// kickUnsynced answers presence without <x xmlns='…muc'/> from a
// non-occupant: a client that believes it is in the room (it lost track,
// e.g. across a restart) rather than a groupchat 1.0 join, which
// §7.2.18 (since version 1.32) recommends to kick explicitly with 110, 307
// and 333, so that the client knows it is out and may rejoin.
func (s *service) kickUnsynced(ctx context.Context, st *module.Stanza) {
	b := xml.NewBuilder("presence", xml.NSClient).Attr("from", st.To.String()).Attr("to", st.From.String()).Attr("type", "unavailable")
	b.Start("x", NSUser).Start("item", "").Attr("affiliation", "none").Attr("role", "none").End()
	for _, c := range []string{"110", "307", "333"} {
		b.Start("status", "").Attr("code", c).End()
	}
	b.End()
	s.m.send(ctx, b.Element(), st.To, st.From)
}

// create makes a new room locked for its creator (§10.1.1): until the
// creator accepts an instant room or submits a configuration, others get
// item-not-found.
func (s *service) create(roomJID, creator jid.JID) (*room, *stanza.Error) {
	if !s.mayCreate(creator) {
		return nil, errOf(stanza.NotAllowed, "room creation is restricted")
	}
	if lim := s.m.cfg.MaxRoomsPerOwner; lim > 0 && s.ownedBy(creator, nil) >= lim {
		return nil, errOf(stanza.NotAllowed, "too many rooms owned by "+creator.Bare().String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[roomJID.Local()]; r != nil {
		return r, nil
	}
	r := newRoom(s, roomJID, defaultConfig(s.m.cfg.MaxOccupants))
	r.locked = true
	r.creator = creator
	r.affs[creator.Bare().String()] = affEntry{aff: affOwner}
	s.rooms[roomJID.Local()] = r
	return r, nil
}

// available: available presence from st.From to room/nick.
func (r *room) available(ctx context.Context, st *module.Stanza) {
	nick := st.To.Resource()
	o := r.byJID[st.From]
	if o == nil && st.El.Child("x", NS) == nil {
		r.svc.kickUnsynced(ctx, st)
		return
	}
	if o == nil {
		r.join(ctx, st)
		return
	}
	sess := o.session(st.From)
	if nick != o.nick {
		r.changeNick(ctx, st, o, sess)
		return
	}
	sess.pres = st.El
	o.touch(sess)
	if st.El.Child("x", NS) != nil {
		// §7.2.1: a join from a client already in: it lost track, so it
		// gets the whole join sequence again.
		r.sendJoinState(ctx, o, sess, st.El, nil)
		return
	}
	// §7.7: a status change, broadcast (unless the role is not announced).
	r.broadcastPresence(ctx, o, false, nil, nil, nil)
}

// join is §7.2: the checks in the order of §7.2.5-§7.2.10, then the
// presence exchange, history and subject.
func (r *room) join(ctx context.Context, st *module.Stanza) {
	m := r.svc.m
	real := st.From
	nick := st.To.Resource()
	ae := r.affiliationOf(real)
	creating := r.locked && r.creator.Bare() == real.Bare()
	if r.locked && !creating {
		m.fail(ctx, st, errOf(stanza.ItemNotFound, "the room is locked until its owner configures it")) // §7.2.10
		return
	}
	if ae.aff == affOutcast {
		m.fail(ctx, st, errOf(stanza.Forbidden, "you are banned from this room")) // §7.2.7
		return
	}
	if !mayEnter(&r.cfg, ae.aff) {
		m.fail(ctx, st, errOf(stanza.RegistrationRequired, "this room is members-only")) // §7.2.6
		return
	}
	if ae.nick != "" && ae.nick != nick {
		m.fail(ctx, st, errOf(stanza.NotAcceptable, "your reserved nickname here is "+ae.nick))
		return
	}
	existing := r.occ[nick]
	if existing != nil && existing.real.Bare() != real.Bare() {
		m.fail(ctx, st, errOf(stanza.Conflict, "that nickname is in use")) // §7.2.8
		return
	}
	if existing == nil && r.reservedBy(nick, real) {
		m.fail(ctx, st, errOf(stanza.Conflict, "that nickname is reserved"))
		return
	}
	x := st.El.Child("x", NS)
	if r.cfg.PasswordProtected && !creating {
		pw := ""
		if x != nil {
			if p := x.Child("password", NS); p != nil {
				pw = p.Text()
			}
		}
		if pw != r.cfg.Password {
			m.fail(ctx, st, errOf(stanza.NotAuthorized, "a password is required")) // §7.2.5
			return
		}
	}
	if existing == nil {
		max := min(r.cfg.MaxUsers, m.cfg.MaxOccupants)
		if max <= 0 {
			max = m.cfg.MaxOccupants
		}
		// §7.2.9: admins and owners still get in, within a margin.
		if n := r.occupantCount(); n >= max && (ae.aff < affAdmin || n >= max+max/10+5) {
			m.fail(ctx, st, errOf(stanza.ServiceUnavailable, "the room is full"))
			return
		}
	}
	sess := &session{jid: real, pres: st.El}
	o := existing
	if o == nil {
		o = &occupant{nick: nick, real: real.Bare(), role: r.defaultRole(ae.aff), id: r.occupantID(real)}
		o.tokens = float64(m.cfg.MessageBurst)
		o.last = m.now()
		r.occ[nick] = o
	}
	o.sessions = append(o.sessions, sess)
	r.byJID[real] = o
	r.sawNick(o)
	var codes []int
	if creating {
		codes = append(codes, 201) // §10.1.2
	}
	if nickRewritten(st) {
		codes = append(codes, 210) // §7.2.2: the nick is not quite what the client asked for
	}
	r.sendJoinState(ctx, o, sess, st.El, codes)
	if creating && existing == nil {
		m.log.Debug("room created", "room", r.jid.String(), "by", real.String())
	}
}

// nickRewritten reports that the nick in the occupant JID the client
// wrote differs from the one the room uses: RFC 7622 normalization
// (OpaqueString: NFC, spaces) changed it.
func nickRewritten(st *module.Stanza) bool {
	_, raw, ok := strings.Cut(st.El.Attr("to"), "/")
	return ok && raw != st.To.Resource()
}

// reservedBy: nick is registered to a user other than real (§7.10).
func (r *room) reservedBy(nick string, real jid.JID) bool {
	for k, e := range r.affs {
		if e.nick == nick && k != real.Bare().String() {
			return true
		}
	}
	return false
}

// sendJoinState sends the new session the occupants' presence, then
// announces the occupant (first session only) with self-presence last,
// then history and subject (§7.2.2, §7.2.13, §7.2.15).
func (r *room) sendJoinState(ctx context.Context, o *occupant, sess *session, join *xml.Element, extraCodes []int) {
	for _, p := range r.occ {
		if p == o || !r.mayAnnounce(p.role) {
			continue
		}
		el := r.presenceEl(p, false, r.mayseeJID(o), nil, nil)
		r.sendTo(ctx, el, sess.jid)
	}
	selfCodes := []int{110}
	if r.nonAnonymous() {
		selfCodes = append(selfCodes, 100) // §7.2.3
	}
	if r.cfg.Logging {
		selfCodes = append(selfCodes, 170) // §7.2.12
	}
	selfCodes = append(selfCodes, extraCodes...)
	if len(o.sessions) == 1 {
		r.broadcastPresenceExcept(ctx, o, false, nil, nil, nil, sess)
	}
	self := r.presenceEl(o, false, true, selfCodes, nil)
	if id := join.Attr("id"); id != "" {
		self = self.WithAttrs(xml.Attr{Name: "id", Value: id}) // §7.2.2: reflect the join's id
	}
	r.sendTo(ctx, self, sess.jid)
	if r.locked {
		return // nothing else until the owner configures the room
	}
	var hist *xml.Element
	if x := join.Child("x", NS); x != nil {
		hist = x.Child("history", NS)
	}
	r.warmHistory(ctx)
	r.sendHistory(ctx, sess.jid, hist)
	r.sendSubject(ctx, sess.jid)
}

// changeNick is §7.6.
func (r *room) changeNick(ctx context.Context, st *module.Stanza, o *occupant, sess *session) {
	m := r.svc.m
	nick := st.To.Resource()
	if p := r.occ[nick]; p != nil && p.real != o.real {
		m.fail(ctx, st, errOf(stanza.Conflict, "that nickname is in use")) // §7.6.3
		return
	} else if p != nil {
		// Another nick of the same user: multi-session nicks stay apart;
		// refuse rather than merge two occupants.
		m.fail(ctx, st, errOf(stanza.Conflict, "that nickname is in use"))
		return
	}
	if r.reservedBy(nick, o.real) {
		m.fail(ctx, st, errOf(stanza.Conflict, "that nickname is reserved"))
		return
	}
	if ae := r.affiliationOf(o.real); ae.nick != "" && ae.nick != nick {
		m.fail(ctx, st, errOf(stanza.NotAcceptable, "your reserved nickname here is "+ae.nick))
		return
	}
	// Unavailable from the old nick with the new one and 303, then
	// available from the new nick.
	r.broadcastPresence(ctx, o, true, []int{303}, []int{303}, &extra{newNick: nick})
	delete(r.occ, o.nick)
	o.nick = nick
	r.occ[nick] = o
	r.sawNick(o)
	sess.pres = st.El
	r.broadcastPresence(ctx, o, false, nil, nil, nil)
}

// leave removes one session of o (§7.14); the occupant goes when its last
// session does. unavail is the presence that made it leave (its status is
// kept), codes those for everyone (307 kick, 301 ban …).
func (r *room) leave(ctx context.Context, o *occupant, sess *session, unavail *xml.Element, codes []int) {
	if sess == nil {
		return
	}
	sess.pres = unavail
	if len(o.sessions) > 1 {
		// Another session keeps the nick: only this one is told.
		el := r.presenceEl(o, true, true, append([]int{110}, codes...), nil)
		r.sendTo(ctx, el, sess.jid)
		r.dropSession(o, sess)
		return
	}
	o.role = roleNone
	r.broadcastPresence(ctx, o, true, codes, codes, nil)
	r.dropSession(o, sess)
	delete(r.occ, o.nick)
	r.afterLeave(ctx)
}

func (r *room) dropSession(o *occupant, sess *session) {
	for i, s := range o.sessions {
		if s == sess {
			o.sessions = append(o.sessions[:i], o.sessions[i+1:]...)
			break
		}
	}
	delete(r.byJID, sess.jid)
}

// afterLeave destroys a temporary room once empty (§10.1: "destroyed
// when the last occupant exits"), and a room still locked whose creator
// left.
func (r *room) afterLeave(ctx context.Context) {
	if len(r.occ) > 0 {
		return
	}
	if !r.cfg.Persistent || r.locked {
		r.destroyed = true
		r.svc.remove(r)
		r.dropArchive(ctx)
	}
}

// removeOccupant takes every session of o out of the room at once (kick,
// ban, affiliation change, destroy), with codes and the actor's reason.
func (r *room) removeOccupant(ctx context.Context, o *occupant, codes []int, ex *extra) {
	o.role = roleNone
	if ex == nil {
		ex = &extra{}
	}
	r.broadcastPresence(ctx, o, true, codes, codes, ex)
	for _, s := range append([]*session(nil), o.sessions...) {
		r.dropSession(o, s)
	}
	delete(r.occ, o.nick)
}

// removeAll empties the room (destroy §10.9, shutdown 332).
func (r *room) removeAll(ctx context.Context, codes []int, ex *extra) {
	// Everyone sees only their own removal (§10.9, §11.2).
	for _, o := range r.occ {
		el := r.presenceEl(o, true, true, append([]int{110}, codes...), ex)
		for _, s := range o.sessions {
			r.sendTo(ctx, el, s.jid)
		}
	}
	r.occ = map[string]*occupant{}
	r.byJID = map[jid.JID]*occupant{}
	r.destroyed = true
	r.svc.remove(r)
}

// extra is what some presence broadcasts add to the muc#user item.
type extra struct {
	newNick string // §7.6 (303)
	actor   string // nick of the moderator who kicked or banned (§8.2)
	reason  string
	destroy *xml.Element // §10.9
	aff     *affiliation // override (ban: outcast)
}

// mayseeJID: whether viewer sees occupants' real JIDs (§7.2.3/§7.2.4).
func (r *room) mayseeJID(viewer *occupant) bool {
	return r.nonAnonymous() || viewer.role == roleModerator
}

// presenceEl builds o's presence as the room shows it: the latest
// session's own presence children (show, status, caps, avatar …) without
// its MUC elements, then <x muc#user/> and the occupant id. No 'to'.
func (r *room) presenceEl(o *occupant, unavailable bool, withJID bool, codes []int, ex *extra) *xml.Element {
	from := r.jid.String() + "/" + o.nick
	b := xml.NewBuilder("presence", xml.NSClient).Attr("from", from)
	if unavailable {
		b.Attr("type", "unavailable")
	}
	var src *xml.Element
	if len(o.sessions) > 0 {
		src = o.latest().pres
	}
	if src != nil && (src.Attr("type") == "unavailable") == unavailable {
		for c := range src.Children() {
			switch {
			case c.NS() == NS || c.NS() == NSUser || c.NS() == nsOccID:
			case unavailable && c.Name() != "status":
			default:
				b.Append(c)
			}
		}
	}
	aff := r.affiliationOf(o.real).aff
	if ex != nil && ex.aff != nil {
		aff = *ex.aff
	}
	b.Start("x", NSUser).Start("item", "").Attr("affiliation", aff.String()).Attr("role", o.role.String())
	if withJID && len(o.sessions) > 0 {
		b.Attr("jid", o.latest().jid.String())
	}
	if ex != nil && ex.newNick != "" {
		b.Attr("nick", ex.newNick)
	}
	if ex != nil && ex.actor != "" {
		b.Start("actor", "").Attr("nick", ex.actor).End()
	}
	if ex != nil && ex.reason != "" {
		b.Start("reason", "").Text(ex.reason).End()
	}
	b.End()
	if ex != nil && ex.destroy != nil {
		b.Append(ex.destroy)
	}
	for _, c := range codes {
		b.Start("status", "").Attr("code", strconv.Itoa(c)).End()
	}
	b.End()
	b.Start("occupant-id", nsOccID).Attr("id", o.id).End()
	return b.Element()
}

// broadcastPresence sends o's presence to every occupant's sessions:
// others get codes, o's own sessions selfCodes plus 110 (§7.2.2). Each
// variant (with or without the real JID, self) is built once.
func (r *room) broadcastPresence(ctx context.Context, o *occupant, unavailable bool, codes, selfCodes []int, ex *extra) {
	r.broadcastPresenceExcept(ctx, o, unavailable, codes, selfCodes, ex, nil)
}

func (r *room) broadcastPresenceExcept(ctx context.Context, o *occupant, unavailable bool, codes, selfCodes []int, ex *extra, skip *session) {
	var withJID, withoutJID *xml.Element
	from := r.occupantJID(o.nick)
	announce := r.mayAnnounce(o.role) || unavailable
	for _, p := range r.occ {
		if p == o {
			continue
		}
		if !announce {
			continue
		}
		var el *xml.Element
		if r.mayseeJID(p) {
			if withJID == nil {
				withJID = r.presenceEl(o, unavailable, true, codes, ex)
			}
			el = withJID
		} else {
			if withoutJID == nil {
				withoutJID = r.presenceEl(o, unavailable, false, codes, ex)
			}
			el = withoutJID
		}
		for _, s := range p.sessions {
			r.sendFrom(ctx, el, from, s.jid)
		}
	}
	if skip != nil && len(o.sessions) == 1 {
		return
	}
	sc := []int{110}
	if !unavailable && r.nonAnonymous() && selfCodes == nil {
		sc = append(sc, 100)
	}
	self := r.presenceEl(o, unavailable, true, append(sc, selfCodes...), ex)
	for _, s := range o.sessions {
		if s != skip {
			r.sendFrom(ctx, self, from, s.jid)
		}
	}
}

// sendTo routes el (built without 'to') to one real JID. Only 'to'
// differs between the copies of a broadcast: WithAttrs copies the
// attribute list and shares the rest of the element.
func (r *room) sendTo(ctx context.Context, el *xml.Element, to jid.JID) {
	from, err := jid.Parse(el.Attr("from"))
	if err != nil {
		from = r.jid
	}
	r.svc.m.send(ctx, el.WithAttrs(xml.Attr{Name: "to", Value: to.String()}), from, to)
}

// sendFrom is sendTo with the sender JID known (the hot path: no parse).
func (r *room) sendFrom(ctx context.Context, el *xml.Element, from, to jid.JID) {
	r.svc.m.send(ctx, el.WithAttrs(xml.Attr{Name: "to", Value: to.String()}), from, to)
}

// stamp is an XEP-0082 timestamp.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
