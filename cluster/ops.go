package cluster

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"
)

// stats are the node's counters for operators (Status, Collector). They
// are atomics bumped where the event happens: no lock on the stanza path.
type stats struct {
	sent      atomic.Uint64 // stanzas published to another node's inbox
	sendFails atomic.Uint64 // ... that NATS refused
	delivered atomic.Uint64 // stanzas from other nodes handed to a local session
	rerouted  atomic.Uint64 // ... whose session had left: routed again here
	deaths    atomic.Uint64 // nodes this node took for dead
	burials   atomic.Uint64 // ... of which this node did the burial
	dropped   atomic.Uint64 // malformed inbox messages (inbox.go)
	inboxFull atomic.Uint64 // times the inbox waited for a full worker queue (inboxq.go)
	// binds refused: the session's record could not be written (bind.go)
	bindsRefused atomic.Uint64
	// resumptions refused: a session's record could not be moved to the
	// node where its client resumed it (move.go)
	movesRefused atomic.Uint64
}

// Status is the cluster as this node sees it, for the admin API.
type Status struct {
	Node    string `json:"node"`    // this node's name
	ID      string `json:"id"`      // this node's incarnation
	Healthy bool   `json:"healthy"` // this node can write the directory (takes logins)
	// Nodes are the live nodes, this one included, by name.
	Nodes []NodeStatus `json:"nodes"`
	// Sessions in the whole cluster, and on this node.
	Sessions      int        `json:"sessions"`
	LocalSessions int        `json:"local_sessions"`
	NATS          NATSStatus `json:"nats"`
	// DeadNodes counts the nodes this node took for dead since it
	// started; Burials those whose sessions it cleaned up itself.
	DeadNodes uint64 `json:"dead_nodes"`
	Burials   uint64 `json:"burials"`
}

// NodeStatus is one live node.
type NodeStatus struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	Self bool   `json:"self,omitempty"`
	// LastSeen is when its heartbeat last arrived (zero for this node).
	LastSeen time.Time `json:"last_seen,omitzero"`
	Sessions int       `json:"sessions"`
}

// NATSStatus is this node's NATS connection.
type NATSStatus struct {
	Embedded  bool   `json:"embedded"`
	Connected bool   `json:"connected"`
	Routes    int    `json:"routes"` // route connections of the embedded server
	InMsgs    uint64 `json:"in_msgs"`
	OutMsgs   uint64 `json:"out_msgs"`
	// Reconnects of this node's connection; with the embedded server
	// it never leaves the process.
	Reconnects uint64 `json:"reconnects"`
}

// SessionsByNode counts the sessions of each node in the directory (this
// node's own from its local table).
func (d *Directory) SessionsByNode() map[string]int {
	out := map[string]int{}
	if d.node != nil {
		out[d.node.cfg.Node] = d.local.Count()
	}
	for _, r := range d.RemoteSessions() {
		out[r.rec.Node]++
	}
	return out
}

// Status reports the cluster as this node sees it.
func (n *Node) Status() Status {
	by := n.dir.SessionsByNode()
	st := Status{
		Node: n.cfg.Node, ID: n.id, Healthy: n.Healthy(),
		Sessions: n.dir.Count(), LocalSessions: n.dir.LocalCount(),
		NATS:      n.natsStatus(),
		DeadNodes: n.stats.deaths.Load(), Burials: n.stats.burials.Load(),
	}
	st.Nodes = append(st.Nodes, NodeStatus{Name: n.cfg.Node, ID: n.id, Self: true, Sessions: by[n.cfg.Node]})
	n.mu.Lock()
	for id, p := range n.peers {
		if !p.dead {
			st.Nodes = append(st.Nodes, NodeStatus{Name: p.name, ID: id, LastSeen: p.seen, Sessions: by[p.name]})
		}
	}
	n.mu.Unlock()
	slices.SortFunc(st.Nodes, func(a, b NodeStatus) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return st
}

func (n *Node) natsStatus() NATSStatus {
	st := NATSStatus{Embedded: n.ns != nil}
	if n.nc != nil {
		s := n.nc.Stats()
		st.Connected = n.nc.IsConnected()
		st.InMsgs, st.OutMsgs, st.Reconnects = s.InMsgs, s.OutMsgs, s.Reconnects
	}
	if n.ns != nil && n.ns.Running() {
		st.Routes = n.ns.NumRoutes()
	}
	return st
}

// RemoteSessionInfo is another node's session as the directory has it.
type RemoteSessionInfo struct {
	JID       string
	Node      string
	Available bool
	Priority  int
}

// Info is what the directory knows of the session.
func (r *Remote) Info() RemoteSessionInfo {
	return RemoteSessionInfo{JID: r.full.String(), Node: r.rec.Node, Available: r.rec.Avail, Priority: r.rec.Prio}
}
