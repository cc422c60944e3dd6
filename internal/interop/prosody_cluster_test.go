package interop_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/certs"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/s2s"
)

// TestProsodyS2SCluster: a real Prosody federates with a two-node xmppd
// cluster serving xmppd.test (needs PostgreSQL, as every cluster test).
// Prosody's route for xmppd.test names one node, and our user's session is
// always on the other, so both directions cross nodes:
//
//   - paula → our user: Prosody's stream lands on the node it knows, which
//     checks Prosody's dialback key and hands the stanzas to the node with
//     the session (cluster.Directory);
//   - our user → paula: the user's node opens its own stream to Prosody;
//     Prosody verifies that node's dialback key with the node it knows,
//     which answers from the secret all nodes derive from the cluster
//     secret (XEP-0185 §3).
//
// Then wanda, on the node Prosody knows, writes to paula as well: each
// node has its own outbound stream to prosody.test (one per node, see
// docs/clustering.md, "Federation"), and Prosody takes stanzas on both. Phase one
// routes Prosody to n1 with xavier on n2, and completes a presence
// subscription from paula to xavier; phase two restarts Prosody routed to
// n2 with yves on n1.
func TestProsodyS2SCluster(t *testing.T) {
	bin := lookProsody(t)
	pdir := t.TempDir()
	if _, err := certs.Load(pdir, []certs.HostCert{{Domain: "prosody.test"}}); err != nil {
		t.Fatal(err)
	}
	nodes := testutil.StartCluster(t, 2, `
[[host]]
domain = "xmppd.test"
[[listen]]
type = "s2s"
address = "127.0.0.1:0"
[s2s]
tls_verify = false
connect_timeout = "10s"
`)
	n1, n2 := nodes[0], nodes[1]
	n1.AddUser(t, "xavier@xmppd.test", "password1")
	n1.AddUser(t, "yves@xmppd.test", "password1")
	n1.AddUser(t, "wanda@xmppd.test", "password1")

	for i, p := range []struct {
		route, home *testutil.Server
		user        string
	}{
		{n1, n2, "xavier"},
		{n2, n1, "yves"},
	} {
		t.Logf("phase %d: Prosody reaches %s, %s is on %s", i+1, p.route.Node().Name(), p.user, p.home.Node().Name())
		c2sPort, s2sPort := freePort(t), freePort(t)
		_, rp, _ := net.SplitHostPort(p.route.S2SAddr)
		var routePort int
		fmt.Sscan(rp, &routePort)
		stop := startProsody(t, bin, pdir, c2sPort, s2sPort, routePort, "false", "")
		t.Cleanup(stop)
		for _, n := range nodes {
			n.S2S().SetRoute("prosody.test", s2s.Route{Address: fmt.Sprintf("127.0.0.1:%d", s2sPort)})
		}

		full := p.user + "@xmppd.test/res"
		ours := testutil.Login(t, p.home, p.user+"@xmppd.test", "password1", "res")
		ours.Send("<presence/>")
		waitSession(t, p.route, full)
		paula := prosodyLogin(t, fmt.Sprintf("127.0.0.1:%d", c2sPort), "paula", "password1")
		paula.Send("<presence/>")

		paula.Send("<message to='%s' type='chat' id='p1'><body>hello cluster</body></message>", full)
		m := nextBody(t, ours)
		if m.Attr("from") != "paula@prosody.test/res" || body(m) != "hello cluster" {
			t.Fatalf("%s got %s", p.user, m)
		}
		ours.Send("<message to='paula@prosody.test' type='chat' id='x1'><body>hello prosody</body></message>")
		m = nextBody(t, paula)
		if m.Attr("from") != full || body(m) != "hello prosody" {
			t.Fatalf("paula got %s", m)
		}

		// A user on the node Prosody knows writes too: that node opens
		// a stream of its own, so Prosody now has two inbound streams
		// from xmppd.test (one per node) and takes stanzas on both.
		other := testutil.Login(t, p.route, "wanda@xmppd.test", "password1", "res")
		other.Send("<message to='paula@prosody.test' type='chat' id='w1'><body>from the other node</body></message>")
		if m := nextBody(t, paula); m.Attr("from") != "wanda@xmppd.test/res" || body(m) != "from the other node" {
			t.Fatalf("paula got %s", m)
		}
		ours.Send("<message to='paula@prosody.test' type='chat' id='x2'><body>still here</body></message>")
		if m := nextBody(t, paula); m.Attr("from") != full || body(m) != "still here" {
			t.Fatalf("paula got %s", m)
		}
		for _, n := range nodes {
			if _, out := n.S2S().Streams(); out != 1 {
				t.Fatalf("%s has %d outbound s2s streams, want its own one to prosody.test", n.Node().Name(), out)
			}
		}

		if i == 0 {
			// RFC 6121 §3.1: the request lands on n1, whose presence
			// module asks xavier on n2; his approval and presence
			// leave from n2.
			subscribeFromProsody(paula, ours, full)
		}

		// Prosody never connected to the user's node: the dialback
		// verification of its key was answered by the other one.
		if in, _ := p.home.S2S().Streams(); in != 0 {
			t.Fatalf("%s has %d inbound s2s streams, want 0", p.home.Node().Name(), in)
		}

		ours.Close()
		other.Close()
		paula.Close()
		stop()
		// Prosody is gone: its streams end on both nodes before the
		// next phase routes prosody.test elsewhere.
		waitUntil(t, "s2s streams to the stopped Prosody closed", func() bool {
			for _, n := range nodes {
				if in, out := n.S2S().Streams(); in+out != 0 {
					return false
				}
			}
			return true
		})
	}
}

// waitSession waits until n's directory has full as available: a session
// bound on another node reaches it through the replicated bucket.
func waitSession(t *testing.T, n *testutil.Server, full string) {
	t.Helper()
	j := jid.MustParse(full)
	waitUntil(t, full+" on "+n.Node().Name(), func() bool {
		s := n.Node().Directory().Session(j)
		return s != nil && s.Available()
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
