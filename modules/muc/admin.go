package muc

import (
	"context"
	"sort"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// adminGet returns an affiliation list (§9.5 member, §9.2 ban, §10.5
// owner, §10.8 admin) or a role list (§8.5 voice, §9.8 moderator).
func (r *room) adminGet(st *module.Stanza, q *xml.Element) (*xml.Element, *stanza.Error) {
	item := q.Child("item", NSAdmin)
	if item == nil {
		return nil, errOf(stanza.BadRequest, "an item with an affiliation or a role is required")
	}
	actorAff := r.affiliationOf(st.From).aff
	actorRole := roleNone
	if o := r.byJID[st.From]; o != nil {
		actorRole = o.role
	}
	b := xml.NewBuilder("query", NSAdmin)
	if a := item.Attr("affiliation"); a != "" {
		aff, ok := parseAffiliation(a)
		if !ok || aff == affNone {
			return nil, errOf(stanza.BadRequest, "unknown affiliation "+a)
		}
		if !mayGetAffList(&r.cfg, actorRole, actorAff, aff) {
			return nil, errOf(stanza.Forbidden, "")
		}
		keys := make([]string, 0, len(r.affs))
		for k, e := range r.affs {
			if e.aff == aff {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			e := r.affs[k]
			b.Start("item", "").Attr("affiliation", aff.String()).Attr("jid", k)
			if e.nick != "" {
				b.Attr("nick", e.nick)
			}
			if e.reason != "" {
				b.Start("reason", "").Text(e.reason).End()
			}
			b.End()
		}
		return b.Element(), nil
	}
	ro, ok := parseRole(item.Attr("role"))
	if !ok || ro == roleNone {
		return nil, errOf(stanza.BadRequest, "unknown role "+item.Attr("role"))
	}
	if !mayGetRoleList(actorRole, actorAff, ro) {
		return nil, errOf(stanza.Forbidden, "")
	}
	nicks := make([]string, 0, len(r.occ))
	for n, o := range r.occ {
		if o.role == ro {
			nicks = append(nicks, n)
		}
	}
	sort.Strings(nicks)
	for _, n := range nicks {
		o := r.occ[n]
		b.Start("item", "").Attr("affiliation", r.affiliationOf(o.real).aff.String()).
			Attr("jid", o.latest().jid.String()).Attr("nick", n).Attr("role", ro.String()).End()
	}
	return b.Element(), nil
}

// change is one validated item of an admin set.
type change struct {
	target *occupant // role change
	role   role
	key    string // affiliation change: bare JID or domain
	aff    affiliation
	nick   string
	reason string
}

// adminSet applies a list of role or affiliation changes (§8, §9, §10),
// all or none: every item is checked before any is applied.
func (r *room) adminSet(ctx context.Context, st *module.Stanza, q *xml.Element) *stanza.Error {
	actor := r.byJID[st.From]
	actorAff := r.affiliationOf(st.From).aff
	actorRole := roleNone
	actorNick := ""
	if actor != nil {
		actorRole, actorNick = actor.role, actor.nick
	}
	var changes []change
	owners := r.owners()
	for item := range q.Children() {
		if item.Name() != "item" {
			continue
		}
		c := change{}
		if rs := item.Child("reason", NSAdmin); rs != nil {
			c.reason = rs.Text()
		}
		if a := item.Attr("affiliation"); a != "" {
			aff, ok := parseAffiliation(a)
			if !ok {
				return errOf(stanza.BadRequest, "unknown affiliation "+a)
			}
			j, err := jid.Parse(item.Attr("jid"))
			if err != nil && item.Attr("nick") != "" {
				if o := r.occ[item.Attr("nick")]; o != nil {
					j, err = o.real, nil
				}
			}
			if err != nil {
				return errOf(stanza.JIDMalformed, "an affiliation change needs a jid")
			}
			c.key, c.aff, c.nick = affKey(j), aff, item.Attr("nick")
			cur := r.affs[c.key].aff
			if actorAff < affAdmin {
				return errOf(stanza.Forbidden, "only admins and owners change affiliations")
			}
			if !maySetAffiliation(actorAff, cur, aff) {
				return errOf(stanza.NotAllowed, "you may not change the affiliation of "+c.key)
			}
			if cur == affOwner && aff != affOwner {
				if owners--; owners < 1 {
					return errOf(stanza.Conflict, "a room needs an owner") // §10.4, §10.5
				}
			}
			if c.nick == "" {
				c.nick = r.affs[c.key].nick
			}
			changes = append(changes, c)
			continue
		}
		ro, ok := parseRole(item.Attr("role"))
		if !ok || item.Attr("role") == "" {
			return errOf(stanza.BadRequest, "an item needs an affiliation or a role")
		}
		t := r.occ[item.Attr("nick")]
		if t == nil {
			return errOf(stanza.ItemNotFound, "no occupant with the nickname "+item.Attr("nick"))
		}
		if actorRole != roleModerator {
			return errOf(stanza.Forbidden, "only moderators change roles")
		}
		if !maySetRole(actorRole, actorAff, t.role, r.affiliationOf(t.real).aff, ro) {
			return errOf(stanza.NotAllowed, "you may not change the role of "+t.nick) // §8.2, §8.4
		}
		c.target, c.role = t, ro
		changes = append(changes, c)
	}
	if len(changes) == 0 {
		return errOf(stanza.BadRequest, "no item")
	}
	for _, c := range changes {
		ex := &extra{actor: actorNick, reason: c.reason}
		if c.target != nil {
			r.setRole(ctx, c.target, c.role, ex)
			continue
		}
		r.setAffiliation(ctx, c.key, affEntry{aff: c.aff, nick: c.nick, reason: c.reason}, ex)
	}
	return nil
}

// affKey is the affiliation list key of j: its bare JID, or a domain.
func affKey(j jid.JID) string {
	if j.Local() == "" {
		return j.Domain()
	}
	return j.Bare().String()
}

// setRole applies a role change and tells everyone: role none is a kick
// (§8.2, status 307).
func (r *room) setRole(ctx context.Context, o *occupant, ro role, ex *extra) {
	if r.occ[o.nick] != o {
		return // already gone through an earlier item
	}
	if ro == roleNone {
		r.removeOccupant(ctx, o, []int{307}, ex)
		r.afterLeave(ctx)
		return
	}
	o.role = ro
	r.broadcastPresence(ctx, o, false, nil, nil, ex)
}

// setAffiliation records an affiliation (persisted for persistent rooms)
// and applies it to the user's occupants: a ban removes them (301), the
// loss of membership of a members-only room too (321); otherwise their
// role follows the new affiliation (§5.1.3 note) and everyone sees it.
func (r *room) setAffiliation(ctx context.Context, key string, e affEntry, ex *extra) {
	if e.aff == affNone {
		delete(r.affs, key)
	} else {
		r.affs[key] = e
	}
	r.pushMembers = nil
	if e.aff < affMember {
		delete(r.lastNick, key)
	}
	r.saveAffiliation(ctx, key, e)
	if r.locked {
		return
	}
	for _, o := range r.occupantsOf(key) {
		switch {
		case e.aff == affOutcast:
			r.removeOccupant(ctx, o, []int{301}, ex)
		case e.aff == affNone && r.cfg.MembersOnly:
			r.removeOccupant(ctx, o, []int{321}, ex)
		default:
			want := r.defaultRole(e.aff)
			if e.aff >= affAdmin || o.role < want || o.role == roleModerator && e.aff < affAdmin {
				o.role = want
			}
			r.broadcastPresence(ctx, o, false, nil, nil, ex)
		}
	}
	r.afterLeave(ctx)
}

// occupantsOf lists the occupants an affiliation key covers.
func (r *room) occupantsOf(key string) []*occupant {
	var out []*occupant
	for _, o := range r.occ {
		if o.real.String() == key || o.real.Domain() == key {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].nick < out[j].nick })
	return out
}
