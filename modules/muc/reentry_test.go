package muc

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// botRouter stands in for the router: it records, per recipient, the
// bodies of the groupchat messages routed to it, and fails the test when
// a stanza is routed while a room's lock is held. The bot answers every
// groupchat message from alice synchronously, from inside Route, with a
// groupchat message of its own to the room: a handler that re-enters the
// room while it routes.
type botRouter struct {
	t   *testing.T
	s   *service
	bot jid.JID

	mu   sync.Mutex
	seen map[jid.JID][]string
}

func (br *botRouter) Route(ctx context.Context, st *module.Stanza) {
	locked := false
	for _, r := range br.s.roomList() {
		if !r.mu.TryLock() {
			locked = true
			continue
		}
		r.mu.Unlock()
	}
	if locked {
		br.t.Errorf("routed with a room's lock held: %s", st.El)
		return // re-entering now would deadlock (the old code)
	}
	b := st.El.Child("body", "")
	if st.El.Name() != "message" || st.El.Attr("type") != "groupchat" || b == nil {
		return
	}
	br.mu.Lock()
	br.seen[st.To] = append(br.seen[st.To], b.Text())
	br.mu.Unlock()
	if st.To == br.bot && st.From.Resource() == "alice" {
		room := st.From.Bare()
		el := xml.NewBuilder("message", xml.NSClient).Attr("from", br.bot.String()).Attr("to", room.String()).Attr("type", "groupchat").
			Start("body", "").Text("re: " + b.Text()).End().Element()
		br.s.handle(ctx, &module.Stanza{El: el, From: br.bot, To: room})
	}
}

// TestRouteOutsideRoomLock: nothing is routed while a room's lock is
// held, a handler may re-enter the room from inside Route (a bot's
// synchronous answer) without deadlock, every occupant sees the room's
// messages in one order, and Stop leaves no goroutine of the module
// behind. The old code routed under the room's lock (the check above
// fails on it).
func TestRouteOutsideRoomLock(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := module.ConfigOf[*Config](module.NewRegistry().NewHandle("muc", module.Services{}))
	cfg.MessageRate = 0
	alice, bot := jid.MustParse("alice@localhost/r"), jid.MustParse("bot@localhost/r")
	br := &botRouter{t: t, bot: bot, seen: map[jid.JID][]string{}}
	h := module.NewRegistry().NewHandle("muc", module.Services{Router: br, Sections: map[string]any{"muc": cfg}, VHosts: localhost, Hosts: func(d string) bool { return d == "localhost" }})
	m := &mod{}
	if err := m.Start(h); err != nil {
		t.Fatal(err)
	}
	s := m.services["conference.localhost"]
	br.s = s
	ctx := context.Background()
	room := jid.MustParse("r@conference.localhost")
	join := func(who jid.JID, nick string) {
		to, _ := room.WithResource(nick)
		s.handle(ctx, &module.Stanza{El: xml.NewBuilder("presence", xml.NSClient).Start("x", NS).End().Element(), From: who, To: to})
	}
	join(alice, "alice")
	s.handle(ctx, &module.Stanza{El: xml.NewBuilder("iq", xml.NSClient).Attr("type", "set").Attr("id", "c").
		Start("query", NSOwner).Start("x", nsData).Attr("type", "submit").End().End().Element(), From: alice, To: room})
	join(bot, "bot")
	const n = 20
	for i := range n {
		el := xml.NewBuilder("message", xml.NSClient).Attr("type", "groupchat").Start("body", "").Text(fmt.Sprint("m", i)).End().Element()
		s.handle(ctx, &module.Stanza{El: el, From: alice, To: room})
	}
	m.settle()
	br.mu.Lock()
	a, b := br.seen[alice], br.seen[bot]
	br.mu.Unlock()
	if len(a) != 2*n {
		t.Fatalf("alice got %d messages, want %d (each of hers and the bot's answer): %v", len(a), 2*n, a)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("occupants saw different orders:\nalice %v\nbot   %v", a, b)
	}
	if err := m.stopAll(); err != nil {
		t.Fatal(err)
	}
	// A goroutine that called runners.Done may take a moment to exit.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Stop, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
