package mam

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// TestRouteHookFree: the HookRoute hook runs for every routed stanza; for
// the ones it does not archive or rewrite it must cost no allocation and
// no lookup beyond the in-memory directory.
func TestRouteHookFree(t *testing.T) {
	m := &mod{h: &module.Handle{Services: module.Services{
		Hosts: func(d string) bool { return d == "localhost" },
	}}}
	ctx := context.Background()
	msg := func(to string, children ...string) *xml.Element {
		b := xml.NewBuilder("message", xml.NSClient).Attr("to", to).Attr("type", "chat")
		for _, c := range children {
			b.Start(c, xml.NSClient).End()
		}
		return b.Element()
	}
	for _, c := range []struct {
		name string
		st   *module.Stanza
	}{
		{"presence", &module.Stanza{El: xml.NewBuilder("presence", xml.NSClient).Element(),
			From: jid.MustParse("a@localhost/r"), To: jid.MustParse("b@localhost")}},
		{"iq", &module.Stanza{El: xml.NewBuilder("iq", xml.NSClient).Attr("type", "get").Element(),
			From: jid.MustParse("a@localhost/r"), To: jid.MustParse("localhost")}},
		{"message to a remote domain", &module.Stanza{El: msg("b@remote.example", "body"),
			From: jid.MustParse("a@localhost/r"), To: jid.MustParse("b@remote.example")}},
		{"body-less message to a local account", &module.Stanza{El: msg("b@localhost", "active"),
			From: jid.MustParse("a@remote.example/r"), To: jid.MustParse("b@localhost")}},
	} {
		if m.route(ctx, c.st) {
			t.Fatalf("%s: route stopped the chain", c.name)
		}
		if n := testing.AllocsPerRun(100, func() { m.route(ctx, c.st) }); n != 0 {
			t.Errorf("%s: route allocates %v times", c.name, n)
		}
	}
}

// oneSession is a Directory in which every account has one session.
type oneSession struct{ s module.Session }

func (d oneSession) Session(jid.JID) module.Session    { return d.s }
func (d oneSession) Sessions(jid.JID) []module.Session { return []module.Session{d.s} }

// fakeSession stands for a bound session; the hooks only compare it with
// nil.
type fakeSession struct{ module.Session }

// BenchmarkLocalChatHooks is the archive's work on the message path for a
// chat message between two local accounts with sessions: the outbound hook
// (the sender's archive entry and stanza-id) and the route hook (that
// stanza-id stripped, the recipient's entry and stanza-id), as c2s runs
// them, without the database (the writer's queue is drained unwritten).
//
//	go test -run XXX -bench LocalChatHooks -benchmem ./modules/mam/
func BenchmarkLocalChatHooks(b *testing.B) {
	sess := &fakeSession{}
	m := &mod{h: &module.Handle{Services: module.Services{
		Hosts:     func(d string) bool { return d == "localhost" },
		Directory: oneSession{sess},
	}}, now: time.Now, prefs: newPrefsCache(16), roster: newRosterCache(16),
		w: &writer{ch: make(chan writeReq, writerQueue), log: slog.New(slog.DiscardHandler)}}
	for _, a := range []string{"alice@localhost", "bob@localhost"} {
		m.prefs.put(a, cachedPrefs{p: toPrefs(storage.ArchivePrefs{Default: "always"}), loaded: time.Now().Add(time.Hour)})
	}
	done := make(chan struct{})
	go func() {
		for range m.w.ch {
		}
		close(done)
	}()
	from, to := jid.MustParse("alice@localhost/laptop"), jid.MustParse("bob@localhost")
	el := xml.NewBuilder("message", xml.NSClient).Attr("from", from.String()).Attr("to", to.String()).
		Attr("type", "chat").Attr("id", "m-12345678").
		Start("body", xml.NSClient).Text(strings.Repeat("x", 120)).End().
		Start("active", "http://jabber.org/protocol/chatstates").End().Element()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st := &module.Stanza{El: el, From: from, To: to, Origin: sess}
		m.outbound(ctx, st)
		st.Origin = sess
		m.route(ctx, st)
	}
	b.StopTimer()
	close(m.w.ch)
	<-done
	if n := m.w.waited.Load(); n > 0 {
		b.Logf("%d appends waited for the queue", n)
	}
}

// TestAppendAllocatesOneCopy: archiving a stanza allocates its copy for
// the writer, the id and the entry, not a serialization buffer besides
// (a local 1 KiB array escaped to the heap and doubled the hooks' garbage;
// docs/performance.md, archive fourth pass). The bound is in bytes per
// call: under stanzaBuf for a stanza of ~220 bytes.
func TestAppendAllocatesOneCopy(t *testing.T) {
	m := &mod{now: time.Now, w: &writer{ch: make(chan writeReq, writerQueue), log: slog.New(slog.DiscardHandler)}}
	done := make(chan struct{})
	go func() {
		for range m.w.ch {
		}
		close(done)
	}()
	owner, peer := jid.MustParse("alice@localhost"), jid.MustParse("bob@localhost")
	el := xml.NewBuilder("message", xml.NSClient).Attr("from", "bob@localhost/phone").Attr("to", "alice@localhost").
		Attr("type", "chat").Attr("id", "m-12345678").
		Start("body", xml.NSClient).Text(strings.Repeat("x", 120)).End().Element()
	m.append(owner, peer, el) // the pool's first buffer
	const n = 1000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, ok := m.append(owner, peer, el); !ok {
			t.Fatal("not queued")
		}
	}
	runtime.ReadMemStats(&after)
	close(m.w.ch)
	<-done
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per >= stanzaBuf {
		t.Errorf("append allocates %d bytes per call for a %d-byte stanza, want < %d", per, len(el.String()), stanzaBuf)
	}
}
