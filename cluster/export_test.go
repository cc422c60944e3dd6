package cluster

// DepsOf gives tests the router and registry a node runs with.
func DepsOf(n *Node) Deps { return n.getDeps() }

// Delivered counts the stanzas from other nodes that n handed to its
// sessions: a test waits on it for what another node sent to have
// arrived.
func Delivered(n *Node) uint64 { return n.stats.delivered.Load() }
