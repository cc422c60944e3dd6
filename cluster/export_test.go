package cluster

// DepsOf gives tests the router and registry a node runs with.
func DepsOf(n *Node) Deps { return n.getDeps() }

// Delivered counts the stanzas from other nodes that n handed to its
// sessions: a test waits on it for what another node sent to have
// arrived.
func Delivered(n *Node) uint64 { return n.stats.delivered.Load() }

// Rerouted counts the stanzas from other nodes whose session had left
// when they arrived (routed again on n).
func Rerouted(n *Node) uint64 { return n.stats.rerouted.Load() }

// InboxWorker is the inbox worker of n that takes the messages for full.
func InboxWorker(n *Node, full string) int {
	return int(inboxKey([]byte("d"+full)) % uint64(len(n.inq)))
}
