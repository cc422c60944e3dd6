package module_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// hookModule registers a hook besides its IQ handler: it acts on every
// host, so no host may disable it.
type hookModule struct{}

func (m *hookModule) Start(h *module.Handle) error {
	logEvent("start perhost-hook")
	h.Hook(module.HookOutbound, 0, func(context.Context, *module.Stanza) bool { return false })
	return nil
}

func (m *hookModule) Stop() error { logEvent("stop perhost-hook"); return nil }

// iqModule answers IQs of urn:test only.
type iqModule struct{}

func (iqModule) Start(h *module.Handle) error {
	h.HandleIQ(module.TargetServer, "get", "urn:test", func(context.Context, *module.IQ) (*xml.Element, error) { return nil, nil })
	return nil
}

func init() {
	module.Register("perhost-hook", func() module.Module { return &hookModule{} })
	module.Register("perhost-iq", func() module.Module { return iqModule{} })
}

func TestDisablePerHost(t *testing.T) {
	r := module.NewRegistry()
	hosts := []module.VHost{{Domain: "a.test", DisabledModules: []string{"registrytest-a"}}, {Domain: "b.test"}}
	started, err := r.Start([]string{"registrytest-a", "registrytest-b"}, module.Services{Logger: discard, VHosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	defer module.StopAll(context.Background(), started)
	if got, want := r.FeaturesFor("a.test"), []string{"urn:test:registrytest-b"}; !slices.Equal(got, want) {
		t.Errorf("features of a.test %v, want %v", got, want)
	}
	if got := r.FeaturesFor("b.test"); len(got) != 2 {
		t.Errorf("features of b.test %v, want both", got)
	}

	// Unknown names and modules that act on every host are refused.
	if _, err := module.NewRegistry().Start([]string{"registrytest-a"}, module.Services{VHosts: []module.VHost{{Domain: "a.test", DisabledModules: []string{"nope"}}}}); err == nil || !strings.Contains(err.Error(), `"nope" is not a module`) {
		t.Errorf("unknown module: %v", err)
	}
	takeLog()
	_, err = module.NewRegistry().Start([]string{"perhost-hook"}, module.Services{VHosts: []module.VHost{{Domain: "a.test", DisabledModules: []string{"perhost-hook"}}}})
	if err == nil || !strings.Contains(err.Error(), "cannot be disabled on a.test") || !strings.Contains(err.Error(), "a stanza hook") {
		t.Errorf("module with a hook: %v", err)
	}
	if got, want := takeLog(), []string{"start perhost-hook", "stop perhost-hook"}; !slices.Equal(got, want) {
		t.Errorf("lifecycle %v, want %v (a refused module is stopped)", got, want)
	}
}

func TestDisabledIQ(t *testing.T) {
	r := module.NewRegistry()
	hosts := []module.VHost{{Domain: "a.test", DisabledModules: []string{"perhost-iq"}}, {Domain: "b.test"}}
	started, err := r.Start([]string{"perhost-iq"}, module.Services{VHosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	defer module.StopAll(context.Background(), started)
	for _, tc := range []struct{ to, from, want string }{
		{"a.test", "u@b.test/r", "error"},
		{"b.test", "u@a.test/r", "result"},
		{"", "u@a.test/r", "error"},
		{"", "u@b.test/r", "result"},
	} {
		el := xml.NewBuilder("iq", xml.NSClient).Attr("type", "get").Attr("id", "1").Element()
		iq := &module.IQ{Stanza: &module.Stanza{El: el, From: jid.MustParse(tc.from)}, ID: "1", Type: "get", Payload: xml.NewBuilder("q", "urn:test").Element()}
		if tc.to != "" {
			iq.To = jid.MustParse(tc.to)
		}
		target := module.TargetServer
		if tc.to == "" {
			target = module.TargetAccount
		}
		reply := r.HandleIQ(context.Background(), target, iq, discard)
		if got := reply.Attr("type"); got != tc.want {
			t.Errorf("to %q from %s: %s, want %s", tc.to, tc.from, reply, tc.want)
		}
		if tc.want == "error" && !strings.Contains(reply.String(), stanza.ServiceUnavailable) {
			t.Errorf("to %q: %s, want service-unavailable", tc.to, reply)
		}
	}
}

// BenchmarkHandleIQ is the dispatch of one IQ on a server where no host
// disables a module (the per-host check must cost nothing there).
func BenchmarkHandleIQ(b *testing.B) {
	r := module.NewRegistry()
	started, err := r.Start([]string{"perhost-iq"}, module.Services{})
	if err != nil {
		b.Fatal(err)
	}
	defer module.StopAll(context.Background(), started)
	el := xml.NewBuilder("iq", xml.NSClient).Attr("type", "get").Attr("id", "1").Element()
	iq := &module.IQ{Stanza: &module.Stanza{El: el, From: jid.MustParse("u@a.test/r"), To: jid.MustParse("a.test")}, ID: "1", Type: "get", Payload: xml.NewBuilder("q", "urn:test").Element()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.HandleIQ(ctx, module.TargetServer, iq, discard)
	}
}
