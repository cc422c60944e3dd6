package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/admin"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestClusterAdmin: on a cluster, status, the session list, kick and
// /metrics of any node cover every node (issue 17), and a node's death
// shows in the others' metrics.
func TestClusterAdmin(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, adminListener)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	n1.AddUser(t, "alice", "alice pass")
	n1.AddUser(t, "bob", "bob pass")
	alice := testutil.Login(t, n1, "alice", "alice pass", "pc")
	alice.Send("<presence/>")
	bob := testutil.Login(t, n2, "bob", "bob pass", "phone")
	bob.Send("<presence/>")
	for _, n := range nodes {
		eventually(t, "both sessions available on "+n.Node().Name(), func() bool {
			d := n.Node().Directory()
			a, b := d.Session(jid.MustParse("alice@localhost/pc")), d.Session(jid.MustParse("bob@localhost/phone"))
			return d.Count() == 2 && a != nil && a.Available() && b != nil && b.Available()
		})
	}

	// Status: the cluster as n1 sees it.
	var st admin.Status
	getJSON(t, "http://"+n1.Admin+admin.PathStatus, &st)
	cl := st.Cluster
	if cl == nil || cl.Node != "n1" || !cl.Healthy || len(cl.Nodes) != 3 || cl.Sessions != 2 || cl.LocalSessions != 1 ||
		!cl.NATS.Embedded || !cl.NATS.Connected || cl.NATS.Routes == 0 {
		t.Fatalf("cluster status %+v", cl)
	}
	for i, want := range []struct {
		name     string
		self     bool
		sessions int
	}{{"n1", true, 1}, {"n2", false, 1}, {"n3", false, 0}} {
		if n := cl.Nodes[i]; n.Name != want.name || n.Self != want.self || n.Sessions != want.sessions || n.Self != n.LastSeen.IsZero() {
			t.Errorf("node %d: %+v, want %+v", i, n, want)
		}
	}

	// The session list of a node with none of its own has both.
	var ss []admin.Session
	getJSON(t, "http://"+n3.Admin+admin.PathSessions, &ss)
	if len(ss) != 2 || ss[0].JID != "alice@localhost/pc" || ss[0].Node != "n1" || ss[1].JID != "bob@localhost/phone" || ss[1].Node != "n2" ||
		ss[0].Available == nil || !*ss[0].Available || ss[1].Available == nil || !*ss[1].Available {
		t.Fatalf("sessions on n3: %+v", ss)
	}
	// n2's own session has the transport's details, the other the node.
	getJSON(t, "http://"+n2.Admin+admin.PathSessions, &ss)
	if len(ss) != 2 || ss[1].Node != "n2" || ss[1].IP != "127.0.0.1" || ss[1].Transport != "c2s" || ss[0].Node != "n1" || ss[0].IP != "" ||
		ss[1].Available == nil || !*ss[1].Available {
		t.Fatalf("sessions on n2: %+v", ss)
	}

	// Metrics: membership, health, sessions in both scopes, NATS.
	m := scrape(t, n1)
	for sample, want := range map[string]float64{
		`xmppd_cluster_nodes{node="n1"}`:                    3,
		`xmppd_cluster_healthy{node="n1"}`:                  1,
		`xmppd_cluster_sessions{node="n1",scope="cluster"}`: 2,
		`xmppd_cluster_sessions{node="n1",scope="node"}`:    1,
		`xmppd_cluster_node_sessions{node="n1",peer="n2"}`:  1,
		`xmppd_cluster_node_sessions{node="n1",peer="n3"}`:  0,
		`xmppd_cluster_nats_connected{node="n1"}`:           1,
		`xmppd_cluster_dead_nodes_total{node="n1"}`:         0,
		`xmppd_sessions_bound`:                              2,
	} {
		if got, ok := m[sample]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", sample, got, ok, want)
		}
	}
	if m[`xmppd_cluster_nats_routes{node="n1"}`] < 2 || m[`xmppd_cluster_nats_messages_total{direction="in",node="n1"}`] == 0 {
		t.Errorf("NATS metrics: routes %v, in %v", m[`xmppd_cluster_nats_routes{node="n1"}`], m[`xmppd_cluster_nats_messages_total{direction="in",node="n1"}`])
	}

	// A message across: sent by n1, delivered by n2.
	sent := m[`xmppd_cluster_stanzas_total{node="n1",result="sent"}`]
	delivered := scrape(t, n2)[`xmppd_cluster_stanzas_total{node="n2",result="delivered"}`]
	alice.Send("<message to='bob@localhost/phone' type='chat'><body>across</body></message>")
	for {
		if el := bob.Next(); el.Name() == "message" {
			break
		}
	}
	if got := scrape(t, n1)[`xmppd_cluster_stanzas_total{node="n1",result="sent"}`]; got < sent+1 {
		t.Errorf("n1 sent %v, before %v", got, sent)
	}
	if got := scrape(t, n2)[`xmppd_cluster_stanzas_total{node="n2",result="delivered"}`]; got < delivered+1 {
		t.Errorf("n2 delivered %v, before %v", got, delivered)
	}

	// Kick through n1 a session on n2: its client reads the stream error
	// from n2, and it leaves every node's list.
	code, body := kick(t, n1, "bob@localhost/phone")
	if code != 200 || !strings.Contains(body, `"node": "n2"`) {
		t.Fatalf("kick: %d %s", code, body)
	}
	if cond := bob.ExpectStreamError(); cond != "policy-violation" {
		t.Fatalf("kicked client got %s", cond)
	}
	eventually(t, "bob gone from n1's directory", func() bool {
		return n1.Node().Directory().Session(jid.MustParse("bob@localhost/phone")) == nil
	})
	getJSON(t, "http://"+n1.Admin+admin.PathSessions, &ss)
	if len(ss) != 1 || ss[0].JID != "alice@localhost/pc" {
		t.Errorf("after kick: %+v", ss)
	}
	if code, body := kick(t, n3, "bob@localhost/phone"); code != 404 {
		t.Errorf("kick of a gone session: %d %s", code, body)
	}

	// A node dies: the others count it, one of them buries it.
	n3.Node().Kill()
	waitMetric(t, n1, `xmppd_cluster_nodes{node="n1"}`, 2)
	waitMetric(t, n1, `xmppd_cluster_dead_nodes_total{node="n1"}`, 1)
	waitMetric(t, n2, `xmppd_cluster_dead_nodes_total{node="n2"}`, 1)
	eventually(t, "one burial", func() bool {
		return scrape(t, n1)[`xmppd_cluster_burials_total{node="n1"}`]+scrape(t, n2)[`xmppd_cluster_burials_total{node="n2"}`] == 1
	})
	getJSON(t, "http://"+n2.Admin+admin.PathStatus, &st)
	if st.Cluster == nil || len(st.Cluster.Nodes) != 2 || st.Cluster.DeadNodes != 1 || !st.Cluster.Healthy {
		t.Errorf("status after n3's death: %+v", st.Cluster)
	}
}
