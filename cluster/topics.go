package cluster

import (
	"bytes"

	"github.com/nats-io/nats.go"
)

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

// Subscribe runs fn for what the other nodes publish on topic.
func (n *Node) Subscribe(topic string, fn func(payload []byte)) {
	self := []byte(n.id + "\n")
	_, err := n.nc.Subscribe(n.cfg.subject("topic", topic), func(m *nats.Msg) {
		if bytes.HasPrefix(m.Data, self) {
			return
		}
		i := bytes.IndexByte(m.Data, '\n')
		if i < 0 {
			return
		}
		fn(m.Data[i+1:])
	})
	if err != nil {
		n.log.Error("cluster: subscribe", "topic", topic, "err", err)
	}
}
