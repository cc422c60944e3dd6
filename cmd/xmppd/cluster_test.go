package main

import (
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
)

// The operator commands against a cluster node show and act on the whole
// cluster (issue 17).
func TestClusterCommands(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "\n[[listen]]\ntype = \"admin\"\naddress = \"127.0.0.1:0\"\n")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	n1.AddUser(t, "alice", "alice pass")
	n1.AddUser(t, "bob", "bob pass")
	testutil.Login(t, n1, "alice", "alice pass", "pc")
	bob := testutil.Login(t, n2, "bob", "bob pass", "phone")
	for _, n := range nodes {
		for deadline := time.Now().Add(10 * time.Second); n.Node().Directory().Count() != 2; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never saw both sessions", n.Node().Name())
			}
		}
	}
	for _, c := range []struct {
		name string
		args []string
		out  []string
	}{
		{"status", []string{"status", "-admin", n1.Admin}, []string{
			"cluster           this node n1, healthy (in touch with a majority: takes logins)",
			"cluster sessions  2 (1 on this node)",
			"cluster nodes     n1 (n1-", "): 1 sessions, this node",
			"n2 (n2-", "): 1 sessions, heard from ",
			"n3 (n3-", "): 0 sessions, heard from ",
			"NATS              embedded, ", "route connections, connected",
			"dead nodes        0 noticed, 0 buried by this node",
		}},
		{"session list", []string{"session", "list", "-admin", n3.Admin}, []string{
			"NODE  JID", "n1    alice@localhost/pc   -", "n2    bob@localhost/phone  -",
		}},
		{"kick on another node", []string{"session", "kick", "-admin", n1.Admin, "bob@localhost/phone"}, []string{
			"kicked: bob@localhost/phone (on node n2)",
		}},
	} {
		code, out, errs := cli(t, "", c.args...)
		if code != 0 {
			t.Errorf("%s: code %d, stderr %q", c.name, code, errs)
		}
		for _, w := range c.out {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
	}
	if cond := bob.ExpectStreamError(); cond != "policy-violation" {
		t.Errorf("kicked client got %s", cond)
	}
	for deadline := time.Now().Add(10 * time.Second); n1.Node().Directory().Session(jid.MustParse("bob@localhost/phone")) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bob's session still in n1's directory")
		}
	}
}
