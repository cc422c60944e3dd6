package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/xmppd/xmppd/module"
)

// A session nobody on the other nodes can find is worse than no session:
// what they route to it goes to offline storage or is lost, and its
// client believes it is online. So a bind first writes the session's
// record (Claim, which c2s calls before it answers the bind) and is
// refused when that fails; only then does the session enter this node's
// table (Bind). RFC 6120 §7.6.2.1: the client gets <resource-constraint/>
// of type wait, and may bind again (or reconnect, to another node).

// claim is a record written for a session that is not bound yet.
type claim struct {
	rev      uint64
	replaced *Remote // the same full JID on another node, when Claim ran
}

// Claim writes s's record to the cluster's directory before s is bound
// (c2s.Claimer), trying for up to bindWriteWait while the bucket cannot
// be written (a leader election after a node's death takes seconds). The
// error refuses the bind.
func (d *Directory) Claim(s module.Session) error {
	if d.node == nil {
		return nil
	}
	full := s.JID()
	replaced := d.remoteSession(full)
	wait := d.bindWait
	if wait == 0 {
		wait = bindWriteWait
	}
	rev, err := d.put(s, wait)
	if err != nil {
		d.node.stats.bindsRefused.Add(1)
		d.node.log.Warn("cluster: bind refused: the session could not be written to the directory", "jid", full.String(), "err", err)
		return fmt.Errorf("cluster: session %s not written to the directory: %w", full, err)
	}
	d.mu.Lock()
	if d.claims == nil {
		d.claims = map[module.Session]claim{}
	}
	d.claims[s] = claim{rev: rev, replaced: replaced}
	d.mu.Unlock()
	return nil
}

// takeClaim returns and forgets s's claim.
func (d *Directory) takeClaim(s module.Session) (claim, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.claims[s]
	delete(d.claims, s)
	return c, ok
}

// put writes s's record, trying again every heartbeat for up to wait.
func (d *Directory) put(s module.Session, wait time.Duration) (uint64, error) {
	key := sessionKey(s.JID())
	until := time.Now().Add(wait)
	for {
		var rev uint64
		var err error
		if f := d.putFault.Load(); f != nil {
			err = *f
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			rev, err = d.node.kv.Put(ctx, key, d.recordOf(s))
			cancel()
		}
		if err == nil || !time.Now().Add(d.node.cfg.Heartbeat).Before(until) {
			return rev, err
		}
		select {
		case <-d.node.stop:
			return 0, err
		case <-time.After(d.node.cfg.Heartbeat):
		}
	}
}
