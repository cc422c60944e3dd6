package cluster

// DepsOf gives tests the router and registry a node runs with.
func DepsOf(n *Node) Deps { return n.getDeps() }
