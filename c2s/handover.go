package c2s

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0198 resumption across the nodes of a cluster. A client whose
// connection broke may come back on another node (a load balancer or DNS
// picks one; its old node may be shutting down). That node finds the
// nodes holding sessions of the account in the cluster's directory
// (hibernating sessions stay bound there) and asks each for the session
// named by previd. The node holding it hands it over: it ends its
// transport if still open, acknowledges what the client's h covers, and
// answers with the session's counters, its unacknowledged stanzas and
// presence; then it unbinds the session without telling contacts and
// without handing those stanzas back to the router, since they move. The
// asking node binds the same full JID with that state, answers
// <resumed/> and sends the stanzas again (§5). A session whose node died
// is gone with it: item-not-found, and the client binds anew.

// Handover carries handover requests between nodes (package cluster; nil
// on a single server). The messages are c2s's own (handoverReq,
// handoverResp): the carrier only delivers them.
type Handover interface {
	// ServeHandover answers other nodes' requests with fn.
	ServeHandover(fn func(req []byte) []byte) error
	// RequestHandover sends req to the node named node, and returns its
	// answer.
	RequestHandover(ctx context.Context, node string, req []byte) ([]byte, error)
	// PeerNames lists the other live nodes: a node shutting down with
	// none has nobody to hand its sessions to.
	PeerNames() []string
}

// RecordMover is a Directory (a cluster node's) that moves a session's
// record to its new node in one write, made by the old node before it lets
// the session go (package cluster, move.go). So the other nodes find the
// session on its new node, with everything they read from its record (the
// modules' flags such as carbons among it), before <resumed/> goes out,
// as they find a bound session before its bind result; and a record that
// cannot be moved refuses the resumption while the session is still
// whole on its old node.
type RecordMover interface {
	// Incarnation names this node as records do: its name and
	// incarnation id.
	Incarnation() (node, id string)
	// MoveRecord rewrites s's record (a session of this node) as a
	// session of node (name, incarnation id), and returns the revision
	// written and the session's flags. After an error s is still this
	// node's, its record unchanged.
	MoveRecord(s module.Session, node, id string) (rev uint64, flags []string, err error)
	// AdoptRecord takes the record s's old node wrote for it at rev as
	// written (Claimer's claim: Bind writes nothing), with its flags.
	AdoptRecord(s module.Session, rev uint64, flags []string)
}

// handoverTimeout bounds one request: the old node may have to close a
// transport and wait for its reader first.
const handoverTimeout = 10 * time.Second

type handoverReq struct {
	PrevID string `json:"previd"`
	Bare   string `json:"bare"` // only the same account may take it
	H      uint32 `json:"h"`    // the client's count of stanzas handled
	// Node and ID name the asking node (RecordMover); empty from a node
	// that writes the record itself once it has the session (an older
	// version, during a rolling upgrade).
	Node string `json:"node,omitempty"`
	ID   string `json:"id,omitempty"`
}

type handoverResp struct {
	// Cond is the <failed/> condition when that node has no such session.
	Cond string `json:"cond,omitempty"`
	// TooHigh: h claims more stanzas than were sent (Sent); the session
	// ended there, as it would on one node.
	TooHigh bool   `json:"too_high,omitempty"`
	Sent    uint32 `json:"sent,omitempty"`

	JID     string   `json:"jid,omitempty"`
	In      uint32   `json:"in"`                // our h: stanzas handled from the client
	Unacked []string `json:"unacked,omitempty"` // serialized, oldest first
	Pres    string   `json:"pres,omitempty"`    // last available presence; "" when unavailable
	Prio    int      `json:"prio,omitempty"`
	Bind2   bool     `json:"bind2,omitempty"`
	AgentID string   `json:"agent,omitempty"`
	// State is what modules keep about the session (module.SessionCarrier).
	State map[string][]byte `json:"state,omitempty"`
	// Inactive is the client's XEP-0352 state, Held what it kept back.
	Inactive bool     `json:"inactive,omitempty"`
	Held     []string `json:"held,omitempty"`
	// Rev is the revision of the session's record, moved to the asking
	// node (RecordMover); Flags are the flags in it. 0: not moved, the
	// asking node writes it.
	Rev   uint64   `json:"rev,omitempty"`
	Flags []string `json:"flags,omitempty"`
}

// serveHandover answers a handover request from another node.
func (s *Server) serveHandover(data []byte) []byte {
	var req handoverReq
	resp := handoverResp{Cond: stanza.BadRequest}
	if json.Unmarshal(data, &req) == nil {
		resp = s.handOver(req)
	}
	b, _ := json.Marshal(resp)
	return b
}

// handOver gives up the resumable session req names, as smTryResume takes
// over a local one, and returns its state for the asking node.
func (s *Server) handOver(req handoverReq) handoverResp {
	notFound := handoverResp{Cond: stanza.ItemNotFound}
	old := s.resume.get(req.PrevID)
	if old == nil || old.jid.Bare().String() != req.Bare {
		return notFound
	}
	old.wmu.Lock()
	if old.sm.ended || old.sm.resuming {
		old.wmu.Unlock()
		return notFound
	}
	old.sm.resuming = true
	if old.sm.timer != nil {
		old.sm.timer.Stop()
	}
	oldNC, gen, hibernating := old.nc, old.sm.gen, old.sm.hibernating
	old.wmu.Unlock()
	if !hibernating {
		// The client came back elsewhere before this node noticed the
		// break: end the transport, and wait until its reader let go.
		old.closeTransport(oldNC)
		<-old.readerDone(gen)
	}
	old.wmu.Lock()
	if err := old.smAckLocked(req.H); err != nil {
		sent := old.sm.acked + uint32(len(old.sm.unacked))
		old.sm.resuming = false
		old.sm.hibernating = true
		old.wmu.Unlock()
		old.smEnd()
		return handoverResp{TooHigh: true, Sent: sent}
	}
	old.wmu.Unlock()
	var rev uint64
	var flags []string
	if mv, ok := s.cfg.Directory.(RecordMover); ok && req.Node != "" {
		var err error
		if rev, flags, err = mv.MoveRecord(old, req.Node, req.ID); err != nil {
			// The other nodes could not find the session on the
			// asking node: it stays here, waiting for resumption as
			// before (what the client's h acknowledged is dropped),
			// and ends here at its timeout as any other, its
			// unacknowledged stanzas going to the account again
			// (§4). The client binds anew (§5 <failed/>), or
			// resumes again once the directory can be written.
			old.wmu.Lock()
			old.sm.resuming = false
			ended := old.sm.ended // closed meanwhile (a conflict)
			old.wmu.Unlock()
			if ended || !old.smHibernate() {
				old.wmu.Lock()
				old.sm.hibernating = true
				old.wmu.Unlock()
				old.smEnd()
			}
			old.logger().Warn("session not handed over to another node", "node", req.Node, "err", err)
			return handoverResp{Cond: stanza.ResourceConstraint}
		}
	}
	old.wmu.Lock()
	resp := handoverResp{JID: old.jid.String(), In: old.sm.in, Bind2: old.bind2, AgentID: old.agentID, Prio: int(old.priority.Load()), Inactive: old.csi.inactive, Rev: rev, Flags: flags}
	for _, el := range old.sm.unacked {
		resp.Unacked = append(resp.Unacked, string(el.Append(nil, xml.NSClient)))
	}
	for _, el := range old.csi.held {
		resp.Held = append(resp.Held, string(el.Append(nil, xml.NSClient)))
	}
	old.csi.held = nil
	// They move with the session: not handed back to the router here. A
	// module that still holds some in storage (module.Paced) keeps them
	// there, and its next delivery may repeat them.
	old.sm.unacked, old.sm.owned = nil, nil
	old.sm.moved = true
	old.closing = true // nothing more goes out here
	old.sm.resuming, old.sm.hibernating = false, false
	old.wmu.Unlock()
	if old.available.Load() {
		if p := old.presence.Load(); p != nil {
			resp.Pres = string(p.Append(nil, xml.NSClient))
		}
	}
	// Taken from the modules before the session ends here, so that its
	// end does not act on what goes on elsewhere.
	resp.State = s.cfg.Registry.ExportSession(old)
	// Unbound before the answer goes: the new node's bind comes after
	// this node's record is gone, never before.
	old.teardown()
	old.logger().Info("session handed over to another node", "stanzas", len(resp.Unacked))
	return resp
}

// smResumeRemote asks the nodes holding sessions of this account for the
// session previd (see the top of this file). cond is "" once resumed
// (the stream is then the session's) or on a stream error.
func (c *conn) smResumeRemote(previd string, h uint32, wrap func(session *conn, resumed []byte) []byte) (cond string, err error) {
	if c.srv.cfg.Directory.Admit() != nil {
		// Cut off from the others: a session taken now could not be
		// written to the directory, and its old node may not hear us.
		return stanza.ItemNotFound, nil
	}
	hreq := handoverReq{PrevID: previd, Bare: c.jid.Bare().String(), H: h}
	if mv, ok := c.srv.cfg.Directory.(RecordMover); ok {
		hreq.Node, hreq.ID = mv.Incarnation()
	}
	req, _ := json.Marshal(hreq)
	asked := map[string]bool{}
	for _, s := range c.srv.cfg.Directory.Sessions(c.jid.Bare()) {
		p, ok := s.(module.Proxy)
		if !ok || asked[p.NodeName()] {
			continue
		}
		node := p.NodeName()
		asked[node] = true
		ctx, cancel := context.WithTimeout(&c.life, handoverTimeout)
		b, err := c.srv.cfg.Handover.RequestHandover(ctx, node, req)
		cancel()
		if err != nil {
			c.logger().Warn("XEP-0198 handover request failed", "node", node, "err", err)
			continue
		}
		var resp handoverResp
		if err := json.Unmarshal(b, &resp); err != nil {
			c.logger().Warn("XEP-0198 handover: unreadable answer", "node", node, "err", err)
			continue
		}
		if resp.TooHigh {
			return "", &stanza.StreamError{Condition: stanza.StreamUndefinedCondition, Text: "h is more than the stanzas sent",
				App: "<handled-count-too-high xmlns='" + nsSM + "' h='" + strconv.FormatUint(uint64(h), 10) + "' send-count='" + strconv.FormatUint(uint64(resp.Sent), 10) + "'/>"}
		}
		if resp.Cond == stanza.ResourceConstraint {
			// Found, but its record could not be moved here: it
			// stays on that node (RecordMover).
			return resp.Cond, nil
		}
		if resp.Cond != "" {
			continue
		}
		return "", c.smAdopt(node, previd, h, resp, wrap)
	}
	return stanza.ItemNotFound, nil
}

// smAdopt makes this stream the session another node handed over: the
// same full JID, stream management counts and unacknowledged stanzas
// (sent again after <resumed/>), and its presence, which is broadcast
// again from here: this node's modules learn of the session as if it had
// just come online (contacts see a repeated presence, and what went to
// offline storage while the session moved is delivered).
func (c *conn) smAdopt(from, previd string, h uint32, resp handoverResp, wrap func(session *conn, resumed []byte) []byte) error {
	full, err := jid.Parse(resp.JID)
	if err != nil || full.Bare() != c.jid.Bare() {
		return &stanza.StreamError{Condition: stanza.StreamInternalServerError, Text: "session handed over with a wrong address"}
	}
	unacked := make([]*xml.Element, 0, len(resp.Unacked))
	for _, s := range resp.Unacked {
		el, err := xml.ParseFragment([]byte(s))
		if err != nil {
			// Our own serialization: cannot happen short of a bug. The
			// count must stay right, so the stanza stays, as an error.
			el = xml.NewBuilder("message", xml.NSClient).Attr("type", "error").Attr("from", full.Domain()).Element()
		}
		unacked = append(unacked, el)
	}
	c.jid = full
	c.dec.Stamp(xml.NSClient, "from", full.String())
	c.bind2, c.agentID = resp.Bind2, resp.AgentID
	c.priority.Store(int32(resp.Prio))
	var pres *xml.Element
	if resp.Pres != "" {
		if el, err := xml.ParseFragment([]byte(resp.Pres)); err == nil {
			pres = el.WithAttrs(xml.Attr{Name: "from", Value: full.String()})
			// Available in its record from the start: other nodes
			// never see the session unavailable in between.
			c.presence.Store(pres)
			c.available.Store(true)
		}
	}
	if mv, ok := c.srv.cfg.Directory.(RecordMover); ok && resp.Rev != 0 {
		// The old node wrote the session's record for this node
		// before it answered: the other nodes find the session here,
		// flags and all, before <resumed/> goes out.
		mv.AdoptRecord(c, resp.Rev, resp.Flags)
	}
	b := []byte("<resumed xmlns='" + nsSM + "' previd='")
	b = xml.EscapeAttr(b, previd)
	b = append(b, "' h='"...)
	b = strconv.AppendUint(b, uint64(resp.In), 10)
	b = append(b, "'/>"...)
	if wrap != nil {
		b = wrap(c, b)
	}
	c.wmu.Lock()
	c.async = true
	c.since = time.Now()
	c.sm = smState{enabled: true, resumable: true, id: previd, in: resp.In, acked: h, unacked: unacked}
	c.csi.inactive = resp.Inactive
	for _, s := range resp.Held {
		if el, err := xml.ParseFragment([]byte(s)); err == nil {
			c.csiHoldLocked(el)
		}
	}
	closing := c.closing
	if !closing {
		c.out = append(c.queueBuf(), b...)
		for _, el := range unacked {
			c.out = el.Append(c.out, xml.NSClient)
		}
		if len(unacked) > 0 {
			c.out = append(c.out, "<r xmlns='"+nsSM+"'/>"...)
			c.sm.rPending = true
		}
		a := c.queuedLocked()
		c.wmu.Unlock()
		c.afterQueue(a, nil)
	} else {
		c.wmu.Unlock()
	}
	if closing {
		// This stream is ending (authentication timeout, shutdown):
		// what moved goes to the account again, as when a session ends,
		// once the record the old node wrote for it here is gone.
		c.srv.cfg.Directory.Unbind(c)
		c.smReroute(&c.life)
		return nil
	}
	c.stopAuthTimer()
	c.bound = true
	c.armIdle()
	c.srv.resume.add(c)
	if old := c.srv.cfg.Directory.Bind(c); old != nil {
		if p, ok := old.(module.Proxy); !ok || p.NodeName() != from {
			old.CloseStream(stanza.StreamConflict, "replaced by a new session")
		}
	}
	c.srv.cfg.Registry.SessionBound(&c.life, c)
	c.srv.cfg.Registry.ImportSession(&c.life, c, resp.State)
	if pres != nil {
		c.selfPresence(&c.life, &module.Stanza{El: pres, From: full, Origin: c})
	}
	c.logger().Info("session resumed from another node", "node", from, "ip", c.ip, "resent", len(unacked))
	return nil
}
