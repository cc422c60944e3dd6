package muc

import (
	"context"
	"fmt"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
)

// In a cluster (module.Services.Cluster) a room lives on one node only,
// the owner of its bare JID (rendezvous hashing over the live nodes).
// Every stanza to a room or occupant JID, answers included, is forwarded
// there; the owner's router sends what the room produces to occupants
// wherever their sessions are. Persistent rooms are not loaded at start
// but on their first stanza at the node that owns them (storage is
// written on every change, so it is current); when ownership moves
// (a node joined, came back or died), the node that lost a room removes
// its occupants with status 333 and forgets the room; the new owner reads
// it from storage. See docs/clustering.md, "Multi-user chat".

// forward sends st to the room's owner when that is another node, and
// reports whether st is taken care of (forwarded, or failed).
func (s *service) forward(ctx context.Context, st *module.Stanza, answer bool) bool {
	c := s.m.h.Cluster
	if c == nil || module.Forwarded(ctx) {
		return false // a forwarded stanza is handled where it lands
	}
	node, self := c.Owner(st.To.Bare().String())
	if self {
		return false
	}
	if !c.Forward(node, st) && !answer {
		s.m.fail(ctx, st, errOf(stanza.RemoteServerTimeout, "the room's cluster node is unreachable"))
	}
	return true
}

// fetch reads the persistent room name from storage (cluster only: this
// node just became its owner) and adds it unless a stanza raced it there.
func (s *service) fetch(ctx context.Context, name string) (*room, error) {
	if s.m.store == nil {
		return nil, nil
	}
	rooms, err := s.m.store.MUCRooms(ctx, s.domain)
	if err != nil {
		return nil, fmt.Errorf("muc: load rooms of %s: %w", s.domain, err)
	}
	for _, sr := range rooms {
		if sr.Name != name {
			continue
		}
		r := s.fromStore(sr)
		if r == nil {
			return nil, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur := s.rooms[name]; cur != nil {
			return cur, nil
		}
		s.rooms[name] = r
		return r, nil
	}
	return nil, nil
}

// membershipChanged hands off the rooms this node no longer owns.
// Their occupants are removed with status codes 110 and 333 (XEP-0045
// §7.2.18/§16: removed by the service for a technical reason), so that
// their clients rejoin at once, which reaches the new owner; a client
// that misses it learns it from a self-ping (XEP-0410), which the new
// owner answers with not-acceptable. Persistent rooms are already in
// storage; a temporary room ends here, like at a shutdown, and is created
// anew by the first rejoin.
func (m *mod) membershipChanged() {
	c := m.h.Cluster
	for _, s := range m.services {
		for _, r := range s.roomList() {
			if _, self := c.Owner(r.jid.String()); self {
				continue
			}
			ob := &outbox{}
			ctx := context.WithValue(context.Background(), outboxKey{}, ob)
			r.mu.Lock()
			if !r.destroyed {
				r.handedOff = true
				r.removeAll(ctx, []int{333}, nil)
				if !r.cfg.Persistent {
					r.dropArchive(ctx)
				}
				m.log.Info("muc room handed off to its new cluster owner", "room", r.jid.String())
			}
			r.mu.Unlock()
			ob.route(m, context.Background())
		}
	}
}

// storedRooms lists the public persistent rooms of the service from
// storage, for disco#items in a cluster, where this node holds only the
// rooms it owns.
func (s *service) storedRooms(ctx context.Context) []storage.MUCRoom {
	if s.m.store == nil {
		return nil
	}
	rooms, err := s.m.store.MUCRooms(ctx, s.domain)
	if err != nil {
		s.m.log.Error("muc: list stored rooms", "service", s.domain, "err", err)
		return nil
	}
	return rooms
}

// roomJID is the bare JID of the stored room name, or false.
func (s *service) roomJID(name string) (jid.JID, bool) {
	j, err := jid.New(name, s.domain, "")
	return j, err == nil
}
