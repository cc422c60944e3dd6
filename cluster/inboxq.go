package cluster

import (
	"bytes"
	"errors"
	"runtime"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/xmppd/xmppd/jid"
)

// The inbox runs on workers, each handling the messages for a fixed share
// of recipients: the worker is chosen by a hash of the recipient's bare
// JID. NATS hands the subscription's messages to one goroutine in the
// order they were published; that goroutine only picks the worker and
// queues the message, so
//
//   - what one node sends one recipient is handled in the order it was
//     sent (RFC 6120 §10.1: NATS keeps one publisher's order on a subject,
//     and one recipient's messages all go to one worker, which takes them
//     in turn). A close ('c') goes to the worker of its session's bare
//     JID, after the deliveries sent before it. A forwarded stanza ('r')
//     goes by the bare JID of its 'to': a room's or a pubsub node's
//     stanzas are handled in turn, as the owner's module expects;
//   - a slow recipient (a delivery that re-routes into offline storage, a
//     hook waiting for the database, a room with many occupants) holds up
//     only the recipients that share its worker, and different recipients
//     use the node's cores in parallel.
//
// Receipts ('a') are handled on NATS's goroutine, at once: they drop
// copies this node keeps of what it sent (ack.go), which no local session
// or delivery depends on, and dropping a set of sequence numbers gives the
// same result in any order. Waiting behind deliveries would only keep the
// copies longer, and re-route more of them (duplicates) should the peer
// die meanwhile.
//
// Queues are bounded in bytes, each on its own: a worker holds up to
// inboxBudget/workers bytes of waiting messages (at least one message,
// however large). A stuck worker fills only its own queue, and the
// others go on taking theirs; a bound on the count of messages instead
// (as a Go channel has) let one stuck recipient's few hundred messages
// stop every worker, because NATS's goroutine then waited for that queue
// (TestInboxOrderAndIsolation caught it under CI load). Only when a
// worker's queue is over its share does the NATS goroutine wait for it
// (back-pressure; counted in xmppd_cluster_inbox_full_total), and a full
// queue is never skipped or dropped. Meanwhile NATS keeps what arrives
// in the subscription's pending buffer. When that passes its limit
// nats.go drops messages ("slow consumer"): with NATS's defaults (64 MiB)
// that is a few seconds of a busy node's traffic behind one stuck
// worker. We raise the byte limit to inboxPendingBytes and lift the count
// limit (acks are a few bytes each: memory is what the limit is for), log
// the slow-consumer event at error level, and count the drops
// (xmppd_cluster_inbox_dropped_total). A dropped tracked message ('D') is
// not acknowledged, so its sender keeps its copy, and routes it again
// should this node die; a dropped presence or close is lost.

const (
	// inboxBudget is what all workers' queues hold together, in bytes.
	inboxBudget = 256 << 20
	// inboxMinQueue is the least a worker's queue holds, in bytes.
	inboxMinQueue = 4 << 20
	// inboxPendingBytes bounds what NATS buffers for the inbox while a
	// worker's queue is full, before it drops (see above).
	inboxPendingBytes = 256 << 20
)

// inboxWorkers is how many workers a node runs. A worker waiting for I/O
// (storage, on a re-route or in a hook) uses no core, so more workers than
// cores keep one slow recipient from holding up many others; a recipient
// shares its worker with 1/inboxWorkers of the others.
func inboxWorkers() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// inboxQueue is one worker's queue: a FIFO of messages, bounded in bytes.
type inboxQueue struct {
	mu    sync.Mutex
	msgs  [][]byte // msgs[head:] wait
	head  int
	bytes int // waiting, and the one being handled
	limit int
	wake  chan struct{} // the worker: a message is queued
	room  chan struct{} // the NATS goroutine: bytes went below limit
}

func newInboxQueue(limit int) *inboxQueue {
	return &inboxQueue{limit: limit, wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// push queues data, or reports false when the queue is over its limit
// (the caller waits on q.room and tries again).
func (q *inboxQueue) push(data []byte) bool {
	q.mu.Lock()
	if q.bytes >= q.limit && q.bytes > 0 {
		q.mu.Unlock()
		return false
	}
	if q.head > 0 && q.head == len(q.msgs) {
		// Drained: reuse the backing array from its start.
		clear(q.msgs)
		q.msgs, q.head = q.msgs[:0], 0
	}
	q.msgs = append(q.msgs, data)
	q.bytes += len(data)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// pop takes the oldest message, or nil if none waits.
func (q *inboxQueue) pop() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.msgs) {
		return nil
	}
	data := q.msgs[q.head]
	q.msgs[q.head] = nil
	q.head++
	if q.head > 1024 && q.head*2 > len(q.msgs) {
		// A long backlog is being worked off: drop the handled half
		// rather than let the array grow with every push.
		q.msgs = append(q.msgs[:0], q.msgs[q.head:]...)
		q.head = 0
	}
	return data
}

// done counts a handled message out of the queue's bytes.
func (q *inboxQueue) done(data []byte) {
	q.mu.Lock()
	q.bytes -= len(data)
	below := q.bytes < q.limit
	q.mu.Unlock()
	if below {
		select {
		case q.room <- struct{}{}:
		default:
		}
	}
}

func (q *inboxQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs) - q.head
}

// inboxQueues are the workers' queues (nil before startInbox: tests
// that take messages synchronously).
type inboxQueues []*inboxQueue

// startInbox starts the workers; they end with the node (stop).
func (n *Node) startInbox() {
	q := make(inboxQueues, inboxWorkers())
	limit := max(inboxMinQueue, inboxBudget/len(q))
	for i := range q {
		q[i] = newInboxQueue(limit)
	}
	n.inq = q
	n.done.Add(len(q))
	for _, c := range q {
		go n.inboxWorker(c)
	}
}

func (n *Node) inboxWorker(q *inboxQueue) {
	defer n.done.Done()
	for {
		data := q.pop()
		if data == nil {
			select {
			case <-q.wake:
				continue
			case <-n.stop:
				return
			}
		}
		select {
		case <-n.stop:
			// What is still queued is dropped, as NATS drops its
			// pending messages when the connection closes: tracked
			// messages stay with their senders (not acknowledged).
			return
		default:
		}
		n.take(data)
		q.done(data)
	}
}

// inbox takes what other nodes send to this node: NATS calls it on one
// goroutine per subscription, in the order the messages were published.
func (n *Node) inbox(m *nats.Msg) {
	data := m.Data
	if len(data) > 0 && data[0] == opAck {
		n.take(data)
		return
	}
	q := n.inq[inboxKey(data)%uint64(len(n.inq))]
	if q.push(data) {
		return
	}
	n.stats.inboxFull.Add(1)
	for !q.push(data) {
		select {
		case <-q.room:
		case <-n.stop:
			return
		}
	}
}

// take handles one inbox message, counting and logging what is dropped.
func (n *Node) take(data []byte) {
	if err := n.handleInbox(data); err != nil {
		n.stats.dropped.Add(1)
		n.log.Warn("cluster: message from another node dropped", "err", err, "bytes", len(data))
	}
}

// inboxKey hashes the bare JID of the message's recipient: the header's
// for a delivery or close (a canonical full JID, as Remote sends it), the
// 'to' of a forwarded stanza, kept (R, components) or not (r). Malformed messages get some key; the worker
// drops them. No allocation for ASCII addresses.
func inboxKey(data []byte) uint64 {
	if len(data) < 2 {
		return 0
	}
	rest := data[1:]
	if data[0] == opRoute || data[0] == opRouteTracked {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return 0
		}
		rest = rest[nl+1:]
		if data[0] == opRouteTracked { // then a "<seq> <node id>" line
			if nl = bytes.IndexByte(rest, '\n'); nl < 0 {
				return 0
			}
			rest = rest[nl+1:]
		}
		return bareHash(toAttr(rest))
	}
	if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
		rest = rest[:nl]
	}
	return bareHash(rest)
}

// toAttr finds the value of the 'to' attribute in the start tag of a
// stanza serialized by xml.Element.Append (attributes in single quotes,
// '>' escaped in values, so the first '>' ends the tag). nil if none.
func toAttr(stanza []byte) []byte {
	end := bytes.IndexByte(stanza, '>')
	if end < 0 {
		return nil
	}
	tag := stanza[:end]
	i := bytes.Index(tag, []byte(" to='"))
	if i < 0 {
		return nil
	}
	v := tag[i+len(" to='"):]
	if j := bytes.IndexByte(v, '\''); j >= 0 {
		return v[:j]
	}
	return nil
}

// bareHash is FNV-1a over the bare part of a JID (before any '/'), in the
// form jid.Parse gives it, so that one recipient always has one worker
// however a client spelled its address: ASCII folded to lower case and a
// trailing dot of the domain dropped (RFC 7622 §3.2); anything else is
// normalized by jid.Parse.
func bareHash(j []byte) uint64 {
	if i := bytes.IndexByte(j, '/'); i >= 0 {
		j = j[:i]
	}
	j = bytes.TrimSuffix(j, []byte("."))
	h := uint64(14695981039346656037)
	for _, c := range j {
		if c >= 0x80 {
			return bareHashSlow(j)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func bareHashSlow(j []byte) uint64 {
	p, err := jid.Parse(string(j))
	if err != nil {
		return 0 // not a JID: the router refuses it, in any worker
	}
	h := uint64(14695981039346656037)
	for _, c := range []byte(p.Bare().String()) {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// natsError is nats.go's report of what went wrong away from a call: for
// a subscription past its pending limit, messages dropped.
func (n *Node) natsError(_ *nats.Conn, sub *nats.Subscription, err error) {
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	if errors.Is(err, nats.ErrSlowConsumer) {
		n.log.Error("cluster: NATS dropped messages for this node, which takes them too slowly", "subject", subject, "err", err)
		return
	}
	n.log.Warn("cluster: NATS error", "subject", subject, "err", err)
}

// inboxState is the inbox for operators: messages waiting (in NATS's
// pending buffer and the workers' queues), times a full worker queue made
// NATS's goroutine wait, and messages NATS dropped.
func (n *Node) inboxState() (queued int, full, dropped uint64) {
	for _, q := range n.inq {
		queued += q.len()
	}
	if n.sub != nil {
		if p, _, err := n.sub.Pending(); err == nil {
			queued += p
		}
		if d, err := n.sub.Dropped(); err == nil {
			dropped = uint64(d)
		}
	}
	return queued, n.stats.inboxFull.Load(), dropped
}
