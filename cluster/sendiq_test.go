package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xmppd/xmppd/cluster"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// TestSendIQAcrossNodes: a module on n1 asks a session on n2 something
// (module.Handle.SendIQ, as PEP's caps queries and push do): the client's
// answer arrives on n2 and must reach the call waiting on n1, whether the
// request came from the server's domain or an account's bare JID, result
// or error.
func TestSendIQAcrossNodes(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	n1, n2 := nodes[0], nodes[1]
	n1.AddUser(t, "alice", pw)
	n1.AddUser(t, "bob", pw)
	bob := testutil.Login(t, n2, "bob", pw, "phone")
	seen(t, nodes, "bob@localhost/phone", false)

	deps := cluster.DepsOf(n1.Node())
	h := deps.Registry.NewHandle("sendiq-test", module.Services{Router: deps.Router, Cluster: n1.Node()})
	defer h.Close()
	to := jid.MustParse("bob@localhost/phone")

	tests := []struct {
		name   string
		from   string
		answer string // bob's reply, %s the id
		errIs  error
	}{
		{"server asks, result", "localhost", "<iq type='result' id='%s' to='localhost'/>", nil},
		{"server asks, error", "localhost", "<iq type='error' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/><error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>", module.ErrIQError},
		{"account asks, result", "alice@localhost", "<iq type='result' id='%s' to='alice@localhost'/>", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type answer struct {
				el  *xml.Element
				err error
			}
			done := make(chan answer, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				q := xml.NewBuilder("iq", xml.NSClient).Attr("type", "get").Start("ping", "urn:xmpp:ping").End().Element()
				el, err := h.SendIQ(ctx, q, jid.MustParse(tc.from), to)
				done <- answer{el, err}
			}()
			req := bob.NextNamed("iq")
			if req.Attr("type") != "get" || req.Attr("from") != tc.from || req.Child("ping", "urn:xmpp:ping") == nil {
				t.Fatalf("bob got %s", req)
			}
			bob.Send(tc.answer, req.Attr("id"))
			a := <-done
			switch {
			case tc.errIs == nil && a.err != nil:
				t.Fatalf("SendIQ on n1: %v", a.err)
			case tc.errIs != nil && !errors.Is(a.err, tc.errIs):
				t.Fatalf("SendIQ on n1: %v, want %v", a.err, tc.errIs)
			case a.el == nil || a.el.Attr("from") != to.String():
				t.Fatalf("SendIQ on n1 returned %v", a.el)
			}
		})
	}

	// An answer nobody waits for (a made-up id naming n1) is dropped on
	// n1 and not sent on anywhere; bob's session carries on.
	bob.Send("<iq type='result' id='xmppd-000000000000000000000000.n1' to='localhost'/>")
	bob.Send("<iq type='get' id='fence'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := bob.NextNamed("iq"); r.Attr("id") != "fence" || r.Attr("type") != "result" {
		t.Fatalf("bob got %s", r)
	}
}
