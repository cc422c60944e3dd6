package metrics

import (
	"testing"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/router"
)

// The per-stanza increments are on every session's hot path: they must not
// allocate (pre-resolved counters, no label lookups).
func TestIncrementsDoNotAllocate(t *testing.T) {
	m := New(func() int { return 0 })
	var obs c2s.Observer = m
	var rob router.Observer = m
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"StanzaIn", func() { obs.StanzaIn(c2s.KindMessage) }},
		{"StanzaOut", func() { obs.StanzaOut(c2s.KindPresence) }},
		{"Routed", func() { rob.Routed(router.Delivered) }},
		{"ConnOpened", func() { obs.ConnOpened(c2s.TransportHTTP) }},
		{"AuthFailed", func() { obs.AuthFailed("SCRAM-SHA-256") }},
		{"AuthFailed unknown mechanism", func() { obs.AuthFailed("X-EVIL") }},
		{"StreamError", func() { obs.StreamError("policy-violation") }},
	} {
		if n := testing.AllocsPerRun(1000, c.f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", c.name, n)
		}
	}
}

// Unknown label values from clients fold into "other" instead of growing
// the series set.
func TestUnknownMechanismIsOther(t *testing.T) {
	m := New(func() int { return 0 })
	m.AuthFailed("X-" + string(make([]byte, 100)))
	m.AuthFailed("")
	m.AuthSucceeded("HT-SHA-256-NONE") // XEP-0484 logins have their own series
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var fast float64
	for _, f := range fams {
		if f.GetName() != "xmppd_authentications_total" {
			continue
		}
		if n := len(f.GetMetric()); n != 2*len(mechanisms) {
			t.Errorf("%d series, want %d", n, 2*len(mechanisms))
		}
		for _, s := range f.GetMetric() {
			mech, res := s.GetLabel()[0].GetValue(), s.GetLabel()[1].GetValue()
			if mech == "other" && res == "failed" && s.GetCounter().GetValue() != 2 {
				t.Errorf("other/failed = %v, want 2", s.GetCounter().GetValue())
			}
			if mech == "HT-SHA-256-NONE" && res == "ok" {
				fast = s.GetCounter().GetValue()
			}
		}
	}
	if fast != 1 {
		t.Errorf("HT-SHA-256-NONE/ok = %v, want 1", fast)
	}
}

func BenchmarkStanzaIn(b *testing.B) {
	var obs c2s.Observer = New(func() int { return 0 })
	b.ReportAllocs()
	for b.Loop() {
		obs.StanzaIn(c2s.KindMessage)
	}
}
