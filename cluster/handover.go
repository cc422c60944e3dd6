package cluster

import (
	"context"
	"errors"
	"fmt"

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

// ServeHandover answers the other nodes' handover requests with fn, each
// on its own goroutine: one session's handover waits for its old
// transport to close and must not hold up the next.
func (n *Node) ServeHandover(fn func(req []byte) []byte) error {
	_, err := n.nc.Subscribe(n.resumeSubject(n.cfg.Node), func(m *nats.Msg) {
		go func() {
			if err := m.Respond(fn(m.Data)); err != nil {
				n.log.Warn("cluster: handover answer not sent", "err", err)
			}
		}()
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe to handover requests: %w", err)
	}
	return nil
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
