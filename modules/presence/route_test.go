package presence

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
	"github.com/xmppd/xmppd/xml"
)

// The stanzas the presence module generates on a contact's behalf must go
// through Router.Route, where router hooks (XEP-0191 blocking) see them.
// The real router cannot show whether a stanza passed it (it delivers to
// the same session), so this test gives the module a recording router.

type recRouter struct {
	mu sync.Mutex
	st []*module.Stanza
}

func (r *recRouter) Route(_ context.Context, st *module.Stanza) {
	r.mu.Lock()
	r.st = append(r.st, st)
	r.mu.Unlock()
}

type fakeSession struct {
	j     jid.JID
	avail bool
	pres  *xml.Element
	mu    sync.Mutex
	got   []*xml.Element
}

func (s *fakeSession) JID() jid.JID { return s.j }
func (s *fakeSession) Deliver(el *xml.Element) bool {
	s.mu.Lock()
	s.got = append(s.got, el)
	s.mu.Unlock()
	return true
}
func (s *fakeSession) Available() bool              { return s.avail }
func (s *fakeSession) Priority() int                { return 0 }
func (s *fakeSession) Presence() *xml.Element       { return s.pres }
func (s *fakeSession) CloseStream(_, _ string)      {}
func (s *fakeSession) setAvailable(el *xml.Element) { s.avail, s.pres = true, el }

type fakeDir struct{ sessions []*fakeSession }

func (d *fakeDir) Session(full jid.JID) module.Session {
	for _, s := range d.sessions {
		if s.j == full {
			return s
		}
	}
	return nil
}

func (d *fakeDir) Sessions(bare jid.JID) []module.Session {
	var out []module.Session
	for _, s := range d.sessions {
		if s.j.Bare() == bare {
			out = append(out, s)
		}
	}
	return out
}

func TestContactStanzasAreRouted(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := db.CreateAccount(ctx, "localhost", u, nil); err != nil {
			t.Fatal(err)
		}
	}
	set := func(user string, it storage.RosterItem) {
		if _, err := db.SetRosterItem(ctx, "localhost", user, it); err != nil {
			t.Fatal(err)
		}
	}
	set("alice", storage.RosterItem{JID: "bob@localhost", Subscription: "to"})
	set("bob", storage.RosterItem{JID: "alice@localhost", Subscription: "from"})
	set("alice", storage.RosterItem{JID: "carol@localhost", Subscription: "none", PendingIn: true})

	alice := &fakeSession{j: jid.MustParse("alice@localhost/pc")}
	bob := &fakeSession{j: jid.MustParse("bob@localhost/phone")}
	bobPres := xml.NewBuilder("presence", xml.NSClient).Attr("from", "bob@localhost/phone").Element()
	bob.setAvailable(bobPres)
	rt := &recRouter{}
	reg := module.NewRegistry()
	h := reg.NewHandle("presence", module.Services{
		Router: rt, Directory: &fakeDir{sessions: []*fakeSession{alice, bob}}, Rosters: db, Accounts: db,
		Hosts: func(d string) bool { return d == "localhost" }, Logger: slog.New(slog.DiscardHandler),
	})
	m := &mod{}
	if err := m.Start(h); err != nil {
		t.Fatal(err)
	}

	initial := xml.NewBuilder("presence", xml.NSClient).Attr("from", "alice@localhost/pc").Element()
	alice.setAvailable(initial)
	reg.RunHook(ctx, module.HookPresenceBroadcast, &module.Stanza{El: initial, From: alice.j, Origin: alice})

	// alice gets her own presence back directly (self echo) and nothing
	// else: bob's presence and carol's stored request are routed.
	for _, el := range alice.got {
		if el.Attr("from") != "alice@localhost/pc" {
			t.Errorf("delivered to alice's session directly: %s", el)
		}
	}
	var probeAnswer, request bool
	for _, st := range rt.st {
		switch {
		case st.From == bob.j && st.To == alice.j && st.El.Attr("type") == "":
			probeAnswer = true
		case st.From.String() == "carol@localhost" && st.To == alice.j && st.El.Attr("type") == "subscribe":
			request = true
		}
	}
	if !probeAnswer || !request {
		t.Errorf("routed: probe answer %v, stored request %v; want both (%d routed)", probeAnswer, request, len(rt.st))
	}
}
