// Package offline stores messages for accounts that have no available
// resource (RFC 6121 §8.5.2.2.1) and delivers them when a session of the
// account next sends available presence with a non-negative priority
// (XEP-0160), each with a XEP-0203 <delay/> saying when it was stored.
package offline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	// Feature is the disco#info feature of XEP-0160 §5.
	Feature = "msgoffline"
	// NSDelay is XEP-0203 Delayed Delivery.
	NSDelay = "urn:xmpp:delay"
	// NSHints is XEP-0334 Message Processing Hints.
	NSHints = "urn:xmpp:hints"
)

// StampFormat is the XEP-0082 DateTime format of delay stamps (UTC,
// milliseconds).
const StampFormat = "2006-01-02T15:04:05.000Z"

func init() { module.Register("offline", func() module.Module { return &mod{} }) }

type mod struct {
	h     *module.Handle
	store storage.Offline
	limit int

	// flushed holds the sessions whose stored messages were delivered
	// since their last available presence: they get no second delivery
	// until they go unavailable and come back (a new initial presence,
	// RFC 6121 §4.2). Keyed by session identity; entries go with
	// SessionClosed or unavailable presence.
	mu      sync.Mutex
	flushed map[module.Session]bool

	// locks serialise storing and delivering per account (striped by
	// bare JID), so a message is never stored after a session fetched
	// the account's messages and before that session counts as flushed.
	seed  maphash.Seed
	locks [64]sync.Mutex
}

func (m *mod) Start(h *module.Handle) error {
	if h.Offline == nil {
		return errors.New("no offline storage")
	}
	// How many messages one account may hold ([offline] max_messages); a
	// message beyond it is bounced (RFC 6121 §8.5.2.2.1).
	m.h, m.store, m.limit = h, h.Offline, 1000
	if h.Config != nil {
		m.limit = h.Config.Offline.MaxMessages
	}
	m.flushed = map[module.Session]bool{}
	m.seed = maphash.MakeSeed()
	h.AddFeature(Feature)
	h.Hook(module.HookAccountMessage, 0, m.storeMessage)
	// A high priority, returning false: the presence broadcast hooks of
	// the IM module may return true (handled), which would stop a chain
	// before a low-priority hook ran. Delivery only queues stanzas.
	h.Hook(module.HookPresenceBroadcast, 1000, m.presence)
	h.OnSessionClosed(func(_ context.Context, s module.Session) {
		m.mu.Lock()
		delete(m.flushed, s)
		m.mu.Unlock()
	})
	return nil
}

func (m *mod) lock(bare jid.JID) *sync.Mutex {
	return &m.locks[maphash.String(m.seed, bare.String())%uint64(len(m.locks))]
}

// storable applies XEP-0160 §3 and XEP-0334 §4: a <no-store/> hint is
// never stored, a <store/> hint always is, otherwise only a message with
// a body (chat states and receipts alone are not worth keeping).
func storable(el *xml.Element) (store, drop bool) {
	if el.Child("no-store", NSHints) != nil {
		return false, false
	}
	if el.Child("store", NSHints) != nil || el.Child("body", xml.NSClient) != nil {
		return true, false
	}
	return false, true
}

// storeMessage is the HookAccountMessage hook: the router found no
// available resource with non-negative priority to take a normal or chat
// message for an existing account. True means stored (or deliberately
// dropped); false lets the router bounce it with service-unavailable.
func (m *mod) storeMessage(ctx context.Context, st *module.Stanza) bool {
	if t := st.Type(); t != "normal" && t != "chat" {
		return false
	}
	store, drop := storable(st.El)
	if drop {
		// RFC 6121 §8.5.2.2.1 lets the server silently ignore a message
		// it does not store: a body-less notification is pointless later.
		return true
	}
	if !store {
		return false
	}
	bare := st.To.Bare()
	if st.To.IsZero() {
		bare = st.From.Bare()
	}
	l := m.lock(bare)
	l.Lock()
	defer l.Unlock()
	// A session of the account may have become available (and fetched
	// its messages) after the router looked: hand it over directly.
	if m.deliverNow(bare, st.El) {
		return true
	}
	el := withDelay(st, bare.Domain(), time.Now())
	err := m.store.StoreOffline(ctx, bare.Domain(), bare.Local(), el.Append(nil, xml.NSClient), time.Now(), m.limit)
	switch {
	case err == nil:
		return true
	case errors.Is(err, storage.ErrFull):
		m.h.Logger.Debug("offline storage full", "jid", bare.String(), "limit", m.limit)
	case errors.Is(err, storage.ErrNotFound):
	default:
		m.h.Logger.Error("store offline message", "jid", bare.String(), "err", err)
	}
	return false
}

// deliverNow delivers el to the flushed, available, non-negative sessions
// of bare with the highest priority (RFC 6121 §8.5.2.1.1). Caller holds
// bare's lock.
func (m *mod) deliverNow(bare jid.JID, el *xml.Element) bool {
	var best []module.Session
	m.mu.Lock()
	for _, s := range m.h.Directory.Sessions(bare) {
		if !m.flushed[s] || !s.Available() || s.Priority() < 0 {
			continue
		}
		if len(best) > 0 && s.Priority() < best[0].Priority() {
			continue
		}
		if len(best) > 0 && s.Priority() > best[0].Priority() {
			best = best[:0]
		}
		best = append(best, s)
	}
	m.mu.Unlock()
	ok := false
	for _, s := range best {
		if s.Deliver(el) {
			ok = true
		}
	}
	return ok
}

// archivedFor reports that el carries the stanza-id of bare's archive
// (XEP-0359, stamped by the mam module before offline storage).
func archivedFor(el *xml.Element, bare jid.JID) bool {
	for c := range el.Children() {
		if c.Name() == "stanza-id" && c.NS() == "urn:xmpp:sid:0" && c.Attr("by") == bare.String() {
			return true
		}
	}
	return false
}

// withDelay returns the message as it will be delivered: 'from' stamped
// and a XEP-0203 <delay/> from the server's domain added (XEP-0160 §3).
func withDelay(st *module.Stanza, domain string, now time.Time) *xml.Element {
	el := st.El
	b := xml.NewBuilder("message", xml.NSClient)
	hasFrom := false
	for _, a := range el.Attrs() {
		if a.Name == "from" {
			hasFrom = true
		}
		b.Attr(a.Name, a.Value)
	}
	if !hasFrom && !st.From.IsZero() {
		b.Attr("from", st.From.String())
	}
	for c := range el.Children() {
		b.Append(c)
	}
	b.Start("delay", NSDelay).Attr("from", domain).Attr("stamp", now.UTC().Format(StampFormat)).End()
	return b.Element()
}

// presence is the HookPresenceBroadcast hook: the first available
// presence with non-negative priority of a session gets the account's
// stored messages (XEP-0160 §3). It never stops the chain.
func (m *mod) presence(ctx context.Context, st *module.Stanza) bool {
	s := st.Origin
	if s == nil {
		return false
	}
	switch st.Type() {
	case "unavailable":
		m.mu.Lock()
		delete(m.flushed, s)
		m.mu.Unlock()
		return false
	case "":
	default:
		return false
	}
	if !s.Available() || s.Priority() < 0 {
		return false
	}
	m.mu.Lock()
	done := m.flushed[s]
	m.mu.Unlock()
	if done {
		return false
	}
	bare := s.JID().Bare()
	l := m.lock(bare)
	l.Lock()
	defer l.Unlock()
	m.deliver(ctx, s, bare)
	m.mu.Lock()
	m.flushed[s] = true
	m.mu.Unlock()
	return false
}

// deliver sends the stored messages to s in order and deletes those it
// queued. Caller holds bare's lock.
func (m *mod) deliver(ctx context.Context, s module.Session, bare jid.JID) {
	msgs, err := m.store.OfflineMessages(ctx, bare.Domain(), bare.Local())
	if err != nil {
		m.h.Logger.Error("fetch offline messages", "jid", bare.String(), "err", err)
		return
	}
	if len(msgs) == 0 {
		return
	}
	els, err := parse(msgs)
	if err != nil {
		m.h.Logger.Error("parse offline messages", "jid", bare.String(), "err", err)
		return
	}
	// XEP-0386 §3.1: a Bind 2 client reads the archive, so what the
	// archive kept (the stanza-id the account's archive gave it) is
	// cleared without being sent; what it did not keep is still sent.
	synced := false
	if as, ok := s.(module.ArchiveSynced); ok {
		synced = as.ArchiveSynced()
	}
	var last int64
	for i, el := range els {
		if synced && archivedFor(el, bare) {
			last = msgs[i].ID
			continue
		}
		if !s.Deliver(el) {
			break // closing: the rest waits for the next session
		}
		last = msgs[i].ID
	}
	if last == 0 {
		return
	}
	if _, err := m.store.DeleteOffline(ctx, bare.Domain(), bare.Local(), last); err != nil {
		m.h.Logger.Error("delete offline messages", "jid", bare.String(), "err", err)
	}
}

const streamOpen = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

// parse reads stored stanzas back, all through one decoder.
func parse(msgs []storage.OfflineMessage) ([]*xml.Element, error) {
	var buf bytes.Buffer
	buf.WriteString(streamOpen)
	for _, m := range msgs {
		buf.Write(m.Stanza)
	}
	// Stored stanzas passed the session's limits once; these only have
	// to admit them again.
	lim := xml.Limits{MaxStanzaBytes: len(streamOpen) + 1, MaxDepth: 1000, MaxAttrs: 1000}
	for _, m := range msgs {
		lim.MaxStanzaBytes = max(lim.MaxStanzaBytes, len(m.Stanza)+1)
	}
	d := xml.NewDecoder(&buf, lim)
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	out := make([]*xml.Element, 0, len(msgs))
	for i := range msgs {
		el, err := d.Next()
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", msgs[i].ID, err)
		}
		out = append(out, el)
	}
	return out, nil
}
