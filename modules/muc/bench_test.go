package muc

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage/sqldb"
	"github.com/xmppd/xmppd/xml"
)

// writeRouter stands in for the router and the sessions: each routed
// stanza is serialized once, as a session's writer would.
type writeRouter struct {
	n         int
	buf       []byte
	serialize bool
}

func (w *writeRouter) Route(_ context.Context, st *module.Stanza) {
	w.n++
	if w.serialize {
		w.buf = st.El.Append(w.buf[:0], "jabber:client")
	}
}

// benchRoom starts the module on a fake router and fills a room with n
// occupants; it returns the service and the first occupant's JID.
func benchRoom(b *testing.B, n int) (*service, *writeRouter, jid.JID) {
	cfg := module.ConfigOf[*Config](module.NewRegistry().NewHandle("muc", module.Services{}))
	cfg.MessageRate = 0
	cfg.MaxOccupants = n + 10
	w := &writeRouter{}
	h := module.NewRegistry().NewHandle("muc", module.Services{Router: w, Sections: map[string]any{"muc": cfg}, VHosts: localhost, Hosts: func(d string) bool { return d == "localhost" }})
	m := &mod{}
	if err := m.Start(h); err != nil {
		b.Fatal(err)
	}
	s := m.services["conference.localhost"]
	ctx := context.Background()
	roomJID := jid.MustParse("bench@conference.localhost")
	var first jid.JID
	for i := 0; i < n; i++ {
		from := jid.MustParse(fmt.Sprintf("user%d@localhost/r", i))
		to, _ := roomJID.WithResource(fmt.Sprintf("nick%d", i))
		el := xml.NewBuilder("presence", xml.NSClient).Attr("from", from.String()).Attr("to", to.String()).
			Start("x", NS).End().Element()
		s.handle(ctx, &module.Stanza{El: el, From: from, To: to})
		if i == 0 {
			first = from
			iq := xml.NewBuilder("iq", xml.NSClient).Attr("type", "set").Attr("id", "c").Attr("from", from.String()).Attr("to", roomJID.String()).
				Start("query", NSOwner).Start("x", nsData).Attr("type", "submit").End().End().Element()
			s.handle(ctx, &module.Stanza{El: iq, From: from, To: roomJID})
		}
		m.settle()
	}
	if r := s.room("bench"); r == nil || len(r.occ) != n || r.locked {
		b.Fatalf("room not ready")
	}
	return s, w, first
}

// BenchmarkGroupchat100 is one groupchat message to a 100-occupant room:
// the module builds the broadcast once and routes 100 copies that differ
// only in 'to'. "module" counts the routed copies only; "serialized" also
// serializes each, as the sessions' writers would.
func BenchmarkGroupchat100(b *testing.B) {
	b.Run("module", func(b *testing.B) { benchGroupchat(b, false, false) })
	b.Run("serialized", func(b *testing.B) { benchGroupchat(b, true, false) })
	b.Run("serialized+archived", func(b *testing.B) { benchGroupchat(b, true, true) })
}

func benchGroupchat(b *testing.B, serialize, archived bool) {
	s, w, from := benchRoom(b, 100)
	w.serialize = serialize
	if archived {
		// The one database write of the message path: the XEP-0313
		// insert, into SQLite on disk.
		db, err := sqldb.Open(context.Background(), "sqlite", filepath.Join(b.TempDir(), "x.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		m := s.m
		m.archive, m.archQ, m.archStopped = db, make(chan archiveJob, archiveQueue), make(chan struct{})
		go m.archiveLoop()
		b.Cleanup(func() { m.stopArchive() })
	}
	roomJID := jid.MustParse("bench@conference.localhost")
	el := xml.NewBuilder("message", xml.NSClient).Attr("from", from.String()).Attr("to", roomJID.String()).
		Attr("type", "groupchat").Attr("id", "m1").Start("body", "").Text("Hello, everyone in this room! How are you today?").End().Element()
	st := &module.Stanza{El: el, From: from, To: roomJID}
	ctx := context.Background()
	w.n = 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// One message at a time, as at a paced load: each op includes
		// starting the room's runner and waiting for it to finish.
		s.handle(ctx, st)
		s.m.settle()
	}
	if archived {
		s.m.flushArchive(ctx) // the writes are part of the cost
	}
	b.StopTimer()
	if w.n != b.N*100 {
		b.Fatalf("%d deliveries for %d messages", w.n, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(w.n), "ns/delivery")
}
