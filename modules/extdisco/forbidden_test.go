package extdisco

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// A request that reaches us from another server's user (over s2s), or
// from a domain with no user, gets no credentials for our relays.
func TestOnlyLocalUsers(t *testing.T) {
	m := &mod{
		hosts:    func(d string) bool { return d == "example.org" },
		services: []ExternalService{{Type: "turn", Host: "turn.example.org", Secret: "s", TTL: module.Duration{Duration: time.Hour}}},
		now:      time.Now,
	}
	for _, from := range []string{"mallory@evil.example/r", "example.org", "evil.example"} {
		iq := &module.IQ{Stanza: &module.Stanza{From: jid.MustParse(from)}, Type: "get", Payload: xml.NewBuilder("services", NS).Element()}
		_, err := m.iq(context.Background(), iq)
		var se *stanza.Error
		if !errors.As(err, &se) || se.Condition != stanza.Forbidden {
			t.Errorf("from %s: want forbidden, got %v", from, err)
		}
	}
	iq := &module.IQ{Stanza: &module.Stanza{From: jid.MustParse("alice@example.org/r")}, Type: "get", Payload: xml.NewBuilder("services", NS).Element()}
	if el, err := m.iq(context.Background(), iq); err != nil || el.Child("service", NS) == nil {
		t.Errorf("local user: %v %v", el, err)
	}
}
