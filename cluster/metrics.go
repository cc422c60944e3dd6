package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the node's view of the cluster to Prometheus, read
// when scraped. Every series carries this node's name ("node"), so that
// the nodes' scrapes can be told apart and summed.
func (n *Node) Collector() prometheus.Collector { return collector{n: n, d: newDescs(n.cfg.Node)} }

type descs struct {
	nodes, healthy, sessions, nodeSessions           *prometheus.Desc
	natsConnected, natsRoutes, natsMsgs, natsReconns *prometheus.Desc
	stanzas, deaths, burials, bindsRefused           *prometheus.Desc
	inboxQueued, inboxFull, inboxDropped             *prometheus.Desc
	movesRefused                                     *prometheus.Desc
}

func newDescs(node string) descs {
	l := prometheus.Labels{"node": node}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("xmppd_cluster_"+name, help, labels, l)
	}
	return descs{
		nodes:         d("nodes", "Live nodes in the cluster as this node sees them, itself included."),
		healthy:       d("healthy", "1 when this node can write the session directory (in touch with a majority) and takes logins, else 0."),
		sessions:      d("sessions", "Bound sessions in the whole cluster (scope=cluster) and on this node (scope=node).", "scope"),
		nodeSessions:  d("node_sessions", "Bound sessions of each live node (peer), as this node's directory has them.", "peer"),
		natsConnected: d("nats_connected", "1 while this node's NATS connection is up."),
		natsRoutes:    d("nats_routes", "Route connections of the embedded NATS server to the other nodes (0 with nats_url)."),
		natsMsgs:      d("nats_messages_total", "NATS messages of this node's connection, by direction (in, out).", "direction"),
		natsReconns:   d("nats_reconnects_total", "Times this node's NATS connection was re-established."),
		stanzas:       d("stanzas_total", "Stanzas between nodes: sent (published to another node), send_failed, delivered (from another node to a session here), rerouted (its session had left: routed again here), dropped (malformed, logged).", "result"),
		deaths:        d("dead_nodes_total", "Nodes this node took for dead (no heartbeat for dead_after)."),
		burials:       d("burials_total", "Dead nodes whose sessions this node removed from the directory and announced as unavailable."),
		inboxQueued:   d("inbox_queued", "Messages from other nodes waiting to be handled here (NATS's pending buffer and the inbox workers' queues)."),
		inboxFull:     d("inbox_full_total", "Times a message from another node waited for a full inbox worker queue (back-pressure on NATS)."),
		inboxDropped:  d("inbox_dropped_total", "Messages from other nodes that NATS dropped because this node's inbox fell behind by more than its pending limit (slow consumer, logged)."),
		bindsRefused:  d("binds_refused_total", "Resource binds refused because the session could not be written to the directory (resource-constraint to the client)."),
		movesRefused:  d("resumptions_refused_total", "XEP-0198 resumptions on another node refused because this node could not move the session's record in the directory (the session stayed here; <failed/> to the client)."),
	}
}

type collector struct {
	n *Node
	d descs
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.d
	for _, x := range []*prometheus.Desc{d.nodes, d.healthy, d.sessions, d.nodeSessions, d.natsConnected, d.natsRoutes, d.natsMsgs, d.natsReconns, d.stanzas, d.deaths, d.burials, d.inboxQueued, d.inboxFull, d.inboxDropped, d.bindsRefused, d.movesRefused} {
		ch <- x
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	n, d := c.n, c.d
	st := n.Status()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(d.nodes, float64(len(st.Nodes)))
	gauge(d.healthy, b2f(st.Healthy))
	gauge(d.sessions, float64(st.Sessions), "cluster")
	gauge(d.sessions, float64(st.LocalSessions), "node")
	seen := map[string]bool{}
	for _, p := range st.Nodes {
		if !seen[p.Name] { // a restarted node's two incarnations: one series
			seen[p.Name] = true
			gauge(d.nodeSessions, float64(p.Sessions), p.Name)
		}
	}
	gauge(d.natsConnected, b2f(st.NATS.Connected))
	gauge(d.natsRoutes, float64(st.NATS.Routes))
	counter(d.natsMsgs, st.NATS.InMsgs, "in")
	counter(d.natsMsgs, st.NATS.OutMsgs, "out")
	counter(d.natsReconns, st.NATS.Reconnects)
	counter(d.stanzas, n.stats.sent.Load(), "sent")
	counter(d.stanzas, n.stats.sendFails.Load(), "send_failed")
	counter(d.stanzas, n.stats.delivered.Load(), "delivered")
	counter(d.stanzas, n.stats.rerouted.Load(), "rerouted")
	counter(d.stanzas, n.stats.dropped.Load(), "dropped")
	counter(d.deaths, st.DeadNodes)
	counter(d.burials, st.Burials)
	queued, full, dropped := n.inboxState()
	gauge(d.inboxQueued, float64(queued))
	counter(d.inboxFull, full)
	counter(d.inboxDropped, dropped)
	counter(d.bindsRefused, n.stats.bindsRefused.Load())
	counter(d.movesRefused, n.stats.movesRefused.Load())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
