package disco

import (
	"testing"

	"github.com/xmppd/xmppd/module"
)

// XEP-0115 §5.2, the simple example.
func TestCapsVerXEPExample(t *testing.T) {
	ids := []module.Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}}
	features := []string{"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"}
	if got, want := capsVer(ids, features, nil), "QgayPKawpkPSDYmwT/WM94uAlu0="; got != want {
		t.Fatalf("ver = %s, want %s", got, want)
	}
}

// TestHostVerFollowsFeatures: the per-host caps cache gives the ver of the
// features the registry has now, whenever a module adds or withdraws one.
func TestHostVerFollowsFeatures(t *testing.T) {
	r := module.NewRegistry()
	m := &mod{}
	if err := m.Start(r.NewHandle("disco", module.Services{})); err != nil {
		t.Fatal(err)
	}
	fresh := func() string { return capsVer(r.Identities(), r.FeaturesFor("localhost"), nil) }
	v1 := m.hostVer("localhost")
	if v1 != fresh() || m.hostVer("localhost") != v1 {
		t.Fatalf("ver %s, want %s", v1, fresh())
	}
	x := r.NewHandle("x", module.Services{})
	x.AddFeature("urn:xmpp:ping")
	v2 := m.hostVer("localhost")
	if v2 == v1 || v2 != fresh() {
		t.Fatalf("after a feature was added: ver %s (before %s), want %s", v2, v1, fresh())
	}
	x.Close()
	if v3 := m.hostVer("localhost"); v3 != v1 {
		t.Fatalf("after the feature went: ver %s, want %s", v3, v1)
	}
}
