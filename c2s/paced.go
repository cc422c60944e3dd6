package c2s

import (
	"context"
	"net"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// module.Paced: a module that sends a long series (an account's offline
// backlog) asks how much output waits and when a stanza got out, instead
// of queueing the whole series at once and overflowing the queue.

var _ module.Paced = (*conn)(nil)

// unsentConn is a transport that keeps accepted bytes before they reach a
// socket (BOSH keeps them for the client's next request): n is how many,
// and once the transport failed, how many it lost.
type unsentConn interface {
	Unsent() (n, limit int)
}

// DeliverOwned queues el like Deliver and returns where it stands in the
// output (module.Paced).
func (c *conn) DeliverOwned(el *xml.Element) (module.Mark, bool) {
	c.wmu.Lock()
	if !c.async || c.sm.ended || c.closing && !c.sm.resumable {
		c.wmu.Unlock()
		return module.Mark{}, false
	}
	if c.csi.inactive {
		// A stored message matters: what was held goes first.
		c.csiFlushLocked()
	}
	if !c.appendLocked(el) {
		c.wmu.Unlock()
		c.tooManyUnacked()
		return module.Mark{}, false
	}
	var m module.Mark
	if c.sm.enabled {
		if c.sm.owned == nil {
			c.sm.owned = map[*xml.Element]struct{}{}
		}
		c.sm.owned[el] = struct{}{}
		m = module.Mark{Pos: uint64(c.sm.acked + uint32(len(c.sm.unacked))), Acked: true}
	} else {
		m = module.Mark{Pos: c.outTaken + uint64(len(c.out))}
	}
	if c.closing {
		// Hibernating: it waits among the unacknowledged for a
		// resumption. No HookHeld (push): the message waited in
		// storage already, and a backlog would be a push each.
		c.wmu.Unlock()
		c.countOut(el)
		return m, true
	}
	a := c.queuedLocked()
	c.wmu.Unlock()
	c.countOut(el)
	return m, c.afterQueue(a, nil)
}

// Reached reports whether the stanza at m left the server (module.Paced).
func (c *conn) Reached(m module.Mark) bool {
	if m == (module.Mark{}) {
		return true
	}
	c.wmu.Lock()
	if m.Acked {
		// Counts wrap at 2^32 (XEP-0198 §4); h only moves forward.
		reached := int32(c.sm.acked-uint32(m.Pos)) >= 0
		c.wmu.Unlock()
		return reached
	}
	written, nc, sc := c.outWritten, c.nc, c.sc
	c.wmu.Unlock()
	// The transport holds (or lost) the last unsent bytes written to
	// it; asked after wmu, it may count bytes the writer gave it since
	// as unsent that written does not hold yet. Over TLS they are
	// records, a little longer than what we wrote. Both err towards
	// "not yet".
	unsent, _ := transportUnsent(nc, sc)
	return int64(written)-int64(unsent) >= int64(m.Pos)
}

// Backlog reports the bytes queued for the client and not yet on the
// socket, and the most the session holds (module.Paced).
func (c *conn) Backlog() (queued, limit int) {
	c.wmu.Lock()
	queued = len(c.out) + c.outInflight
	nc, sc := c.nc, c.sc
	c.wmu.Unlock()
	// Asked after wmu: bytes the writer moved from the queue to the
	// transport since may count twice, which errs towards waiting.
	unsent, tl := transportUnsent(nc, sc)
	limit = c.srv.cfg.OutboundQueueBytes
	if sc == nil && tl > 0 && tl < limit {
		limit = tl
	}
	return queued + unsent, limit
}

// transportUnsent asks the transport what it accepted and has not yet
// written, and its own bound (0: none): the spillConn under TCP (and TLS),
// or a transport that says (BOSH). Others write through when the writer
// writes. Not under wmu: a transport of another package has locks of its
// own.
func transportUnsent(nc net.Conn, sc *spillConn) (n, limit int) {
	if sc != nil {
		return sc.unsent(), 0
	}
	if u, ok := nc.(unsentConn); ok {
		return u.Unsent()
	}
	return 0, 0
}

// liveHold is what HoldLive keeps back, bounded: past maxLiveHeld messages
// arrive as they come (out of order rather than without bound).
type liveHold struct {
	els []*xml.Element
}

const maxLiveHeld = 1000

// HoldLive starts or ends holding live messages back (module.Paced).
func (c *conn) HoldLive(on bool) {
	c.wmu.Lock()
	if on {
		if c.live == nil {
			c.live = &liveHold{}
		}
		c.wmu.Unlock()
		return
	}
	h := c.live
	c.live = nil
	if h == nil || len(h.els) == 0 || c.sm.ended || c.closing && !c.sm.resumable {
		// Ended: teardown hands them back to the router (liveReroute)
		// - it found c.live cleared, so they go from here.
		c.wmu.Unlock()
		if h != nil && len(h.els) > 0 {
			c.rerouteLive(context.Background(), h.els)
		}
		return
	}
	for _, el := range h.els {
		if !c.appendLocked(el) {
			c.wmu.Unlock()
			c.tooManyUnacked()
			return
		}
	}
	if c.closing {
		c.wmu.Unlock() // hibernating: they wait among the unacknowledged
		return
	}
	a := c.queuedLocked()
	c.wmu.Unlock()
	c.afterQueue(a, nil)
}

// liveHoldLocked keeps el back if HoldLive is on and el is a chat or
// normal message; not while hibernating, where a message goes among the
// unacknowledged and may wake the client (HookHeld).
func (c *conn) liveHoldLocked(el *xml.Element) bool {
	if c.closing || el.Name() != "message" || len(c.live.els) >= maxLiveHeld {
		return false
	}
	switch el.Attr("type") {
	case "error", "groupchat", "headline":
		return false
	}
	c.live.els = append(c.live.els, el)
	return true
}

// liveReroute hands messages still held back when the session ends to the
// router: they were never written, so they go to the account again (another
// resource, or offline storage after the stored ones).
func (c *conn) liveReroute(ctx context.Context) {
	c.wmu.Lock()
	h := c.live
	c.live = nil
	c.wmu.Unlock()
	if h != nil {
		c.rerouteLive(ctx, h.els)
	}
}

func (c *conn) rerouteLive(ctx context.Context, els []*xml.Element) {
	bare := c.jid.Bare()
	for _, el := range els {
		if el.Child("body", xml.NSClient) == nil {
			continue // a chat state or receipt: pointless later
		}
		from, err := jid.Parse(el.Attr("from"))
		if err != nil {
			continue
		}
		c.srv.cfg.Router.Route(ctx, &module.Stanza{El: el.WithAttrs(xml.Attr{Name: "to", Value: bare.String()}), From: from, To: bare})
	}
}

// DeliverTracked queues el as Deliver does (live hold, CSI, the batch
// aside) and returns where it stands, for Reached (module.Tracked). held
// is true when the session kept el back rather than queued it (a backlog
// or CSI in progress): Reached cannot follow it then, and the session
// itself hands it back to the router should it end first.
func (c *conn) DeliverTracked(el *xml.Element) (m module.Mark, held, ok bool) {
	c.wmu.Lock()
	if !c.async || c.sm.ended || c.closing && !c.sm.resumable {
		c.wmu.Unlock()
		return module.Mark{}, false, false
	}
	if c.live != nil && c.liveHoldLocked(el) {
		c.wmu.Unlock()
		return module.Mark{}, true, true
	}
	if c.csi.inactive {
		if c.csiHoldLocked(el) {
			c.wmu.Unlock()
			return module.Mark{}, true, true
		}
		c.csiFlushLocked()
	}
	if !c.appendLocked(el) {
		c.wmu.Unlock()
		c.tooManyUnacked()
		return module.Mark{}, false, false
	}
	if c.sm.enabled {
		m = module.Mark{Pos: uint64(c.sm.acked + uint32(len(c.sm.unacked))), Acked: true}
	} else {
		m = module.Mark{Pos: c.outTaken + uint64(len(c.out))}
	}
	if c.closing {
		held := c.sm.hibernating && el.Name() == "message"
		c.wmu.Unlock()
		c.countOut(el)
		if held {
			c.held(el)
		}
		return m, false, true
	}
	a := c.queuedLocked()
	c.wmu.Unlock()
	c.countOut(el)
	return m, false, c.afterQueue(a, nil)
}
