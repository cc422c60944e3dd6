package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// XEP-0198 sessions move between nodes by request and reply on
// <name>.resume.<node name>: the node where a client resumes asks the node
// that held the session for it (c2s encodes both messages; this file only
// carries them). By name, not incarnation: a restarted node answers for
// its name and simply no longer has the session.

// ErrNoNode is returned by RequestHandover when no node of that name
// listens (it is gone, or was never there).
var ErrNoNode = errors.New("cluster: no such node")

func (n *Node) resumeSubject(node string) string { return n.cfg.subject("resume", node) }

// handovers are the answers being made: Close waits for them, so that a
// node shutting down answers every request it took instead of leaving the
// asking node to wait out its timeout (seen with bench/failover.sh
// SIGNAL=TERM SM=1 under load: clients that resumed just before the
// handover_wait ended waited 10 s, then bound anew).
type handovers struct {
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
	sub     *nats.Subscription
}

// ServeHandover answers the other nodes' handover requests with fn, each
// on its own goroutine: one session's handover waits for its old
// transport to close and must not hold up the next.
func (n *Node) ServeHandover(fn func(req []byte) []byte) error {
	h := &n.ho
	sub, err := n.nc.Subscribe(n.resumeSubject(n.cfg.Node), func(m *nats.Msg) {
		h.mu.Lock()
		if h.closing {
			h.mu.Unlock()
			return
		}
		h.wg.Add(1)
		h.mu.Unlock()
		go func() {
			defer h.wg.Done()
			if err := m.Respond(fn(m.Data)); err != nil {
				n.log.Warn("cluster: handover answer not sent", "err", err)
			}
		}()
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe to handover requests: %w", err)
	}
	h.mu.Lock()
	h.sub = sub
	h.mu.Unlock()
	return nil
}

// finish stops taking handover requests (a request sent after this gets
// no responders, at once) and waits, for at most wait, until the answers
// under way are sent.
func (h *handovers) finish(wait time.Duration) bool {
	h.mu.Lock()
	h.closing = true
	if h.sub != nil {
		_ = h.sub.Unsubscribe()
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

// RequestHandover sends req to the node named node and returns its answer.
func (n *Node) RequestHandover(ctx context.Context, node string, req []byte) ([]byte, error) {
	m, err := n.nc.RequestWithContext(ctx, n.resumeSubject(node), req)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("%w: %s", ErrNoNode, node)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: handover request to %s: %w", node, err)
	}
	return m.Data, nil
}
