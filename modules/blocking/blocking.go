// Package blocking implements XEP-0191 Blocking Command: a user's list of
// blocked JIDs, its retrieval and changes with pushes to the user's
// interested resources, and its enforcement on every routed stanza in both
// directions (through module.HookRoute). See README.md.
package blocking

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	NS       = "urn:xmpp:blocking"
	NSErrors = "urn:xmpp:blocking:errors"
)

// MaxItems bounds one account's block list; a block that would exceed it
// is refused with not-acceptable and changes nothing.
const MaxItems = 1000

// CacheSize bounds the block lists of accounts without a bound session
// kept in memory (lists of online accounts are always kept).
const CacheSize = 4096

func init() { module.Register("blocking", func() module.Module { return &mod{} }) }

type mod struct {
	h     *module.Handle
	store storage.BlockLists
	cache *cache

	// setMu serialises changes: the cache is updated from the list
	// before the change, which must not move meanwhile.
	setMu  sync.Mutex
	pushID atomic.Uint64
}

func (m *mod) Start(h *module.Handle) error {
	if h.Blocks == nil {
		return errors.New("no block list storage")
	}
	m.h, m.store = h, h.Blocks
	m.cache = newCache(h.Blocks, CacheSize)
	h.AddFeature(NS)
	h.HandleIQ(module.TargetAccount, "get", NS, m.get)
	h.HandleIQ(module.TargetAccount, "set", NS, m.set)
	// Before every other outbound hook: a stanza to a blocked JID must
	// not change the roster (presence subscriptions) nor be copied to
	// other resources (carbons) when it is not going out.
	h.Hook(module.HookOutbound, 1000, m.outbound)
	h.Hook(module.HookRoute, 0, m.route)
	if h.Cluster != nil {
		// A change made on another node: its cached list is stale
		// here, and this node's resources that asked get the push.
		h.Cluster.Subscribe("blocking", m.changedElsewhere)
	}
	h.OnSessionBound(func(_ context.Context, s module.Session) { m.cache.bound(s) })
	h.OnSessionClosed(func(_ context.Context, s module.Session) { m.cache.closed(s) })
	return nil
}

// owner is the account the IQ is about: the sender's own (no 'to', or its
// own bare JID). The blocking command has no meaning for someone else's
// list.
func owner(iq *module.IQ) (jid.JID, error) {
	own := iq.From.Bare()
	if iq.From.IsZero() || iq.From.Local() == "" || (!iq.To.IsZero() && iq.To != own) {
		return jid.JID{}, stanza.NewError(stanza.Forbidden, "")
	}
	return own, nil
}

func (m *mod) get(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	own, err := owner(iq)
	if err != nil {
		return nil, err
	}
	if iq.Payload.Name() != "blocklist" {
		return nil, stanza.NewError(stanza.BadRequest, "expected <blocklist/>")
	}
	set, err := m.cache.get(ctx, own)
	if err != nil {
		return nil, err
	}
	// §3.3: the resources that requested the list are those that get
	// the pushes of later changes.
	if iq.Origin != nil {
		m.cache.requested(iq.Origin)
	}
	return itemsElement("blocklist", set.sorted()), nil
}

func itemsElement(name string, jids []string) *xml.Element {
	b := xml.NewBuilder(name, NS)
	for _, j := range jids {
		b.Start("item", NS).Attr("jid", j).End()
	}
	return b.Element()
}

// items parses the <item jid='...'/> children. A missing or unparsable
// 'jid' is a bad-request: the XEP gives no other condition for a malformed
// command, and one wrong item refuses the whole command.
func items(payload *xml.Element) ([]jid.JID, error) {
	var out []jid.JID
	for c := range payload.Children() {
		if c.Name() != "item" || c.NS() != NS {
			continue
		}
		v, ok := c.LookupAttr("jid")
		if !ok {
			return nil, stanza.NewError(stanza.BadRequest, "item without jid")
		}
		j, err := jid.Parse(v)
		if err != nil {
			return nil, stanza.NewError(stanza.BadRequest, "invalid JID: "+v)
		}
		out = append(out, j)
	}
	return out, nil
}

func (m *mod) set(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	own, err := owner(iq)
	if err != nil {
		return nil, err
	}
	jids, err := items(iq.Payload)
	if err != nil {
		return nil, err
	}
	var old, cur *blockSet
	switch iq.Payload.Name() {
	case "block":
		// §3.3: a block without items is a bad-request.
		if len(jids) == 0 {
			return nil, stanza.NewError(stanza.BadRequest, "block without items")
		}
		old, cur, err = m.block(ctx, own, jids)
	case "unblock":
		// §3.5/§3.6: without items it unblocks everyone.
		old, cur, err = m.unblock(ctx, own, jids)
	default:
		return nil, stanza.NewError(stanza.BadRequest, "expected <block/> or <unblock/>")
	}
	if err != nil {
		return nil, err
	}
	m.push(own, iq.Payload.Name(), jids)
	var unconfirmed error
	if m.h.Cluster != nil {
		// §3.3: the result says the block is in force, so every node
		// that may route a stanza from the contact must have dropped
		// its cached list first.
		unconfirmed = m.h.Cluster.PublishWait(ctx, "blocking", []byte(iq.Payload.Name()+"\n"+own.String()+"\n"+strings.Join(strs(jids), "\n")))
	}
	m.presenceChanged(ctx, own, old, cur)
	if unconfirmed != nil {
		m.h.Logger.Warn("blocking: change stored, not confirmed by every cluster node", "jid", own.String(), "err", unconfirmed)
		// Stored, and in force on the nodes that answered: sending it
		// again is harmless (blocking is idempotent).
		return nil, &stanza.Error{Type: "wait", Condition: stanza.InternalServerError, Text: "stored, but not yet in force on every cluster node; send it again"}
	}
	return nil, nil
}

// changedElsewhere takes a change another cluster node made: "block" or
// "unblock", the account, the JIDs, a line each.
func (m *mod) changedElsewhere(payload []byte) {
	lines := strings.Split(string(payload), "\n")
	if len(lines) < 2 {
		return
	}
	own, err := jid.Parse(lines[1])
	if err != nil {
		return
	}
	var jids []jid.JID
	for _, l := range lines[2:] {
		if j, err := jid.Parse(l); err == nil {
			jids = append(jids, j)
		}
	}
	m.setMu.Lock()
	m.cache.forget(own)
	m.setMu.Unlock()
	m.push(own, lines[0], jids)
}

func strs(jids []jid.JID) []string {
	out := make([]string, len(jids))
	for i, j := range jids {
		out[i] = j.String()
	}
	return out
}

func (m *mod) block(ctx context.Context, own jid.JID, jids []jid.JID) (old, cur *blockSet, err error) {
	m.setMu.Lock()
	defer m.setMu.Unlock()
	if old, err = m.cache.get(ctx, own); err != nil {
		return nil, nil, err
	}
	cur = old.with(jids)
	if len(cur.jids) > MaxItems {
		return nil, nil, stanza.NewError(stanza.NotAcceptable, "block list full ("+strconv.Itoa(MaxItems)+" items)")
	}
	if err := m.store.Block(ctx, own.Domain(), own.Local(), strs(jids)); err != nil {
		return nil, nil, fmt.Errorf("block for %s: %w", own, err)
	}
	m.cache.replace(own, cur)
	return old, cur, nil
}

func (m *mod) unblock(ctx context.Context, own jid.JID, jids []jid.JID) (old, cur *blockSet, err error) {
	m.setMu.Lock()
	defer m.setMu.Unlock()
	if old, err = m.cache.get(ctx, own); err != nil {
		return nil, nil, err
	}
	if len(jids) == 0 {
		err = m.store.UnblockAll(ctx, own.Domain(), own.Local())
		cur = emptySet
	} else {
		err = m.store.Unblock(ctx, own.Domain(), own.Local(), strs(jids))
		cur = old.without(jids)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("unblock for %s: %w", own, err)
	}
	m.cache.replace(own, cur)
	return old, cur, nil
}

// push sends the change to every resource of own that requested the
// block list (XEP-0191 §3.3, §3.5, §3.6), the one that made it included
// when it did; those that never asked get nothing.
func (m *mod) push(own jid.JID, name string, jids []jid.JID) {
	payload := itemsElement(name, strs(jids))
	for _, s := range m.cache.interested(own) {
		id := "block-push-" + strconv.FormatUint(m.pushID.Add(1), 10)
		s.Deliver(xml.NewBuilder("iq", xml.NSClient).Attr("type", "set").Attr("id", id).
			Attr("to", s.JID().String()).Append(payload).Element())
	}
}
