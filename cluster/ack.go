package cluster

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// Every acknowledgement is a promise: a node that routed a message to a
// session on another node has told the sender it took it (XEP-0198 <a/>),
// so it keeps a copy until the other node says the message left the server
// (written to the client's socket, or acknowledged by the client with
// XEP-0198), or took it back (its session ended first, and the message was
// routed again there). Should the other node die first, the copies are
// routed again here: to the account's other resources or offline storage.
// What this does not cover is written down in docs/clustering.md.

// maxPending bounds the copies kept per peer node; past it messages go
// untracked (a peer that acknowledges nothing for that long is as good as
// dead, and its death would re-route them all at once).
const maxPending = 1 << 16

type pendingMsg struct {
	el *xml.Element
	// from is the stamped sender of a forwarded stanza (opRouteTracked);
	// zero for a delivery, whose element carries it.
	from jid.JID
}

// pending are the copies kept for one peer node.
type pending struct {
	seq  uint64
	msgs map[uint64]pendingMsg
	full bool // maxPending reached: said so once
}

// tracked reports whether el is a message whose loss would be a message
// lost: chat and normal (RFC 6121 §5.2.2); groupchat has the room's
// archive, headline and error are not stored anyway.
func tracked(el *xml.Element) bool {
	if el.Name() != "message" {
		return false
	}
	switch el.Attr("type") {
	case "", "chat", "normal":
		return true
	}
	return false
}

// sendTracked delivers el to full on node id, keeping a copy.
func (n *Node) sendTracked(id string, full jid.JID, el *xml.Element) bool {
	return n.sendKept(id, opDeliverTracked, full, el, jid.JID{})
}

// sendKept publishes el to node id with op (opDeliverTracked: head is the
// session's full JID; opRouteTracked: the stamped sender, also kept as
// from), keeping a copy until the receipt comes.
func (n *Node) sendKept(id string, op byte, head jid.JID, el *xml.Element, from jid.JID) bool {
	full := head
	n.pmu.Lock()
	p := n.pend[id]
	if p == nil {
		p = &pending{msgs: map[uint64]pendingMsg{}}
		n.pend[id] = p
	}
	if len(p.msgs) >= maxPending {
		if !p.full {
			p.full = true
			n.log.Warn("cluster: a node acknowledges no deliveries; sending it messages without keeping copies", "node", id, "kept", len(p.msgs))
		}
		n.pmu.Unlock()
		untracked := byte(opDeliver)
		if op == opRouteTracked {
			untracked = opRoute
		}
		return n.send(id, untracked, full, el.Append(nil, xml.NSClient))
	}
	p.seq++
	seq := p.seq
	p.msgs[seq] = pendingMsg{el: el, from: from}
	n.pmu.Unlock()
	j := full.String()
	buf := make([]byte, 0, 1+len(j)+1+20+1+256)
	buf = append(buf, op)
	buf = append(buf, j...)
	buf = append(buf, '\n')
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, ' ')
	buf = append(buf, n.id...)
	buf = append(buf, '\n')
	buf = el.Append(buf, xml.NSClient)
	if err := n.nc.Publish(n.cfg.subject("node", id), buf); err != nil {
		n.pmu.Lock()
		delete(p.msgs, seq)
		n.pmu.Unlock()
		n.stats.sendFails.Add(1)
		n.log.Warn("cluster: stanza not sent to its node", "node", id, "jid", j, "err", err)
		return false
	}
	n.stats.sent.Add(1)
	return true
}

// acked drops the copies a peer confirmed.
func (n *Node) acked(from string, seqs []uint64) {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	p := n.pend[from]
	if p == nil {
		return
	}
	for _, s := range seqs {
		delete(p.msgs, s)
	}
	if p.full && len(p.msgs) < maxPending/2 {
		p.full = false
	}
}

// rerouteKept routes again, here, what was kept for a dead node.
func (n *Node) rerouteKept(id string) int {
	n.pmu.Lock()
	p := n.pend[id]
	delete(n.pend, id)
	n.pmu.Unlock()
	if p == nil || len(p.msgs) == 0 {
		return 0
	}
	deps := n.getDeps()
	if deps.Router == nil {
		return 0
	}
	// In the order they were sent.
	seqs := make([]uint64, 0, len(p.msgs))
	for s := range p.msgs {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		el := p.msgs[s].el
		st := &module.Stanza{El: el, From: p.msgs[s].from}
		if st.From.IsZero() {
			st.From, _ = jid.Parse(el.Attr("from"))
		}
		st.To, _ = jid.Parse(el.Attr("to"))
		deps.Router.Route(context.Background(), st)
	}
	n.rerouted.Add(uint64(len(seqs)))
	return len(seqs)
}

// watched is a tracked delivery on this node, waiting to leave the server.
type watched struct {
	origin string // sending node's id
	seq    uint64
	full   jid.JID
	s      module.Session
	t      module.Tracked
	m      module.Mark
	el     *xml.Element
}

// receipts follows tracked deliveries to this node's sessions and tells
// their senders when each left the server.
type receipts struct {
	mu   sync.Mutex
	list []watched
}

// deliverTracked hands el to the local session s and follows it.
func (n *Node) deliverTracked(origin string, seq uint64, full jid.JID, s module.Session, el *xml.Element) {
	t, ok := s.(module.Tracked)
	if !ok {
		if s.Deliver(el) {
			n.stats.delivered.Add(1)
			n.ack(origin, seq)
		} else {
			n.stats.rerouted.Add(1)
			n.reroute(el)
			n.ack(origin, seq)
		}
		return
	}
	m, held, ok := t.DeliverTracked(el)
	if !ok {
		// The session is ending (cut off, or gone since the lookup).
		n.stats.rerouted.Add(1)
		n.reroute(el)
		n.ack(origin, seq)
		return
	}
	n.stats.delivered.Add(1)
	switch {
	case held:
		// Kept back by the session, which routes it again should it end
		// first.
		n.ack(origin, seq)
	default:
		n.rc.mu.Lock()
		n.rc.list = append(n.rc.list, watched{origin: origin, seq: seq, full: full, s: s, t: t, m: m, el: el})
		n.rc.mu.Unlock()
	}
}

// ack queues a receipt for origin; receipts go out in batches.
func (n *Node) ack(origin string, seq uint64) {
	n.amu.Lock()
	n.acks[origin] = append(n.acks[origin], seq)
	n.amu.Unlock()
}

// receiptLoop checks the followed deliveries and sends the receipts.
func (n *Node) receiptLoop() {
	defer n.done.Done()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		n.checkReceipts()
		n.flushAcks()
	}
}

func (n *Node) checkReceipts() {
	n.rc.mu.Lock()
	list := n.rc.list
	n.rc.list = nil
	n.rc.mu.Unlock()
	var keep []watched
	for _, w := range list {
		switch {
		case w.t.Reached(w.m):
			n.ack(w.origin, w.seq)
		case n.dir.local.Session(w.full) != w.s:
			// The session ended first. With XEP-0198 it routes its
			// unacknowledged stanzas again itself; without, what it had
			// not written is routed again here.
			if !w.m.Acked {
				n.reroute(w.el)
			}
			n.ack(w.origin, w.seq)
		default:
			keep = append(keep, w)
		}
	}
	if len(keep) > 0 {
		n.rc.mu.Lock()
		n.rc.list = append(keep, n.rc.list...)
		n.rc.mu.Unlock()
	}
}

func (n *Node) flushAcks() {
	n.amu.Lock()
	acks := n.acks
	if len(acks) == 0 {
		n.amu.Unlock()
		return
	}
	n.acks = map[string][]uint64{}
	n.amu.Unlock()
	for origin, seqs := range acks {
		buf := make([]byte, 0, 2+len(n.id)+len(seqs)*4)
		buf = append(buf, opAck)
		buf = append(buf, n.id...)
		buf = append(buf, '\n')
		for _, s := range seqs {
			buf = binary.AppendUvarint(buf, s)
		}
		_ = n.nc.Publish(n.cfg.subject("node", origin), buf)
	}
}

// readAcks takes a receipt batch from peer id. A batch that does not
// decode to its end is applied up to the bad number (each number before it
// is a receipt as sent) and reported.
func (n *Node) readAcks(id string, payload []byte) error {
	var seqs []uint64
	var err error
	for len(payload) > 0 {
		s, k := binary.Uvarint(payload)
		if k <= 0 {
			err = fmt.Errorf("%w: receipts from %s: bad number after %d", errInbox, id, len(seqs))
			break
		}
		seqs = append(seqs, s)
		payload = payload[k:]
	}
	n.acked(id, seqs)
	return err
}
