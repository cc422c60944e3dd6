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
	mu sync.RWMutex
	// users: bare JID (its canonical string) → its sessions. A string key
	// takes the runtime's string-keyed map path, which the per-message
	// lookup (Session) is about 40% cheaper on than a jid.JID key
	// (a struct: generic hash and equality calls); docs/performance.md.
	users map[string]user
	n     int
}

// user holds the sessions of one account. list is copy-on-write: Bind and
// Unbind replace it, never change it, so Sessions hands it out without a
// copy (the per-message path asks for it several times: router, carbons,
// blocking). byRes indexes it by resource once an account has many
// resources; most have one or two, and a scan of those is cheaper than a
// map, in memory too (a one-entry map cost ~0.5 KiB per idle session).
type user struct {
	list  []module.Session
	byRes map[string]module.Session // nil while len(list) <= indexAbove
}

// indexAbove is the number of resources from which an account's sessions
// are also indexed by resource.
const indexAbove = 8

func (u *user) find(resource string) (int, module.Session) {
	if u.byRes != nil {
		s := u.byRes[resource]
		if s == nil {
			return -1, nil
		}
		for i, t := range u.list {
			if t == s {
				return i, s
			}
		}
		return -1, nil
	}
	for i, s := range u.list {
		if s.JID().Resource() == resource {
			return i, s
		}
	}
	return -1, nil
}

func (u *user) reindex() {
	if len(u.list) <= indexAbove {
		u.byRes = nil
		return
	}
	u.byRes = make(map[string]module.Session, len(u.list))
	for _, s := range u.list {
		u.byRes[s.JID().Resource()] = s
	}
}

var _ module.Directory = (*Local)(nil)

// NewLocal returns an empty directory.
func NewLocal() *Local { return &Local{users: map[string]user{}} }

// Bind adds s under its full JID and returns the session it replaced (the
// caller ends that one with <conflict/>, RFC 6120 §7.7.2.2), or nil.
func (d *Local) Bind(s module.Session) (replaced module.Session) {
	full := s.JID()
	bare := full.Bare().String()
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.users[bare]
	i, replaced := u.find(full.Resource())
	list := make([]module.Session, len(u.list), len(u.list)+1)
	copy(list, u.list)
	if replaced != nil {
		list[i] = s
	} else {
		list = append(list, s)
		d.n++
	}
	u.list = list
	if u.byRes != nil {
		u.byRes[full.Resource()] = s
	} else {
		u.reindex()
	}
	d.users[bare] = u
	return replaced
}

// Unbind removes s if it is still the session bound to its JID.
func (d *Local) Unbind(s module.Session) bool {
	full := s.JID()
	bare := full.Bare().String()
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[bare]
	if !ok {
		return false
	}
	i, cur := u.find(full.Resource())
	if cur != s {
		return false
	}
	d.n--
	if len(u.list) == 1 {
		delete(d.users, bare)
		return true
	}
	list := make([]module.Session, 0, len(u.list)-1)
	list = append(list, u.list[:i]...)
	u.list = append(list, u.list[i+1:]...)
	if len(u.list) <= indexAbove {
		u.byRes = nil
	} else {
		delete(u.byRes, full.Resource())
	}
	d.users[bare] = u
	return true
}

// Session returns the session bound to full, or nil.
func (d *Local) Session(full jid.JID) module.Session {
	d.mu.RLock()
	defer d.mu.RUnlock()
	u := d.users[full.Bare().String()]
	_, s := u.find(full.Resource())
	return s
}

// Sessions returns the sessions of a bare JID. The slice is shared: callers
// must not modify it.
func (d *Local) Sessions(bare jid.JID) []module.Session {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.users[bare.String()].list
}

// Admit always lets a session bind: one node has nobody to disagree with.
func (d *Local) Admit() error { return nil }

// Updated does nothing: the table holds the sessions themselves, which
// answer for their presence.
func (d *Local) Updated(module.Session) {}

// All returns every bound session (a copy): for rare walks over the whole
// table, such as re-announcing them to a cluster.
func (d *Local) All() []module.Session {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]module.Session, 0, d.n)
	for _, u := range d.users {
		out = append(out, u.list...)
	}
	return out
}

// Count is the number of bound sessions.
func (d *Local) Count() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.n
}
