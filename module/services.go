package module

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A module serves other modules through services: a value it provides
// under a name in its registry (so per server: two servers in a process
// never see each other's), which modules started after it look up by that
// name as an interface of their own (Prosody's module:depends). Modules
// thus never reach into each other's packages. Registry.Start orders the
// modules by what they declare with Deps.

// Deps are the services a module provides and uses (see Dependent).
type Deps struct {
	// Provides names the services Start provides with Provide.
	Provides []string
	// Requires names the services Start cannot do without: Registry.Start
	// starts their providers first and refuses to start the module when
	// none of the modules it starts provides one.
	Requires []string
	// Uses names services the module takes when some module provides
	// them: their providers start first; without one, Require reports
	// ErrNoService and the module does without.
	Uses []string
}

// Dependent is implemented by modules that provide or use services.
type Dependent interface {
	Deps() Deps
}

// ErrNoService: no module provides the service asked for.
var ErrNoService = errors.New("no such service")

// Provide makes impl available to the registry's modules as service name
// until h closes. A name provided twice, or one the module did not
// declare in Deps.Provides, is a programming error: it panics.
func Provide[T any](h *Handle, name string, impl T) {
	h.markGlobal("a service")
	if h.deps != nil && !slices.Contains(h.deps.Provides, name) {
		panic(fmt.Sprintf("module %s: provides service %q, which its Deps do not declare", h.Name, name))
	}
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, dup := r.services[name]; dup {
		panic(fmt.Sprintf("module %s: service %q is already provided by module %s", h.Name, name, p.module))
	}
	p := &provided{module: h.Name, impl: impl}
	r.services[name] = p
	h.undo = append(h.undo, func() {
		if r.services[name] == p {
			delete(r.services, name)
		}
	})
}

// Require returns service name as a T, the interface the caller uses it
// through. It fails with ErrNoService when no module provides it and
// with another error when the provided value is not a T; asking for a
// service not declared in Deps.Requires or Deps.Uses panics (the start
// order would not account for it). Call it from Start: the provider, which
// starts first, stops last.
func Require[T any](h *Handle, name string) (T, error) {
	var zero T
	if h.deps != nil && !slices.Contains(h.deps.Requires, name) && !slices.Contains(h.deps.Uses, name) {
		panic(fmt.Sprintf("module %s: requires service %q, which its Deps do not declare", h.Name, name))
	}
	r := h.reg
	r.mu.Lock()
	p := r.services[name]
	r.mu.Unlock()
	if p == nil {
		return zero, fmt.Errorf("module %s: service %q: %w", h.Name, name, ErrNoService)
	}
	v, ok := p.impl.(T)
	if !ok {
		return zero, fmt.Errorf("module %s: service %q of module %s is a %T, not a %T", h.Name, name, p.module, p.impl, &zero)
	}
	return v, nil
}

// provided is one service in a registry.
type provided struct {
	module string
	impl   any
}

// order returns the indexes of mods in start order: every module after
// the providers of the services it requires or uses, and otherwise in the
// order given (alphabetical, from Available). A required service no
// module provides, one provided twice, or a cycle is an error.
func order(names []string, mods []Module) ([]int, error) {
	deps := make([]Deps, len(mods))
	provider := map[string]int{}
	for i, m := range mods {
		if d, ok := m.(Dependent); ok {
			deps[i] = d.Deps()
		}
		for _, s := range deps[i].Provides {
			if j, dup := provider[s]; dup {
				return nil, fmt.Errorf("modules %s and %s both provide service %q", names[j], names[i], s)
			}
			provider[s] = i
		}
	}
	// after[i]: the modules i must start after.
	after := make([][]int, len(mods))
	for i, d := range deps {
		for _, s := range d.Requires {
			j, ok := provider[s]
			if !ok {
				return nil, fmt.Errorf("module %s requires service %q, which none of the modules started provides", names[i], s)
			}
			after[i] = append(after[i], j)
		}
		for _, s := range d.Uses {
			if j, ok := provider[s]; ok {
				after[i] = append(after[i], j)
			}
		}
	}
	started := make([]bool, len(mods))
	out := make([]int, 0, len(mods))
	for len(out) < len(mods) {
		next := -1
		for i := range mods {
			if started[i] {
				continue
			}
			ready := true
			for _, j := range after[i] {
				if !started[j] && j != i {
					ready = false
					break
				}
			}
			if ready {
				next = i
				break
			}
		}
		if next < 0 {
			return nil, fmt.Errorf("modules depend on each other in a cycle: %s", cycle(names, after, started))
		}
		started[next] = true
		out = append(out, next)
	}
	return out, nil
}

// cycle names a cycle among the modules not started, each of which waits
// for another not started.
func cycle(names []string, after [][]int, started []bool) string {
	first := slices.Index(started, false)
	seen := map[int]int{} // module → its index in path
	var path []int
	for i := first; ; {
		if k, ok := seen[i]; ok {
			var out []string
			for _, j := range append(path[k:], i) {
				out = append(out, names[j])
			}
			return strings.Join(out, " → ")
		}
		seen[i] = len(path)
		path = append(path, i)
		for _, j := range after[i] {
			if !started[j] && j != i {
				i = j
				break
			}
		}
	}
}
