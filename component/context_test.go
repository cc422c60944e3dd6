package component_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// nsWatch is answered by a module registered only in this test binary:
// its IQ handler closes the channels the test left under the IQ's id when
// it is called and once the handler's context ends.
const nsWatch = "urn:xmppd:test:component-watch-ctx"

var watches sync.Map // iq id → *watch

type watch struct{ called, ended chan struct{} }

type watchModule struct{}

func (watchModule) Start(h *module.Handle) error {
	h.HandleIQ(module.TargetServer, "get", nsWatch, func(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
		v, ok := watches.LoadAndDelete(iq.ID)
		if !ok {
			return nil, nil
		}
		w := v.(*watch)
		close(w.called)
		h.Go(func(mctx context.Context) {
			select {
			case <-ctx.Done():
				close(w.ended)
			case <-mctx.Done():
			}
		})
		return nil, nil
	})
	return nil
}

func init() { module.Register("componenttest-watch", func() module.Module { return watchModule{} }) }

// A component's stanzas are handled under its stream's context, as a
// client's are under its session's: live while the stream is up, ended
// once the component closed it (fails with context.Background()).
func TestHandlerContextEndsWithStream(t *testing.T) {
	s := testutil.Start(t, conf)
	s.AddUser(t, "alice", pw)
	gw := connect(t, s)
	w := &watch{called: make(chan struct{}), ended: make(chan struct{})}
	watches.Store("w1", w)
	gw.Send("<iq from='gw.localhost' to='localhost' type='get' id='w1'><q xmlns='%s'/></iq>", nsWatch)
	within(t, w.called, "the handler")
	// The stream goes on: a message on it still arrives.
	alice := testutil.Login(t, s, "alice", pw, "phone")
	gw.Send("<message from='bob@gw.localhost' to='alice@localhost/phone' type='chat' id='m1'><body>hi</body></message>")
	if m := alice.NextNamed("message"); m.Attr("id") != "m1" {
		t.Fatalf("alice got %s", m.Append(nil, ""))
	}
	select {
	case <-w.ended:
		t.Fatal("the handler's context ended while the stream was up")
	default:
	}
	gw.Send("</stream:stream>")
	within(t, w.ended, "the handler's context after the stream closed")
}

// within waits for ch; the bound only keeps a broken build from hanging.
func within(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testutil.Timeout):
		t.Fatalf("%s: nothing after %v", what, testutil.Timeout)
	}
}
