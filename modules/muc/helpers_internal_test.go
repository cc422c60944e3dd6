package muc

import (
	"context"
	"runtime"

	"github.com/xmppd/xmppd/module"
)

// settle waits until every room's runner has emptied its mailbox and
// returned (the runners are the module's only Handle.Go goroutines). For
// tests that post from one goroutine and then look at what was routed.
func (m *mod) settle() {
	for m.h.Running() > 0 {
		runtime.Gosched()
	}
}

// stop stops m as the server does: the runners end, then Stop runs.
func (m *mod) stopAll() error {
	return module.StopAll(context.Background(), []module.Started{{Name: "muc", Module: m, Handle: m.h}})
}
