// Package offline stores messages for accounts that have no available
// resource (RFC 6121 §8.5.2.2.1) and delivers them when a session of the
// account next sends available presence with a non-negative priority
// (XEP-0160), each with a XEP-0203 <delay/> saying when it was stored.
package offline

import (
	"context"
	"errors"
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

	mu sync.Mutex
	// sessions holds the sessions that got (done) or are getting their
	// stored messages since their last available presence: no second
	// delivery until they go unavailable and come back (a new initial
	// presence, RFC 6121 §4.2). Keyed by session identity; entries go
	// with SessionClosed or unavailable presence, which also stop a
	// delivery in progress.
	sessions map[module.Session]*delivery
	// running holds, per account (bare JID), the delivery in progress:
	// closed when it ends. One at a time, because the messages a
	// delivery handed to its session stay stored until they reached the
	// client, and a second session must not get them meanwhile.
	running map[string]chan struct{}
	// undeleted holds, per account, the highest ID of messages that
	// reached a client but whose delete failed (a storage fault): they
	// are not delivered again, and the delete is retried next time.
	undeleted map[string]int64

	// locks serialise storing and fetching per account (striped by bare
	// JID), so a message is never stored after a delivery found the
	// backlog empty and before its session counts as done, and a page is
	// never read while an insert of the account is uncommitted (IDs
	// below the page's last would appear later).
	seed  maphash.Seed
	locks [64]sync.Mutex
}

// delivery is a session's delivery of stored messages.
type delivery struct {
	done   bool               // the backlog was delivered: new messages go to it directly
	cancel context.CancelFunc // nil once the delivery goroutine ended (finished); guarded by mod.mu
}

// Pacing of a backlog (module.Paced): messages are read pageSize at a
// time and handed to the session while less than a quarter of its queue
// limit (and at most window bytes) waits for the client, and at most
// maxInFlight have not yet reached it. The transports do not signal
// progress: the delivery looks again after poll, twice as long after each
// look that found none, up to maxPoll (a hibernating XEP-0198 session
// acknowledges nothing for minutes), and a look costs a lock or two.
const (
	pageSize    = 64
	window      = 256 << 10
	maxInFlight = 256
	poll        = 5 * time.Millisecond
	maxPoll     = time.Second
)

func (m *mod) Start(h *module.Handle) error {
	if h.Offline == nil {
		return errors.New("no offline storage")
	}
	// How many messages one account may hold ([offline] max_messages); a
	// message beyond it is bounced (RFC 6121 §8.5.2.2.1).
	m.h, m.store, m.limit = h, h.Offline, module.ConfigOf[*Config](h).MaxMessages
	m.sessions = map[module.Session]*delivery{}
	m.running = map[string]chan struct{}{}
	m.undeleted = map[string]int64{}
	m.seed = maphash.MakeSeed()
	h.AddFeature(Feature)
	h.Hook(module.HookAccountMessage, 0, m.storeMessage)
	// A high priority, returning false: the presence broadcast hooks of
	// the IM module may return true (handled), which would stop a chain
	// before a low-priority hook ran. Delivery only queues stanzas.
	h.Hook(module.HookPresenceBroadcast, 1000, m.presence)
	h.OnSessionClosed(func(_ context.Context, s module.Session) { m.forget(s) })
	return nil
}

// No Stop: the deliveries run on the handle's goroutines (Handle.Go)
// under contexts derived from its Context, so stopping the module cancels
// them and waits for them; what did not reach its client stays stored.

// forget drops s's delivery state, stopping a delivery in progress.
func (m *mod) forget(s module.Session) {
	m.mu.Lock()
	if d := m.sessions[s]; d != nil {
		if d.cancel != nil {
			d.cancel()
		}
		delete(m.sessions, s)
	}
	m.mu.Unlock()
}

// finished lets the context of a delivery that has ended go: the session
// keeps its entry (done or not) for as long as it is bound, and the
// context would stay a child of the module's for as long (about 0.25 KiB
// per idle session, docs/performance.md).
func (m *mod) finished(s module.Session, d *delivery) {
	m.mu.Lock()
	if d.cancel != nil {
		d.cancel()
		d.cancel = nil
	}
	m.mu.Unlock()
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
		if d := m.sessions[s]; d == nil || !d.done || !s.Available() || s.Priority() < 0 {
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
		m.forget(s)
		return false
	case "":
	default:
		return false
	}
	if !s.Available() || s.Priority() < 0 {
		return false
	}
	m.mu.Lock()
	if m.sessions[s] != nil {
		m.mu.Unlock()
		return false
	}
	// Under the module's context, not the presence's: the delivery ends
	// when the session goes (forget) or the module stops.
	dctx, cancel := context.WithCancel(m.h.Context())
	d := &delivery{cancel: cancel}
	m.sessions[s] = d
	m.mu.Unlock()
	// For a session that cannot pace, the whole backlog goes out before
	// the presence is done with; for one that can, the first window does
	// (a client finds its stored messages ahead of the answers to what it
	// sends next), the rest at the pace the client reads. Either way on
	// the handle's goroutine, so that stopping the module waits for it.
	first := make(chan struct{})
	firstDone := sync.OnceFunc(func() { close(first) })
	started := m.h.Go(func(context.Context) {
		defer firstDone()
		defer m.finished(s, d)
		if p, ok := s.(module.Paced); ok {
			m.deliverPaced(dctx, s, p, d, firstDone)
		} else {
			m.deliverAll(dctx, s, d)
		}
	})
	if !started { // the module is stopping
		cancel()
		m.forget(s)
		return false
	}
	<-first
	return false
}

// setDone marks d's session as having got the backlog, if d is still its
// delivery; caller holds the account's lock.
func (m *mod) setDone(s module.Session, d *delivery) {
	m.mu.Lock()
	if m.sessions[s] == d {
		d.done = true
	}
	m.mu.Unlock()
}

// deliverAll sends a session that cannot pace (module.Paced) every stored
// message at once, as before pacing, and deletes those it queued.
func (m *mod) deliverAll(ctx context.Context, s module.Session, d *delivery) {
	bare := s.JID().Bare()
	l := m.lock(bare)
	l.Lock()
	defer l.Unlock()
	defer m.setDone(s, d)
	after := m.retryDelete(ctx, bare)
	synced := archiveSynced(s)
	for {
		page, els, err := m.page(ctx, bare, after)
		if err != nil || len(page) == 0 {
			return
		}
		var last int64
		for i, el := range els {
			if el != nil && !(synced && archivedFor(el, bare)) && !s.Deliver(el) {
				break // closing: the rest waits for the next session
			}
			last = page[i].ID
		}
		if last != 0 {
			m.deleteUpTo(ctx, bare, last)
		}
		if last != page[len(page)-1].ID {
			return
		}
		after = last
	}
}

func archiveSynced(s module.Session) bool {
	as, ok := s.(module.ArchiveSynced)
	return ok && as.ArchiveSynced()
}

// sent is a stored message handed to the session, waiting to reach the
// client before its row is deleted.
type sent struct {
	id   int64
	mark module.Mark
}

// deliverPaced delivers the account's stored messages to s, oldest first,
// at the pace the client takes them, and deletes each once it reached the
// client (module.Paced.Reached: written to the socket or, with XEP-0198,
// acknowledged). It ends when the backlog is delivered and confirmed, or
// when ctx ends (unavailable presence, session closed, server stopping):
// what did not reach the client then stays stored for the next session.
// started is called once the first window is queued, or before the first
// wait.
func (m *mod) deliverPaced(ctx context.Context, s module.Session, p module.Paced, d *delivery, started func()) {
	defer started()
	defer p.HoldLive(false)
	bare := s.JID().Bare()
	key := bare.String()
	mine := make(chan struct{})
	for {
		m.mu.Lock()
		prev := m.running[key]
		if prev == nil {
			m.running[key] = mine
			m.mu.Unlock()
			break
		}
		m.mu.Unlock()
		started()
		select {
		case <-prev:
		case <-ctx.Done():
			return
		}
	}
	defer func() {
		m.mu.Lock()
		delete(m.running, key)
		m.mu.Unlock()
		close(mine)
	}()

	// Storage calls outlive ctx: what reached the client is deleted
	// even as the session goes.
	sctx := context.WithoutCancel(ctx)
	after := m.retryDelete(sctx, bare)
	synced := archiveSynced(s)
	var (
		page      []storage.OfflineMessage
		els       []*xml.Element
		inFlight  []sent
		exhausted bool
		wait      = poll
		timer     *time.Timer
	)
	// confirm deletes the rows whose messages reached the client, oldest
	// first: DeleteOffline removes every ID up to the one given.
	confirm := func() bool {
		n := 0
		for n < len(inFlight) && p.Reached(inFlight[n].mark) {
			n++
		}
		if n > 0 {
			m.deleteUpTo(sctx, bare, inFlight[n-1].id)
			inFlight = inFlight[n:]
		}
		return n > 0
	}
	defer confirm()
	for {
		progress := confirm()
		for !exhausted && len(inFlight) < maxInFlight {
			if queued, limit := p.Backlog(); queued >= min(window, limit/4) {
				break
			}
			if len(page) == 0 {
				if page, els, exhausted = m.nextPage(sctx, s, d, bare, after); exhausted {
					// Done: what came live meanwhile follows the
					// backlog, and from now on goes directly.
					p.HoldLive(false)
					break
				}
				after = page[len(page)-1].ID
				// Messages routed to the session meanwhile wait for
				// the backlog: they must not overtake stored messages
				// of the same sender (RFC 6120 §10.1). Not without a
				// backlog, nor while waiting for another delivery of
				// the account: they would only be late.
				p.HoldLive(true)
			}
			id, el := page[0].ID, els[0]
			page, els = page[1:], els[1:]
			if el == nil || synced && archivedFor(el, bare) {
				// XEP-0386 §3.1: a Bind 2 client reads the archive, so
				// what the archive kept is cleared without being sent
				// (what it did not keep is still sent). A row that
				// does not parse was logged by page.
				inFlight = append(inFlight, sent{id: id})
				progress = true
				continue
			}
			mk, ok := p.DeliverOwned(el)
			if !ok {
				return // closing: the rest waits for the next session
			}
			inFlight = append(inFlight, sent{id: id, mark: mk})
			progress = true
		}
		if exhausted && len(inFlight) == 0 {
			return
		}
		started()
		if progress {
			wait = poll
		} else {
			wait = min(2*wait, maxPoll)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// nextPage reads the account's next page of stored messages after the
// given ID. exhausted: there are none (or they cannot be read), and the
// session now counts as done, so that a message stored from here on is
// handed to it directly, after the backlog.
func (m *mod) nextPage(ctx context.Context, s module.Session, d *delivery, bare jid.JID, after int64) (page []storage.OfflineMessage, els []*xml.Element, exhausted bool) {
	l := m.lock(bare)
	l.Lock()
	defer l.Unlock()
	page, els, err := m.page(ctx, bare, after)
	if err != nil || len(page) == 0 {
		// A storage fault leaves the rest stored; the session still
		// gets what comes live.
		m.setDone(s, d)
		return nil, nil, true
	}
	return page, els, false
}

// page reads up to pageSize messages after the given ID and parses them;
// els[i] is nil for a row that does not parse (logged, then deleted with
// its neighbours: it can never be delivered). Caller holds bare's lock.
func (m *mod) page(ctx context.Context, bare jid.JID, after int64) ([]storage.OfflineMessage, []*xml.Element, error) {
	msgs, err := m.store.OfflinePage(ctx, bare.Domain(), bare.Local(), after, pageSize)
	if err != nil {
		m.h.Logger.Error("fetch offline messages", "jid", bare.String(), "err", err)
		return nil, nil, err
	}
	els := make([]*xml.Element, len(msgs))
	for i, msg := range msgs {
		el, err := parse(msg.Stanza)
		if err != nil {
			m.h.Logger.Error("stored offline message does not parse: dropped", "jid", bare.String(), "id", msg.ID, "stanza", string(msg.Stanza), "err", err)
			continue
		}
		els[i] = el
	}
	return msgs, els, nil
}

// deleteUpTo deletes the account's messages up to upTo, which reached a
// client. When that fails (a storage fault: a read-only disk, a lost
// database) they would be delivered a second time: the module remembers
// them and skips them until a delete succeeds. A crash or restart before
// then forgets, and they are delivered again: delivery of stored messages
// is at least once.
func (m *mod) deleteUpTo(ctx context.Context, bare jid.JID, upTo int64) {
	_, err := m.store.DeleteOffline(ctx, bare.Domain(), bare.Local(), upTo)
	key := bare.String()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.h.Logger.Error("delete offline messages: delivered, kept from delivering again until a delete succeeds", "jid", key, "up_to", upTo, "err", err)
		m.undeleted[key] = max(m.undeleted[key], upTo)
		return
	}
	if m.undeleted[key] <= upTo {
		delete(m.undeleted, key)
	}
}

// retryDelete retries the delete of messages that reached a client before
// and returns the ID up to which they are not to be delivered again (0:
// none).
func (m *mod) retryDelete(ctx context.Context, bare jid.JID) int64 {
	m.mu.Lock()
	upTo := m.undeleted[bare.String()]
	m.mu.Unlock()
	if upTo != 0 {
		m.deleteUpTo(ctx, bare, upTo)
	}
	return upTo
}

// parse reads a stored stanza back.
func parse(stanza []byte) (*xml.Element, error) { return xml.ParseFragment(stanza) }
