package router_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/router"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// fakeSession implements module.Session and records what it is given.
type fakeSession struct {
	jid    jid.JID
	avail  bool
	prio   int
	refuse bool // Deliver fails (closing session / queue overflow)

	mu  sync.Mutex
	got []*xml.Element
}

var _ module.Session = (*fakeSession)(nil)

func (s *fakeSession) JID() jid.JID { return s.jid }
func (s *fakeSession) Deliver(el *xml.Element) bool {
	if s.refuse {
		return false
	}
	s.mu.Lock()
	s.got = append(s.got, el)
	s.mu.Unlock()
	return true
}
func (s *fakeSession) Available() bool        { return s.avail }
func (s *fakeSession) Priority() int          { return s.prio }
func (s *fakeSession) Presence() *xml.Element { return nil }
func (s *fakeSession) CloseStream(string, string) {
	panic("the router never closes streams")
}

func (s *fakeSession) take() []*xml.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.got
	s.got = nil
	return out
}

// fakeAccounts implements storage.Accounts over a fixed set.
type fakeAccounts struct {
	users map[string]bool // "local@domain"
	err   error
}

var errUnused = errors.New("not used by the router")

func (a *fakeAccounts) CreateAccount(context.Context, string, string, []storage.Credential) error {
	return errUnused
}
func (a *fakeAccounts) SetCredentials(context.Context, string, string, []storage.Credential) error {
	return errUnused
}
func (a *fakeAccounts) DeleteAccount(context.Context, string, string) error { return errUnused }
func (a *fakeAccounts) Credential(context.Context, string, string, string) (storage.Credential, error) {
	return storage.Credential{}, errUnused
}
func (a *fakeAccounts) AccountExists(_ context.Context, domain, user string) (bool, error) {
	return a.users[user+"@"+domain], a.err
}
func (a *fakeAccounts) ListAccounts(context.Context, string) ([]string, error) { return nil, errUnused }

type fakeRemote struct {
	err error
	got []*module.Stanza
}

func (f *fakeRemote) RouteRemote(_ context.Context, st *module.Stanza) error {
	f.got = append(f.got, st)
	return f.err
}

const (
	domain  = "example.com"
	nsPing  = "urn:xmpp:ping"
	nsVCard = "vcard-temp"
	nsOther = "urn:example:unknown"
)

// res describes one of alice's resources.
type res struct {
	name   string
	prio   int
	unavai bool // bound but no initial presence
	refuse bool
}

type env struct {
	r        *router.Router
	dir      *router.Local
	accounts *fakeAccounts
	alice    map[string]*fakeSession
	bob      *fakeSession // the sender, bob@example.com/pc
	msgHook  []*module.Stanza
	presHook []*module.Stanza
}

// newEnv: accounts alice, bob and carol (never online) on example.com;
// bob/pc is the sender; alice has the given resources. The registry answers
// ping for the server and vCard for accounts.
func newEnv(t *testing.T, alice []res, hookHandles bool) *env {
	t.Helper()
	e := &env{
		dir:      router.NewLocal(),
		accounts: &fakeAccounts{users: map[string]bool{"alice@" + domain: true, "bob@" + domain: true, "carol@" + domain: true}},
		alice:    map[string]*fakeSession{},
	}
	reg := module.NewRegistry()
	h := reg.NewHandle("test", module.Services{})
	h.HandleIQ(module.TargetServer, "get", nsPing, func(context.Context, *module.IQ) (*xml.Element, error) { return nil, nil })
	h.HandleIQ(module.TargetAccount, "get", nsVCard, func(context.Context, *module.IQ) (*xml.Element, error) {
		return xml.NewBuilder("vCard", nsVCard).Element(), nil
	})
	h.Hook(module.HookAccountMessage, 0, func(_ context.Context, st *module.Stanza) bool {
		e.msgHook = append(e.msgHook, st)
		return hookHandles
	})
	h.Hook(module.HookAccountPresence, 0, func(_ context.Context, st *module.Stanza) bool {
		e.presHook = append(e.presHook, st)
		return hookHandles
	})
	e.r = &router.Router{
		Registry: reg,
		Dir:      e.dir,
		Accounts: e.accounts,
		Hosts:    func(d string) bool { return d == domain },
		Log:      slog.New(slog.DiscardHandler),
	}
	e.bob = &fakeSession{jid: jid.MustParse("bob@" + domain + "/pc"), avail: true}
	e.dir.Bind(e.bob)
	for _, r := range alice {
		s := &fakeSession{jid: jid.MustParse("alice@" + domain + "/" + r.name), avail: !r.unavai, prio: r.prio, refuse: r.refuse}
		if e.dir.Bind(s) != nil {
			t.Fatalf("resource %s bound twice", r.name)
		}
		e.alice[r.name] = s
	}
	return e
}

// stanzaTo builds a stanza from bob/pc; to "" means no 'to'.
func stanzaTo(kind, typ, to string) *module.Stanza {
	from := jid.MustParse("bob@" + domain + "/pc")
	b := xml.NewBuilder(kind, xml.NSClient).Attr("from", from.String()).Attr("id", "s1")
	if typ != "" {
		b.Attr("type", typ)
	}
	var toJID jid.JID
	if to != "" {
		b.Attr("to", to)
		toJID = jid.MustParse(to)
	}
	switch {
	case kind == "iq" && (typ == "get" || typ == "set"):
		b.Start("query", nsOther).End()
	case kind == "message":
		b.Start("body", "").Text("hi").End()
	}
	if typ == "error" {
		b.Start("error", "").Attr("type", "cancel").Start(stanza.ServiceUnavailable, stanza.NSStanzas).End().End()
	}
	return &module.Stanza{El: b.Element(), From: from, To: toJID}
}

func iqTo(typ, to, ns string) *module.Stanza {
	st := stanzaTo("iq", "", to)
	from := st.From.String()
	b := xml.NewBuilder("iq", xml.NSClient).Attr("from", from).Attr("id", "s1").Attr("type", typ)
	if to != "" {
		b.Attr("to", to)
	}
	b.Start("query", ns).End()
	st.El = b.Element()
	return st
}

// delivered lists alice's resources that received st (by identity), sorted.
func (e *env) delivered(t *testing.T, st *module.Stanza) []string {
	t.Helper()
	var out []string
	for name, s := range e.alice {
		for _, el := range s.take() {
			if el != st.El {
				t.Errorf("%s received %s, not the routed stanza", name, el)
				continue
			}
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// answer returns the single reply bob received ("" type = none).
func (e *env) answer(t *testing.T) *xml.Element {
	t.Helper()
	got := e.bob.take()
	switch len(got) {
	case 0:
		return nil
	case 1:
		return got[0]
	}
	t.Errorf("sender got %d replies: %v", len(got), got)
	return got[0]
}

type routeCase struct {
	name        string
	alice       []res
	st          *module.Stanza
	hookHandles bool     // HookAccountMessage / HookAccountPresence return true
	want        []string // alice's resources that get the stanza
	wantErr     string   // error condition returned to the sender, "" for none
	wantResult  bool     // an IQ result returned to the sender
	wantMsgHook bool
	wantPres    bool // HookAccountPresence ran
}

func runRouteCases(t *testing.T, cases []routeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.alice, tc.hookHandles)
			tc.st.Origin = e.bob
			e.r.Route(context.Background(), tc.st)

			if got := e.delivered(t, tc.st); !slices.Equal(got, tc.want) {
				t.Errorf("delivered to %v, want %v", got, tc.want)
			}
			reply := e.answer(t)
			switch {
			case tc.wantErr != "":
				if reply == nil {
					t.Fatalf("no error returned, want %s", tc.wantErr)
				}
				if got := testutil.ErrorCondition(reply); got != tc.wantErr {
					t.Errorf("reply %s: condition %q, want %q", reply, got, tc.wantErr)
				}
				if reply.Name() != tc.st.Kind() || reply.Attr("id") != "s1" || reply.Attr("to") != tc.st.El.Attr("from") || reply.Attr("from") != tc.st.El.Attr("to") {
					t.Errorf("error reply not addressed back to the sender: %s", reply)
				}
			case tc.wantResult:
				if reply == nil || reply.Name() != "iq" || reply.Attr("type") != "result" || reply.Attr("id") != "s1" {
					t.Errorf("want an IQ result, got %v", reply)
				}
			default:
				if reply != nil {
					t.Errorf("unexpected reply to the sender: %s", reply)
				}
			}
			if got := len(e.msgHook) > 0; got != tc.wantMsgHook {
				t.Errorf("HookAccountMessage ran: %v, want %v", got, tc.wantMsgHook)
			}
			if got := len(e.presHook) > 0; got != tc.wantPres {
				t.Errorf("HookAccountPresence ran: %v, want %v", got, tc.wantPres)
			}
		})
	}
}

var (
	twoRes   = []res{{name: "phone", prio: 5}, {name: "laptop", prio: 1}}
	tied     = []res{{name: "phone", prio: 5}, {name: "laptop", prio: 5}, {name: "tablet", prio: 1}}
	mixed    = []res{{name: "phone", prio: 0}, {name: "hidden", prio: -1}, {name: "idle", prio: 50, unavai: true}}
	negative = []res{{name: "bot", prio: -1}, {name: "idle", prio: 10, unavai: true}}
)

const (
	alicePhone = "alice@" + domain + "/phone"
	aliceGone  = "alice@" + domain + "/gone"
	aliceBare  = "alice@" + domain
	carolBare  = "carol@" + domain // account exists, never online
	daveBare   = "dave@" + domain  // no such account
	su         = stanza.ServiceUnavailable
)

// RFC 6121 §8.5.3.1: a full JID that matches a resource gets the stanza,
// whatever its type, availability or priority.
func TestRouteFullJIDPresent(t *testing.T) {
	var cases []routeCase
	for _, typ := range []string{"chat", "normal", "headline", "groupchat", "error"} {
		cases = append(cases, routeCase{name: "message " + typ, alice: twoRes, st: stanzaTo("message", typ, alicePhone), want: []string{"phone"}})
	}
	for _, typ := range []string{"", "unavailable", "subscribe", "probe", "error"} {
		cases = append(cases, routeCase{name: "presence " + typ, alice: twoRes, st: stanzaTo("presence", typ, alicePhone), want: []string{"phone"}})
	}
	for _, typ := range []string{"get", "set", "result", "error"} {
		cases = append(cases, routeCase{name: "iq " + typ, alice: twoRes, st: stanzaTo("iq", typ, alicePhone), want: []string{"phone"}})
	}
	cases = append(cases,
		routeCase{name: "negative priority resource", alice: []res{{name: "phone", prio: -1}}, st: stanzaTo("message", "chat", alicePhone), want: []string{"phone"}},
		routeCase{name: "connected, not available", alice: []res{{name: "phone", unavai: true}}, st: stanzaTo("iq", "get", alicePhone), want: []string{"phone"}},
	)
	runRouteCases(t, cases)
}

// RFC 6121 §8.5.3.2: no resource matches the full JID.
func TestRouteFullJIDAbsent(t *testing.T) {
	runRouteCases(t, []routeCase{
		// §8.5.3.2.1 chat: as if to the bare JID.
		{name: "chat → highest priority", alice: twoRes, st: stanzaTo("message", "chat", aliceGone), want: []string{"phone"}},
		{name: "chat, tie → all highest", alice: tied, st: stanzaTo("message", "chat", aliceGone), want: []string{"laptop", "phone"}},
		{name: "chat, none available → offline hook, then error", alice: negative, st: stanzaTo("message", "chat", aliceGone), wantMsgHook: true, wantErr: su},
		{name: "chat, offline hook takes it", alice: nil, st: stanzaTo("message", "chat", aliceGone), hookHandles: true, wantMsgHook: true},
		// §8.5.3.2.1: normal and groupchat bounce, headline is dropped,
		// only chat falls back to the bare JID. An unknown type counts as
		// normal (RFC 6121 §5.2.2).
		{name: "normal → service-unavailable", alice: twoRes, st: stanzaTo("message", "normal", aliceGone), wantErr: su},
		{name: "headline → ignored", alice: twoRes, st: stanzaTo("message", "headline", aliceGone)},
		{name: "groupchat → service-unavailable", alice: twoRes, st: stanzaTo("message", "groupchat", aliceGone), wantErr: su},
		{name: "unknown type → as normal", alice: twoRes, st: stanzaTo("message", "bogus", aliceGone), wantErr: su},
		{name: "error → ignored", alice: twoRes, st: stanzaTo("message", "error", aliceGone)},
		// §8.5.3.2.2
		{name: "presence available → ignored", alice: twoRes, st: stanzaTo("presence", "", aliceGone)},
		{name: "presence unavailable → ignored", alice: twoRes, st: stanzaTo("presence", "unavailable", aliceGone)},
		{name: "presence subscribe → as bare JID", alice: twoRes, st: stanzaTo("presence", "subscribe", aliceGone), wantPres: true},
		{name: "presence unsubscribed → as bare JID", alice: twoRes, st: stanzaTo("presence", "unsubscribed", aliceGone), wantPres: true},
		{name: "presence error → ignored", alice: twoRes, st: stanzaTo("presence", "error", aliceGone)},
		// §8.5.3.2.3
		{name: "iq get → service-unavailable", alice: twoRes, st: stanzaTo("iq", "get", aliceGone), wantErr: su},
		{name: "iq set → service-unavailable", alice: nil, st: stanzaTo("iq", "set", aliceGone), wantErr: su},
		{name: "iq result → dropped", alice: twoRes, st: stanzaTo("iq", "result", aliceGone)},
		{name: "iq error → never answered", alice: twoRes, st: stanzaTo("iq", "error", aliceGone)},
	})
}

// RFC 6121 §8.5.2: bare JID of an existing local account.
func TestRouteBareJID(t *testing.T) {
	runRouteCases(t, []routeCase{
		// §8.5.2.1.1: highest non-negative priority wins; a tie delivers to
		// every resource at that priority ("most available resource or
		// resources"); negative priority and not-yet-available resources
		// never get bare-JID messages.
		{name: "chat → highest", alice: twoRes, st: stanzaTo("message", "chat", aliceBare), want: []string{"phone"}},
		{name: "normal → highest", alice: twoRes, st: stanzaTo("message", "normal", aliceBare), want: []string{"phone"}},
		{name: "no type is normal", alice: twoRes, st: stanzaTo("message", "", aliceBare), want: []string{"phone"}},
		// RFC 6121 §5.2.2: an unknown type is handled as "normal".
		{name: "unknown type is normal", alice: tied, st: stanzaTo("message", "bogus", aliceBare), want: []string{"laptop", "phone"}},
		{name: "offline: unknown type → hook, error", st: stanzaTo("message", "bogus", carolBare), wantMsgHook: true, wantErr: su},
		{name: "chat, tie → all highest", alice: tied, st: stanzaTo("message", "chat", aliceBare), want: []string{"laptop", "phone"}},
		{name: "normal, tie → all highest", alice: tied, st: stanzaTo("message", "normal", aliceBare), want: []string{"laptop", "phone"}},
		{name: "priority 0 beats negative and unavailable", alice: mixed, st: stanzaTo("message", "chat", aliceBare), want: []string{"phone"}},
		{name: "headline → all non-negative", alice: tied, st: stanzaTo("message", "headline", aliceBare), want: []string{"laptop", "phone", "tablet"}},
		{name: "headline skips negative and unavailable", alice: mixed, st: stanzaTo("message", "headline", aliceBare), want: []string{"phone"}},
		{name: "groupchat → service-unavailable", alice: twoRes, st: stanzaTo("message", "groupchat", aliceBare), wantErr: su},
		// §8.5.2.1.1: "error" to a bare JID is silently ignored.
		{name: "error → ignored", alice: twoRes, st: stanzaTo("message", "error", aliceBare)},

		// Only negative-priority resources: as if none were available
		// (§8.5.2.1.1 → §8.5.2.2.1).
		{name: "negative only: chat → offline hook, error", alice: negative, st: stanzaTo("message", "chat", aliceBare), wantMsgHook: true, wantErr: su},
		{name: "negative only: normal, hook stores", alice: negative, st: stanzaTo("message", "normal", aliceBare), hookHandles: true, wantMsgHook: true},
		{name: "negative only: headline → ignored", alice: negative, st: stanzaTo("message", "headline", aliceBare)},
		// A resource whose Deliver fails (queue overflow, closing) does not
		// count as delivered.
		{name: "delivery refused → offline rules", alice: []res{{name: "phone", prio: 1, refuse: true}}, st: stanzaTo("message", "chat", aliceBare), wantMsgHook: true, wantErr: su},

		// §8.5.2.2.1: no available resource (carol has no session at all).
		// There is no offline storage yet: the HookAccountMessage chain
		// gets normal/chat first, then the sender gets service-unavailable.
		{name: "offline: chat → hook, error", st: stanzaTo("message", "chat", carolBare), wantMsgHook: true, wantErr: su},
		{name: "offline: normal → hook, error", st: stanzaTo("message", "normal", carolBare), wantMsgHook: true, wantErr: su},
		{name: "offline: chat stored by hook", st: stanzaTo("message", "chat", carolBare), hookHandles: true, wantMsgHook: true},
		{name: "offline: groupchat → error", st: stanzaTo("message", "groupchat", carolBare), wantErr: su},
		{name: "offline: headline → ignored, not stored", st: stanzaTo("message", "headline", carolBare)},
		{name: "offline: error → ignored, not stored", st: stanzaTo("message", "error", carolBare)},

		// §8.5.2.1.2: available/unavailable presence to every available
		// resource, negative priority included.
		{name: "presence → all available", alice: mixed, st: stanzaTo("presence", "", aliceBare), want: []string{"hidden", "phone"}, wantPres: true},
		{name: "presence unavailable → all available", alice: tied, st: stanzaTo("presence", "unavailable", aliceBare), want: []string{"laptop", "phone", "tablet"}, wantPres: true},
		{name: "presence taken by hook", alice: tied, st: stanzaTo("presence", "", aliceBare), hookHandles: true, wantPres: true},
		// Subscriptions and probes are the IM module's (hook); without it
		// they are dropped, never delivered as is.
		{name: "presence subscribe → hook only", alice: twoRes, st: stanzaTo("presence", "subscribe", aliceBare), wantPres: true},
		{name: "presence probe → hook only", alice: twoRes, st: stanzaTo("presence", "probe", aliceBare), wantPres: true},
		{name: "presence error → not delivered", alice: twoRes, st: stanzaTo("presence", "error", aliceBare), wantPres: true},
		// §8.5.2.2.2: offline account.
		{name: "offline: presence → ignored", st: stanzaTo("presence", "", carolBare), wantPres: true},
		{name: "offline: subscribe → hook", st: stanzaTo("presence", "subscribe", carolBare), wantPres: true},

		// §8.5.2.1.3 / §8.5.2.2.3: the server answers IQs to a bare JID on
		// the account's behalf, never a resource.
		{name: "iq vcard → server result", alice: twoRes, st: iqTo("get", aliceBare, nsVCard), wantResult: true},
		{name: "iq unknown ns → service-unavailable", alice: twoRes, st: iqTo("get", aliceBare, nsOther), wantErr: su},
		{name: "iq server-only ns to bare JID → service-unavailable", alice: twoRes, st: iqTo("get", aliceBare, nsPing), wantErr: su},
		{name: "offline: iq vcard → server result", st: iqTo("get", carolBare, nsVCard), wantResult: true},
		{name: "iq result → dropped", alice: twoRes, st: stanzaTo("iq", "result", aliceBare)},
		{name: "iq error → never answered", alice: twoRes, st: stanzaTo("iq", "error", aliceBare)},
	})
}

// RFC 6121 §8.5.1: no such account.
func TestRouteNoSuchUser(t *testing.T) {
	daveFull := daveBare + "/x"
	var cases []routeCase
	for _, to := range []string{daveBare, daveFull} {
		cases = append(cases,
			routeCase{name: to + " chat", st: stanzaTo("message", "chat", to), wantErr: su},
			routeCase{name: to + " normal", st: stanzaTo("message", "normal", to), wantErr: su},
			routeCase{name: to + " error", st: stanzaTo("message", "error", to)},
			// Presence of any type is silently ignored.
			routeCase{name: to + " presence", st: stanzaTo("presence", "", to)},
			routeCase{name: to + " presence subscribe", st: stanzaTo("presence", "subscribe", to)},
			routeCase{name: to + " presence probe", st: stanzaTo("presence", "probe", to)},
			routeCase{name: to + " iq get", st: stanzaTo("iq", "get", to), wantErr: su},
			routeCase{name: to + " iq set", st: stanzaTo("iq", "set", to), wantErr: su},
			routeCase{name: to + " iq result", st: stanzaTo("iq", "result", to)},
			routeCase{name: to + " iq error", st: stanzaTo("iq", "error", to)},
		)
	}
	cases = append(cases,
		routeCase{name: "bare groupchat", st: stanzaTo("message", "groupchat", daveBare), wantErr: su},
		routeCase{name: "bare headline → ignored", st: stanzaTo("message", "headline", daveBare)},
		routeCase{name: "full groupchat", st: stanzaTo("message", "groupchat", daveFull), wantErr: su},
		// Via the bare-JID rules after the missing resource: headline to
		// a full JID of a nonexistent user is silently ignored.
		routeCase{name: "full headline → ignored", st: stanzaTo("message", "headline", daveFull)},
	)
	runRouteCases(t, cases)
}

// Stanzas to the server's own domain (RFC 6120 §10.5.1, RFC 6121 §8.5.1).
func TestRouteServer(t *testing.T) {
	runRouteCases(t, []routeCase{
		{name: "iq ping → result", st: iqTo("get", domain, nsPing), wantResult: true},
		{name: "iq ping to domain/resource → result", st: iqTo("get", domain+"/admin", nsPing), wantResult: true},
		{name: "iq unknown → service-unavailable", st: iqTo("get", domain, nsOther), wantErr: su},
		{name: "iq account ns → service-unavailable", st: iqTo("get", domain, nsVCard), wantErr: su},
		{name: "iq result → dropped", st: stanzaTo("iq", "result", domain)},
		{name: "iq error → never answered", st: stanzaTo("iq", "error", domain)},
		{name: "message chat → service-unavailable", st: stanzaTo("message", "chat", domain), wantErr: su},
		{name: "message normal → service-unavailable", st: stanzaTo("message", "normal", domain), wantErr: su},
		{name: "message headline → ignored", st: stanzaTo("message", "headline", domain)},
		{name: "message error → never answered", st: stanzaTo("message", "error", domain)},
		{name: "presence → ignored", st: stanzaTo("presence", "", domain)},
		// RFC 6120 §10.3: no 'to' is the sender's own account; an IQ in a
		// server namespace falls back to the server handler.
		{name: "iq without to: ping → result", st: iqTo("get", "", nsPing), wantResult: true},
		{name: "iq without to: vcard → result", st: iqTo("get", "", nsVCard), wantResult: true},
		{name: "iq without to: unknown → service-unavailable", st: iqTo("get", "", nsOther), wantErr: su},
	})
}

// RFC 6120 §10.4: a domain we do not serve, without federation.
func TestRouteRemoteDomain(t *testing.T) {
	const remote = "juliet@capulet.example/balcony"
	runRouteCases(t, []routeCase{
		{name: "message", st: stanzaTo("message", "chat", remote), wantErr: stanza.RemoteServerNotFound},
		{name: "message to remote domain", st: stanzaTo("message", "normal", "capulet.example"), wantErr: stanza.RemoteServerNotFound},
		{name: "iq get", st: stanzaTo("iq", "get", remote), wantErr: stanza.RemoteServerNotFound},
		{name: "presence subscribe", st: stanzaTo("presence", "subscribe", "juliet@capulet.example"), wantErr: stanza.RemoteServerNotFound},
		// RFC 6120 §8.3.1: never answer an error with an error.
		{name: "message error", st: stanzaTo("message", "error", remote)},
		{name: "iq error", st: stanzaTo("iq", "error", remote)},
		{name: "presence error", st: stanzaTo("presence", "error", remote)},
	})
}

func TestRouteRemoteHandler(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantErr string
	}{
		{"accepted", nil, ""},
		{"failed → remote-server-not-found", errors.New("no route"), stanza.RemoteServerNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, false)
			rem := &fakeRemote{err: tc.err}
			e.r.Remote = rem
			st := stanzaTo("message", "chat", "juliet@capulet.example")
			st.Origin = e.bob
			e.r.Route(context.Background(), st)
			if len(rem.got) != 1 || rem.got[0] != st {
				t.Errorf("Remote got %v", rem.got)
			}
			reply := e.answer(t)
			if tc.wantErr == "" {
				if reply != nil {
					t.Errorf("unexpected reply %s", reply)
				}
			} else if reply == nil || testutil.ErrorCondition(reply) != tc.wantErr {
				t.Errorf("reply %v, want %s", reply, tc.wantErr)
			}
		})
	}
}

// A stanza a module generated (no Origin): the error is routed back to the
// sender's address like any stanza.
func TestRouteReplyWithoutOrigin(t *testing.T) {
	e := newEnv(t, nil, false)
	st := stanzaTo("message", "chat", daveBare) // from bob/pc, no Origin
	e.r.Route(context.Background(), st)
	reply := e.answer(t)
	if reply == nil || testutil.ErrorCondition(reply) != su || reply.Attr("to") != "bob@"+domain+"/pc" {
		t.Errorf("bob/pc got %v, want service-unavailable routed to him", reply)
	}

	// An IQ result to a server ping is routed back the same way.
	e.r.Route(context.Background(), iqTo("get", domain, nsPing))
	if reply := e.answer(t); reply == nil || reply.Attr("type") != "result" || reply.Attr("from") != domain {
		t.Errorf("bob/pc got %v, want the ping result from %s", reply, domain)
	}

	// From a remote address with no federation: the bounce itself bounces;
	// as an error it is dropped there (RFC 6120 §8.3.1), no loop.
	st = stanzaTo("message", "chat", daveBare)
	st.From = jid.MustParse("juliet@capulet.example/balcony")
	st.El = st.El.WithAttrs(xml.Attr{Name: "from", Value: st.From.String()})
	e.r.Route(context.Background(), st)
	if got := e.bob.take(); len(got) != 0 {
		t.Errorf("bob got %v", got)
	}
}

func TestRouteAccountLookupError(t *testing.T) {
	e := newEnv(t, nil, false)
	e.accounts.err = errors.New("database down")
	for _, st := range []*module.Stanza{stanzaTo("message", "chat", carolBare), stanzaTo("iq", "get", daveBare)} {
		st.Origin = e.bob
		e.r.Route(context.Background(), st)
		if reply := e.answer(t); reply == nil || testutil.ErrorCondition(reply) != stanza.InternalServerError {
			t.Errorf("%s: reply %v, want internal-server-error", st.El, reply)
		}
	}
	st := stanzaTo("message", "error", carolBare)
	st.Origin = e.bob
	e.r.Route(context.Background(), st)
	if reply := e.answer(t); reply != nil {
		t.Errorf("error stanza answered: %s", reply)
	}
}

func TestLocalDirectory(t *testing.T) {
	d := router.NewLocal()
	mk := func(full string) *fakeSession { return &fakeSession{jid: jid.MustParse(full)} }
	a1, a2, b1 := mk("alice@example.com/one"), mk("alice@example.com/two"), mk("bob@example.com/one")
	for _, s := range []*fakeSession{a1, a2, b1} {
		if old := d.Bind(s); old != nil {
			t.Fatalf("Bind(%s) replaced %v", s.jid, old)
		}
	}
	if d.Count() != 3 {
		t.Errorf("Count = %d, want 3", d.Count())
	}
	if d.Session(a2.jid) != a2 || d.Session(jid.MustParse("alice@example.com/three")) != nil || d.Session(jid.MustParse("carol@example.com/one")) != nil {
		t.Error("Session lookup wrong")
	}
	if got := d.Sessions(jid.MustParse("alice@example.com")); len(got) != 2 || !slices.Contains(got, module.Session(a1)) || !slices.Contains(got, module.Session(a2)) {
		t.Errorf("Sessions(alice) = %v", got)
	}
	if got := d.Sessions(jid.MustParse("carol@example.com")); got != nil {
		t.Errorf("Sessions(carol) = %v", got)
	}

	// RFC 6120 §7.7.2.2: a new session on the same full JID replaces the old.
	a1b := mk("alice@example.com/one")
	if old := d.Bind(a1b); old != a1 {
		t.Errorf("Bind replaced %v, want the old session", old)
	}
	if d.Count() != 3 || d.Session(a1.jid) != a1b {
		t.Errorf("after replace: Count %d, Session %v", d.Count(), d.Session(a1.jid))
	}
	// The replaced session unbinding late must not remove its successor.
	if d.Unbind(a1) {
		t.Error("Unbind of the replaced session succeeded")
	}
	if d.Session(a1.jid) != a1b {
		t.Error("successor removed")
	}
	if !d.Unbind(a1b) || !d.Unbind(a2) || d.Unbind(a2) {
		t.Error("Unbind results wrong")
	}
	if d.Count() != 1 || d.Sessions(jid.MustParse("alice@example.com")) != nil {
		t.Errorf("after unbinding alice: Count %d", d.Count())
	}
}

// Accounts with many resources are indexed by resource past a few; lookups,
// replacement and removal must give the same answers on both sides of that
// line, and a slice Sessions returned earlier must not change under later
// binds (it is shared, copy-on-write).
func TestLocalDirectoryManyResources(t *testing.T) {
	for _, n := range []int{1, 2, 8, 9, 30} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			d := router.NewLocal()
			bare := jid.MustParse("alice@example.com")
			ss := make([]*fakeSession, n)
			for i := range ss {
				ss[i] = &fakeSession{jid: jid.MustParse("alice@example.com/r" + strconv.Itoa(i))}
				d.Bind(ss[i])
			}
			before := d.Sessions(bare)
			snapshot := slices.Clone(before)
			for i, s := range ss {
				if d.Session(s.jid) != s {
					t.Fatalf("Session(r%d) wrong", i)
				}
			}
			repl := &fakeSession{jid: ss[n-1].jid}
			if d.Bind(repl) != ss[n-1] || d.Session(repl.jid) != repl || d.Count() != n {
				t.Fatalf("replace: Count %d", d.Count())
			}
			if !slices.Equal(before, snapshot) {
				t.Fatal("an earlier Sessions slice changed under Bind")
			}
			for i := 0; i < n-1; i++ {
				if !d.Unbind(ss[i]) || d.Session(ss[i].jid) != nil {
					t.Fatalf("Unbind(r%d) failed", i)
				}
				if got := len(d.Sessions(bare)); got != n-1-i {
					t.Fatalf("after unbinding r%d: %d sessions", i, got)
				}
				if d.Session(repl.jid) != repl {
					t.Fatalf("after unbinding r%d: lost the replacement", i)
				}
			}
			if d.Unbind(ss[n-1]) || !d.Unbind(repl) || d.Count() != 0 || d.Sessions(bare) != nil {
				t.Fatalf("final unbind: Count %d", d.Count())
			}
		})
	}
}

func TestLocalDirectoryConcurrent(t *testing.T) {
	d := router.NewLocal()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 200 {
				s := &fakeSession{jid: jid.MustParse("user@example.com/r" + string(rune('a'+i)))}
				d.Bind(s)
				_ = d.Sessions(s.jid.Bare())
				_ = d.Session(s.jid)
				_ = d.Count()
				if n%2 == 0 {
					d.Unbind(s)
				}
			}
		}()
	}
	wg.Wait()
	if got, want := d.Count(), len(d.Sessions(jid.MustParse("user@example.com"))); got != want {
		t.Errorf("Count %d, sessions %d", got, want)
	}
}

// A component's domain (the MUC service at conference.<host>) takes every
// stanza addressed to it, of every kind, before the local and remote rules:
// nothing is answered or bounced on its behalf.
func TestRouteComponent(t *testing.T) {
	e := newEnv(t, nil, false)
	var got []*module.Stanza
	h := e.r.Registry.NewHandle("comp", module.Services{Hosts: e.r.Hosts})
	h.AddComponent(module.Component{Domain: "conference." + domain, Parent: domain, Handle: func(_ context.Context, st *module.Stanza) {
		got = append(got, st)
	}})
	for _, st := range []*module.Stanza{
		stanzaTo("message", "groupchat", "room@conference."+domain),
		stanzaTo("presence", "", "room@conference."+domain+"/nick"),
		iqTo("get", "conference."+domain, nsPing),
		stanzaTo("iq", "result", "conference."+domain),
	} {
		st.Origin = e.bob
		e.r.Route(context.Background(), st)
		if len(got) == 0 || got[len(got)-1] != st {
			t.Errorf("component did not get %s", st.El)
		}
		if reply := e.answer(t); reply != nil {
			t.Errorf("router answered for the component: %s", reply)
		}
	}
	// Stopped: the domain is no longer ours, so remote rules apply.
	h.Close()
	st := stanzaTo("message", "groupchat", "room@conference."+domain)
	st.Origin = e.bob
	e.r.Route(context.Background(), st)
	if reply := e.answer(t); reply == nil || testutil.ErrorCondition(reply) != stanza.RemoteServerNotFound {
		t.Errorf("after Close: %v, want remote-server-not-found", reply)
	}
}
