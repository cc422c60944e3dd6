package mam_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// BenchmarkChatArchived measures one chat message end to end over TLS
// between two local accounts (as c2s's BenchmarkRouteMessage does), with
// archiving on (two archive entries, one per account, and the stanza-id
// added) and off, on SQLite on disk. With archiving the timer runs until
// the archive holds every message (a final query waits for the writer),
// so the figure includes the database work. Client work runs in the same
// process.
func BenchmarkChatArchived(b *testing.B) {
	for _, c := range []struct{ name, cfg string }{
		{"Off", "\n[archive]\nenabled = false\n"},
		{"On", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := testutil.Start(b, c.cfg)
			a := testutil.RouteChat(b, s, 64)
			if c.cfg == "" {
				// Until the archive has them all: a query waits for
				// the writer's queue (the count alone, max=0).
				a.Send("<iq type='set' id='flush'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query></iq>")
				for el := a.Next(); el.Name() != "iq" || el.Attr("id") != "flush"; el = a.Next() {
				}
			}
		})
	}
}
