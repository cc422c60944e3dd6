// Package mam implements XEP-0313 Message Archive Management for user
// accounts: the messages an account sends and receives are kept in its
// archive (storage.Archive, keyed by the account's bare JID), delivered
// messages carry their archive id as a XEP-0359 <stanza-id/>, and the
// account's clients query the archive with data-form filters and XEP-0059
// paging. Preferences (XEP-0441, namespace urn:xmpp:mam:2) decide what is
// archived.
package mam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	// NS is XEP-0313's namespace (queries, results, fin, prefs, metadata).
	NS = "urn:xmpp:mam:2"
	// NSExtended is the disco feature for before-id/after-id/ids,
	// flipped pages and metadata (XEP-0313 §8).
	NSExtended = "urn:xmpp:mam:2#extended"
	// NSSID is XEP-0359 Unique and Stable Stanza IDs.
	NSSID = "urn:xmpp:sid:0"
	// NSRSM is XEP-0059 Result Set Management.
	NSRSM = "http://jabber.org/protocol/rsm"
	// NSForward is XEP-0297 Stanza Forwarding.
	NSForward = "urn:xmpp:forward:0"
	// NSDelay is XEP-0203 Delayed Delivery.
	NSDelay = "urn:xmpp:delay"
	// NSData is XEP-0004 Data Forms.
	NSData = "jabber:x:data"
	// NSHints is XEP-0334 Message Processing Hints.
	NSHints = "urn:xmpp:hints"
)

// StampFormat is the XEP-0082 DateTime format of the stamps we write.
const StampFormat = "2006-01-02T15:04:05.000Z"

// pruneBatch is how many messages one PruneArchives call deletes, so the
// database writer is never held for long by retention.
const pruneBatch = 1000

func init() { module.Register("mam", func() module.Module { return &mod{} }) }

type mod struct {
	h     *module.Handle
	store storage.Archive
	cfg   Config
	log   *slog.Logger
	now   func() time.Time

	prefs    *prefsCache
	defPrefs *prefs // the configured default, for accounts that set none
	roster   *rosterCache
	w        *writer
	// bufs holds serialization buffers (getBuf), per server instance.
	bufs sync.Pool
	// collectors are the writer's metrics, registered on h.Metrics.
	collectors []prometheus.Collector

	// dirty holds the archives appended to since the last trim, so that
	// max_messages costs one statement per active archive per interval
	// rather than a pass over every archive.
	dirtyMu sync.Mutex
	dirty   map[string]struct{}
}

func (m *mod) Start(h *module.Handle) error {
	m.cfg = *module.ConfigOf[*Config](h)
	if !m.cfg.Enabled {
		return nil
	}
	if h.Archive == nil {
		return errors.New("no archive storage")
	}
	m.h, m.store, m.now = h, h.Archive, time.Now
	m.log = h.Logger
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.prefs = newPrefsCache(prefsCacheSize)
	m.defPrefs = toPrefs(storage.ArchivePrefs{Default: m.cfg.Default})
	m.roster = newRosterCache(rosterCacheSize)
	m.dirty = map[string]struct{}{}

	// XEP-0313 §8: the archive lives on the account's bare JID, so the
	// features are the account's; XEP-0359 §6 asks the 'by' entity (the
	// account) to announce urn:xmpp:sid:0.
	h.AddAccountFeature(NS)
	h.AddAccountFeature(NSExtended)
	h.AddAccountFeature(NSSID)
	h.HandleIQ(module.TargetAccount, "set", NS, m.iqSet)
	h.HandleIQ(module.TargetAccount, "get", NS, m.iqGet)
	// XEP-0386 §3.1: a Bind 2 session learns where its archive stands.
	h.AddBoundExtension(func(ctx context.Context, full jid.JID) *xml.Element {
		el, err := m.metadata(ctx, full.Bare())
		if err != nil {
			m.log.Error("archive metadata for Bind 2", "jid", full.Bare().String(), "err", err)
			return nil
		}
		return el
	})

	// Outgoing: after blocking (1000) refused what it refuses, before
	// carbons (-100) copies the message, so the <sent/> copy carries the
	// stanza-id (XEP-0313 §3.3: SHOULD with XEP-0280).
	h.Hook(module.HookOutbound, -50, m.outbound)
	h.Hook(module.HookOutbound, -60, m.rosterChanged)
	if h.Cluster != nil {
		h.Cluster.Subscribe("mam", m.droppedElsewhere)
	}
	// Incoming: after blocking's route hook (0) dropped what the
	// recipient blocked (XEP-0313 §7.1: rejected messages are not
	// archived).
	h.Hook(module.HookRoute, -100, m.route)
	// Incoming for an account without sessions: the router has checked
	// the account exists; before offline storage (0), so the stored
	// message has its stanza-id.
	h.Hook(module.HookAccountMessage, 100, m.accountMessage)
	h.OnSessionBound(func(_ context.Context, s module.Session) {
		// Off the message path: read the account's preferences now, so
		// messages never wait for them (and a re-created account never
		// sees a deleted one's cached preferences). In the background:
		// binding, and the bind hooks after this one, do not wait for
		// the database either.
		// On the handle's goroutine: stopping the module cancels the
		// load and waits for it, so none uses the database once the
		// server closes it.
		archive := s.JID().Bare().String()
		m.h.Go(func(ctx context.Context) { m.loadPrefs(ctx, archive) })
	})

	m.w = newWriter(m.store, m.log, m.cfg.WriteInterval.Duration)
	if h.Metrics != nil {
		m.collectors = m.w.collectors()
		for _, c := range m.collectors {
			if err := h.Metrics.Register(c); err != nil {
				return fmt.Errorf("archive metrics: %w", err)
			}
		}
	}
	h.Go(m.pruneLoop)
	return nil
}

// Stop writes what is queued. The pruning loop and the preference loads
// (the handle's goroutines) have ended before it runs. The writer is not
// one of them: the hooks append to it until the handle closes, after
// Stop, so it must outlive the cancel and be closed here, where close
// refuses later appends and writes every accepted one before returning.
func (m *mod) Stop() error {
	if m.w != nil {
		m.w.close()
		for _, c := range m.collectors {
			m.h.Metrics.Unregister(c)
		}
	}
	return nil
}

// archivable applies XEP-0313 §7.1.1 and XEP-0334 to a message: chat and
// normal messages with a body (or a <store/> hint) are archived, unless a
// <no-store/> or <no-permanent-store/> hint says otherwise. Groupchat is
// the room's archive (the MUC module's); error and headline never are.
func archivable(st *module.Stanza) bool {
	if st.El.Name() != "message" {
		return false
	}
	if t := st.Type(); t != "chat" && t != "normal" {
		return false
	}
	el := st.El
	if el.Child("no-store", NSHints) != nil || el.Child("no-permanent-store", NSHints) != nil {
		return false
	}
	return el.Child("body", xml.NSClient) != nil || el.Child("store", NSHints) != nil
}

// local reports whether j is an account on a domain we serve.
func (m *mod) local(j jid.JID) bool {
	return !j.IsZero() && j.Local() != "" && m.h.Hosts(j.Domain())
}

// outbound is the HookOutbound hook: a message a local session sends goes
// into the sender's archive. It never stops the chain.
func (m *mod) outbound(ctx context.Context, st *module.Stanza) bool {
	if st.Origin == nil || !archivable(st) {
		return false
	}
	owner := st.From.Bare()
	peer := st.To.Bare()
	if st.To.IsZero() || peer == owner {
		// To oneself: archived once, as the incoming copy (XEP-0313
		// §7.1.1 stores a message only once per archive).
		return false
	}
	if !m.wanted(ctx, owner, st.To) {
		return false
	}
	id, ok := m.append(owner, peer, st.El)
	if ok {
		// For the carbons copy; route strips it before the message
		// leaves (XEP-0313 §3.3: never to contacts).
		st.El = withStanzaID(st.El, owner.String(), id)
	}
	return false
}

// route is the HookRoute hook, for every routed stanza. It strips
// stanza-ids a message must not carry and archives a message for a local
// account that has sessions now; for one without, accountMessage does
// (the router has then checked the account exists, which costs a lookup
// this hook does not make). It never stops the chain.
func (m *mod) route(ctx context.Context, st *module.Stanza) bool {
	if st.El.Name() != "message" {
		return false
	}
	to := st.To
	if to.IsZero() {
		to = st.From.Bare() // RFC 6120 §10.3: the sender's own account
	}
	var sender string
	if st.Origin != nil {
		sender = st.From.Bare().String()
	}
	rcpt := ""
	if m.local(to) {
		rcpt = to.Bare().String()
	}
	// XEP-0359 §5: a stanza-id 'by' our account that arrives from outside
	// is a forgery and goes; and ours on an outgoing message (added for
	// the carbons copy) must not reach the contact (XEP-0313 §3.3).
	strip := (sender != "" || rcpt != "") && hasStanzaID(st.El, sender, rcpt)
	if strip && st.Origin == nil && rcpt != "" && m.issued(ctx, st.El, rcpt) {
		// The server hands a message it delivered before back to the
		// router (XEP-0198: unacknowledged when the session ended):
		// archived already, its stanza-id is ours.
		return false
	}
	if rcpt != "" && archivable(st) && m.received(st, to) && m.wanted(ctx, to.Bare(), st.From) {
		if strip {
			// The stripping and the recipient's stanza-id in one copy
			// of the message: every local chat message comes here with
			// the sender's stanza-id.
			m.appendStripped(st, to.Bare(), sender, rcpt)
			return false
		}
		m.appendIncoming(st, to.Bare())
		return false
	}
	if strip {
		st.El = withoutStanzaID(st.El, sender, rcpt)
	}
	return false
}

// received reports whether route archives a message for local account
// to: it has sessions (else accountMessage does, if the account exists),
// and the router will not bounce it.
func (m *mod) received(st *module.Stanza, to jid.JID) bool {
	if len(m.h.Directory.Sessions(to.Bare())) == 0 {
		return false // accountMessage, if the account exists
	}
	// RFC 6121 §8.5.3.2.1: the router bounces a normal message to a
	// resource that is not there; nobody received it.
	return !to.IsFull() || st.Type() == "chat" || m.h.Directory.Session(to) != nil
}

// accountMessage is the HookAccountMessage hook: a message for an existing
// account with no available resource, on its way to offline storage.
func (m *mod) accountMessage(ctx context.Context, st *module.Stanza) bool {
	if !archivable(st) {
		return false
	}
	owner := st.To.Bare()
	if st.To.IsZero() {
		owner = st.From.Bare()
	}
	if hasStanzaID(st.El, "", owner.String()) {
		return false // route archived it already (sessions, none available)
	}
	m.archiveIncoming(ctx, st, owner)
	return false
}

// archiveIncoming archives st in owner's archive and adds the stanza-id
// to the message the account receives (XEP-0313 §3.3).
func (m *mod) archiveIncoming(ctx context.Context, st *module.Stanza, owner jid.JID) {
	if m.wanted(ctx, owner, st.From) {
		m.appendIncoming(st, owner)
	}
}

// appendIncoming archives st in owner's archive and adds the stanza-id.
func (m *mod) appendIncoming(st *module.Stanza, owner jid.JID) {
	if id, ok := m.append(owner, st.From.Bare(), st.El); ok {
		st.El = withStanzaID(st.El, owner.String(), id)
	}
}

// appendStripped archives st.El without its stanza-ids 'by' a or b in
// owner's archive (b is owner), and delivers it with owner's stanza-id in
// their place. One copy of the message does both: the stored stanza is
// the delivered one without the stanza-id, cut from its serialization.
func (m *mod) appendStripped(st *module.Stanza, owner jid.JID, a, b string) {
	now := m.now()
	id := storage.NewArchiveID(now)
	el := withoutStanzaIDWith(st.El, a, b, id)
	buf := m.getBuf()
	stanza, ok := appendWithoutLast((*buf)[:0], el)
	if !ok {
		stanza = withoutStanzaID(st.El, a, b).Append((*buf)[:0], xml.NSClient)
	}
	queued := m.queue(owner, st.From.Bare(), id, now, bytes.Clone(stanza))
	m.putBuf(buf, stanza)
	if queued {
		st.El = el
		return
	}
	st.El = withoutStanzaID(st.El, a, b) // stopping: delivered unarchived
}

// append queues el (with 'from' as the router stamped it) for owner's
// archive and returns its id. The database write happens in the writer's
// next batch.
func (m *mod) append(owner, peer jid.JID, el *xml.Element) (string, bool) {
	now := m.now()
	id := storage.NewArchiveID(now)
	buf := m.getBuf()
	stanza := el.Append((*buf)[:0], xml.NSClient)
	ok := m.queue(owner, peer, id, now, bytes.Clone(stanza))
	m.putBuf(buf, stanza)
	return id, ok
}

// stanzaBuf is the size of the buffers a stanza is serialized into
// before it is copied out at its size: one allocation for a chat message
// instead of the slice growing from 8 bytes (a third of the archive
// hooks' CPU). They come from a pool (mod.bufs), not the stack: the xml
// package's serializer leaks its buffer argument to the heap, so a local
// array was a 1 KiB allocation per archived message (2 per local chat
// message, two thirds of the hooks' garbage: docs/performance.md,
// archive fourth pass).
const stanzaBuf = 1024

// getBuf returns a serialization buffer of at least stanzaBuf bytes.
func (m *mod) getBuf() *[]byte {
	if b, ok := m.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, stanzaBuf)
	return &b
}

// putBuf returns buf, which used may have grown beyond, to the pool;
// one that grew past 64 KiB (a huge stanza) is left to the collector.
func (m *mod) putBuf(buf *[]byte, used []byte) {
	if cap(used) > 64<<10 {
		return
	}
	*buf = used[:0]
	m.bufs.Put(buf)
}

// queue hands the serialized stanza to the writer; false when it was not
// queued (stopping, or the queue full for too long).
func (m *mod) queue(owner, peer jid.JID, id string, now time.Time, stanza []byte) bool {
	archive := owner.String()
	if !m.w.append(storage.ArchiveEntry{Archive: archive, Message: storage.ArchivedMessage{
		ID:     id,
		With:   peer.String(),
		Time:   now,
		Stanza: stanza,
	}}) {
		return false
	}
	if m.cfg.MaxMessages > 0 {
		m.dirtyMu.Lock()
		m.dirty[archive] = struct{}{}
		m.dirtyMu.Unlock()
	}
	return true
}

// issued reports whether el's stanza-id 'by' archive names a message of
// that archive. Only messages the server itself routes (no session
// origin) that carry such an id come here: handed-back deliveries, or
// forgeries from another server; both are rare, so a flush and an
// indexed lookup are affordable.
func (m *mod) issued(ctx context.Context, el *xml.Element, archive string) bool {
	id := ""
	for c := range el.Children() {
		if c.Name() == "stanza-id" && c.NS() == NSSID && c.Attr("by") == archive {
			id = c.Attr("id")
		}
	}
	if id == "" || m.w.flush(ctx) != nil {
		return false
	}
	p, err := m.store.QueryArchive(ctx, archive, storage.ArchiveQuery{IDs: []string{id}})
	return err == nil && p.Count == 1
}

// hasStanzaID reports a <stanza-id/> child whose 'by' is a or b ("" never
// matches).
func hasStanzaID(el *xml.Element, a, b string) bool {
	for c := range el.Children() {
		if c.Name() == "stanza-id" && c.NS() == NSSID {
			if by := c.Attr("by"); by != "" && (by == a || by == b) {
				return true
			}
		}
	}
	return false
}

// withoutStanzaID copies el without the stanza-ids 'by' a or b.
func withoutStanzaID(el *xml.Element, a, b string) *xml.Element {
	return rebuild(el, a, b, nil)
}

// withStanzaID copies el with our stanza-id for archive 'by' in place of
// any other with the same 'by' (XEP-0359 §4: at most one per 'by').
func withStanzaID(el *xml.Element, by, id string) *xml.Element {
	return rebuild(el, by, "", func(b *xml.Builder) {
		b.Start("stanza-id", NSSID).Attr("by", by).Attr("id", id).End()
	})
}

// withoutStanzaIDWith copies el without the stanza-ids 'by' a or b and
// with b's stanza-id id as its last child.
func withoutStanzaIDWith(el *xml.Element, a, b, id string) *xml.Element {
	return rebuild(el, a, b, func(bl *xml.Builder) {
		bl.Start("stanza-id", NSSID).Attr("by", b).Attr("id", id).End()
	})
}

// appendWithoutLast appends el serialized without its last child element,
// which must be its last node (as rebuild's add puts it): the whole
// element, with that child's bytes, which stand right before the end tag,
// cut out. A child's serialization depends only on it and its parent's
// namespace, so this is the serialization of el without that child. False
// if that child's bytes are not where they must be (never for rebuild's
// output; the caller then serializes a copy without it).
func appendWithoutLast(buf []byte, el *xml.Element) ([]byte, bool) {
	var last *xml.Element
	for c := range el.Children() {
		last = c
	}
	if last == nil {
		return buf, false
	}
	start := len(buf)
	buf = el.Append(buf, xml.NSClient)
	var tmp [192]byte
	tail := last.Append(tmp[:0], el.NS())
	end := len(buf) - len("</>") - len(el.Name())
	cut := end - len(tail)
	if cut < start || string(buf[cut:end]) != string(tail) {
		return buf[:start], false
	}
	return append(buf[:cut], buf[end:]...), true
}

func rebuild(el *xml.Element, a, b string, add func(*xml.Builder)) *xml.Element {
	bl := xml.NewBuilder(el.Name(), el.NS())
	for _, at := range el.Attrs() {
		bl.Attr(at.Name, at.Value)
	}
	for c := range el.Children() {
		if c.Name() == "stanza-id" && c.NS() == NSSID {
			if by := c.Attr("by"); by != "" && (by == a || by == b) {
				continue
			}
		}
		bl.Append(c)
	}
	if add != nil {
		add(bl)
	}
	return bl.Element()
}

// pruneLoop applies retention and max_messages every prune_interval, and
// retention once at start.
// Its context, the handle's, ends when the module stops, cancelling a
// pass in progress.
func (m *mod) pruneLoop(ctx context.Context) {
	if m.cfg.Retention.Duration <= 0 && m.cfg.MaxMessages <= 0 {
		return
	}
	t := time.NewTicker(m.cfg.PruneInterval.Duration)
	defer t.Stop()
	for {
		m.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *mod) prune(ctx context.Context) {
	if r := m.cfg.Retention.Duration; r > 0 {
		before := m.now().Add(-r)
		total := 0
		for {
			n, err := m.store.PruneArchives(ctx, before, pruneBatch)
			if err != nil {
				if ctx.Err() == nil {
					m.log.Error("prune archives", "err", err)
				}
				break
			}
			total += n
			if n < pruneBatch {
				break
			}
		}
		if total > 0 {
			m.log.Debug("pruned archives", "messages", total, "before", before)
		}
	}
	if max := m.cfg.MaxMessages; max > 0 {
		m.dirtyMu.Lock()
		dirty := m.dirty
		m.dirty = map[string]struct{}{}
		m.dirtyMu.Unlock()
		for a := range dirty {
			if _, err := m.store.TrimArchive(ctx, a, max); err != nil {
				if ctx.Err() == nil {
					m.log.Error("trim archive", "archive", a, "err", err)
				}
				return
			}
		}
	}
}
