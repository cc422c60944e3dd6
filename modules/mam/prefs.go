package mam

import (
	"container/list"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	// prefsCacheSize bounds the accounts whose preferences are kept in
	// memory. An entry is small (most accounts never set preferences and
	// cache a shared default), and sessions refresh theirs at bind.
	prefsCacheSize = 100_000
	// rosterCacheSize and rosterTTL bound the roster sets kept for
	// accounts whose default is "roster". The TTL is a safety net: the
	// cache is also dropped when the account changes its roster.
	rosterCacheSize = 10_000
	rosterTTL       = 5 * time.Minute
	// prefsTTL bounds how long a cached preference may be stale after a
	// change this process did not make (a deleted and re-created account
	// before it binds a session; later, another cluster node).
	prefsTTL = 10 * time.Minute
)

// prefs is one account's preferences with the lists as sets.
type prefs struct {
	def           string
	always, never map[string]bool
}

// cachedPrefs is a cache entry: the preferences and when they were read,
// or, with p nil, when they were dropped (dropPrefs).
type cachedPrefs struct {
	p      *prefs
	loaded time.Time
}

// lru is a small mutex-guarded LRU map; both caches use it.
type lru[V any] struct {
	mu    sync.Mutex
	size  int
	ll    *list.List
	items map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](size int) *lru[V] {
	return &lru[V]{size: size, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *lru[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(k string, v V) { c.putUnless(k, v, nil) }

// putUnless stores v unless an entry exists for which keep returns true.
func (c *lru[V]) putUnless(k string, v V, keep func(old V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		if keep != nil && keep(e.Value.(*lruEntry[V]).val) {
			return
		}
		e.Value.(*lruEntry[V]).val = v
		c.ll.MoveToFront(e)
		return
	}
	c.items[k] = c.ll.PushFront(&lruEntry[V]{k, v})
	for c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*lruEntry[V]).key)
	}
}

func (c *lru[V]) drop(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.Remove(e)
		delete(c.items, k)
	}
}

type prefsCache = lru[cachedPrefs]

func newPrefsCache(size int) *prefsCache { return newLRU[cachedPrefs](size) }

type rosterEntry struct {
	jids    map[string]bool
	expires time.Time
}

type rosterCache = lru[rosterEntry]

func newRosterCache(size int) *rosterCache { return newLRU[rosterEntry](size) }

// toPrefs builds the cached form. Lists stay nil maps when empty (reads
// of a nil map are fine): most accounts never set preferences, and their
// entries should cost the cache little.
func toPrefs(p storage.ArchivePrefs) *prefs {
	out := &prefs{def: p.Default}
	set := func(jids []string) map[string]bool {
		if len(jids) == 0 {
			return nil
		}
		m := make(map[string]bool, len(jids))
		for _, j := range jids {
			m[j] = true
		}
		return m
	}
	out.always, out.never = set(p.Always), set(p.Never)
	return out
}

// loadPrefs reads an account's preferences from the store into the cache
// (the configured default when it never set any).
//
// Loads may race (the background load at bind against a set): an entry
// read later than this load started is newer and stays.
func (m *mod) loadPrefs(ctx context.Context, archive string) (*prefs, error) {
	start := m.now()
	p, err := m.store.ArchivePrefs(ctx, archive)
	pr := m.defPrefs // shared: never modified
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		if ctx.Err() != nil {
			// The session or the module ended: no storage fault.
			return nil, err
		}
		m.log.Error("read archive preferences", "archive", archive, "err", err)
		return nil, err
	default:
		pr = toPrefs(p)
	}
	m.prefs.putUnless(archive, cachedPrefs{pr, start}, func(old cachedPrefs) bool { return old.loaded.After(start) })
	return pr, nil
}

// dropPrefs forgets archive's cached preferences. What stays is when
// they were dropped (an entry without preferences), so that a read begun
// before the change cannot put the old ones back when it ends (loadPrefs
// keeps newer entries): after an awaited drop (PublishWait) every node
// reads the new ones.
func (m *mod) dropPrefs(archive string) {
	m.prefs.put(archive, cachedPrefs{loaded: m.now()})
}

// wanted applies the owner's preferences (XEP-0441 §2.1, §2.3) to a
// message exchanged with target: the 'to' of an outgoing message, the
// 'from' of an incoming one. A listed JID with a resource matches target
// exactly, a bare one matches target's bare JID; never wins over always.
func (m *mod) wanted(ctx context.Context, owner, target jid.JID) bool {
	archive := owner.String()
	c, ok := m.prefs.get(archive)
	p := c.p
	if !ok || p == nil || m.now().Sub(c.loaded) > prefsTTL {
		var err error
		if p, err = m.loadPrefs(ctx, archive); err != nil {
			return true // archiving is the default; losing a message is worse
		}
	}
	full, bare := target.String(), target.Bare().String()
	switch {
	case p.never[full] || p.never[bare]:
		return false
	case p.always[full] || p.always[bare]:
		return true
	}
	switch p.def {
	case storage.ArchiveNever:
		return false
	case storage.ArchiveRoster:
		return bare == archive || m.inRoster(ctx, owner, bare)
	}
	return true
}

// inRoster reports whether contact is in owner's roster (not a placeholder
// for a pending request). Only accounts with default="roster" come here;
// the roster is cached per account until it changes (see rosterChanged)
// or for rosterTTL.
func (m *mod) inRoster(ctx context.Context, owner jid.JID, contact string) bool {
	key := owner.String()
	if e, ok := m.roster.get(key); ok && m.now().Before(e.expires) {
		return e.jids[contact]
	}
	if m.h.Rosters == nil {
		return false
	}
	items, _, err := m.h.Rosters.Roster(ctx, owner.Domain(), owner.Local())
	if err != nil {
		m.log.Error("read roster for archive preferences", "jid", key, "err", err)
		return true
	}
	e := rosterEntry{jids: map[string]bool{}, expires: m.now().Add(rosterTTL)}
	for _, it := range items {
		if !it.Placeholder {
			e.jids[it.JID] = true
		}
	}
	m.roster.put(key, e)
	return e.jids[contact]
}

// rosterChanged is the HookOutbound hook that drops an account's cached
// roster when one of its sessions may change it: a roster set, or a
// subscription presence (RFC 6121 §3 creates and edits items).
func (m *mod) rosterChanged(_ context.Context, st *module.Stanza) bool {
	switch st.El.Name() {
	case "iq":
		if st.El.Attr("type") != "set" {
			return false
		}
		if p := st.El.FirstChild(); p == nil || p.NS() != "jabber:iq:roster" {
			return false
		}
	case "presence":
		switch st.El.Attr("type") {
		case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		default:
			return false
		}
	default:
		return false
	}
	m.roster.drop(st.From.Bare().String())
	m.publishDrop('r', st.From.Bare().String())
	return false
}

// getPrefs answers <prefs/> get (XEP-0441 §2.1).
func (m *mod) getPrefs(ctx context.Context, owner jid.JID) (*xml.Element, error) {
	p, err := m.store.ArchivePrefs(ctx, owner.String())
	if errors.Is(err, storage.ErrNotFound) {
		p, err = storage.ArchivePrefs{Default: m.cfg.Default}, nil
	}
	if err != nil {
		return nil, err
	}
	return prefsElement(p), nil
}

func prefsElement(p storage.ArchivePrefs) *xml.Element {
	b := xml.NewBuilder("prefs", NS).Attr("default", p.Default)
	for _, list := range []struct {
		name string
		jids []string
	}{{"always", p.Always}, {"never", p.Never}} {
		b.Start(list.name, "")
		for _, j := range list.jids {
			b.Start("jid", "").Text(j).End()
		}
		b.End()
	}
	return b.Element()
}

// setPrefs answers <prefs/> set (XEP-0441 §2.1) with the preferences as
// applied.
func (m *mod) setPrefs(ctx context.Context, owner jid.JID, el *xml.Element) (*xml.Element, error) {
	p := storage.ArchivePrefs{Default: el.Attr("default")}
	switch p.Default {
	case storage.ArchiveAlways, storage.ArchiveNever, storage.ArchiveRoster:
	default:
		return nil, stanza.NewError(stanza.BadRequest, "default must be always, never or roster")
	}
	for c := range el.Children() {
		var dst *[]string
		switch {
		case c.NS() != NS:
			continue
		case c.Name() == "always":
			dst = &p.Always
		case c.Name() == "never":
			dst = &p.Never
		default:
			continue
		}
		for j := range c.Children() {
			if j.Name() != "jid" || j.NS() != NS {
				continue
			}
			parsed, err := jid.Parse(j.Text())
			if err != nil {
				return nil, stanza.NewError(stanza.JIDMalformed, "")
			}
			*dst = append(*dst, parsed.String())
		}
	}
	if err := m.store.SetArchivePrefs(ctx, owner.String(), p); err != nil {
		return nil, err
	}
	m.roster.drop(owner.String())
	m.dropPrefs(owner.String())
	// XEP-0441 §2.1: the result means the preferences apply to the next
	// message, whichever node archives it; the other nodes drop their
	// cached copy before it is sent.
	if m.h.Cluster != nil {
		if err := m.h.Cluster.PublishWait(ctx, "mam", append([]byte{'p'}, owner.String()...)); err != nil {
			m.log.Warn("archive preferences stored, not confirmed by every cluster node", "archive", owner.String(), "err", err)
			return nil, &stanza.Error{Type: "wait", Condition: stanza.InternalServerError, Text: "stored, but not yet in force on every cluster node; send it again"}
		}
	}
	applied, err := m.loadPrefs(ctx, owner.String())
	if err != nil {
		return nil, err
	}
	out := storage.ArchivePrefs{Default: applied.def}
	for j := range applied.always {
		out.Always = append(out.Always, j)
	}
	for j := range applied.never {
		out.Never = append(out.Never, j)
	}
	slices.Sort(out.Always)
	slices.Sort(out.Never)
	return prefsElement(out), nil
}

// publishDrop tells the other cluster nodes to drop an account's cached
// roster ('r'), without waiting (it runs on the message path): they would
// otherwise apply the old one for up to rosterTTL. Preferences ('p') are
// dropped with PublishWait (setPrefs).
func (m *mod) publishDrop(what byte, archive string) {
	if m.h.Cluster != nil {
		m.h.Cluster.Publish("mam", append([]byte{what}, archive...))
	}
}

// droppedElsewhere takes publishDrop from another node.
func (m *mod) droppedElsewhere(payload []byte) {
	if len(payload) < 2 {
		return
	}
	switch key := string(payload[1:]); payload[0] {
	case 'p':
		m.dropPrefs(key)
	case 'r':
		m.roster.drop(key)
	}
}
