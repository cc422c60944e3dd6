package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"
)

// checkRouteNames refuses to start the embedded NATS server when a node
// in the routes list already runs under this node's name. checkPeers
// would find the duplicate too, but only after this server had joined
// the routes: JetStream tells its servers apart by name, and two of one
// name in its meta group break the directory for every node. A route
// port greets with its INFO (server_name) before any authentication, so
// the check needs no secret and sends nothing. Unreachable routes are
// skipped: those nodes may start later.
func checkRouteNames(cfg Config) error {
	for _, r := range cfg.Routes {
		name, err := routeServerName(r)
		if err != nil {
			continue
		}
		if name == cfg.Node {
			return fmt.Errorf("cluster: the node at %s (a route) is already named %q: every node needs its own [cluster] node name", r, cfg.Node)
		}
	}
	return nil
}

func routeServerName(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReaderSize(c, 4096).ReadString('\n')
	if err != nil {
		return "", err
	}
	js, ok := strings.CutPrefix(strings.TrimSpace(line), "INFO ")
	if !ok {
		return "", fmt.Errorf("%s: not a NATS route port", addr)
	}
	var info struct {
		Name string `json:"server_name"`
	}
	if err := json.Unmarshal([]byte(js), &info); err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	return info.Name, nil
}
