package push

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0490 message displayed synchronization: an account's clients
// publish, in the private PEP node urn:xmpp:mds:displayed:0, one item per
// chat (item id = the chat's JID) holding the <stanza-id/> of the last
// message displayed there. The summary's message-count counts the
// notified messages the account has not displayed: a message is
// displayed once its chat's item names its stanza-id or a later one. The
// items are read from storage (storage.PubSub, as modules/pubsub keeps
// them) when a notification is about to go out, so no hook into the
// pubsub module is needed and a marker published from any client, by
// any means, counts.

const (
	nsMDS = "urn:xmpp:mds:displayed:0"
	nsSID = "urn:xmpp:sid:0"
	nsMUC = "http://jabber.org/protocol/muc#user"
)

// maxUnread bounds the notified messages remembered per account; beyond
// it the oldest are forgotten (the count stops growing, nothing worse).
const maxUnread = 1000

// event is one message to notify an account of.
type event struct {
	// chat is the conversation as XEP-0490 names it: the contact's bare
	// JID, the room's bare JID for group chat, an occupant's full JID
	// for a private message from a room (§4).
	chat string
	// by and sid are the message's XEP-0359 stanza-id that the account's
	// clients mark displayed: by the account for its own messages, by
	// the room for group chat; sid is "" when there is none (archiving
	// off), and such a message counts until a session is bound.
	by, sid string
	sender  string // last-message-sender
	body    string
}

// unread is one notified message the account has not displayed.
type unread struct {
	chat, by, sid string
	at            time.Time
}

// account is the module's memory of one account's notified messages.
// It lives in memory only (mod.accts): a restart forgets the counts.
type account struct {
	unread []unread
	// bound is when a session of the account was last bound.
	bound time.Time
	// mds: the account had a urn:xmpp:mds:displayed:0 node at its last
	// notification. Without one, nothing says what its clients displayed,
	// and binding a session resets the count (the user opened a client);
	// with one, the markers decide.
	mds bool
}

// marker is a chat's XEP-0490 displayed item.
type marker struct{ by, id string }

// directEvent describes a message to owner itself.
func directEvent(owner jid.JID, st *module.Stanza) event {
	ev := event{chat: st.From.Bare().String(), by: owner.String(), sender: st.From.String()}
	if st.El.Child("x", nsMUC) != nil && st.From.Resource() != "" {
		ev.chat = st.From.String() // a private message from a room occupant
	}
	ev.sid = stanzaID(st.El, ev.by)
	if b := st.El.Child("body", ""); b != nil {
		ev.body = b.Text()
	}
	return ev
}

// stanzaID is the id of el's <stanza-id/> by 'by', "" for none.
func stanzaID(el *xml.Element, by string) string {
	for c := range el.Children() {
		if c.Name() == "stanza-id" && c.NS() == nsSID && c.Attr("by") == by {
			return c.Attr("id")
		}
	}
	return ""
}

// bound is the session-bound hook.
func (m *mod) bound(owner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.accts[owner]
	if a == nil {
		return
	}
	if !a.mds {
		delete(m.accts, owner)
		return
	}
	a.bound = time.Now()
}

// count records ev as notified to owner and returns the number of
// notified messages owner has not displayed, ev included; false when
// owner's marker for ev's chat shows it displayed already (a message
// handed back to offline storage after another device showed it), which
// is then not notified.
func (m *mod) count(ctx context.Context, owner jid.JID, ev event) (int, bool) {
	key := owner.String()
	m.mu.Lock()
	chats := []string{ev.chat}
	if a := m.accts[key]; a != nil {
		for _, u := range a.unread {
			chats = append(chats, u.chat)
		}
	}
	m.mu.Unlock()
	slices.Sort(chats)
	markers, mds := m.markers(ctx, owner, slices.Compact(chats))
	now := time.Now()

	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.accts[key]
	if a == nil {
		a = &account{}
		m.accts[key] = a
	}
	a.mds = mds
	if mk, ok := markers[ev.chat]; ok && covers(mk, ev.by, ev.sid, now) {
		return len(a.unread), false
	}
	a.unread = prune(a, markers, now)
	if len(a.unread) >= maxUnread {
		a.unread = append(a.unread[:0], a.unread[len(a.unread)-maxUnread+1:]...)
	}
	a.unread = append(a.unread, unread{chat: ev.chat, by: ev.by, sid: ev.sid, at: now})
	return len(a.unread), true
}

// prune drops from a's unread messages those displayed: up to the one a
// chat's marker names, and those whose stanza-id is older than the
// marker's (the marker may name a message never notified: one a
// connected client received, or one the user sent). Without markers,
// what was notified before the last bound session goes.
func prune(a *account, markers map[string]marker, now time.Time) []unread {
	// last[chat]: index of the newest message its marker names.
	last := map[string]int{}
	for i, u := range a.unread {
		if mk, ok := markers[u.chat]; ok && u.sid != "" && mk.by == u.by && mk.id == u.sid {
			last[u.chat] = i
		}
	}
	out := a.unread[:0]
	for i, u := range a.unread {
		if u.at.Before(a.bound) && (!a.mds || u.sid == "") {
			continue
		}
		if j, ok := last[u.chat]; ok && i <= j {
			continue
		}
		if mk, ok := markers[u.chat]; ok && covers(mk, u.by, u.sid, now) {
			continue
		}
		out = append(out, u)
	}
	clear(a.unread[len(out):])
	return out
}

// covers reports whether marker mk says the message with stanza-id sid
// (by 'by') was displayed: it names it, or a message archived in a later
// millisecond. xmppd's archive ids begin with their time
// (storage.NewArchiveID), which orders them; a marker whose time lies in
// the future (not an id of ours) orders nothing.
func covers(mk marker, by, sid string, now time.Time) bool {
	if sid == "" || mk.by != by {
		return false
	}
	if mk.id == sid {
		return true
	}
	mt, ok1 := storage.ArchiveIDTime(mk.id)
	st, ok2 := storage.ArchiveIDTime(sid)
	return ok1 && ok2 && st.Before(mt) && !mt.After(now.Add(time.Minute))
}

// markers reads owner's XEP-0490 items for chats, and whether the node
// exists.
func (m *mod) markers(ctx context.Context, owner jid.JID, chats []string) (map[string]marker, bool) {
	if m.h.PubSub == nil {
		return nil, false
	}
	items, err := m.h.PubSub.Items(ctx, owner.String(), nsMDS, chats, 0)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		// The count errs on the high side; the notification still goes.
		m.log.Warn("push: displayed markers", "account", owner.String(), "err", err)
		return nil, true
	}
	out := make(map[string]marker, len(items))
	for _, it := range items {
		els, err := xml.ParseFragments(it.Payload)
		if err != nil || len(els) != 1 || els[0].Name() != "displayed" || els[0].NS() != nsMDS {
			continue
		}
		if sid := els[0].Child("stanza-id", nsSID); sid != nil {
			out[it.ID] = marker{by: sid.Attr("by"), id: sid.Attr("id")}
		}
	}
	return out, true
}
