package c2s

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// streamClosed reports that our side of the stream is closed: no more
// output, and so no more acknowledgements.
func (c *conn) streamClosed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closing
}

// sessionState is the bound session's: presence (atomics, read by the
// router and modules from any goroutine), and under the transport's wmu
// (see there for what may run under it) XEP-0198 stream management,
// XEP-0352's held stanzas and the live messages held back while a module
// paces stored ones.
type sessionState struct {
	available atomic.Bool
	priority  atomic.Int32
	presence  atomic.Pointer[xml.Element]

	sm    smState   // XEP-0198; guarded by wmu except sm.in (reader only)
	csi   csiState  // XEP-0352; guarded by wmu
	since time.Time // when the resource was bound; guarded by wmu
	// live holds chat and normal messages routed to the session while a
	// module paces stored ones to it (module.Paced.HoldLive), so that
	// they do not overtake them; nil when not holding.
	live *liveHold
}

func (c *conn) stanzaBytes(el *xml.Element) []byte { return el.Append(nil, xml.NSClient) }

// stanza handles one element from a bound session (RFC 6120 §8).
func (c *conn) stanza(el *xml.Element) error {
	name := el.Name()
	kind, ok := stanzaKind(name)
	if el.NS() != xml.NSClient || !ok {
		return &stanza.StreamError{Condition: stanza.StreamUnsupportedStanzaType, Text: "unexpected <" + name + "/>"}
	}
	c.srv.cfg.Observer.StanzaIn(kind)
	// §8.1.2.1: the server stamps the full JID, whatever the client wrote.
	// The decoder did it while parsing (Stamp, from bind on); the copy is
	// for a stanza that did not come through it so stamped.
	if v, ok := el.LookupAttr("from"); !ok || v != c.jid.String() {
		el = el.WithAttrs(xml.Attr{Name: "from", Value: c.jid.String()})
	}
	st := &module.Stanza{El: el, From: c.jid, Origin: c}
	if to, ok := el.LookupAttr("to"); ok {
		j, err := jid.Parse(to)
		if err != nil {
			c.bounce(el, stanza.JIDMalformed, "invalid 'to' address")
			return nil
		}
		st.To = j
	}
	if name == "iq" {
		if !c.validIQ(el) {
			return nil
		}
		if st.To.IsZero() || st.To == c.jid.Bare() {
			if p := el.FirstChild(); p != nil && p.Name() == "session" && p.NS() == nsSession && el.Attr("type") == "set" {
				c.Deliver(xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", el.Attr("id")).Element())
				return nil
			}
		}
	}
	var ctx context.Context = &c.life
	if c.wr != nil && c.sc != nil {
		ctx = c.wr.ctx
	}
	reg := c.srv.cfg.Registry
	if reg.RunHook(ctx, module.HookOutbound, st) {
		return nil
	}
	if name == "presence" && st.To.IsZero() {
		c.selfPresence(ctx, st)
		return nil
	}
	if name == "message" && st.To.IsZero() {
		// RFC 6121 §8.5 treats it as addressed to the sender's bare JID.
		st.To = c.jid.Bare()
	}
	c.srv.cfg.Router.Route(ctx, st)
	return nil
}

// validIQ checks RFC 6120 §8.2.3: an id, a known type, exactly one payload
// for get/set.
func (c *conn) validIQ(el *xml.Element) bool {
	if _, ok := el.LookupAttr("id"); !ok {
		c.bounce(el, stanza.BadRequest, "iq without id")
		return false
	}
	switch el.Attr("type") {
	case "get", "set":
		n := 0
		for range el.Children() {
			n++
		}
		if n != 1 {
			c.bounce(el, stanza.BadRequest, "get and set carry exactly one payload")
			return false
		}
	case "result", "error":
	default:
		c.bounce(el, stanza.BadRequest, "iq type must be get, set, result or error")
		return false
	}
	return true
}

func (c *conn) bounce(el *xml.Element, cond, text string) {
	if stanza.IsError(el) {
		return
	}
	c.Deliver(stanza.NewError(cond, text).Reply(el))
}

// selfPresence records presence broadcast by the session (RFC 6121 §4.2,
// §4.5) and hands it to the IM module for distribution.
func (c *conn) selfPresence(ctx context.Context, st *module.Stanza) {
	switch st.Type() {
	case "":
		prio := 0
		if p := st.El.Child("priority", xml.NSClient); p != nil {
			if n, err := strconv.Atoi(p.Text()); err == nil && n >= -128 && n <= 127 {
				prio = n
			}
		}
		c.priority.Store(int32(prio))
		c.presence.Store(st.El)
		c.available.Store(true)
	case "unavailable":
		c.available.Store(false)
		c.presence.Store(nil)
	}
	c.srv.cfg.Directory.Updated(c)
	c.srv.cfg.Registry.RunHook(ctx, module.HookPresenceBroadcast, st)
}

// Deliver queues el for the client (module.Session).
func (c *conn) Deliver(el *xml.Element) bool { return c.deliver(el, nil) }

// DeliverBatch queues el and leaves the write to b (module.BatchDeliverer).
func (c *conn) DeliverBatch(el *xml.Element, b *module.Batch) bool { return c.deliver(el, b) }

func (c *conn) deliver(el *xml.Element, b *module.Batch) bool {
	c.wmu.Lock()
	if !c.async || c.sm.ended || c.closing && !c.sm.resumable {
		c.wmu.Unlock()
		return false
	}
	if c.live != nil && c.liveHoldLocked(el) {
		c.wmu.Unlock()
		return true
	}
	if c.csi.inactive {
		if c.csiHoldLocked(el) {
			c.wmu.Unlock()
			return true
		}
		// Something that matters: what was held goes first.
		c.csiFlushLocked()
	}
	if !c.appendLocked(el) {
		c.wmu.Unlock()
		c.tooManyUnacked()
		return false
	}
	if c.closing {
		held := c.sm.hibernating && el.Name() == "message"
		c.wmu.Unlock()
		c.countOut(el)
		if held {
			c.held(el)
		}
		return true
	}
	a := c.queuedLocked()
	c.wmu.Unlock()
	c.countOut(el)
	return c.afterQueue(a, b)
}

// countOut counts a stanza queued for the client (Observer; not under wmu).
func (c *conn) countOut(el *xml.Element) {
	if k, ok := stanzaKind(el.Name()); ok {
		c.srv.cfg.Observer.StanzaOut(k)
	}
}

// tooManyUnacked ends a session whose client leaves too many stanzas
// unacknowledged (MaxUnacked); wmu not held.
func (c *conn) tooManyUnacked() {
	c.logger().Warn("too many unacknowledged stanzas: ending the session", "limit", MaxUnacked)
	c.CloseStream(stanza.StreamPolicyViolation, "too many unacknowledged stanzas")
}

// held runs HookHeld for a message queued while the session hibernates.
func (c *conn) held(el *xml.Element) {
	from, _ := jid.Parse(el.Attr("from"))
	c.srv.cfg.Registry.RunHook(&c.life, module.HookHeld, &module.Stanza{El: el, From: from, To: c.jid})
}

// appendLocked adds el to the output (and, with stream management, to the
// unacknowledged stanzas); wmu held. On a broken transport of a resumable
// session the stanza only waits among the unacknowledged for the
// resumption. False when the unacknowledged queue is full.
func (c *conn) appendLocked(el *xml.Element) bool {
	if c.sm.enabled && !c.smQueueLocked(el) {
		return false
	}
	if !c.closing {
		c.out = el.Append(c.queueBuf(), xml.NSClient)
	}
	return true
}

// teardown ends a bound session: unbind, tell contacts and modules.
func (c *conn) teardown() {
	// The hooks below still run under the session's context: it ends
	// once they have.
	defer c.life.end()
	var ctx context.Context = &c.life
	c.wmu.Lock()
	c.sm.ended = true
	moved := c.sm.moved
	c.wmu.Unlock()
	if c.srv.cfg.Directory.Unbind(c) {
		// A session handed over to another node goes on there: its
		// contacts hear nothing.
		if c.available.Swap(false) && !moved {
			// An abrupt end still tells contacts the resource went
			// away (RFC 6121 §4.5.2 ... by the IM module's hook).
			un := xml.NewBuilder("presence", xml.NSClient).Attr("type", "unavailable").Attr("from", c.jid.String()).Element()
			c.srv.cfg.Registry.RunHook(ctx, module.HookPresenceBroadcast, &module.Stanza{El: un, From: c.jid, Origin: c})
		}
	}
	c.smReroute(ctx)
	c.liveReroute(ctx)
	if c.sm.id != "" {
		c.srv.resume.remove(c)
	}
	// Also for a session replaced by a new one with the same full JID
	// (its Unbind finds the newer session): modules keeping state per
	// session must hear that this one ended.
	c.srv.cfg.Registry.SessionClosed(ctx, c)
}
