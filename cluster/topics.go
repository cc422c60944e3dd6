package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Modules keep per-node caches (block lists, archive preferences) and tell
// the other nodes to drop an entry when it changes. Publish does that
// without waiting; PublishWait asks every live node in turn over its own
// subject ("<name>.apply.<node id>") and returns once each has run its
// handlers, so that a module can answer its IQ only when the change is in
// force on every node (XEP-0191 §3.3: once the result says "blocked",
// nothing from the contact may be delivered, whichever node routes it).

// topics are the handlers of this node's subscriptions.
type topics struct {
	mu   sync.Mutex
	subs map[string]*topicSub
	// beforeApply, when set (tests), runs before a request's handlers.
	beforeApply atomic.Pointer[func(topic string)]
}

// topicSub is one topic's handlers. mu makes them run one at a time,
// whether a change came by Publish or by PublishWait.
type topicSub struct {
	mu  sync.Mutex
	fns []func(payload []byte)
}

func (t *topics) get(topic string) *topicSub {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.subs[topic]
}

func (s *topicSub) run(payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fn := range s.fns {
		fn(payload)
	}
}

// Publish sends payload on topic to the other nodes (module.Cluster). The
// message starts with this node's id, so that its own subscription skips
// it.
func (n *Node) Publish(topic string, payload []byte) {
	buf := make([]byte, 0, len(n.id)+1+len(payload))
	buf = append(buf, n.id...)
	buf = append(buf, '\n')
	buf = append(buf, payload...)
	if err := n.nc.Publish(n.cfg.subject("topic", topic), buf); err != nil {
		n.log.Warn("cluster: not published", "topic", topic, "err", err)
	}
}

// Subscribe runs fn for what the other nodes publish on topic, with
// Publish or PublishWait.
func (n *Node) Subscribe(topic string, fn func(payload []byte)) {
	n.topics.mu.Lock()
	if n.topics.subs == nil {
		n.topics.subs = map[string]*topicSub{}
	}
	s := n.topics.subs[topic]
	first := s == nil
	if first {
		s = &topicSub{}
		n.topics.subs[topic] = s
	}
	n.topics.mu.Unlock()
	s.mu.Lock()
	s.fns = append(s.fns, fn)
	s.mu.Unlock()
	if !first {
		return
	}
	self := []byte(n.id + "\n")
	_, err := n.nc.Subscribe(n.cfg.subject("topic", topic), func(m *nats.Msg) {
		if bytes.HasPrefix(m.Data, self) {
			return
		}
		i := bytes.IndexByte(m.Data, '\n')
		if i < 0 {
			return
		}
		s.run(m.Data[i+1:])
	})
	if err != nil {
		n.log.Error("cluster: subscribe", "topic", topic, "err", err)
	}
}

func (n *Node) applySubject(id string) string { return n.cfg.subject("apply", id) }

// subscribeApply takes PublishWait requests for this node: "<topic>\n"
// and the payload. The answer goes once the handlers have returned; a
// topic nobody here subscribed to has nothing cached, and is answered too.
func (n *Node) subscribeApply() error {
	_, err := n.nc.Subscribe(n.applySubject(n.id), func(m *nats.Msg) {
		topic, payload, ok := bytes.Cut(m.Data, []byte{'\n'})
		if !ok {
			n.log.Warn("cluster: malformed change from another node dropped", "bytes", len(m.Data))
			return
		}
		if hook := n.topics.beforeApply.Load(); hook != nil {
			(*hook)(string(topic))
		}
		if s := n.topics.get(string(topic)); s != nil {
			s.run(payload)
		}
		if err := m.Respond([]byte("ok")); err != nil {
			n.log.Warn("cluster: change applied, answer not sent", "topic", string(topic), "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe to this node's changes: %w", err)
	}
	return nil
}

// PublishWait hands payload to the handlers of topic on every other live
// node and returns when each has run them (module.Cluster).
//
// A node that does not answer is asked again until it answers or this node
// takes it for dead (dead_after, see liveness.go): a dead node routes
// nothing any more, its sessions are buried, and should it come back it is
// a new incarnation whose caches start empty. Until then it may still be
// routing for its own clients (a NATS partition leaves them connected), so
// its silence is not taken for consent: after applyWait the error names it,
// and the module answers its IQ with an error (the change is stored, and
// in force on every node that answered; the client may send it again).
func (n *Node) PublishWait(ctx context.Context, topic string, payload []byte) error {
	peers := n.livePeers()
	if len(peers) == 0 {
		return nil
	}
	msg := make([]byte, 0, len(topic)+1+len(payload))
	msg = append(msg, topic...)
	msg = append(msg, '\n')
	msg = append(msg, payload...)
	ctx, cancel := context.WithTimeout(ctx, n.applyWait())
	defer cancel()
	errs := make(chan error, len(peers))
	for id, name := range peers {
		go func() { errs <- n.applyOn(ctx, id, name, topic, msg) }()
	}
	var all []error
	for range peers {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// applyWait bounds PublishWait: long enough for a node that died to be
// taken for dead (dead_after, then a heartbeat until reap runs and one
// more read of its heartbeat key), with room for a JetStream leader
// election in between.
func (n *Node) applyWait() time.Duration {
	return 2*n.cfg.DeadAfter + 2*max(n.cfg.Heartbeat, time.Second)
}

// livePeers are the other nodes alive as this node sees them: id → name.
func (n *Node) livePeers() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]string, len(n.peers))
	for id, p := range n.peers {
		if !p.dead && id != n.id && p.name != n.cfg.Node {
			out[id] = p.name
		}
	}
	return out
}

func (n *Node) applyOn(ctx context.Context, id, name, topic string, msg []byte) error {
	try := max(n.cfg.Heartbeat, time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, try)
		_, err := n.nc.RequestWithContext(rctx, n.applySubject(id), msg)
		cancel()
		if err == nil {
			return nil
		}
		if n.isDead(id) {
			return nil
		}
		select {
		case <-ctx.Done():
			n.log.Warn("cluster: a node did not confirm a change", "node", name, "topic", topic, "err", err)
			return fmt.Errorf("cluster: node %s did not confirm the %s change: %w", name, topic, err)
		case <-n.stop:
			return fmt.Errorf("cluster: node stopping before %s confirmed the %s change", name, topic)
		case <-time.After(n.cfg.Heartbeat):
		}
	}
}
