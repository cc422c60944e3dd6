package router_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// TestSendIQ: a module's request from the server (or an account's bare
// JID) reaches the resource, and only the answer of the entity asked, with
// the request's id, comes back to SendIQ; other results are still dropped.
func TestSendIQ(t *testing.T) {
	server := jid.MustParse(domain)
	for _, tc := range []struct {
		name    string
		from    jid.JID
		answer  func(req *xml.Element) *module.Stanza // nil: answer with a matching result
		wantErr error
	}{
		{name: "result to the server", from: server},
		{name: "result to an account", from: jid.MustParse("bob@" + domain)},
		{name: "error", from: server, answer: func(req *xml.Element) *module.Stanza {
			st := stanzaTo("iq", "error", req.Attr("from"))
			st.From = jid.MustParse("alice@" + domain + "/a")
			st.El = st.El.WithAttrs(xml.Attr{Name: "id", Value: req.Attr("id")}, xml.Attr{Name: "from", Value: st.From.String()})
			return st
		}, wantErr: module.ErrIQError},
		{name: "answer from someone else", from: server, answer: func(req *xml.Element) *module.Stanza {
			st := stanzaTo("iq", "result", req.Attr("from"))
			st.El = st.El.WithAttrs(xml.Attr{Name: "id", Value: req.Attr("id")})
			return st // from bob/pc, not alice/a
		}, wantErr: context.DeadlineExceeded},
		{name: "wrong id", from: server, answer: func(req *xml.Element) *module.Stanza {
			st := stanzaTo("iq", "result", req.Attr("from"))
			st.From = jid.MustParse("alice@" + domain + "/a")
			return st // id s1
		}, wantErr: context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []res{{name: "a"}}, false)
			h := e.r.Registry.NewHandle("asker", module.Services{Router: e.r})
			alice := jid.MustParse("alice@" + domain + "/a")
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			var res *xml.Element
			go func() {
				var err error
				res, err = h.SendIQ(ctx, xml.NewBuilder("iq", xml.NSClient).Attr("type", "get").Start("query", "http://jabber.org/protocol/disco#info").End().Element(), tc.from, alice)
				done <- err
			}()
			var req *xml.Element
			for req == nil {
				if got := e.alice["a"].take(); len(got) > 0 {
					req = got[0]
				}
				time.Sleep(time.Millisecond)
			}
			if req.Attr("from") != tc.from.String() || req.Attr("to") != alice.String() || req.Attr("id") == "" {
				t.Fatalf("request %s", req)
			}
			var ans *module.Stanza
			if tc.answer == nil {
				b := xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", req.Attr("id")).
					Attr("from", alice.String()).Attr("to", tc.from.String())
				ans = &module.Stanza{El: b.Element(), From: alice, To: tc.from}
			} else {
				ans = tc.answer(req)
			}
			e.r.Route(context.Background(), ans)
			err := <-done
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("SendIQ = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && res.Attr("id") != req.Attr("id") {
				t.Errorf("result %s", res)
			}
			// Nothing was delivered to bob (the sender of stray answers).
			if got := e.bob.take(); len(got) > 0 {
				t.Errorf("bob got %v", got)
			}
		})
	}
}

// TestIQAfter: a handler's IQ.After runs after the reply is delivered.
func TestIQAfter(t *testing.T) {
	e := newEnv(t, nil, false)
	h := e.r.Registry.NewHandle("after", module.Services{Router: e.r})
	h.HandleIQ(module.TargetServer, "set", nsOther, func(_ context.Context, iq *module.IQ) (*xml.Element, error) {
		iq.After = func() { e.bob.Deliver(xml.NewBuilder("message", xml.NSClient).Element()) }
		return nil, nil
	})
	st := iqTo("set", domain, nsOther)
	st.Origin = e.bob
	e.r.Route(context.Background(), st)
	got := e.bob.take()
	if len(got) != 2 || got[0].Name() != "iq" || got[1].Name() != "message" {
		t.Fatalf("bob got %v, want the result then the message", got)
	}
}
