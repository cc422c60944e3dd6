package muc

import (
	"context"
	"fmt"

	"github.com/xmppd/xmppd/storage"
)

// Persistence: persistent rooms are written when an owner or admin
// changes them (configuration, subject, vCard, affiliations), never on
// the message path, and read once at start (in a cluster: by the node
// that owns the room, on its first stanza, cluster.go).

// load restores the service's persistent rooms, unlocked and empty.
func (s *service) load(ctx context.Context) error {
	if s.m.store == nil {
		return nil
	}
	rooms, err := s.m.store.MUCRooms(ctx, s.domain)
	if err != nil {
		return fmt.Errorf("muc: load rooms of %s: %w", s.domain, err)
	}
	for _, sr := range rooms {
		if r := s.fromStore(sr); r != nil {
			s.rooms[r.name] = r
		}
	}
	return nil
}

// fromStore makes the stored room sr, unlocked and empty; nil (logged)
// when it cannot be read.
func (s *service) fromStore(sr storage.MUCRoom) *room {
	j, ok := s.roomJID(sr.Name)
	if !ok {
		s.m.log.Error("stored room with a bad name, skipped", "service", s.domain, "name", sr.Name)
		return nil
	}
	r := newRoom(s, j, defaultConfig(s.m.cfg.MaxOccupants))
	r.historyLoaded = false // warmHistory reads it from the archive
	if err := r.decode(sr.Config); err != nil {
		s.m.log.Error("stored room with a bad configuration, skipped", "room", j.String(), "err", err)
		return nil
	}
	r.cfg.Persistent = true
	r.vcard = sr.VCard
	for _, a := range sr.Affiliations {
		aff, ok := parseAffiliation(a.Affiliation)
		if !ok || aff == affNone {
			continue
		}
		r.affs[a.JID] = affEntry{aff: aff, nick: a.Nick, reason: a.Reason}
	}
	return r
}

func (r *room) persistent() bool { return r.cfg.Persistent && !r.locked && r.svc.m.store != nil }

// save writes the room's configuration, subject and vCard.
func (r *room) save(ctx context.Context) {
	if !r.persistent() {
		return
	}
	err := r.svc.m.store.SaveMUCRoom(ctx, storage.MUCRoom{Service: r.svc.domain, Name: r.name, Config: r.encode(), VCard: r.vcard})
	if err != nil {
		r.svc.m.log.Error("save room", "room", r.jid.String(), "err", err)
	}
}

// saveAll writes the room and all its affiliations (it just became
// persistent, or its configuration changed).
func (r *room) saveAll(ctx context.Context) {
	if !r.persistent() {
		return
	}
	r.save(ctx)
	for k, e := range r.affs {
		r.saveAffiliation(ctx, k, e)
	}
}

func (r *room) saveAffiliation(ctx context.Context, key string, e affEntry) {
	if !r.persistent() {
		return
	}
	err := r.svc.m.store.SetMUCAffiliation(ctx, r.svc.domain, r.name, storage.MUCAffiliation{JID: key, Affiliation: e.aff.String(), Nick: e.nick, Reason: e.reason})
	if err != nil {
		r.svc.m.log.Error("save affiliation", "room", r.jid.String(), "jid", key, "err", err)
	}
}

// unsave removes the stored room (destroyed, or made temporary).
func (r *room) unsave(ctx context.Context) {
	if r.svc.m.store == nil {
		return
	}
	if err := r.svc.m.store.DeleteMUCRoom(ctx, r.svc.domain, r.name); err != nil && err != storage.ErrNotFound {
		r.svc.m.log.Error("delete stored room", "room", r.jid.String(), "err", err)
	}
}
