package cluster

// Nodes lists the names of the live nodes, this one included, sorted:
// for modules that tell every node something (modules/pubsub shares the
// entity caps it verified).
func (n *Node) Nodes() []string { return n.liveNodes() }
