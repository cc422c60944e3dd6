package module

import (
	"context"
	"sync"
)

// SessionCarrier moves a module's state about one session along with the
// session when it moves to another cluster node (XEP-0198 resumption
// there, docs/clustering.md, "Stream management across nodes"). Export runs on the old node before the
// session ends there: it returns the state (nil: none) and forgets it, so
// that the session's end on that node (SessionClosed) does not act on it.
// Import runs on the new node once the session is bound there.
type SessionCarrier struct {
	Export func(s Session) []byte
	Import func(ctx context.Context, s Session, state []byte)
}

// carriers are the registered SessionCarriers by name. Apart from the
// snapshot: a session moves seldom.
type carriers struct {
	mu sync.Mutex
	m  map[string]SessionCarrier
}

// CarrySession registers c under name (the same on every node: the name
// keys the state between them).
func (h *Handle) CarrySession(name string, c SessionCarrier) {
	r := h.reg
	r.carry.mu.Lock()
	if r.carry.m == nil {
		r.carry.m = map[string]SessionCarrier{}
	}
	r.carry.m[name] = c
	r.carry.mu.Unlock()
	h.undo = append(h.undo, func() {
		r.carry.mu.Lock()
		delete(r.carry.m, name)
		r.carry.mu.Unlock()
	})
}

func (r *Registry) carriers() map[string]SessionCarrier {
	r.carry.mu.Lock()
	defer r.carry.mu.Unlock()
	out := make(map[string]SessionCarrier, len(r.carry.m))
	for k, v := range r.carry.m {
		out[k] = v
	}
	return out
}

// ExportSession collects (and takes from the modules) the state that
// moves with s.
func (r *Registry) ExportSession(s Session) map[string][]byte {
	var out map[string][]byte
	for name, c := range r.carriers() {
		if b := c.Export(s); b != nil {
			if out == nil {
				out = map[string][]byte{}
			}
			out[name] = b
		}
	}
	return out
}

// ImportSession hands the moved state to the modules of this node; state
// of a module this node does not run is dropped.
func (r *Registry) ImportSession(ctx context.Context, s Session, state map[string][]byte) {
	if len(state) == 0 {
		return
	}
	for name, c := range r.carriers() {
		if b, ok := state[name]; ok {
			c.Import(ctx, s, b)
		}
	}
}
