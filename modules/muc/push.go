package muc

import (
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// Members of a members-only room who have no session at all are told of
// its discussion through their XEP-0357 push services: each groupchat
// message with a body goes to the push module's service with the room's
// members and the nicks they are known by (for mention detection); the
// push module skips those with a session and applies each account's
// choice (all messages, mentions, none). The room's owners turn it off
// with fieldOfflinePush.

// fieldOfflinePush is the muc#roomconfig field (boolean, default true)
// that lets a members-only room notify its offline members. Not a
// registered field: Clark notation with our own namespace, as Prosody
// names its own room options.
const fieldOfflinePush = "{urn:xmppd:muc}push_offline_members"

// pushService is what the room uses of the push module's service.
type pushService interface {
	NotifyGroupchat(msg *xml.Element, members map[jid.JID]string)
}

// Deps: the push service when the push module runs.
func (m *mod) Deps() module.Deps { return module.Deps{Uses: []string{"push"}} }

// sawNick records the nick o entered (or changed to) for its bare JID,
// for members only: a public room's passers-by are not remembered.
func (r *room) sawNick(o *occupant) {
	k := o.real.String()
	if r.affs[k].aff < affMember {
		return
	}
	if r.lastNick[k] != o.nick {
		r.lastNick[k] = o.nick
		r.pushMembers = nil
	}
}

// pushOffline hands el, a groupchat message just broadcast, to the push
// service for the room's members (they are skipped there while they have
// a session). r.mu is held.
func (r *room) pushOffline(el *xml.Element) {
	ps := r.svc.m.push
	if ps == nil || !r.cfg.MembersOnly || r.cfg.NoOfflinePush {
		return
	}
	if r.pushMembers == nil {
		r.pushMembers = r.offlinePushMembers()
	}
	if len(r.pushMembers) > 0 {
		ps.NotifyGroupchat(el, r.pushMembers)
	}
}

// offlinePushMembers maps the room's members, admins and owners (bare
// JIDs, not whole domains) to their reserved nick, else the nick they
// last entered with, else "".
func (r *room) offlinePushMembers() map[jid.JID]string {
	out := map[jid.JID]string{}
	for k, e := range r.affs {
		if e.aff < affMember {
			continue
		}
		j, err := jid.Parse(k)
		if err != nil || j.Local() == "" {
			continue
		}
		nick := e.nick
		if nick == "" {
			nick = r.lastNick[k]
		}
		out[j] = nick
	}
	return out
}
