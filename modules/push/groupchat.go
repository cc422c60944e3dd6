package push

import (
	"context"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/xml"
)

// Group chat reaches a member of a members-only room only while one of
// the member's sessions is in the room. A member with no session at all
// would learn of the discussion at the next login, if ever: modules/muc
// hands each such message here (the Service), and the member's push
// services are notified as for a message of its own, subject to the
// member's choice in the enable form (FieldGroupchat: all, mentions, or
// none). The client woken fetches the messages from the room's archive
// (XEP-0313 on the room JID); the notification carries the occupant JID
// as last-message-sender, the body only with include-body.

const nsReference = "urn:xmpp:reference:0"

// NotifyGroupchat notifies members (bare JID → the nick they are known by
// in the room, "" for none) of msg, a room's groupchat message as
// broadcast (from the occupant JID, with the room's stanza-id). Members
// with a session and accounts not served here are skipped. It never
// blocks: the work runs on a goroutine of the module. members must not
// change afterwards (modules/muc hands a map it replaces, never edits).
func (m *mod) NotifyGroupchat(msg *xml.Element, members map[jid.JID]string) {
	if len(members) == 0 || m.gcSem == nil {
		return
	}
	from, err := jid.Parse(msg.Attr("from"))
	if err != nil || from.Resource() == "" {
		return
	}
	room := from.Bare()
	ev := event{chat: room.String(), by: room.String(), sender: from.String()}
	ev.sid = stanzaID(msg, ev.by)
	if b := msg.Child("body", ""); b != nil {
		ev.body = b.Text()
	}
	var refs []string
	for c := range msg.Children() {
		if c.Name() == "reference" && c.NS() == nsReference && c.Attr("type") == "mention" {
			refs = append(refs, c.Attr("uri"))
		}
	}
	m.async(m.gcSem, room, func(ctx context.Context) {
		var wg sync.WaitGroup
		for member, nick := range members {
			if member.Local() == "" || !m.h.Hosts(member.Domain()) || len(m.h.Directory.Sessions(member)) > 0 {
				continue
			}
			mention := mentions(ev.body, refs, member, room, nick)
			m.notifyAccount(ctx, &wg, member, ev, func(r Registration) bool {
				switch groupchatChoice(r) {
				case GroupchatAll:
					return true
				case GroupchatMentions:
					return mention
				}
				return false
			})
		}
		wg.Wait()
	})
}

// groupchatChoice is r's FieldGroupchat, kept with its stored options;
// GroupchatMentions when it has none.
func groupchatChoice(r Registration) string {
	if r.Options == "" {
		return GroupchatMentions
	}
	els, err := xml.ParseFragments([]byte(r.Options))
	if err != nil || len(els) != 1 {
		return GroupchatMentions
	}
	for f := range els[0].Children() {
		if f.Attr("var") == FieldGroupchat {
			if v := f.Child("value", nsData); v != nil {
				return v.Text()
			}
		}
	}
	return GroupchatMentions
}

// mentions reports whether a group chat message mentions member: a
// XEP-0372 mention reference to its bare JID or its occupant JID, or its
// bare JID or nick in the body as a word of its own (case-insensitive).
func mentions(body string, refs []string, member, room jid.JID, nick string) bool {
	for _, uri := range refs {
		if uri == "xmpp:"+member.String() || (nick != "" && uri == "xmpp:"+room.String()+"/"+nick) {
			return true
		}
	}
	body = strings.ToLower(body)
	return containsWord(body, strings.ToLower(member.String())) || (nick != "" && containsWord(body, strings.ToLower(nick)))
}

// containsWord reports whether w occurs in s with no letter or digit
// right before or after it ("ann" is not in "joanna", but is in "ann:").
func containsWord(s, w string) bool {
	if w == "" {
		return false
	}
	for off := 0; off <= len(s)-len(w); {
		i := strings.Index(s[off:], w)
		if i < 0 {
			return false
		}
		i += off
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+len(w):])
		if !wordRune(before) && !wordRune(after) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		off = i + size
	}
	return false
}

func wordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}
