package module_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsPing  = "urn:xmpp:ping"
	nsVCard = "vcard-temp"
	nsTime  = "urn:xmpp:time"
	nsOther = "urn:example:unknown"
)

var discard = slog.New(slog.DiscardHandler)

// newIQ builds a get/set IQ from alice's full JID; to may be "" (no 'to').
func newIQ(typ, to, ns string) *module.IQ {
	from := jid.MustParse("alice@example.com/phone")
	b := xml.NewBuilder("iq", xml.NSClient).Attr("type", typ).Attr("id", "q1").Attr("from", from.String())
	var toJID jid.JID
	if to != "" {
		b.Attr("to", to)
		toJID = jid.MustParse(to)
	}
	b.Start("query", ns).End()
	el := b.Element()
	return &module.IQ{
		Stanza:  &module.Stanza{El: el, From: from, To: toJID},
		ID:      "q1",
		Type:    typ,
		Payload: el.FirstChild(),
	}
}

// answer returns a handler whose result payload is <answer xmlns=tag/>, so
// the test can tell which handler ran.
func answer(tag string) module.IQHandler {
	return func(context.Context, *module.IQ) (*xml.Element, error) {
		return xml.NewBuilder("answer", tag).Element(), nil
	}
}

func answeredBy(reply *xml.Element) string {
	if reply == nil || reply.Attr("type") != "result" {
		return ""
	}
	if p := reply.FirstChild(); p != nil && p.Name() == "answer" {
		return p.NS()
	}
	return "<empty>"
}

func TestHandleIQDispatch(t *testing.T) {
	r := module.NewRegistry()
	h := r.NewHandle("test", module.Services{Logger: discard})
	h.HandleIQ(module.TargetServer, "get", nsPing, answer("server-get-ping"))
	h.HandleIQ(module.TargetServer, "set", nsPing, answer("server-set-ping"))
	h.HandleIQ(module.TargetAccount, "get", nsVCard, answer("account-get-vcard"))
	h.HandleIQ(module.TargetServer, "get", nsVCard, answer("server-get-vcard"))
	h.HandleIQ(module.TargetServer, "get", nsTime, answer("server-get-time"))

	tests := []struct {
		name    string
		target  module.Target
		typ, to string
		ns      string
		wantBy  string // handler tag, or "" for an error reply
		wantErr string // condition when wantBy == ""
	}{
		{"server get", module.TargetServer, "get", "example.com", nsPing, "server-get-ping", ""},
		{"server set", module.TargetServer, "set", "example.com", nsPing, "server-set-ping", ""},
		{"type matters", module.TargetServer, "set", "example.com", nsTime, "", stanza.ServiceUnavailable},
		{"target matters: account handler", module.TargetAccount, "get", "bob@example.com", nsVCard, "account-get-vcard", ""},
		{"target matters: server handler", module.TargetServer, "get", "example.com", nsVCard, "server-get-vcard", ""},
		{"account has no ping handler", module.TargetAccount, "get", "bob@example.com", nsPing, "", stanza.ServiceUnavailable},
		// RFC 6120 §10.3.3: no 'to' = the account; a server-only namespace
		// falls back to the server handler.
		{"no to: falls back to server", module.TargetAccount, "get", "", nsPing, "server-get-ping", ""},
		{"no to: account handler preferred", module.TargetAccount, "get", "", nsVCard, "account-get-vcard", ""},
		{"no to: fallback keeps the type", module.TargetAccount, "set", "", nsTime, "", stanza.ServiceUnavailable},
		// RFC 6120 §8.4: unknown namespace → service-unavailable.
		{"unknown ns to server", module.TargetServer, "get", "example.com", nsOther, "", stanza.ServiceUnavailable},
		{"unknown ns to account", module.TargetAccount, "get", "bob@example.com", nsOther, "", stanza.ServiceUnavailable},
		{"unknown ns without to", module.TargetAccount, "get", "", nsOther, "", stanza.ServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iq := newIQ(tc.typ, tc.to, tc.ns)
			reply := r.HandleIQ(context.Background(), tc.target, iq, discard)
			if reply == nil {
				t.Fatal("HandleIQ returned nil")
			}
			if reply.Name() != "iq" || reply.Attr("id") != "q1" {
				t.Fatalf("reply %s: want an iq with id q1", reply)
			}
			if got := reply.Attr("to"); got != "alice@example.com/phone" {
				t.Errorf("reply to = %q, want the requester", got)
			}
			if got := reply.Attr("from"); got != tc.to {
				t.Errorf("reply from = %q, want %q", got, tc.to)
			}
			if tc.wantBy != "" {
				if got := answeredBy(reply); got != tc.wantBy {
					t.Errorf("answered by %q, want %q (reply %s)", got, tc.wantBy, reply)
				}
				return
			}
			if got := testutil.ErrorCondition(reply); got != tc.wantErr {
				t.Errorf("error condition %q, want %q (reply %s)", got, tc.wantErr, reply)
			}
			// RFC 6120 §8.3.1: the error may carry the original payload.
			if p := reply.FirstChild(); p == nil || p.Name() != "query" || p.NS() != tc.ns {
				t.Errorf("error reply should echo the request payload: %s", reply)
			}
		})
	}
}

func TestHandleIQNoPayload(t *testing.T) {
	r := module.NewRegistry()
	iq := newIQ("get", "example.com", nsPing)
	iq.Payload = nil
	if got := testutil.ErrorCondition(r.HandleIQ(context.Background(), module.TargetServer, iq, discard)); got != stanza.ServiceUnavailable {
		t.Errorf("condition %q, want service-unavailable", got)
	}
}

func TestHandleIQHandlerResults(t *testing.T) {
	wrapped := fmt.Errorf("wrapped: %w", &stanza.Error{Condition: stanza.ItemNotFound, Text: "no such item"})
	tests := []struct {
		name     string
		payload  *xml.Element
		err      error
		wantType string
		wantCond string
		wantText string
	}{
		{"empty result", nil, nil, "result", "", ""},
		{"result with payload", xml.NewBuilder("pong", nsPing).Element(), nil, "result", "", ""},
		{"stanza error", nil, stanza.NewError(stanza.Forbidden, ""), "error", stanza.Forbidden, ""},
		{"wrapped stanza error", nil, wrapped, "error", stanza.ItemNotFound, "no such item"},
		{"other error → internal-server-error", nil, errors.New("disk on fire"), "error", stanza.InternalServerError, ""},
		{"payload ignored on error", xml.NewBuilder("pong", nsPing).Element(), stanza.NewError(stanza.NotAllowed, ""), "error", stanza.NotAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := module.NewRegistry()
			h := r.NewHandle("test", module.Services{})
			var gotIQ *module.IQ
			h.HandleIQ(module.TargetServer, "get", nsPing, func(_ context.Context, iq *module.IQ) (*xml.Element, error) {
				gotIQ = iq
				return tc.payload, tc.err
			})
			iq := newIQ("get", "example.com", nsPing)
			reply := r.HandleIQ(context.Background(), module.TargetServer, iq, discard)
			if gotIQ != iq {
				t.Fatal("handler did not receive the IQ")
			}
			if got := reply.Attr("type"); got != tc.wantType {
				t.Fatalf("type %q, want %q: %s", got, tc.wantType, reply)
			}
			if tc.wantType == "result" {
				p := reply.FirstChild()
				switch {
				case tc.payload == nil && p != nil:
					t.Errorf("empty result expected: %s", reply)
				case tc.payload != nil && (p == nil || p.Name() != tc.payload.Name()):
					t.Errorf("result should carry the payload: %s", reply)
				}
				return
			}
			if got := testutil.ErrorCondition(reply); got != tc.wantCond {
				t.Errorf("condition %q, want %q: %s", got, tc.wantCond, reply)
			}
			if tc.wantText != "" {
				if txt := reply.Child("error", "").Child("text", stanza.NSStanzas); txt == nil || txt.Text() != tc.wantText {
					t.Errorf("want text %q: %s", tc.wantText, reply)
				}
			}
			if tc.wantCond == stanza.InternalServerError && strings.Contains(reply.String(), "disk on fire") {
				t.Errorf("internal error text leaked: %s", reply)
			}
		})
	}
}

func TestDuplicateIQRegistration(t *testing.T) {
	r := module.NewRegistry()
	a := r.NewHandle("a", module.Services{})
	b := r.NewHandle("b", module.Services{})
	a.HandleIQ(module.TargetServer, "get", nsPing, answer("a"))

	// Same key from another module: the code panics (a programming error
	// caught at startup). The first registration stays in place.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("duplicate registration did not panic")
			}
		}()
		b.HandleIQ(module.TargetServer, "get", nsPing, answer("b"))
	}()
	// Same namespace under another type or target is a different key.
	b.HandleIQ(module.TargetServer, "set", nsPing, answer("b-set"))
	b.HandleIQ(module.TargetAccount, "get", nsPing, answer("b-account"))

	if got := answeredBy(r.HandleIQ(context.Background(), module.TargetServer, newIQ("get", "example.com", nsPing), discard)); got != "a" {
		t.Errorf("after the failed duplicate, answered by %q, want a", got)
	}
	// The panic left the registry usable (the mutex was released).
	a.AddFeature("urn:example:after-panic")

	// Once a closes, the key is free again.
	a.Close()
	if got := testutil.ErrorCondition(r.HandleIQ(context.Background(), module.TargetServer, newIQ("get", "example.com", nsPing), discard)); got != stanza.ServiceUnavailable {
		t.Errorf("after Close: condition %q, want service-unavailable", got)
	}
	b.HandleIQ(module.TargetServer, "get", nsPing, answer("b"))
	if got := answeredBy(r.HandleIQ(context.Background(), module.TargetServer, newIQ("get", "example.com", nsPing), discard)); got != "b" {
		t.Errorf("re-registered: answered by %q, want b", got)
	}
	if got := answeredBy(r.HandleIQ(context.Background(), module.TargetServer, newIQ("set", "example.com", nsPing), discard)); got != "b-set" {
		t.Errorf("b's set handler: answered by %q", got)
	}
}

func streamFeatureNames(r *module.Registry) []string {
	var out []string
	for _, f := range r.StreamFeatures() {
		out = append(out, f.Name)
	}
	return out
}

func TestFeaturesIdentitiesStreamFeatures(t *testing.T) {
	r := module.NewRegistry()
	if len(r.Features())+len(r.Identities())+len(r.StreamFeatures()) != 0 {
		t.Fatal("new registry not empty")
	}
	a := r.NewHandle("a", module.Services{})
	b := r.NewHandle("b", module.Services{})

	a.AddFeature("urn:b")
	a.AddFeature("urn:a")
	b.AddFeature("urn:a") // announced by two modules
	b.AddFeature("urn:c")
	server := module.Identity{Category: "server", Type: "im", Name: "xmppd"}
	pubsub := module.Identity{Category: "pubsub", Type: "pep"}
	a.AddIdentity(server)
	b.AddIdentity(pubsub)
	sm := module.StreamFeature{Name: "sm", Element: func(module.Stream) *xml.Element { return xml.NewBuilder("sm", "urn:xmpp:sm:3").Element() }}
	csi := module.StreamFeature{Name: "csi", Element: func(module.Stream) *xml.Element { return xml.NewBuilder("csi", "urn:xmpp:csi:0").Element() }}
	a.AddStreamFeature(sm)
	b.AddStreamFeature(csi)

	if got, want := r.Features(), []string{"urn:a", "urn:b", "urn:c"}; !slices.Equal(got, want) {
		t.Errorf("Features() = %v, want %v (sorted, deduplicated)", got, want)
	}
	if got, want := r.Identities(), []module.Identity{server, pubsub}; !slices.Equal(got, want) {
		t.Errorf("Identities() = %v, want %v", got, want)
	}
	if got, want := streamFeatureNames(r), []string{"sm", "csi"}; !slices.Equal(got, want) {
		t.Errorf("StreamFeatures() = %v, want %v", got, want)
	}
	if el := r.StreamFeatures()[0].Element(nil); el.Name() != "sm" {
		t.Errorf("stream feature element %s", el)
	}

	// Snapshots are immutable: a slice read before a change stays as it was.
	before := r.Features()

	a.Close()
	if got, want := r.Features(), []string{"urn:a", "urn:c"}; !slices.Equal(got, want) {
		t.Errorf("after a.Close: Features() = %v, want %v (urn:a still announced by b)", got, want)
	}
	if got, want := r.Identities(), []module.Identity{pubsub}; !slices.Equal(got, want) {
		t.Errorf("after a.Close: Identities() = %v, want %v", got, want)
	}
	if got, want := streamFeatureNames(r), []string{"csi"}; !slices.Equal(got, want) {
		t.Errorf("after a.Close: StreamFeatures() = %v, want %v", got, want)
	}
	if want := []string{"urn:a", "urn:b", "urn:c"}; !slices.Equal(before, want) {
		t.Errorf("earlier snapshot changed to %v", before)
	}

	a.Close() // a second Close is harmless
	b.Close()
	if len(r.Features())+len(r.Identities())+len(r.StreamFeatures()) != 0 {
		t.Errorf("after closing every handle: %v %v %v", r.Features(), r.Identities(), streamFeatureNames(r))
	}
}

func TestSameIdentityFromTwoModules(t *testing.T) {
	r := module.NewRegistry()
	a := r.NewHandle("a", module.Services{})
	b := r.NewHandle("b", module.Services{})
	id := module.Identity{Category: "server", Type: "im"}
	a.AddIdentity(id)
	b.AddIdentity(id)
	a.Close()
	if got := r.Identities(); len(got) != 1 {
		t.Errorf("one module still announces %v: got %v", id, got)
	}
}

func TestSameStreamFeatureFromTwoModules(t *testing.T) {
	r := module.NewRegistry()
	a := r.NewHandle("a", module.Services{})
	b := r.NewHandle("b", module.Services{})
	f := module.StreamFeature{Name: "sm", Element: func(module.Stream) *xml.Element { return nil }}
	a.AddStreamFeature(f)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a second module offering the same stream feature did not panic")
			}
		}()
		b.AddStreamFeature(f)
	}()
	b.Close()
	if got := streamFeatureNames(r); len(got) != 1 {
		t.Errorf("closing the refused module changed the features: %v", got)
	}
	a.Close()
	if got := streamFeatureNames(r); len(got) != 0 {
		t.Errorf("after Close: %v", got)
	}
}

func TestHookOrderAndStop(t *testing.T) {
	type reg struct {
		handle string
		prio   int
		name   string
		stop   bool
	}
	tests := []struct {
		name     string
		hooks    []reg
		want     []string // hooks that ran, in order
		wantDone bool     // RunHook's result
	}{
		{"no hooks", nil, nil, false},
		{
			"higher priority first",
			[]reg{{"a", 0, "zero", false}, {"a", 10, "ten", false}, {"b", -5, "minus5", false}, {"b", 5, "five", false}},
			[]string{"ten", "five", "zero", "minus5"}, false,
		},
		{
			"equal priority: registration order across modules",
			[]reg{{"a", 1, "a1", false}, {"b", 1, "b1", false}, {"a", 1, "a2", false}},
			[]string{"a1", "b1", "a2"}, false,
		},
		{
			"true stops the chain",
			[]reg{{"a", 10, "first", false}, {"b", 5, "stopper", true}, {"a", 0, "never", false}},
			[]string{"first", "stopper"}, true,
		},
		{
			"last hook returning true",
			[]reg{{"a", 10, "first", false}, {"b", 5, "stopper", true}},
			[]string{"first", "stopper"}, true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := module.NewRegistry()
			handles := map[string]*module.Handle{"a": r.NewHandle("a", module.Services{}), "b": r.NewHandle("b", module.Services{})}
			var ran []string
			for _, h := range tc.hooks {
				h := h
				handles[h.handle].Hook(module.HookOutbound, h.prio, func(_ context.Context, st *module.Stanza) bool {
					ran = append(ran, h.name)
					return h.stop
				})
			}
			// Other hook points are separate chains.
			handles["a"].Hook(module.HookAccountMessage, 100, func(context.Context, *module.Stanza) bool {
				ran = append(ran, "wrong point")
				return true
			})
			st := &module.Stanza{El: xml.NewBuilder("message", xml.NSClient).Element()}
			done := r.RunHook(context.Background(), module.HookOutbound, st)
			if done != tc.wantDone {
				t.Errorf("RunHook = %v, want %v", done, tc.wantDone)
			}
			if !slices.Equal(ran, tc.want) {
				t.Errorf("ran %v, want %v", ran, tc.want)
			}
		})
	}
}

func TestHookRemovedByClose(t *testing.T) {
	r := module.NewRegistry()
	a := r.NewHandle("a", module.Services{})
	b := r.NewHandle("b", module.Services{})
	var ran []string
	hook := func(name string, stop bool) module.StanzaHook {
		return func(context.Context, *module.Stanza) bool { ran = append(ran, name); return stop }
	}
	a.Hook(module.HookAccountPresence, 10, hook("a-stop", true))
	b.Hook(module.HookAccountPresence, 0, hook("b", false))
	st := &module.Stanza{El: xml.NewBuilder("presence", xml.NSClient).Element()}

	if !r.RunHook(context.Background(), module.HookAccountPresence, st) || !slices.Equal(ran, []string{"a-stop"}) {
		t.Fatalf("before Close: ran %v", ran)
	}
	a.Close()
	ran = nil
	if r.RunHook(context.Background(), module.HookAccountPresence, st) || !slices.Equal(ran, []string{"b"}) {
		t.Errorf("after a.Close: ran %v, want [b] and false", ran)
	}
	b.Close()
	ran = nil
	if r.RunHook(context.Background(), module.HookAccountPresence, st) || len(ran) != 0 {
		t.Errorf("after b.Close: ran %v", ran)
	}
}

type stubSession struct{ j jid.JID }

func (s *stubSession) JID() jid.JID               { return s.j }
func (s *stubSession) Deliver(*xml.Element) bool  { return true }
func (s *stubSession) Available() bool            { return false }
func (s *stubSession) Priority() int              { return 0 }
func (s *stubSession) Presence() *xml.Element     { return nil }
func (s *stubSession) CloseStream(string, string) {}

var _ module.Session = (*stubSession)(nil)

func TestSessionHooks(t *testing.T) {
	r := module.NewRegistry()
	a := r.NewHandle("a", module.Services{})
	b := r.NewHandle("b", module.Services{})
	var events []string
	rec := func(name string) module.SessionHook {
		return func(_ context.Context, s module.Session) { events = append(events, name+" "+s.JID().String()) }
	}
	a.OnSessionBound(rec("a-bound"))
	b.OnSessionBound(rec("b-bound"))
	a.OnSessionClosed(rec("a-closed"))
	b.OnSessionClosed(rec("b-closed"))

	s := &stubSession{jid.MustParse("alice@example.com/phone")}
	ctx := context.Background()
	r.SessionBound(ctx, s)
	r.SessionClosed(ctx, s)
	want := []string{"a-bound alice@example.com/phone", "b-bound alice@example.com/phone", "a-closed alice@example.com/phone", "b-closed alice@example.com/phone"}
	if !slices.Equal(events, want) {
		t.Errorf("events %v, want %v", events, want)
	}

	a.Close()
	events = nil
	r.SessionBound(ctx, s)
	r.SessionClosed(ctx, s)
	if want := []string{"b-bound alice@example.com/phone", "b-closed alice@example.com/phone"}; !slices.Equal(events, want) {
		t.Errorf("after a.Close: events %v, want %v", events, want)
	}

	// A module registered after another one closed still runs, and closing
	// it does not disturb b's hooks.
	c := r.NewHandle("c", module.Services{})
	c.OnSessionBound(rec("c-bound"))
	events = nil
	r.SessionBound(ctx, s)
	if want := []string{"b-bound alice@example.com/phone", "c-bound alice@example.com/phone"}; !slices.Equal(events, want) {
		t.Errorf("with c: events %v, want %v", events, want)
	}
	c.Close()
	b.Close()
	events = nil
	r.SessionBound(ctx, s)
	r.SessionClosed(ctx, s)
	if len(events) != 0 {
		t.Errorf("after closing all: events %v", events)
	}
}

// The core reads the registry on every stanza while modules may start and
// stop; run with -race.
func TestConcurrentRegisterAndDispatch(t *testing.T) {
	r := module.NewRegistry()
	base := r.NewHandle("base", module.Services{})
	base.HandleIQ(module.TargetServer, "get", nsPing, answer("base"))
	base.Hook(module.HookOutbound, 0, func(context.Context, *module.Stanza) bool { return false })

	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &stubSession{jid.MustParse("alice@example.com/phone")}
			st := &module.Stanza{El: xml.NewBuilder("message", xml.NSClient).Element()}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := answeredBy(r.HandleIQ(ctx, module.TargetServer, newIQ("get", "example.com", nsPing), discard)); got != "base" {
					t.Errorf("ping answered by %q", got)
					return
				}
				r.HandleIQ(ctx, module.TargetServer, newIQ("get", "example.com", nsTime), discard)
				r.RunHook(ctx, module.HookOutbound, st)
				r.SessionBound(ctx, s)
				r.SessionClosed(ctx, s)
				_ = r.Features()
				_ = r.Identities()
				_ = r.StreamFeatures()
			}
		}()
	}
	for i := range 200 {
		h := r.NewHandle(fmt.Sprintf("m%d", i), module.Services{})
		h.HandleIQ(module.TargetServer, "get", nsTime, answer("time"))
		h.AddFeature(nsTime)
		h.AddIdentity(module.Identity{Category: "server", Type: "im"})
		h.AddStreamFeature(module.StreamFeature{Name: "x"})
		h.Hook(module.HookOutbound, i%3, func(context.Context, *module.Stanza) bool { return false })
		h.OnSessionBound(func(context.Context, module.Session) {})
		h.OnSessionClosed(func(context.Context, module.Session) {})
		h.Close()
	}
	close(stop)
	wg.Wait()
	if got := r.Features(); len(got) != 0 {
		t.Errorf("features left: %v", got)
	}
}

// Registry.Start / StopAll with test modules.

var (
	lifecycleMu  sync.Mutex
	lifecycleLog []string
)

func logEvent(s string) {
	lifecycleMu.Lock()
	lifecycleLog = append(lifecycleLog, s)
	lifecycleMu.Unlock()
}

func takeLog() []string {
	lifecycleMu.Lock()
	defer lifecycleMu.Unlock()
	out := lifecycleLog
	lifecycleLog = nil
	return out
}

type testModule struct {
	name string
	fail bool
}

func (m *testModule) Start(h *module.Handle) error {
	logEvent("start " + m.name)
	h.AddFeature("urn:test:" + m.name)
	if m.fail {
		return errors.New("boom")
	}
	return nil
}

func (m *testModule) Stop() error { logEvent("stop " + m.name); return nil }

func init() {
	for _, n := range []string{"registrytest-a", "registrytest-b"} {
		module.Register(n, func() module.Module { return &testModule{name: n} })
	}
	module.Register("registrytest-fail", func() module.Module { return &testModule{name: "registrytest-fail", fail: true} })
}

func TestStartStopAll(t *testing.T) {
	if got := module.Available(); !slices.IsSorted(got) || !slices.Contains(got, "registrytest-a") {
		t.Errorf("Available() = %v", got)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("duplicate module.Register did not panic")
			}
		}()
		module.Register("registrytest-a", func() module.Module { return &testModule{} })
	}()

	r := module.NewRegistry()
	takeLog()
	started, err := r.Start([]string{"registrytest-a", "registrytest-b"}, module.Services{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 2 || started[0].Name != "registrytest-a" || started[1].Handle.Name != "registrytest-b" {
		t.Fatalf("started %+v", started)
	}
	if got, want := r.Features(), []string{"urn:test:registrytest-a", "urn:test:registrytest-b"}; !slices.Equal(got, want) {
		t.Errorf("features %v, want %v", got, want)
	}
	if err := module.StopAll(context.Background(), started); err != nil {
		t.Fatal(err)
	}
	if got, want := takeLog(), []string{"start registrytest-a", "start registrytest-b", "stop registrytest-b", "stop registrytest-a"}; !slices.Equal(got, want) {
		t.Errorf("lifecycle %v, want %v", got, want)
	}
	if got := r.Features(); len(got) != 0 {
		t.Errorf("features after StopAll: %v", got)
	}

	// A failing module: the ones before it are stopped again, and what the
	// failing one registered before failing is undone.
	started, err = r.Start([]string{"registrytest-a", "registrytest-fail", "registrytest-b"}, module.Services{})
	if err == nil || started != nil {
		t.Fatalf("Start = %v, %v; want an error", started, err)
	}
	if got, want := takeLog(), []string{"start registrytest-a", "start registrytest-fail", "stop registrytest-a"}; !slices.Equal(got, want) {
		t.Errorf("lifecycle %v, want %v", got, want)
	}
	if got := r.Features(); len(got) != 0 {
		t.Errorf("features after failed Start: %v", got)
	}

	if _, err := r.Start([]string{"registrytest-no-such"}, module.Services{}); err == nil {
		t.Error("unknown module started")
	}
}

func TestComponentsAndAccountDisco(t *testing.T) {
	r := module.NewRegistry()
	hosts := func(d string) bool { return d == "example.org" }
	a := r.NewHandle("a", module.Services{Hosts: hosts})
	b := r.NewHandle("b", module.Services{Hosts: hosts})
	noop := func(context.Context, *module.Stanza) {}
	a.AddComponent(module.Component{Domain: "pubsub.example.org", Parent: "example.org", Handle: noop})
	b.AddComponent(module.Component{Domain: "conference.example.org", Parent: "example.org", Name: "Chatrooms", Handle: noop})
	b.AddComponent(module.Component{Domain: "conference.other.org", Parent: "other.org", Handle: noop})
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"duplicate domain", func() { a.AddComponent(module.Component{Domain: "conference.example.org", Handle: noop}) }},
		{"virtual host", func() { a.AddComponent(module.Component{Domain: "example.org", Handle: noop}) }},
		{"no handler", func() { a.AddComponent(module.Component{Domain: "x.example.org"}) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.fn()
		}()
	}
	if c := r.Component("conference.example.org"); c == nil || c.Name != "Chatrooms" {
		t.Fatalf("Component = %+v", c)
	}
	var doms []string
	for _, c := range r.Components("example.org") {
		doms = append(doms, c.Domain)
	}
	if !slices.Equal(doms, []string{"conference.example.org", "pubsub.example.org"}) {
		t.Errorf("Components(example.org) = %v", doms)
	}

	a.AddAccountFeature("urn:xmpp:mam:2")
	b.AddAccountFeature("urn:xmpp:mam:2")
	b.AddAccountFeature("http://jabber.org/protocol/pubsub#publish")
	b.AddAccountItems(func(_ context.Context, owner, _ jid.JID) []module.DiscoItem {
		return []module.DiscoItem{{JID: owner.String(), Node: "urn:xmpp:avatar:data"}}
	})
	if f := r.AccountFeatures(); !slices.Equal(f, []string{"http://jabber.org/protocol/pubsub#publish", "urn:xmpp:mam:2"}) {
		t.Errorf("AccountFeatures = %v", f)
	}
	owner := jid.MustParse("alice@example.org")
	if it := r.AccountItems(context.Background(), owner, owner); len(it) != 1 || it[0].Node != "urn:xmpp:avatar:data" {
		t.Errorf("AccountItems = %v", it)
	}
	b.AddAccountNodeInfo(func(_ context.Context, _, _ jid.JID, node string) *xml.Element {
		if node != "urn:xmpp:avatar:data" {
			return nil
		}
		return xml.NewBuilder("query", "http://jabber.org/protocol/disco#info").Attr("node", node).Element()
	})
	if q := r.AccountNodeInfo(context.Background(), owner, owner, "urn:xmpp:avatar:data"); q == nil || q.Attr("node") != "urn:xmpp:avatar:data" {
		t.Errorf("AccountNodeInfo = %v", q)
	}
	if q := r.AccountNodeInfo(context.Background(), owner, owner, "other"); q != nil {
		t.Errorf("AccountNodeInfo(other) = %v", q)
	}

	b.Close()
	if r.Component("conference.example.org") != nil || len(r.Components("other.org")) != 0 {
		t.Error("components of a closed handle are still served")
	}
	if r.Component("pubsub.example.org") == nil {
		t.Error("another module's component went with it")
	}
	if f := r.AccountFeatures(); !slices.Equal(f, []string{"urn:xmpp:mam:2"}) {
		t.Errorf("AccountFeatures after close = %v (refcount)", f)
	}
	if it := r.AccountItems(context.Background(), owner, owner); len(it) != 0 {
		t.Errorf("AccountItems after close = %v", it)
	}
	if q := r.AccountNodeInfo(context.Background(), owner, owner, "urn:xmpp:avatar:data"); q != nil {
		t.Errorf("AccountNodeInfo after close = %v", q)
	}
}
