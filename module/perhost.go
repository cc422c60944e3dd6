package module

import (
	"fmt"
	"slices"
	"strings"
)

// A virtual host may do without some modules ([[host]] disable_modules)
// while the other hosts of the server keep them. Modules are started
// once per server, so the registry does the disabling: the IQs a
// disabled module handles are answered, for that host, as if no module
// handled them (service-unavailable, RFC 6120 §8.3.3.19), and the host's
// disco#info leaves out the features only such modules announce. The
// other registrations (hooks, components, stream features, services)
// act on every host alike: a module that makes one cannot be disabled
// per host, and the server refuses to start rather than half-disable it.

// disable records, before any module starts, which modules each host
// disables; a name that is not among the modules started is an error.
func (r *Registry) disable(names []string, hosts []VHost) error {
	off := map[string]map[string]bool{}
	for _, h := range hosts {
		for _, n := range h.DisabledModules {
			if !slices.Contains(names, n) {
				return fmt.Errorf("host %s: disable_modules: %q is not a module (modules: %s)", h.Domain, n, strings.Join(names, ", "))
			}
			if off[h.Domain] == nil {
				off[h.Domain] = map[string]bool{}
			}
			off[h.Domain][n] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(off) > 0 {
		r.off = off
	} else {
		r.off = nil
	}
	r.publish()
	return nil
}

// checkPerHost refuses a started module that some host disables but that
// registered something acting on every host.
func (r *Registry) checkPerHost(h *Handle) error {
	if h.global == "" {
		return nil
	}
	var hosts []string
	for host, mods := range r.off {
		if mods[h.Name] {
			hosts = append(hosts, host)
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	slices.Sort(hosts)
	return fmt.Errorf("cannot be disabled on %s ([[host]] disable_modules): it registers %s, which serves every host alike; only modules that work through IQ handlers alone can be disabled per host",
		strings.Join(hosts, ", "), h.global)
}

func (h *Handle) markGlobal(what string) {
	if h.global == "" {
		h.global = what
	}
}

// addFeatureOwner records that h's module announces server feature ns,
// so that a host disabling it leaves ns out (unless another module
// announces it too).
func (h *Handle) addFeatureOwner(ns string) {
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.featOwner[ns] == nil {
		r.featOwner[ns] = map[string]int{}
	}
	r.featOwner[ns][h.Name]++
	r.publish()
	h.undo = append(h.undo, func() {
		if r.featOwner[ns][h.Name]--; r.featOwner[ns][h.Name] <= 0 {
			delete(r.featOwner[ns], h.Name)
		}
	})
}

// hostFeatures are the server features of each host that disables
// modules; caller holds r.mu.
func (r *Registry) hostFeatures(all []string) map[string][]string {
	if len(r.off) == 0 {
		return nil
	}
	out := make(map[string][]string, len(r.off))
	for host, mods := range r.off {
		feats := []string{}
		for _, f := range all {
			owners, keep := r.featOwner[f], len(r.featOwner[f]) == 0
			for m := range owners {
				keep = keep || !mods[m]
			}
			if keep {
				feats = append(feats, f)
			}
		}
		out[host] = feats
	}
	return out
}

// FeaturesFor lists the disco#info features of the virtual host host,
// sorted: Features without those of the modules host disables.
func (r *Registry) FeaturesFor(host string) []string {
	s := r.read()
	if f, ok := s.hostFeat[host]; ok {
		return f
	}
	return s.features
}

// iqHost is the virtual host an IQ is for: its 'to' (a server or an
// account), the sender's own server for one without 'to' (RFC 6120
// §10.3.3), the stream's for one before authentication.
func iqHost(iq *IQ) string {
	switch {
	case iq.Stream != nil:
		return iq.Stream.Domain()
	case !iq.To.IsZero():
		return iq.To.Domain()
	}
	return iq.From.Domain()
}
