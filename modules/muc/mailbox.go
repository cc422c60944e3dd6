package muc

import (
	"context"

	"github.com/xmppd/xmppd/module"
)

// A room's mailbox: the stanzas addressed to it wait in r.queue and one
// goroutine, the room's runner, handles them in arrival order (XEP-0045
// clients expect every occupant to see the room's traffic in one order).
// The runner exists only while the mailbox holds something, so idle rooms
// cost no goroutine. For each stanza it takes r.mu, lets the handlers
// compute their answers into an outbox (send, when ctx carries one), lets
// go of r.mu and only then routes the outbox: routing never happens under
// a room's lock, so a stanza that comes straight back into the component
// (to the room itself, to another room, an error bounced by the router)
// is queued like any other rather than taking a lock twice.

// mailboxSize bounds the stanzas waiting for a room: a sender beyond it
// waits for the runner (backpressure on the client's reader), except
// the module's own runners, which must never wait for one another.
const mailboxSize = 1024

type (
	outboxKey   struct{} // ctx value: *outbox, set while r.mu is held
	internalKey struct{} // ctx value: the producer is a runner of this module
)

// outbox collects what one stanza's handling routes.
type outbox struct{ out []module.Stanza }

// route routes the outbox in order and empties it. The stanzas are
// routed by pointer into a fresh slice each time, never reused, since a
// router may keep them.
func (ob *outbox) route(m *mod, ctx context.Context) {
	out := ob.out
	ob.out = nil
	for i := range out {
		m.h.Router.Route(ctx, &out[i])
	}
}

// post puts st in r's mailbox and starts the runner if there is none.
func (r *room) post(ctx context.Context, st *module.Stanza) {
	m := r.svc.m
	internal := ctx.Value(internalKey{}) != nil
	r.qmu.Lock()
	for !internal && len(r.queue) >= mailboxSize {
		if r.space == nil {
			r.space = make(chan struct{})
		}
		space := r.space
		r.qmu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return // the sender is gone
		}
		r.qmu.Lock()
	}
	if !r.running {
		// The handle's goroutine: stopping the module waits for it.
		if !m.h.Go(r.run) {
			r.qmu.Unlock()
			return // stopped
		}
		r.running = true
	}
	r.queue = append(r.queue, st)
	r.qmu.Unlock()
}

// run is the room's runner: it handles the mailbox until it is empty.
// Each grab of the queue is one output batch (module.Batch): the copies
// for one session from several stanzas leave in one write, flushed
// before the runner looks at the mailbox again. It does not stop when
// the module's context ends: what the mailbox accepted is handled (the
// mailbox is bounded, and stopping waits for it), and no runner starts
// after that (Handle.Go refuses).
func (r *room) run(context.Context) {
	m := r.svc.m
	ob := &outbox{}
	proc := context.WithValue(context.Background(), outboxKey{}, ob)
	var b module.Batch
	route := module.WithBatch(context.WithValue(context.Background(), internalKey{}, true), &b)
	var batch []*module.Stanza
	for {
		r.qmu.Lock()
		if len(r.queue) == 0 {
			r.running = false
			r.qmu.Unlock()
			return
		}
		batch, r.queue = r.queue, batch[:0]
		if r.space != nil {
			close(r.space)
			r.space = nil
		}
		r.qmu.Unlock()
		b.Open()
		for i, st := range batch {
			batch[i] = nil
			ob.out = make([]module.Stanza, 0, r.outCap)
			r.mu.Lock()
			again := r.dispatch(proc, st)
			r.mu.Unlock()
			r.outCap = max(8, len(ob.out))
			ob.route(m, route)
			if again {
				r.svc.handle(route, st)
			}
		}
		b.Flush()
	}
}
