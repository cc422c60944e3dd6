package blocking

import (
	"container/list"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage"
)

// blockSet is one account's block list, immutable once built: a change
// builds a new one, so a reader may keep using the set it got.
type blockSet struct {
	jids map[jid.JID]struct{}
	// fulls counts the full-JID items under each bare JID: a presence
	// broadcast to that bare JID must skip the blocked resources.
	fulls map[jid.JID]int
}

var emptySet = &blockSet{}

func newSet(jids []jid.JID) *blockSet {
	if len(jids) == 0 {
		return emptySet
	}
	s := &blockSet{jids: make(map[jid.JID]struct{}, len(jids))}
	for _, j := range jids {
		s.add(j)
	}
	return s
}

func (s *blockSet) add(j jid.JID) {
	if _, dup := s.jids[j]; dup {
		return
	}
	s.jids[j] = struct{}{}
	if j.IsFull() && j.Local() != "" {
		if s.fulls == nil {
			s.fulls = map[jid.JID]int{}
		}
		s.fulls[j.Bare()]++
	}
}

func (s *blockSet) items() []jid.JID {
	out := make([]jid.JID, 0, len(s.jids))
	for j := range s.jids {
		out = append(out, j)
	}
	return out
}

// with returns s plus jids; without returns s minus jids.
func (s *blockSet) with(jids []jid.JID) *blockSet { return newSet(append(s.items(), jids...)) }

func (s *blockSet) without(jids []jid.JID) *blockSet {
	drop := make(map[jid.JID]bool, len(jids))
	for _, j := range jids {
		drop[j] = true
	}
	var keep []jid.JID
	for j := range s.jids {
		if !drop[j] {
			keep = append(keep, j)
		}
	}
	return newSet(keep)
}

// sorted returns the items as strings in byte order (the storage order).
func (s *blockSet) sorted() []string {
	out := make([]string, 0, len(s.jids))
	for j := range s.jids {
		out = append(out, j.String())
	}
	slices.Sort(out)
	return out
}

// match reports whether j is blocked, with the XEP-0191 §7 rules (those
// of XEP-0016 §2.1): an item user@domain/resource matches only that full
// JID; user@domain matches it and any of its resources; domain/resource
// matches only itself; domain matches itself, any user@domain (with or
// without resource) and any domain/resource. So j is blocked when j
// itself, its bare JID or its domain is on the list: three map lookups,
// none of which allocates (Bare and DomainJID slice j's string).
func (s *blockSet) match(j jid.JID) bool {
	if len(s.jids) == 0 || j.IsZero() {
		return false
	}
	if _, ok := s.jids[j]; ok {
		return true
	}
	if j.IsFull() {
		if _, ok := s.jids[j.Bare()]; ok {
			return true
		}
	}
	if j.Local() != "" || j.IsFull() {
		if _, ok := s.jids[j.DomainJID()]; ok {
			return true
		}
	}
	return false
}

// cache holds the block lists of accounts with a bound session for as long
// as they have one (loaded on first use, kept in sync by every change),
// and those of other accounts (read when a stanza is routed to them) in
// a bounded least-recently-used set.
type cache struct {
	store storage.BlockLists
	max   int // idle entries kept

	mu sync.Mutex
	// m: by bare JID, its canonical string. A string key takes the
	// runtime's string-keyed map path: the hooks look here up to three
	// times per routed stanza (docs/performance.md).
	m    map[string]*entry
	idle *list.List // entries with no session, most recently used first
	// gen counts changes; a load that saw it move may have read a list
	// from before a change and is not cached.
	gen uint64
}

type entry struct {
	bare jid.JID
	set  *blockSet // nil until loaded
	// sessions are the account's bound sessions, marked for those that
	// requested the block list and so get pushes (XEP-0191 §3.3).
	sessions sessionSet
	elem     *list.Element // in idle when no session is bound
}

// sessionSet is a set of sessions, each marked or not. Most accounts have
// one session: it is held without a map, which for every bound account
// cost ~0.25 KiB of an idle session's memory (docs/performance.md).
type sessionSet struct {
	one     module.Session // nil when empty
	oneMark bool
	more    map[module.Session]bool // the others, when there are
}

func (ss *sessionSet) len() int {
	if ss.one == nil {
		return 0
	}
	return 1 + len(ss.more)
}

// add adds s unmarked (unmarks it if it is there).
func (ss *sessionSet) add(s module.Session) {
	switch {
	case ss.one == nil || ss.one == s:
		ss.one, ss.oneMark = s, false
	default:
		if ss.more == nil {
			ss.more = map[module.Session]bool{}
		}
		ss.more[s] = false
	}
}

func (ss *sessionSet) remove(s module.Session) {
	if ss.one != s {
		delete(ss.more, s)
		return
	}
	ss.one, ss.oneMark = nil, false
	for o, m := range ss.more {
		ss.one, ss.oneMark = o, m
		delete(ss.more, o)
		break
	}
	if len(ss.more) == 0 {
		ss.more = nil
	}
}

// mark marks s if it is in the set.
func (ss *sessionSet) mark(s module.Session) {
	if ss.one == nil {
		return
	}
	if ss.one == s {
		ss.oneMark = true
		return
	}
	if _, ok := ss.more[s]; ok {
		ss.more[s] = true
	}
}

// marked appends the marked sessions to out.
func (ss *sessionSet) marked(out []module.Session) []module.Session {
	if ss.one != nil && ss.oneMark {
		out = append(out, ss.one)
	}
	for s, m := range ss.more {
		if m {
			out = append(out, s)
		}
	}
	return out
}

func newCache(store storage.BlockLists, max int) *cache {
	return &cache{store: store, max: max, m: map[string]*entry{}, idle: list.New()}
}

// get returns the block list of a local account (bare JID).
func (c *cache) get(ctx context.Context, bare jid.JID) (*blockSet, error) {
	c.mu.Lock()
	for attempt := 0; ; attempt++ {
		if e := c.m[bare.String()]; e != nil && e.set != nil {
			if e.elem != nil {
				c.idle.MoveToFront(e.elem)
			}
			s := e.set
			c.mu.Unlock()
			return s, nil
		}
		g := c.gen
		c.mu.Unlock()
		set, err := c.load(ctx, bare)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.gen != g {
			if attempt < 3 {
				continue
			}
			// Changes keep racing the load: answer with what was
			// read, which was current when read, and cache nothing.
			c.mu.Unlock()
			return set, nil
		}
		e := c.m[bare.String()]
		if e == nil {
			e = &entry{bare: bare}
			c.m[bare.String()] = e
			c.park(e)
		}
		if e.set == nil {
			e.set = set
		}
		s := e.set
		c.mu.Unlock()
		return s, nil
	}
}

func (c *cache) load(ctx context.Context, bare jid.JID) (*blockSet, error) {
	strs, err := c.store.BlockList(ctx, bare.Domain(), bare.Local())
	if err != nil {
		return nil, fmt.Errorf("block list of %s: %w", bare, err)
	}
	jids := make([]jid.JID, 0, len(strs))
	for _, s := range strs {
		j, err := jid.Parse(s)
		if err != nil {
			// Stored by an older version with other rules, or by
			// hand: it can match nothing that parses.
			continue
		}
		jids = append(jids, j)
	}
	return newSet(jids), nil
}

// park puts an entry without sessions at the front of the idle list and
// evicts the least recently used ones beyond max; caller holds c.mu.
func (c *cache) park(e *entry) {
	e.elem = c.idle.PushFront(e)
	for c.idle.Len() > c.max {
		old := c.idle.Remove(c.idle.Back()).(*entry)
		old.elem = nil
		delete(c.m, old.bare.String())
	}
}

// replace installs the list after a change the caller has stored; caller
// serialises changes of one account.
func (c *cache) replace(bare jid.JID, set *blockSet) {
	c.mu.Lock()
	c.gen++
	if e := c.m[bare.String()]; e != nil {
		e.set = set
	}
	c.mu.Unlock()
}

// forget drops a cached list changed elsewhere (another cluster node):
// the next use reads it from storage.
func (c *cache) forget(bare jid.JID) {
	c.mu.Lock()
	c.gen++
	if e := c.m[bare.String()]; e != nil {
		e.set = nil
	}
	c.mu.Unlock()
}

func (c *cache) bound(s module.Session) {
	bare := s.JID().Bare()
	c.mu.Lock()
	e := c.m[bare.String()]
	if e == nil {
		e = &entry{bare: bare}
		c.m[bare.String()] = e
	}
	if e.elem != nil {
		c.idle.Remove(e.elem)
		e.elem = nil
	}
	e.sessions.add(s)
	c.mu.Unlock()
}

func (c *cache) closed(s module.Session) {
	bare := s.JID().Bare()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[bare.String()]
	if e == nil {
		return
	}
	e.sessions.remove(s)
	if e.sessions.len() > 0 || e.elem != nil {
		return
	}
	if e.set == nil {
		delete(c.m, bare.String())
		return
	}
	c.park(e)
}

// requested marks a bound session as one that asked for the block list.
func (c *cache) requested(s module.Session) {
	c.mu.Lock()
	if e := c.m[s.JID().Bare().String()]; e != nil {
		e.sessions.mark(s)
	}
	c.mu.Unlock()
}

// interested returns the sessions of bare that requested the block list.
func (c *cache) interested(bare jid.JID) []module.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []module.Session
	if e := c.m[bare.String()]; e != nil {
		out = e.sessions.marked(out)
	}
	return out
}

// size reports the number of cached entries (for tests of the bound).
func (c *cache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
