package testutil

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// CtxWatch is a module for tests of the context a stream's stanzas are
// handled under: its IQ handler (type get, a child in its namespace, to
// the server) reports when it is called and when its context ends, for
// the IQ ids the test expects.
type CtxWatch struct {
	ns      string
	pending sync.Map // iq id → *Watch
}

// Watch is what the test waits on for one IQ.
type Watch struct{ Called, Ended chan struct{} }

// NewCtxWatch registers the module under name, answering ns. Call it
// once per test binary (from a package-level var): module registration is
// process-wide.
func NewCtxWatch(name, ns string) *CtxWatch {
	w := &CtxWatch{ns: ns}
	module.Register(name, func() module.Module { return w })
	return w
}

// Expect returns the watch for the IQ with this id, sent next.
func (w *CtxWatch) Expect(id string) *Watch {
	x := &Watch{Called: make(chan struct{}), Ended: make(chan struct{})}
	w.pending.Store(id, x)
	return x
}

// Start registers the handler (module.Module).
func (w *CtxWatch) Start(h *module.Handle) error {
	h.HandleIQ(module.TargetServer, "get", w.ns, func(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
		v, ok := w.pending.LoadAndDelete(iq.ID)
		if !ok {
			return nil, nil
		}
		x := v.(*Watch)
		close(x.Called)
		h.Go(func(mctx context.Context) {
			select {
			case <-ctx.Done():
				close(x.Ended)
			case <-mctx.Done():
			}
		})
		return nil, nil
	})
	return nil
}

// Within waits for ch; the bound only keeps a broken build from hanging.
func Within(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(Timeout):
		t.Fatalf("%s: nothing after %v", what, Timeout)
	}
}
