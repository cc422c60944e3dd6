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
