package c2s

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0198 stream management: acknowledgements, and resumption of a
// session whose connection broke (mobile clients lose theirs all the
// time). A resumable session whose transport breaks is kept bound and
// available ("hibernating") for ResumeTimeout; what is delivered meanwhile
// waits among the unacknowledged stanzas, which a resuming client gets
// again after the last one it says it handled. A session that ends without
// resumption hands unacknowledged messages back to the router (§4: "treat
// them as undelivered"), so another resource or offline storage gets them.
// Enabling and resumption also come inline in SASL2 and Bind 2 (§9,
// sasl2.go), sharing smEnable and smTryResume with the legacy nonzas.

const nsSM = "urn:xmpp:sm:3"

type smState struct {
	enabled   bool
	resumable bool
	id        string
	in        uint32         // stanzas handled from the client: the h we report (reader only)
	acked     uint32         // the client's last h: our stanzas it has handled
	unacked   []*xml.Element // sent (or queued) since acked, oldest first
	// owned are the unacknowledged stanzas a module still holds in
	// storage (module.Paced): not handed back to the router at the end.
	owned    map[*xml.Element]struct{}
	rPending bool // our <r/> is unanswered
	// gen counts transports: a resumption moves the session to a new one,
	// and the old reader and writer must then leave the session alone.
	gen         int
	hibernating bool
	timer       *time.Timer
	ended       bool // torn down, or closed on purpose: never resumed
	resuming    bool // a new transport is taking over
	moved       bool // handed over to another node (handover.go)
}

// resumable is the server's table of sessions that may be resumed.
type resumable struct {
	mu sync.Mutex
	m  map[string]*conn
}

func (r *resumable) add(c *conn) {
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string]*conn{}
	}
	r.m[c.sm.id] = c
	r.mu.Unlock()
}

func (r *resumable) get(id string) *conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

func (r *resumable) remove(c *conn) {
	r.mu.Lock()
	if r.m[c.sm.id] == c {
		delete(r.m, c.sm.id)
	}
	r.mu.Unlock()
}

func (r *resumable) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// hibernatingSessions lists sessions waiting for resumption (for Shutdown).
func (r *resumable) hibernatingSessions() []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*conn
	for _, c := range r.m {
		out = append(out, c)
	}
	return out
}

func smFailed(cond string, h *uint32) []byte {
	b := []byte("<failed xmlns='" + nsSM + "'")
	if h != nil {
		b = append(b, " h='"...)
		b = strconv.AppendUint(b, uint64(*h), 10)
		b = append(b, '\'')
	}
	b = append(b, "><"...)
	b = append(b, cond...)
	b = append(b, " xmlns='"+stanza.NSStanzas+"'/></failed>"...)
	return b
}

// smBeforeBind handles <enable/> and <resume/> on an authenticated stream
// without a bound resource (§3: enable needs a bound resource; §5: resume
// comes instead of binding).
func (c *conn) smBeforeBind(el *xml.Element) error {
	switch el.Name() {
	case "resume":
		return c.smResume(el)
	case "enable":
		return c.write(smFailed(stanza.UnexpectedRequest, nil))
	}
	return &stanza.StreamError{Condition: stanza.StreamUnsupportedStanzaType, Text: "unexpected <" + el.Name() + "/>"}
}

// smNonza handles <enable/>, <r/> and <a/> on a bound session.
func (c *conn) smNonza(el *xml.Element) error {
	switch el.Name() {
	case "enable":
		if el := c.smEnable(el); el != nil {
			c.enqueue(el.Append(nil, ""))
		} else {
			c.enqueue(smFailed(stanza.UnexpectedRequest, nil))
		}
		return nil
	case "r":
		if !c.sm.enabled {
			return c.smNotEnabled()
		}
		b := []byte("<a xmlns='" + nsSM + "' h='")
		b = strconv.AppendUint(b, uint64(c.sm.in), 10)
		c.enqueue(append(b, "'/>"...))
		return nil
	case "a":
		if !c.sm.enabled {
			return c.smNotEnabled()
		}
		h, err := strconv.ParseUint(el.Attr("h"), 10, 32)
		if err != nil {
			return &stanza.StreamError{Condition: stanza.StreamInvalidXML, Text: "<a/> needs h, a 32-bit count"}
		}
		c.wmu.Lock()
		defer c.wmu.Unlock()
		c.sm.rPending = false
		return c.smAckLocked(uint32(h))
	}
	return &stanza.StreamError{Condition: stanza.StreamUnsupportedStanzaType, Text: "unexpected <" + el.Name() + "/>"}
}

// smEnable switches stream management on for the bound session (§3), from
// the legacy <enable/> or the one inline in a Bind 2 request (§9.1), and
// returns the <enabled/> to answer; nil if it was on already. Runs in the
// reader, which owns sm.in.
func (c *conn) smEnable(req *xml.Element) *xml.Element {
	r := req.Attr("resume")
	resumable := (r == "true" || r == "1") && c.srv.cfg.ResumeTimeout > 0
	var id string
	if resumable {
		id = randomID(16)
	}
	c.wmu.Lock()
	if c.sm.enabled {
		c.wmu.Unlock()
		return nil
	}
	c.sm.enabled = true
	c.sm.in = 0
	c.sm.resumable, c.sm.id = resumable, id
	c.wmu.Unlock()
	b := xml.NewBuilder("enabled", nsSM)
	if resumable {
		b.Attr("id", id).Attr("resume", "true").
			Attr("max", strconv.FormatInt(int64(c.srv.cfg.ResumeTimeout/time.Second), 10))
		c.srv.resume.add(c)
	}
	return b.Element()
}

func (c *conn) smNotEnabled() error {
	return &stanza.StreamError{Condition: stanza.StreamUnsupportedStanzaType, Text: "stream management is not enabled"}
}

// smAckLocked drops the stanzas the client says it handled; called with
// wmu held. Counts wrap at 2^32 (§4).
func (c *conn) smAckLocked(h uint32) error {
	n := h - c.sm.acked
	if int64(n) > int64(len(c.sm.unacked)) {
		// §4: the client claims more than we sent.
		sent := c.sm.acked + uint32(len(c.sm.unacked))
		return &stanza.StreamError{Condition: stanza.StreamUndefinedCondition, Text: "h is more than the stanzas sent",
			App: "<handled-count-too-high xmlns='" + nsSM + "' h='" + strconv.FormatUint(uint64(h), 10) + "' send-count='" + strconv.FormatUint(uint64(sent), 10) + "'/>"}
	}
	if len(c.sm.owned) > 0 {
		for _, el := range c.sm.unacked[:n] {
			delete(c.sm.owned, el)
		}
	}
	clear(c.sm.unacked[:n])
	c.sm.unacked = c.sm.unacked[n:]
	if len(c.sm.unacked) == 0 {
		c.sm.unacked = nil
	}
	c.sm.acked = h
	return nil
}

// smQueueLocked records el as sent (wmu held); false when the queue is
// over its bound (a client that never acknowledges is a slow consumer).
func (c *conn) smQueueLocked(el *xml.Element) bool {
	if len(c.sm.unacked) >= MaxUnacked {
		return false
	}
	c.sm.unacked = append(c.sm.unacked, el)
	return true
}

// MaxUnacked bounds the stanzas kept for a session that does not
// acknowledge them (or is hibernating); past it the session ends and its
// messages go to the account's other resources or offline storage.
var MaxUnacked = 2000

// smResume takes over a hibernating (or not yet noticed broken) session
// for this authenticated stream (§5).
func (c *conn) smResume(el *xml.Element) error {
	cond, err := c.smTryResume(el, nil)
	if cond != "" {
		return c.write(smFailed(cond, nil))
	}
	return err
}

// smTryResume resumes the session el names. It returns the <failed/>
// condition when there is none to resume for this account (the stream
// goes on unbound); otherwise it does not return until the resumed
// session's reader ends, with errDriven (or the stream error that ended
// the resumption). wrap, if not nil, puts the <resumed/> element into
// what is written first (XEP-0388's <success/>, XEP-0198 §9.2).
func (c *conn) smTryResume(el *xml.Element, wrap func(session *conn, resumed []byte) []byte) (cond string, err error) {
	h, err := strconv.ParseUint(el.Attr("h"), 10, 32)
	if err != nil {
		return stanza.BadRequest, nil
	}
	old := c.srv.resume.get(el.Attr("previd"))
	if old == nil && c.srv.cfg.Handover != nil {
		// Not here: perhaps on another node of the cluster.
		return c.smResumeRemote(el.Attr("previd"), uint32(h), wrap)
	}
	// Only the same account may resume a session; anyone else learns
	// nothing about it.
	if old == nil || old.jid.Bare() != c.jid.Bare() {
		return stanza.ItemNotFound, nil
	}
	old.wmu.Lock()
	if old.sm.ended || old.sm.resuming {
		old.wmu.Unlock()
		return stanza.ItemNotFound, nil
	}
	old.sm.resuming = true
	if old.sm.timer != nil {
		old.sm.timer.Stop()
	}
	oldNC, gen := old.nc, old.sm.gen
	hibernating := old.sm.hibernating
	old.wmu.Unlock()
	if !hibernating {
		// The client noticed the break before we did: end the old
		// transport and wait until its reader has let go.
		old.closeTransport(oldNC)
		<-old.readerDone(gen)
	}

	old.wmu.Lock()
	if err := old.smAckLocked(uint32(h)); err != nil {
		// The client claims more than was sent: no resumption, and the
		// old session ends.
		old.sm.resuming = false
		old.sm.hibernating = true
		old.wmu.Unlock()
		old.smEnd()
		return "", err
	}
	old.sm.gen++
	old.sm.hibernating, old.sm.resuming = false, false
	old.nc, old.tls, old.serverCert, old.dec, old.wr = c.nc, c.tls, c.serverCert, c.dec, c.wr
	// The new stream stamps what it reads with our JID, as bind does.
	old.dec.Stamp(xml.NSClient, "from", old.jid.String())
	old.wdl = time.Time{} // the new socket has no write deadline yet
	old.sc = c.sc         // the new transport may be another kind
	if old.sc != nil {
		old.sc.notify(old.wake)
	}
	old.armIdle()
	old.ip = c.ip
	old.closing, old.closed = false, false
	old.readers = make(chan struct{})
	b := []byte("<resumed xmlns='" + nsSM + "' previd='" + old.sm.id + "' h='")
	b = strconv.AppendUint(b, uint64(old.sm.in), 10)
	b = append(b, "'/>"...)
	if wrap != nil {
		b = wrap(old, b)
	}
	old.out = append(old.out[:0], b...)
	for _, el := range old.sm.unacked {
		old.out = el.Append(old.out, xml.NSClient)
	}
	if len(old.sm.unacked) > 0 {
		old.out = append(old.out, "<r xmlns='"+nsSM+"'/>"...)
		old.sm.rPending = true
	}
	start := !old.writing
	old.writing = true
	readers, resent := old.readers, len(old.sm.unacked)
	old.wmu.Unlock()
	if start {
		go old.writeLoop()
	}
	old.logger().Info("session resumed", "ip", c.ip, "resent", resent)

	// This goroutine now reads for the old session; this conn is an
	// empty shell whose socket belongs to the session. Its authentication
	// deadline must not end the resumed session's stream later.
	c.stopAuthTimer()
	c.handedTo = old
	// The shell never becomes a session: what its stream started ends
	// here. The session's context goes on (old.life); the reader this
	// shell made for the transport now batches for it.
	c.life.end()
	if old.wr != nil {
		old.wr.ctx = module.WithBatch(&old.life, &old.wr.batch)
	}
	c.srv.adopt(old, c)
	shellEnd := c.readerEnd
	old.readerEnd = func(err error) {
		var se *stanza.StreamError
		if errors.As(err, &se) {
			old.CloseStream(se.Condition, se.Text)
		}
		old.finish()
		close(readers)
		shellEnd(errHandedOver)
	}
	old.drive(old.loop())
	return "", errDriven
}

// errHandedOver ends the reader of a conn whose transport a resumed
// session took.
var errHandedOver = errors.New("c2s: transport handed to a resumed session")

// errDriven unwinds a reader whose work another conn's drive took over
// (that one runs this reader's end too).
var errDriven = errors.New("c2s: reader driven by the resumed session")

// readerDone returns a channel closed when the reader of transport gen
// has finished.
func (c *conn) readerDone(gen int) <-chan struct{} {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sm.gen != gen || c.readers == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.readers
}

// resumableSession reports a bound session that its client may resume.
func (c *conn) resumableSession() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.sm.resumable && !c.sm.ended
}

// smHibernate keeps a resumable session whose transport broke; it reports
// whether it did (finish then leaves the session bound).
func (c *conn) smHibernate() bool {
	c.wmu.Lock()
	if !c.sm.resumable || c.sm.ended {
		c.wmu.Unlock()
		return false
	}
	if c.sm.resuming {
		c.wmu.Unlock()
		return true // the new transport's reader takes over
	}
	c.sm.hibernating = true
	c.closing = true // nothing is written until a resumption
	c.out = nil
	gen := c.sm.gen
	c.sm.timer = time.AfterFunc(c.srv.cfg.ResumeTimeout, func() {
		c.wmu.Lock()
		expired := c.sm.hibernating && c.sm.gen == gen && !c.sm.resuming
		c.wmu.Unlock()
		if expired {
			c.logger().Info("session not resumed in time")
			c.smEnd()
		}
	})
	c.wmu.Unlock()
	c.logger().Info("session hibernating", "timeout", c.srv.cfg.ResumeTimeout)
	return true
}

// smEnd tears down a hibernating session for good.
func (c *conn) smEnd() {
	c.wmu.Lock()
	if !c.sm.hibernating || c.sm.resuming {
		c.wmu.Unlock()
		return
	}
	c.sm.ended = true
	c.sm.hibernating = false
	if c.sm.timer != nil {
		c.sm.timer.Stop()
	}
	c.wmu.Unlock()
	c.teardown()
}

// smReroute hands the stanzas the client never acknowledged back to the
// router once the session is unbound: messages go to the account again
// (another resource, or offline storage), requests are answered with an
// error, the rest is dropped.
func (c *conn) smReroute(ctx context.Context) {
	c.wmu.Lock()
	pending, owned := c.sm.unacked, c.sm.owned
	c.sm.unacked, c.sm.owned = nil, nil
	c.wmu.Unlock()
	if len(pending) == 0 {
		return
	}
	rt := c.srv.cfg.Router
	for _, el := range pending {
		if _, ok := owned[el]; ok {
			// Still in the module's storage, which delivers it again
			// to the next session: routing it too would store or
			// deliver it twice (module.Paced).
			continue
		}
		from, err := jid.Parse(el.Attr("from"))
		if err != nil {
			continue
		}
		switch el.Name() {
		case "message":
			switch el.Attr("type") {
			case "error", "groupchat", "headline":
				continue
			}
			if el.Child("body", xml.NSClient) == nil {
				continue
			}
			bare := c.jid.Bare()
			rt.Route(ctx, &module.Stanza{El: el.WithAttrs(xml.Attr{Name: "to", Value: bare.String()}), From: from, To: bare})
		case "iq":
			if t := el.Attr("type"); t == "get" || t == "set" {
				rt.Route(ctx, &module.Stanza{El: stanza.NewError(stanza.RecipientUnavailable, "").Reply(el), From: c.jid, To: from})
			}
		}
	}
	c.logger().Debug("unacknowledged stanzas handed back", "count", len(pending))
}

// adopt moves the server's bookkeeping of a connection to the session
// that takes over its transport.
func (s *Server) adopt(session, shell *conn) {
	s.ls.Replace(shell, session)
}
