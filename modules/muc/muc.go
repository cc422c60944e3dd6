// Package muc implements XEP-0045 multi-user chat as an in-process
// component: for each virtual host H it serves <subdomain>.H (by default
// conference.H) and every room and occupant JID at it. Rooms live in
// memory; persistent ones (their configuration, subject, vCard and
// affiliations) are also kept in storage.MUCRooms and loaded at start.
//
// Files by concern: room.go (state), privileges.go (the §5 tables),
// presence.go (join, leave, nick and status changes), message.go
// (groupchat, private messages, subject, invitations, voice requests,
// history), admin.go (muc#admin lists), owner.go (creation, configuration,
// destroy, registration), disco.go (disco, vCard, IQs to occupants),
// store.go (persistence), forms.go (XEP-0004).
package muc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// Namespaces.
const (
	NS        = "http://jabber.org/protocol/muc"
	NSUser    = NS + "#user"
	NSAdmin   = NS + "#admin"
	NSOwner   = NS + "#owner"
	nsDiscoI  = "http://jabber.org/protocol/disco#info"
	nsDiscoIt = "http://jabber.org/protocol/disco#items"
	nsDelay   = "urn:xmpp:delay"
	nsSID     = "urn:xmpp:sid:0"
	nsOccID   = "urn:xmpp:occupant-id:0"
	nsPing    = "urn:xmpp:ping"
	nsVCard   = "vcard-temp"
	nsReg     = "jabber:iq:register"
	nsConf    = "jabber:x:conference" // XEP-0249
)

func init() { module.Register("muc", func() module.Module { return &mod{} }) }

type mod struct {
	h     *module.Handle
	log   *slog.Logger
	cfg   Config
	store storage.MUCRooms // nil: nothing persists
	// archive is the XEP-0313 store for rooms (Services.Archive, keyed by
	// the room's bare JID); nil without one.
	archive archiver
	// The archive writer (mam.go): a queue and one goroutine.
	archQ       chan archiveJob
	archMu      sync.RWMutex
	archClosed  bool
	archStopped chan struct{}
	// archInterval is the least time between two commits ([muc]
	// archive_interval).
	archInterval time.Duration
	services     map[string]*service
	now          func() time.Time
	// push notifies members who have no session (push.go); nil without
	// the push module.
	push pushService
}

// service is the MUC service of one host.
type service struct {
	m      *mod
	domain string // conference.example.org
	host   string // example.org
	jid    jid.JID

	mu    sync.Mutex
	rooms map[string]*room // by localpart
}

func (m *mod) Start(h *module.Handle) error {
	m.h, m.log, m.store, m.now = h, h.Logger, h.MUCRooms, time.Now
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.cfg = *module.ConfigOf[*Config](h)
	switch ps, err := module.Require[pushService](h, "push"); {
	case err == nil:
		m.push = ps
	case !errors.Is(err, module.ErrNoService):
		return err
	}
	if h.Archive != nil && m.cfg.Enabled && m.cfg.Archive {
		m.archive = h.Archive
		m.archQ = make(chan archiveJob, archiveQueue)
		m.archStopped = make(chan struct{})
		m.archInterval = m.cfg.ArchiveInterval.Duration
	}
	if !m.cfg.Enabled {
		return nil
	}
	m.services = map[string]*service{}
	for _, host := range h.Domains() {
		d := m.cfg.Subdomain + "." + host
		j, err := jid.Parse(d)
		if err != nil {
			return fmt.Errorf("muc domain %q: %w", d, err)
		}
		s := &service{m: m, domain: j.Domain(), host: host, jid: j, rooms: map[string]*room{}}
		if h.Cluster == nil {
			// In a cluster each owner reads its rooms when they are first
			// addressed (cluster.go): a copy loaded here could go stale
			// while another node owns the room.
			if err := s.load(context.Background()); err != nil {
				return err
			}
		}
		m.services[s.domain] = s
		h.AddComponent(module.Component{Domain: s.domain, Parent: host, Name: "Chatrooms", Handle: s.handle})
	}
	if h.Cluster != nil {
		h.Cluster.OnMembership(m.membershipChanged)
	}
	if m.archQ != nil {
		go m.archiveLoop() // last: a failed Start leaves no goroutine behind
	}
	return nil
}

// Stop runs once the rooms' runners (mailbox.go, on the handle's
// goroutines) have finished what their mailboxes held, and tells every
// occupant that the service is going away (§11.2, status code
// 332) before the component disappears. Stanzas that arrive from now on
// are dropped.
func (m *mod) Stop() error {
	for _, s := range m.services {
		for _, r := range s.roomList() {
			ob := &outbox{}
			ctx := context.WithValue(context.Background(), outboxKey{}, ob)
			r.mu.Lock()
			if !r.destroyed {
				r.removeAll(ctx, []int{332}, nil)
				if !r.cfg.Persistent {
					r.dropArchive(ctx)
				}
			}
			r.mu.Unlock()
			ob.route(m, context.Background())
		}
	}
	m.stopArchive()
	return nil
}

func (s *service) roomList() []*room {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		out = append(out, r)
	}
	return out
}

func (s *service) room(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[name]
}

// send routes el (already addressed) from 'from' to 'to'. Under a room's
// lock ctx carries the runner's outbox (mailbox.go): el is queued there
// and routed once the lock is released.
func (m *mod) send(ctx context.Context, el *xml.Element, from, to jid.JID) {
	if ob, _ := ctx.Value(outboxKey{}).(*outbox); ob != nil {
		ob.out = append(ob.out, module.Stanza{El: el, From: from, To: to})
		return
	}
	m.h.Router.Route(ctx, &module.Stanza{El: el, From: from, To: to})
}

// fail answers st with a stanza error from st.To, never an error with an
// error (RFC 6120 §8.3.1). by names the room (XEP-0045 examples carry it).
func (m *mod) fail(ctx context.Context, st *module.Stanza, e *stanza.Error) {
	if stanza.IsError(st.El) {
		return
	}
	m.send(ctx, e.Reply(st.El), st.To, st.From)
}

func errOf(cond, text string) *stanza.Error { return stanza.NewError(cond, text) }

// handle is the component entry point: every stanza to the service's
// domain, to a room or to an occupant JID. Stanzas to a room go into its
// mailbox (mailbox.go): the room's runner handles them one at a time and
// routes what they produce after it let go of the room's lock, so that
// nothing is routed while the room's state is held and a stanza the room
// sends to itself (or to another room) is simply queued.
func (s *service) handle(ctx context.Context, st *module.Stanza) {
	// Answers: errors (an occupant's client or server bounced what the
	// room sent, §11.1) and IQ results to forwarded IQs.
	answer := stanza.IsError(st.El) || st.Kind() == "iq" && st.Type() == "result"
	if !answer && st.From.IsZero() {
		return
	}
	if st.To.Local() == "" {
		if !answer {
			s.handleService(ctx, st)
		}
		return
	}
	if s.forward(ctx, st, answer) {
		return
	}
	r := s.room(st.To.Local())
	if r == nil && s.m.h.Cluster != nil {
		var err error
		if r, err = s.fetch(ctx, st.To.Local()); err != nil {
			s.m.log.Error("muc: fetch room", "room", st.To.Bare().String(), "err", err)
			if !answer {
				s.m.fail(ctx, st, errOf(stanza.InternalServerError, ""))
			}
			return
		}
	}
	if r == nil {
		if answer {
			return
		}
		switch st.Kind() {
		case "presence":
			if r = s.newRoomFor(ctx, st); r == nil {
				return
			}
		case "message":
			s.m.fail(ctx, st, errOf(stanza.ItemNotFound, ""))
			return
		case "iq":
			switch t := st.Type(); {
			case (t == "get" || t == "set") && st.To.Resource() != "":
				// Not an occupant of a room that does not exist (any
				// more: a temporary room whose node died): XEP-0410 §3
				// wants not-acceptable, where item-not-found would tell
				// a self-pinging client that it is still joined.
				s.m.fail(ctx, st, errOf(stanza.NotAcceptable, "you are not an occupant of this room"))
			case t == "get" || t == "set":
				s.m.fail(ctx, st, errOf(stanza.ItemNotFound, "no such room"))
			}
			return
		default:
			return
		}
	}
	r.post(ctx, st)
}

// dispatch handles st in r; r.mu is held (by r's runner, or by Stop). It
// reports that st must go through handle again: an available presence to
// a room that was destroyed meanwhile creates it anew.
func (r *room) dispatch(ctx context.Context, st *module.Stanza) (again bool) {
	if r.handedOff {
		return true // to the room's new owner (cluster.go)
	}
	if stanza.IsError(st.El) || st.Kind() == "iq" && st.Type() == "result" {
		if !r.destroyed {
			r.answer(ctx, st)
		}
		return false
	}
	if r.destroyed {
		switch st.Kind() {
		case "presence":
			return st.Type() == ""
		case "message":
			r.svc.m.fail(ctx, st, errOf(stanza.ItemNotFound, ""))
		case "iq":
			if t := st.Type(); t == "get" || t == "set" {
				r.svc.m.fail(ctx, st, errOf(stanza.ItemNotFound, "no such room"))
			}
		}
		return false
	}
	switch st.Kind() {
	case "presence":
		r.presence(ctx, st)
	case "message":
		r.message(ctx, st)
	case "iq":
		r.iq(ctx, st)
	}
	return false
}

// answer: §11.1, an error in answer to a stanza the room sent to an
// occupant removes that occupant (a "ghost"): its client or server cannot
// take the room's traffic. IQ errors and results are answers to forwarded
// IQs and go back to the requester.
func (r *room) answer(ctx context.Context, st *module.Stanza) {
	if st.Kind() == "iq" {
		r.iqAnswer(ctx, st)
		return
	}
	o := r.byJID[st.From]
	if o == nil {
		return
	}
	// Only errors that say the recipient is gone; others (a policy
	// violation on one message) leave it in.
	e := st.El.Child("error", "")
	if e == nil {
		return
	}
	for c := range e.Children() {
		switch c.Name() {
		case stanza.ServiceUnavailable, stanza.RecipientUnavailable, stanza.ItemNotFound, stanza.RemoteServerNotFound, stanza.RemoteServerTimeout, stanza.Gone:
			r.leave(ctx, o, o.session(st.From), xml.NewBuilder("presence", xml.NSClient).Attr("type", "unavailable").
				Start("status", "").Text("Removed after an error from the client").End().Element(), []int{333})
			return
		}
	}
}

// handleService: stanzas to the service's own JID.
func (s *service) handleService(ctx context.Context, st *module.Stanza) {
	switch st.Kind() {
	case "iq":
		typ := st.Type()
		if typ != "get" && typ != "set" {
			return
		}
		p := st.El.FirstChild()
		if p == nil {
			s.m.fail(ctx, st, errOf(stanza.BadRequest, ""))
			return
		}
		switch {
		case typ == "get" && p.NS() == nsDiscoI:
			s.m.result(ctx, st, s.discoInfo(p.Attr("node")))
		case typ == "get" && p.NS() == nsDiscoIt:
			s.m.result(ctx, st, s.discoItems(ctx, st.From))
		case typ == "get" && p.NS() == NS+"#unique" && p.Name() == "unique":
			// XEP-0307 (unique room names, once part of XEP-0045): a name nobody uses.
			s.m.result(ctx, st, xml.NewBuilder("unique", NS+"#unique").Text(randid.Hex(12)).Element())
		case typ == "get" && p.NS() == nsPing:
			s.m.result(ctx, st, nil)
		case typ == "get" && p.NS() == nsVCard:
			// The service has no vCard of its own (rooms do): an empty one.
			s.m.result(ctx, st, xml.NewBuilder("vCard", nsVCard).Element())
		default:
			s.m.fail(ctx, st, errOf(stanza.ServiceUnavailable, ""))
		}
	case "message":
		if st.Type() != "groupchat" {
			s.m.fail(ctx, st, errOf(stanza.ServiceUnavailable, ""))
		}
	}
}

// result answers an IQ with payload (nil for an empty result).
func (m *mod) result(ctx context.Context, st *module.Stanza, payload *xml.Element) {
	b := xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", st.El.Attr("id")).
		Attr("from", st.To.String()).Attr("to", st.From.String())
	if payload != nil {
		b.Append(payload)
	}
	m.send(ctx, b.Element(), st.To, st.From)
}

// mayCreate is [muc] create_rooms (XEP-0045 §10.1.1: not-allowed for
// the others).
func (s *service) mayCreate(real jid.JID) bool {
	switch s.m.cfg.CreateRooms {
	case "anyone":
		return true
	case "listed":
		return has(s.m.cfg.Creators, real.Bare().String())
	}
	return s.m.h.Hosts != nil && s.m.h.Hosts(real.Domain())
}

// ownedBy counts the rooms of the service that real owns (for
// max_rooms_per_owner). Each room's lock is taken in turn, never two at
// once.
func (s *service) ownedBy(real jid.JID, except *room) int {
	n := 0
	key := real.Bare().String()
	for _, r := range s.roomList() {
		if r == except {
			continue
		}
		r.mu.Lock()
		if !r.destroyed && r.affs[key].aff == affOwner {
			n++
		}
		r.mu.Unlock()
	}
	return n
}

func (s *service) remove(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[r.name] == r {
		delete(s.rooms, r.name)
	}
}
