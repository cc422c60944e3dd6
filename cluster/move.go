package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
)

// A session that moves to another node by XEP-0198 resumption moves its
// record in one write, made by the node it leaves, before that node lets
// the session go (c2s.RecordMover, c2s/handover.go): the record then names
// the new node, complete with what the other nodes read from it
// (availability, priority, last presence, the modules' flags such as
// carbons). So the other nodes never see the session on its new node
// without its flags, and the record is in the bucket before the new node
// answers <resumed/>, as a bind's is before its result (bind.go). When
// that write fails, the session stays where it was, waiting for
// resumption, and the client is refused (XEP-0198 §5 <failed/>): nothing
// has moved, so nothing can be lost, and the client binds anew or resumes
// again later.

// moveWriteWait is how long the old node keeps trying to write the moved
// record. Less than the asking node's request timeout (c2s
// handoverTimeout, 10 s) with one write's own timeout added: the answer
// must reach it while it still waits.
const moveWriteWait = 5 * time.Second

// Incarnation is this node's name and incarnation id, as session records
// name their node (c2s.RecordMover).
func (d *Directory) Incarnation() (node, id string) {
	if d.node == nil {
		return "", ""
	}
	return d.node.cfg.Node, d.node.id
}

// MoveRecord rewrites the record of s, a session of this node about to be
// handed over, as a session of node (name, incarnation id): one write,
// conditional on the record being still this node's own (a later bind of
// the same full JID elsewhere keeps its record). It returns the revision
// written and the session's flags, which the new node keeps. On success
// this node no longer owns the key: s's Unbind leaves it alone. On error
// s stays this node's session and its record is unchanged.
func (d *Directory) MoveRecord(s module.Session, node, id string) (uint64, []string, error) {
	if d.node == nil {
		return 0, nil, errors.New("cluster: not started")
	}
	key := sessionKey(s.JID())
	d.mu.Lock()
	rev, owned := d.revs[key]
	if !owned {
		// Its record is not written yet (rewriteLater keeps trying,
		// and would overwrite a moved one), or another node's bind of
		// the same JID replaced it.
		d.mu.Unlock()
		d.node.stats.movesRefused.Add(1)
		return 0, nil, fmt.Errorf("cluster: session %s has no record of this node to move", s.JID())
	}
	// Forgotten before the write: its echo through the watcher is not
	// a later bind elsewhere to close s for (applySession).
	delete(d.revs, key)
	flags := d.flags[s]
	d.mu.Unlock()
	r := d.recordAs(s, node, id)
	r.Flags = flags
	val, err := json.Marshal(r)
	if err != nil {
		return 0, nil, fmt.Errorf("cluster: record of %s: %w", s.JID(), err)
	}
	wait := d.bindWait
	if wait == 0 {
		wait = moveWriteWait
	}
	until := time.Now().Add(wait)
	for {
		var nrev uint64
		if f := d.putFault.Load(); f != nil {
			err = *f
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			nrev, err = d.node.kv.Update(ctx, key, val, rev)
			cancel()
		}
		if err == nil {
			return nrev, flags, nil
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			// Written again meanwhile: by this node (a presence
			// update racing the handover), then move that one; by
			// another node's bind, which wins, and the watcher
			// closes s (RFC 6120 §7.7.2.2).
			if cur, ok := d.ownRevision(key); ok {
				rev = cur
				continue
			}
			return 0, nil, fmt.Errorf("cluster: session %s was bound on another node: %w", s.JID(), err)
		}
		if !time.Now().Add(d.node.cfg.Heartbeat).Before(until) {
			break
		}
		select {
		case <-d.node.stop:
		case <-time.After(d.node.cfg.Heartbeat):
			continue
		}
		break
	}
	d.mu.Lock()
	if d.local.Session(s.JID()) == s {
		if _, taken := d.revs[key]; !taken {
			d.revs[key] = rev
		}
	}
	d.mu.Unlock()
	d.node.stats.movesRefused.Add(1)
	d.node.log.Warn("cluster: session not handed over: its record could not be moved in the directory", "jid", s.JID().String(), "to", node, "err", err)
	return 0, nil, fmt.Errorf("cluster: record of %s not moved to %s: %w", s.JID(), node, err)
}

// AdoptRecord takes the record the session's old node wrote for s here
// (MoveRecord) as s's claim: Bind writes nothing, and the flags are s's
// from the start, so the modules setting them again (their
// SessionCarrier imports) write nothing either.
func (d *Directory) AdoptRecord(s module.Session, rev uint64, flags []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.claims == nil {
		d.claims = map[module.Session]claim{}
	}
	d.claims[s] = claim{rev: rev}
	if len(flags) > 0 {
		d.flags[s] = flags
	}
}

// ownRevision reads key from the bucket: its revision when the record
// there is still this node's.
func (d *Directory) ownRevision(key string) (uint64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	e, err := d.node.kv.Get(ctx, key)
	if err != nil {
		return 0, false
	}
	var r record
	if json.Unmarshal(e.Value(), &r) != nil || r.ID != d.node.id {
		return 0, false
	}
	return e.Revision(), true
}

// orphanAfter is how long a record naming this node may go without a
// session here before this node deletes it: more than an asking node
// waits for a handover answer (c2s handoverTimeout, 10 s), plus a write.
const orphanAfter = 15 * time.Second

// ownRecord sees a record naming this node (the watcher, applySession).
// One for a session this node neither has nor is binding is a record a
// handover moved here whose answer never arrived (the asking node gave
// up waiting; the session went with the lost answer): unless the session
// shows up, it is deleted after orphanAfter, so that the other nodes stop
// routing to a session that does not exist. Conditional on its revision:
// a later write of the key is kept.
func (d *Directory) ownRecord(key string, full jid.JID, rev uint64) {
	if d.known(key, full) {
		return
	}
	wait := time.Duration(d.orphanWait.Load())
	if wait == 0 {
		wait = orphanAfter
	}
	n := d.node
	time.AfterFunc(wait, func() {
		select {
		case <-n.stop:
			return
		default:
		}
		if d.known(key, full) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		if err := n.kv.Delete(ctx, key, jetstream.LastRevision(rev)); err == nil {
			n.log.Warn("cluster: removed a directory record naming this node for a session it does not have", "jid", full.String())
		}
	})
}

// known reports a session of full bound here, or being bound.
func (d *Directory) known(key string, full jid.JID) bool {
	if d.local.Session(full) != nil {
		return true
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if _, ok := d.revs[key]; ok {
		return true
	}
	for s := range d.claims {
		if s.JID() == full {
			return true
		}
	}
	return false
}
