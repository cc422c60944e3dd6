package module_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/module"
)

// counter is a service the test modules provide and use.
type counter interface{ Add() int }

type count struct{ n int }

func (c *count) Add() int { c.n++; return c.n }

// depMod is a test module with declared Deps; it records its start and
// stop in *log and, when it provides a service, provides a *count.
type depMod struct {
	name string
	deps module.Deps
	log  *[]string
	got  map[string]counter // what Require returned at start
}

func (m *depMod) Deps() module.Deps { return m.deps }

func (m *depMod) Start(h *module.Handle) error {
	*m.log = append(*m.log, "start "+m.name)
	for _, s := range m.deps.Provides {
		module.Provide[counter](h, s, &count{})
	}
	m.got = map[string]counter{}
	for _, s := range append(slices.Clone(m.deps.Requires), m.deps.Uses...) {
		c, err := module.Require[counter](h, s)
		if err != nil && !(errors.Is(err, module.ErrNoService) && slices.Contains(m.deps.Uses, s)) {
			return err
		}
		m.got[s] = c
	}
	return nil
}

func (m *depMod) Stop() error {
	*m.log = append(*m.log, "stop "+m.name)
	return nil
}

// register makes modules prefix-name available with deps, all logging to
// one list; it returns the list and the instances the registry makes.
func register(prefix string, deps map[string]module.Deps) (*[]string, map[string]*depMod) {
	log := &[]string{}
	made := map[string]*depMod{}
	for name, d := range deps {
		module.Register(prefix+name, func() module.Module {
			m := &depMod{name: name, deps: d, log: log}
			made[name] = m
			return m
		})
	}
	return log, made
}

func names(prefix string, ns ...string) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = prefix + n
	}
	return out
}

func TestStartOrder(t *testing.T) {
	log, made := register("order-", map[string]module.Deps{
		"a": {Uses: []string{"svc-d", "svc-none"}},
		"b": {},
		"c": {Requires: []string{"svc-e"}},
		"d": {Provides: []string{"svc-d"}, Requires: []string{"svc-e"}},
		"e": {Provides: []string{"svc-e"}},
	})
	ms, err := module.NewRegistry().Start(names("order-", "a", "b", "c", "d", "e"), module.Services{})
	if err != nil {
		t.Fatal(err)
	}
	// Providers first; independent modules in the order given.
	want := []string{"start b", "start e", "start c", "start d", "start a"}
	if !slices.Equal(*log, want) {
		t.Fatalf("started %v, want %v", *log, want)
	}
	if made["a"].got["svc-d"] == nil || made["a"].got["svc-none"] != nil {
		t.Errorf("a got %v: want svc-d, no svc-none", made["a"].got)
	}
	// c and d share e's one instance.
	made["c"].got["svc-e"].Add()
	if n := made["d"].got["svc-e"].Add(); n != 2 {
		t.Errorf("d's svc-e counted %d, want 2 (the instance c used)", n)
	}
	*log = nil
	if err := module.StopAll(context.Background(), ms); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(want)
	for i := range want {
		want[i] = strings.Replace(want[i], "start", "stop", 1)
	}
	if !slices.Equal(*log, want) {
		t.Fatalf("stopped %v, want %v", *log, want)
	}
}

func TestStartOrderErrors(t *testing.T) {
	register("bad-", map[string]module.Deps{
		"needy": {Requires: []string{"svc-missing"}},
		"p1":    {Provides: []string{"svc-twice"}},
		"p2":    {Provides: []string{"svc-twice"}},
		"w":     {Uses: []string{"svc-x"}},
		"x":     {Provides: []string{"svc-x"}, Requires: []string{"svc-z"}},
		"y":     {Provides: []string{"svc-y"}, Requires: []string{"svc-x"}},
		"z":     {Provides: []string{"svc-z"}, Uses: []string{"svc-y"}},
	})
	for _, tc := range []struct {
		mods []string
		want string
	}{
		{[]string{"needy"}, `module bad-needy requires service "svc-missing", which none of the modules started provides`},
		{[]string{"p1", "p2"}, `modules bad-p1 and bad-p2 both provide service "svc-twice"`},
		{[]string{"w", "x", "y", "z"}, "modules depend on each other in a cycle: bad-x → bad-z → bad-y → bad-x"},
	} {
		_, err := module.NewRegistry().Start(names("bad-", tc.mods...), module.Services{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("Start(%v) = %v, want %q", tc.mods, err, tc.want)
		}
	}
}

// Services are the registry's: two registries (two servers) with the same
// modules each see their own.
func TestServicesPerRegistry(t *testing.T) {
	_, made := register("iso-", map[string]module.Deps{
		"p": {Provides: []string{"svc"}},
		"u": {Requires: []string{"svc"}},
	})
	var used []counter
	for range 2 {
		if _, err := module.NewRegistry().Start(names("iso-", "p", "u"), module.Services{}); err != nil {
			t.Fatal(err)
		}
		used = append(used, made["u"].got["svc"])
	}
	used[0].Add()
	if n := used[1].Add(); n != 1 {
		t.Errorf("the second registry's service counted %d, want 1", n)
	}
}

func TestProvideRequire(t *testing.T) {
	r := module.NewRegistry()
	p := r.NewHandle("p", module.Services{})
	u := r.NewHandle("u", module.Services{})
	if _, err := module.Require[counter](u, "svc"); !errors.Is(err, module.ErrNoService) {
		t.Fatalf("Require before Provide: %v, want ErrNoService", err)
	}
	module.Provide[counter](p, "svc", &count{})
	if c, err := module.Require[counter](u, "svc"); err != nil || c.Add() != 1 {
		t.Fatalf("Require: %v, %v", c, err)
	}
	// A service is used through the consumer's own interface; one it
	// does not implement is an error, not a panic.
	if _, err := module.Require[fmt.Stringer](u, "svc"); err == nil || errors.Is(err, module.ErrNoService) {
		t.Errorf("Require as the wrong type: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a service provided twice did not panic")
			}
		}()
		module.Provide[counter](u, "svc", &count{})
	}()
	p.Close()
	if _, err := module.Require[counter](u, "svc"); !errors.Is(err, module.ErrNoService) {
		t.Errorf("Require after the provider closed: %v, want ErrNoService", err)
	}
}

// A module started by Start must declare what it provides and requires:
// the start order rests on it.
func TestUndeclaredService(t *testing.T) {
	log := &[]string{}
	module.Register("undeclared-p", func() module.Module { return &rogue{log: log, provide: true} })
	module.Register("undeclared-r", func() module.Module { return &rogue{log: log} })
	for _, n := range []string{"undeclared-p", "undeclared-r"} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "which its Deps do not declare") {
					t.Errorf("%s: recovered %v, want a panic about Deps", n, r)
				}
			}()
			module.NewRegistry().Start([]string{n}, module.Services{})
		}()
	}
}

type rogue struct {
	log     *[]string
	provide bool
}

func (m *rogue) Start(h *module.Handle) error {
	if m.provide {
		module.Provide[counter](h, "svc", &count{})
		return nil
	}
	_, err := module.Require[counter](h, "svc")
	return err
}
