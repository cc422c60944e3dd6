// Package router delivers stanzas by the rules of RFC 6120 §10 and
// RFC 6121 §8: to local sessions, to the server's own handlers, and (later)
// to other cluster nodes and remote domains.
package router

import (
	"sync"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
)

// Local is the in-memory table of sessions bound on this node.
type Local struct {
	mu    sync.RWMutex
	users map[jid.JID]map[string]module.Session // bare JID → resource → session
	n     int
}

var _ module.Directory = (*Local)(nil)

// NewLocal returns an empty directory.
func NewLocal() *Local { return &Local{users: map[jid.JID]map[string]module.Session{}} }

// Bind adds s under its full JID and returns the session it replaced (the
// caller ends that one with <conflict/>, RFC 6120 §7.7.2.2), or nil.
func (d *Local) Bind(s module.Session) (replaced module.Session) {
	full := s.JID()
	bare := full.Bare()
	d.mu.Lock()
	defer d.mu.Unlock()
	rs := d.users[bare]
	if rs == nil {
		rs = make(map[string]module.Session, 1)
		d.users[bare] = rs
	}
	replaced = rs[full.Resource()]
	if replaced == nil {
		d.n++
	}
	rs[full.Resource()] = s
	return replaced
}

// Unbind removes s if it is still the session bound to its JID.
func (d *Local) Unbind(s module.Session) bool {
	full := s.JID()
	bare := full.Bare()
	d.mu.Lock()
	defer d.mu.Unlock()
	rs := d.users[bare]
	if rs == nil || rs[full.Resource()] != s {
		return false
	}
	delete(rs, full.Resource())
	d.n--
	if len(rs) == 0 {
		delete(d.users, bare)
	}
	return true
}

// Session returns the session bound to full, or nil.
func (d *Local) Session(full jid.JID) module.Session {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.users[full.Bare()][full.Resource()]
}

// Sessions returns the sessions of a bare JID.
func (d *Local) Sessions(bare jid.JID) []module.Session {
	d.mu.RLock()
	defer d.mu.RUnlock()
	rs := d.users[bare]
	if len(rs) == 0 {
		return nil
	}
	out := make([]module.Session, 0, len(rs))
	for _, s := range rs {
		out = append(out, s)
	}
	return out
}

// Count is the number of bound sessions.
func (d *Local) Count() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.n
}
