package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/router"
	"github.com/xmppd/xmppd/xml"
)

// record is the value of a session's key: what the other nodes need to
// route to it (RFC 6121 §8.5 priority rules) and answer for it (presence
// probes), without asking its node.
type record struct {
	Node  string `json:"node"` // node name
	ID    string `json:"id"`   // node incarnation: its inbox
	JID   string `json:"jid"`
	Avail bool   `json:"avail,omitempty"`
	Prio  int    `json:"prio,omitempty"`
	Pres  string `json:"pres,omitempty"` // last available presence, serialized
	// Flags are what modules set for the session (module.SessionFlags).
	Flags []string `json:"flags,omitempty"`
}

// Directory is the session table of a cluster node: this node's sessions
// (a router.Local, which keeps the single node's path) and a mirror of the
// other nodes' sessions, kept from the replicated bucket. The other nodes'
// sessions are handed out as proxies (module.Session) that deliver through
// their node's inbox, so the router and the modules route across the
// cluster without knowing it.
type Directory struct {
	local *router.Local
	node  *Node // set by Start

	mu     sync.RWMutex
	remote map[jid.JID][]*Remote // bare JID → other nodes' sessions (copy-on-write)
	byKey  map[string]*Remote
	nrem   int
	revs   map[string]uint64 // key → revision of our own write, for our sessions
	flags  map[module.Session][]string
	claims map[module.Session]claim // written, not bound yet (bind.go)

	// bindWait overrides bindWriteWait, putFault makes session writes
	// fail (tests of bind refusal).
	bindWait time.Duration
	putFault atomic.Pointer[error]
	// applied sees each other node's session record the watcher takes
	// (tests: the first record of a moved session).
	applied atomic.Pointer[func(rec record)]
	// orphanWait overrides orphanAfter (move.go).
	orphanWait atomic.Int64

	watcher jetstream.KeyWatcher
}

// NewDirectory returns the directory of a node whose own sessions are in
// local.
func NewDirectory(local *router.Local) *Directory {
	return &Directory{local: local, remote: map[jid.JID][]*Remote{}, byKey: map[string]*Remote{}, revs: map[string]uint64{}, flags: map[module.Session][]string{}}
}

// Local is this node's own session table.
func (d *Directory) Local() *router.Local { return d.local }

var errCutOff = errors.New("cluster unavailable: this node is cut off from the others")

// Admit refuses new sessions while this node cannot write the directory.
func (d *Directory) Admit() error {
	if d.node == nil || !d.node.Healthy() {
		return errCutOff
	}
	return nil
}

// sessionKey encodes a full JID as a bucket key: JIDs hold characters
// keys may not, so each part is base64url.
func sessionKey(full jid.JID) string {
	b := full.Bare().String()
	return "s." + base64.RawURLEncoding.EncodeToString([]byte(b)) + "." + base64.RawURLEncoding.EncodeToString([]byte(full.Resource()))
}

func (d *Directory) recordOf(s module.Session) []byte {
	r := d.recordAs(s, d.node.cfg.Node, d.node.id)
	d.mu.RLock()
	r.Flags = d.flags[s]
	d.mu.RUnlock()
	b, _ := json.Marshal(r)
	return b
}

// recordAs is s's record as a session of node (name, incarnation id),
// without its flags.
func (d *Directory) recordAs(s module.Session, node, id string) record {
	r := record{Node: node, ID: id, JID: s.JID().String(), Avail: s.Available(), Prio: s.Priority()}
	if p := s.Presence(); p != nil && r.Avail {
		r.Pres = string(p.Append(nil, xml.NSClient))
	}
	return r
}

const writeTimeout = 3 * time.Second

// Bind adds s to this node's table and to the cluster's. The session it
// replaced (the same full JID, RFC 6120 §7.7.2.2) may be on another node:
// the caller's CloseStream on it reaches that node.
func (d *Directory) Bind(s module.Session) module.Session {
	c, claimed := d.takeClaim(s)
	replaced := d.local.Bind(s)
	full := s.JID()
	if replaced == nil {
		if r := d.remoteSession(full); r != nil {
			replaced = r
		} else if claimed && c.replaced != nil {
			// Our own record, already back through the watcher,
			// took the other node's out of the mirror.
			replaced = c.replaced
		}
	}
	if claimed {
		d.mu.Lock()
		d.revs[sessionKey(full)] = c.rev
		d.mu.Unlock()
		return replaced
	}
	// Not claimed (a session moved here by XEP-0198 resumption from a
	// node of an earlier version, which does not move its record,
	// move.go): write now, and keep trying in the background should
	// that fail.
	d.writeWaiting(s, bindWriteWait)
	return replaced
}

// bindWriteWait is how long a bind keeps trying to write its record before
// it is refused (Claim). The session's stream handles nothing meanwhile,
// and that is the point: its initial presence, which makes the offline
// module deliver what was stored for the account, must come after the
// other nodes can find the session. Otherwise what they route to it while
// it is unknown goes to offline storage and stays there until the next
// login (seen under load, and while the bucket elects a new leader after
// a node died: the very moment its users log in again elsewhere).
const bindWriteWait = 10 * time.Second

// write puts s's record; the revision is kept so that the watcher can tell
// a later bind of the same JID elsewhere (which replaces ours) from our
// own write.
func (d *Directory) write(s module.Session) { d.writeWaiting(s, 0) }

// writeWaiting is write trying again for up to wait before it leaves the
// record to rewriteLater.
func (d *Directory) writeWaiting(s module.Session, wait time.Duration) {
	if d.node == nil {
		return
	}
	key := sessionKey(s.JID())
	until := time.Now().Add(wait)
	var rev uint64
	var err error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		rev, err = d.node.kv.Put(ctx, key, d.recordOf(s))
		cancel()
		if err == nil || !time.Now().Add(d.node.cfg.Heartbeat).Before(until) || d.local.Session(s.JID()) != s {
			break
		}
		select {
		case <-d.node.stop:
		case <-time.After(d.node.cfg.Heartbeat):
			continue
		}
		break
	}
	if err != nil {
		// The bucket may be electing a leader (a node just died):
		// keep trying while the session lasts, or the other nodes
		// would never see it.
		d.node.log.Warn("cluster: session not written to the directory yet; retrying", "jid", s.JID().String(), "err", err)
		go d.rewriteLater(s)
		return
	}
	d.mu.Lock()
	bound := d.local.Session(s.JID()) == s
	if bound {
		d.revs[key] = rev
	}
	d.mu.Unlock()
	if !bound {
		// Unbound while the write was under way: Unbind found no
		// revision to delete, so the record would outlive the session.
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		_ = d.node.kv.Delete(ctx, key, jetstream.LastRevision(rev))
		cancel()
	}
}

// rewriteLater retries writing s's record until it succeeds, s is no
// longer bound here, or the node stops.
func (d *Directory) rewriteLater(s module.Session) {
	n := d.node
	key := sessionKey(s.JID())
	for {
		select {
		case <-n.stop:
			return
		case <-time.After(n.cfg.Heartbeat):
		}
		if d.local.Session(s.JID()) != s {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		rev, err := n.kv.Put(ctx, key, d.recordOf(s))
		cancel()
		if err == nil {
			d.mu.Lock()
			if d.local.Session(s.JID()) == s {
				d.revs[key] = rev
			}
			d.mu.Unlock()
			n.log.Info("cluster: session written to the directory", "jid", s.JID().String())
			return
		}
	}
}

// Updated writes s's new presence to the cluster.
func (d *Directory) Updated(s module.Session) {
	if d.local.Session(s.JID()) != s {
		return
	}
	d.write(s)
}

// SetFlag sets or clears a flag of this node's session s and writes it to
// the cluster (module.SessionFlags).
func (d *Directory) SetFlag(s module.Session, flag string, on bool) {
	if _, remote := s.(*Remote); remote {
		return
	}
	d.mu.Lock()
	cur := d.flags[s]
	has := slices.Contains(cur, flag)
	if has == on {
		d.mu.Unlock()
		return
	}
	var nf []string
	for _, f := range cur {
		if f != flag {
			nf = append(nf, f)
		}
	}
	if on {
		nf = append(nf, flag)
	}
	if len(nf) == 0 {
		delete(d.flags, s)
	} else {
		d.flags[s] = nf
	}
	d.mu.Unlock()
	if d.local.Session(s.JID()) == s {
		d.write(s)
	}
}

// Unbind removes s from this node's table and, if the key is still ours,
// from the cluster's.
func (d *Directory) Unbind(s module.Session) bool {
	if !d.local.Unbind(s) {
		if c, ok := d.takeClaim(s); ok {
			// Claimed, then its stream ended before the bind.
			d.mu.Lock()
			delete(d.flags, s) // a moved session's (AdoptRecord)
			d.mu.Unlock()
			d.deleteRecord(s, c.rev)
		}
		return false
	}
	if d.node == nil {
		return true
	}
	key := sessionKey(s.JID())
	d.mu.Lock()
	rev, ok := d.revs[key]
	delete(d.revs, key)
	delete(d.flags, s)
	d.mu.Unlock()
	if ok {
		d.deleteRecord(s, rev)
	}
	return true
}

// deleteRecord deletes s's record of revision rev.
func (d *Directory) deleteRecord(s module.Session, rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	// LastRevision: a newer bind of this JID on another node keeps its
	// key.
	if err := d.node.kv.Delete(ctx, sessionKey(s.JID()), jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
		d.node.log.Warn("cluster: session not removed from the directory", "jid", s.JID().String(), "err", err)
	}
}

// Session returns the session bound to full on any node, or nil.
func (d *Directory) Session(full jid.JID) module.Session {
	if s := d.local.Session(full); s != nil {
		return s
	}
	if r := d.remoteSession(full); r != nil {
		return r
	}
	return nil
}

func (d *Directory) remoteSession(full jid.JID) *Remote {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, r := range d.remote[full.Bare()] {
		if r.full == full {
			return r
		}
	}
	return nil
}

// Sessions returns the sessions of bare on every node. With none elsewhere
// it is this node's shared slice, as on a single node.
func (d *Directory) Sessions(bare jid.JID) []module.Session {
	l := d.local.Sessions(bare)
	d.mu.RLock()
	rs := d.remote[bare]
	d.mu.RUnlock()
	if len(rs) == 0 {
		return l
	}
	out := make([]module.Session, 0, len(l)+len(rs))
	out = append(out, l...)
	for _, r := range rs {
		out = append(out, r)
	}
	return out
}

// Count is the number of sessions in the cluster.
func (d *Directory) Count() int {
	d.mu.RLock()
	n := d.nrem
	d.mu.RUnlock()
	return d.local.Count() + n
}

// LocalCount is the number of this node's sessions.
func (d *Directory) LocalCount() int { return d.local.Count() }

// RemoteSessions lists the other nodes' sessions (for the admin API).
func (d *Directory) RemoteSessions() []*Remote {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]*Remote, 0, d.nrem)
	for _, rs := range d.remote {
		out = append(out, rs...)
	}
	return out
}

// watch mirrors the bucket: every node's sessions but ours, and the
// heartbeats. It returns once the mirror holds what the bucket held.
func (n *Node) watch(ctx context.Context) error {
	ready, err := n.startWatch()
	if err != nil {
		return err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Our own sessions from before a restart: nobody else will clean
	// them up before they would take us for dead.
	n.mu.Lock()
	var stale []string
	for id, p := range n.peers {
		if p.name == n.cfg.Node && id != n.id {
			stale = append(stale, id)
		}
	}
	n.mu.Unlock()
	for _, id := range stale {
		n.nodeDied(id)
	}
	return nil
}

func (d *Directory) stopWatch() {
	d.node.mu.Lock()
	w := d.watcher
	d.node.mu.Unlock()
	if w != nil {
		_ = w.Stop()
	}
}

// apply takes one change of the bucket into the mirror.
func (n *Node) apply(e jetstream.KeyValueEntry) {
	key := e.Key()
	deleted := e.Operation() != jetstream.KeyValuePut
	switch {
	case strings.HasPrefix(key, "n."):
		if deleted {
			return
		}
		var hb heartbeat
		if json.Unmarshal(e.Value(), &hb) != nil {
			return
		}
		if hb.ID == n.id {
			// Our own heartbeat coming back: this node's view of
			// the bucket is current (reap trusts silence only then).
			n.mu.Lock()
			n.selfSeen = time.Now()
			n.mu.Unlock()
			return
		}
		n.mu.Lock()
		p := n.peers[hb.ID]
		isNew := p == nil
		if isNew {
			p = &peer{name: strings.TrimPrefix(key, "n.")}
			n.peers[hb.ID] = p
		}
		p.seen = time.Now()
		p.rev = max(p.rev, e.Revision())
		p.hosts = hb.Hosts
		revived := p.dead
		p.dead = false
		n.mu.Unlock()
		if isNew || revived {
			n.log.Info("cluster: node joined", "node", p.name, "id", hb.ID, "back", revived)
			n.membershipChanged()
		}
		if hb.Hosts != n.cfg.hosts() {
			n.log.Error("cluster: a node serves other hosts than this one; every node needs the same [[host]] list", "node", p.name, "its_hosts", hb.Hosts, "ours", n.cfg.hosts())
		}
	case strings.HasPrefix(key, "s."):
		n.dir.applySession(key, e, deleted)
	case strings.HasPrefix(key, "c."):
		n.applyComponent(key, e.Value(), deleted)
	}
}

func (d *Directory) applySession(key string, e jetstream.KeyValueEntry, deleted bool) {
	n := d.node
	if deleted {
		d.removeRemote(key)
		d.mu.RLock()
		_, ours := d.revs[key]
		d.mu.RUnlock()
		if ours {
			// Another node deleted the key of a session this node
			// still has: it took this node for dead. Write it again.
			go d.rewrite(key)
		}
		return
	}
	var rec record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return
	}
	full, err := jid.Parse(rec.JID)
	if err != nil || !full.IsFull() {
		return
	}
	if rec.ID == n.id {
		d.removeRemote(key) // ours: in the local table
		d.ownRecord(key, full, e.Revision())
		return
	}
	if f := d.applied.Load(); f != nil {
		(*f)(rec)
	}
	n.notePeer(rec.ID, rec.Node)
	// Another node bound a JID we have: the later bind wins (RFC 6120
	// §7.7.2.2); ours is told why.
	d.mu.Lock()
	ourRev, ours := d.revs[key]
	if ours && e.Revision() > ourRev {
		delete(d.revs, key)
	}
	d.mu.Unlock()
	if ours && e.Revision() > ourRev {
		if s := d.local.Session(full); s != nil {
			s.CloseStream("conflict", "replaced by a new session on another node")
		}
	}
	if n.isDead(rec.ID) {
		return
	}
	r := &Remote{node: n, key: key, full: full, rec: rec}
	d.mu.Lock()
	bare := full.Bare()
	list := d.remote[bare]
	nl := make([]*Remote, 0, len(list)+1)
	replaced := false
	for _, o := range list {
		if o.full == full {
			nl = append(nl, r)
			replaced = true
		} else {
			nl = append(nl, o)
		}
	}
	if !replaced {
		nl = append(nl, r)
		d.nrem++
	}
	d.remote[bare] = nl
	d.byKey[key] = r
	d.mu.Unlock()
}

func (d *Directory) removeRemote(key string) *Remote {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.byKey[key]
	if r == nil {
		return nil
	}
	delete(d.byKey, key)
	bare := r.full.Bare()
	list := d.remote[bare]
	for i, o := range list {
		if o != r {
			continue
		}
		if len(list) == 1 {
			delete(d.remote, bare)
		} else {
			nl := make([]*Remote, 0, len(list)-1)
			nl = append(nl, list[:i]...)
			d.remote[bare] = append(nl, list[i+1:]...)
		}
		d.nrem--
		break
	}
	return r
}

// removeNode drops every session of node id from the mirror and returns
// them.
func (d *Directory) removeNode(id string) []*Remote {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*Remote
	for bare, list := range d.remote {
		var keep []*Remote
		for _, o := range list {
			if o.rec.ID == id {
				out = append(out, o)
				delete(d.byKey, o.key)
				d.nrem--
			} else {
				keep = append(keep, o)
			}
		}
		switch {
		case len(keep) == 0:
			delete(d.remote, bare)
		case len(keep) != len(list):
			d.remote[bare] = keep
		}
	}
	return out
}

// rewrite puts the record of this node's session under key again.
func (d *Directory) rewrite(key string) {
	for _, s := range d.local.All() {
		if sessionKey(s.JID()) == key {
			d.node.log.Warn("cluster: this node's session was taken off the directory by another node; writing it again", "jid", s.JID().String())
			d.write(s)
			return
		}
	}
}

// startWatch starts a watcher over the whole bucket; ready closes once it
// delivered what the bucket held.
func (n *Node) startWatch() (<-chan struct{}, error) {
	// Not a caller's context: the watch lasts until Close.
	w, err := n.kv.WatchAll(context.Background())
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.dir.watcher = w
	n.mu.Unlock()
	ready := make(chan struct{})
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		initial := true
		for e := range w.Updates() {
			if e == nil {
				if initial {
					initial = false
					// Sessions the fresh watch did not replay are
					// kept, not dropped: a replay taken while the
					// bucket changes leader may miss live ones, and
					// a stale record costs less (its messages are
					// copied and routed again when its node is
					// buried) than a live session nobody sees.
					close(ready)
				}
				continue
			}
			n.apply(e)
		}
		if initial {
			close(ready)
		}
	}()
	return ready, nil
}

// rewatch replaces a watcher that went deaf (this node's own heartbeats
// stopped coming back through it: the NATS server its consumer lived on
// went away) with a new one, which replays the bucket into the mirror.
func (n *Node) rewatch() {
	n.mu.Lock()
	old := n.dir.watcher
	n.mu.Unlock()
	if old != nil {
		_ = old.Stop()
	}
	ready, err := n.startWatch()
	if err != nil {
		n.log.Warn("cluster: restarting the directory watcher", "err", err)
		return
	}
	select {
	case <-ready:
		n.mu.Lock()
		n.selfSeen = time.Now()
		n.mu.Unlock()
		n.log.Info("cluster: directory watcher restarted")
	case <-time.After(n.cfg.DeadAfter):
	case <-n.stop:
	}
}
