package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/xml"
)

// The inbox format, what Remote.Deliver, CloseStream, Forward, sendTracked
// and flushAcks publish to a node's subject: one op byte, a header line,
// then the payload.
//
//	d<full JID>\n<stanza>                  deliver to a local session
//	D<full JID>\n<seq> <node id>\n<stanza> deliver, a receipt owed (ack.go)
//	c<full JID>\n<condition>\n<text>       close a local session
//	r<from JID>\n<stanza>                  route here (Cluster.Forward)
//	R<from JID>\n<seq> <node id>\n<stanza> route here, a receipt owed (components.go)
//	a<node id>\n<uvarint seq>...           receipts for what we sent
//
// Only nodes that know the cluster secret can publish (NATS refuses the
// others), so malformed input means a bug or a version mismatch: it is
// dropped with a log line, never half-applied (FuzzInbox).

var errInbox = errors.New("malformed inbox message")

func (n *Node) handleInbox(data []byte) error {
	if len(data) < 2 {
		return fmt.Errorf("%w: %d bytes", errInbox, len(data))
	}
	op := data[0]
	// After the op byte: an op that is itself a newline has its header
	// start after it (FuzzInbox found data[1:0]).
	nl := bytes.IndexByte(data[1:], '\n') + 1
	if nl == 0 {
		return fmt.Errorf("%w: op %q without a header line", errInbox, op)
	}
	head, payload := string(data[1:nl]), data[nl+1:]
	switch op {
	case opAck:
		if head == "" {
			return fmt.Errorf("%w: receipts from no node", errInbox)
		}
		return n.readAcks(head, payload)
	case opRoute:
		el, err := xml.ParseFragment(payload)
		if err != nil {
			return fmt.Errorf("%w: forwarded stanza: %w", errInbox, err)
		}
		from, _ := jid.Parse(head) // may be empty: the router stamps none
		n.routeForwarded(from, el)
		return nil
	case opRouteTracked:
		seq, origin, rest, err := seqLine(payload)
		if err != nil {
			return err
		}
		el, err := xml.ParseFragment(rest)
		if err != nil {
			// Not acknowledged: the sender keeps its copy.
			return fmt.Errorf("%w: forwarded stanza: %w", errInbox, err)
		}
		from, _ := jid.Parse(head)
		// Handed to the component here, or answered here if it left:
		// either way the sender's copy has served.
		n.routeForwarded(from, el)
		n.ack(origin, seq)
		return nil
	case opDeliver, opDeliverTracked, opClose:
	default:
		return fmt.Errorf("%w: unknown op %q", errInbox, op)
	}
	full, err := jid.Parse(head)
	if err != nil || !full.IsFull() {
		return fmt.Errorf("%w: op %q for %q: not a full JID", errInbox, op, head)
	}
	var seq uint64
	var origin string
	if op == opDeliverTracked {
		if seq, origin, payload, err = seqLine(payload); err != nil {
			return err
		}
	}
	s := n.dir.local.Session(full)
	if op == opClose {
		if s != nil {
			cond, text, _ := strings.Cut(string(payload), "\n")
			s.CloseStream(cond, text)
		}
		return nil
	}
	el, err := xml.ParseFragment(payload)
	if err != nil {
		// Not acknowledged, even when tracked: the sender keeps its
		// copy, and routes it again should this node die.
		return fmt.Errorf("%w: stanza for %s: %w", errInbox, head, err)
	}
	if op == opDeliverTracked {
		if s == nil {
			n.stats.rerouted.Add(1)
			n.reroute(el)
			n.ack(origin, seq)
			return nil
		}
		n.deliverTracked(origin, seq, full, s, el)
		return nil
	}
	if s != nil && s.Deliver(el) {
		n.stats.delivered.Add(1)
		return nil
	}
	n.stats.rerouted.Add(1)
	// The session left (or is leaving) before the stanza arrived: route
	// it again, among this node's sessions, by its own 'to' (RFC 6121
	// §8.5.3.2: a chat message falls back to the bare JID, and so to
	// offline storage).
	n.reroute(el)
	return nil
}

// seqLine splits the "<seq> <node id>" line off a tracked payload.
func seqLine(payload []byte) (seq uint64, origin string, rest []byte, err error) {
	nl := bytes.IndexByte(payload, '\n')
	if nl < 0 {
		return 0, "", nil, fmt.Errorf("%w: tracked delivery without its sequence line", errInbox)
	}
	num, from, ok := strings.Cut(string(payload[:nl]), " ")
	if !ok || from == "" {
		return 0, "", nil, fmt.Errorf("%w: tracked delivery: sequence line %q", errInbox, payload[:nl])
	}
	if seq, err = strconv.ParseUint(num, 10, 64); err != nil {
		return 0, "", nil, fmt.Errorf("%w: tracked delivery: sequence %q", errInbox, num)
	}
	return seq, from, payload[nl+1:], nil
}
