package pubsub_test

import (
	"fmt"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestClusterPubSub: the pubsub.<host> service and PEP in a 3-node
// cluster. A service node created through one node and subscribed to
// through another notifies the subscriber; a PEP publish by a user on
// node 1 reaches a contact's resource on node 2 that asked for it with
// +notify in its caps, verified on node 2 (the caps are shared), and not
// one that did not.
func TestClusterPubSub(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	e := &env{t: t, s: nodes[0], synced: map[string]bool{}}
	for _, u := range []string{"alice", "bob", "carol"} {
		nodes[0].AddUser(t, u, "pw")
	}
	e.friends("alice", "bob")
	on := func(i int, user, resource string) *client {
		return &client{Client: testutil.Login(t, nodes[i], user, "pw", resource), t: t, e: e}
	}
	const svc = "pubsub.localhost"

	// The service: every request goes to its owner node.
	alice := on(0, "alice", "pc")
	alice.Send("<presence/>")
	ok(t, alice.iq("<iq type='set' id='%s' to='"+svc+"'>"+pubsubOpenTag+"<create node='news'/></pubsub></iq>"))
	carol := on(2, "carol", "x")
	carol.Send("<presence/>")
	ok(t, carol.iq("<iq type='set' id='%s' to='"+svc+"'>"+pubsubOpenTag+"<subscribe node='news' jid='carol@localhost'/></pubsub></iq>"))
	wantError(t, carol.iq("<iq type='set' id='%s' to='"+svc+"'>"+pubsubOpenTag+"<create node='news'/></pubsub></iq>"), "conflict", "")
	ok(t, alice.iq(fmt.Sprintf("<iq type='set' id='%%s' to='%s'>", svc)+pubsubOpenTag+"<publish node='news'><item id='n1'><entry xmlns='http://www.w3.org/2005/Atom'><title>One</title></entry></item></publish></pubsub></iq>"))
	carol.wantItem(svc, "news", "n1", "One")

	// PEP: bob's phone on node 2 asks for alice's device lists, his
	// laptop on node 3 for bundles only.
	ok(t, alice.iq(publish(nsDevices, fmt.Sprintf(devicesItem, 1111), publishOpen)))
	phone := on(1, "bob", "phone")
	phone.online(newCaps(t, nsOMEMO, nsDevices+"+notify"))
	phone.wantItem("alice@localhost", nsDevices, "current", "1111") // sent by node 2 at login
	laptop := on(2, "bob", "laptop")
	laptop.online(newCaps(t, nsOMEMO, nsBundles+"+notify"))

	ok(t, alice.iq(publish(nsDevices, fmt.Sprintf(devicesItem, 2222), publishOpen)))
	phone.wantItem("alice@localhost", nsDevices, "current", "2222")
	laptop.quiet()
	ok(t, alice.iq(publish(nsBundles, bundleItem, publishOpen)))
	laptop.wantItem("alice@localhost", nsBundles, "current", "BBBB")
	phone.quiet()
}
