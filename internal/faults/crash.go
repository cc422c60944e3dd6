package faults

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// The crash cases: pairs of XEP-0198 sessions exchange messages, the
// process dies in the middle (kill -9, or SIGTERM for the graceful
// shutdown), starts again on the same data, and the receivers collect
// what they can: what reached them live, what offline storage gives them
// at their next login, and their XEP-0313 archive. Every message the
// server acknowledged to its sender (<a h/>) must be found; none may be
// delivered twice unless the receiver never acknowledged the first copy
// (XEP-0198 §4 lets the server send such a stanza again).

const (
	crashPairs   = 4
	crashOnline  = 2                    // receivers 0 and 1 are online, 2 and 3 offline
	crashRate    = 4 * time.Millisecond // per sender: 1,000 messages/s in all
	crashTraffic = 1500 * time.Millisecond
)

// smSender sends numbered messages to one receiver and counts the
// server's acknowledgements.
type smSender struct {
	i       int
	tag     string
	c       *client
	sent    atomic.Int64
	acked   atomic.Int64 // the server's last h: messages 1..h are acknowledged
	mu      sync.Mutex
	bounced map[int]string // seq → error condition
	done    chan struct{}
}

func (s *smSender) readLoop() {
	defer close(s.done)
	for {
		el, err := s.c.next(30 * time.Second)
		if err != nil {
			return
		}
		switch {
		case el.Name() == "error" && el.NS() == "http://etherx.jabber.org/streams":
			// <system-shutdown/>: a client stops sending and closes.
			s.c.send("</stream:stream>")
			return
		case el.NS() == nsSM && el.Name() == "a":
			h, err := strconv.ParseInt(el.Attr("h"), 10, 64)
			if err == nil && h > s.acked.Load() {
				s.acked.Store(h)
			}
		case el.Name() == "message" && el.Attr("type") == "error":
			if _, seq, ok := parseKey(el.Attr("id"), s.tag); ok {
				s.mu.Lock()
				s.bounced[seq] = errCondition(el)
				s.mu.Unlock()
			}
		}
	}
}

// errCondition names a bounce's condition for the report.
func errCondition(el *xml.Element) string {
	if c := stanza.Condition(el); c != "" {
		return c
	}
	return "?"
}

// sendLoop sends messages until stop or a write fails, asking for an
// acknowledgement after every tenth.
func (s *smSender) sendLoop(stop <-chan struct{}, to string, interval time.Duration, pad string) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-s.done:
			return
		case <-t.C:
		}
		k := msgKey(s.tag, s.i, n)
		m := "<message to='" + to + "' type='chat' id='" + k + "'><body>" + k + pad + "</body></message>"
		if n%10 == 0 {
			m += "<r xmlns='" + nsSM + "'/>"
		}
		if err := s.c.send(m); err != nil {
			return
		}
		s.sent.Store(int64(n))
	}
}

// smReceiver reads what arrives, acknowledges it (XEP-0198 §4 allows an
// unrequested <a/>) and records every copy of every message.
type smReceiver struct {
	i    int
	tag  string
	c    *client
	smID string

	mu     sync.Mutex
	stream int // 0: the login before the fault, 1: after
	h      int // stanzas handled on the current stream
	ackedH int // the last h we sent
	got    []receipt
	ended  string // how the stream ended
	done   chan struct{}
}

type receipt struct {
	seq     int
	stream  int  // 0: before the fault, 1: after
	acked   bool // the receiver told the server it handled this one
	atH     int
	archive bool
}

// readLoop reads until the stream ends. stream says which login this is.
func (r *smReceiver) readLoop(stream int, sm bool) {
	defer close(r.done)
	for {
		el, err := r.c.next(30 * time.Second)
		if err != nil {
			r.mu.Lock()
			if r.ended == "" {
				r.ended = err.Error()
			}
			r.mu.Unlock()
			return
		}
		r.handle(el, stream, sm)
	}
}

// handle records one element; it answers <r/> and acknowledges every
// fifth stanza. On a stream error it acknowledges everything and closes
// (what a careful client does on <system-shutdown/>).
func (r *smReceiver) handle(el *xml.Element, stream int, sm bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case el.NS() == nsSM && el.Name() == "r":
		r.ackLocked(true)
		return
	case el.NS() == nsSM:
		return
	case el.Name() == "error" && el.NS() == "http://etherx.jabber.org/streams":
		r.ended = "stream error " + errStreamCond(el)
		if sm {
			r.ackLocked(false)
		}
		r.c.send("</stream:stream>")
		return
	}
	switch el.Name() {
	case "message", "presence", "iq":
	default:
		return
	}
	r.h++
	if _, seq, ok := parseKey(body(el), r.tag); ok && el.Attr("type") != "error" {
		r.got = append(r.got, receipt{seq: seq, stream: stream, atH: r.h})
	}
	if v, ok := strings.CutPrefix(el.Attr("id"), "ack-"); ok && el.Name() == "iq" && el.Attr("type") == "result" {
		// The server answered the ping sent after our <a h/>: it has
		// read the <a/> (one reader, in order), so those receipts are
		// acknowledged as far as it knows.
		if h, err := strconv.Atoi(v); err == nil {
			for i := range r.got {
				if r.got[i].stream == r.stream && r.got[i].atH <= h {
					r.got[i].acked = true
				}
			}
		}
	}
	if sm && r.h%5 == 0 {
		r.ackLocked(true)
	}
}

// ackLocked sends <a h/> for what was handled; with confirm, a ping
// follows whose answer tells that the server has read the <a/> (an <a/>
// written just before the connection broke may never have arrived, and
// the server may then rightly send those stanzas again).
func (r *smReceiver) ackLocked(confirm bool) {
	h := strconv.Itoa(r.h)
	a := "<a xmlns='" + nsSM + "' h='" + h + "'/>"
	if confirm {
		a += "<iq type='get' id='ack-" + h + "' to='" + domain + "'><ping xmlns='urn:xmpp:ping'/></iq>"
	}
	if r.c.send(a) == nil {
		r.ackedH = r.h
	}
}

func errStreamCond(el *xml.Element) string {
	for c := range el.Children() {
		if c.NS() == "urn:ietf:params:xml:ns:xmpp-streams" {
			return c.Name()
		}
	}
	return "?"
}

func caseKill9(ctx context.Context, s *Suite) Result {
	return crashCase(ctx, s, "kill9", "k9", false)
}

func caseSigterm(ctx context.Context, s *Suite) Result {
	return crashCase(ctx, s, "sigterm", "st", true)
}

func crashCase(ctx context.Context, s *Suite, name, tag string, graceful bool) Result {
	users := map[string]string{}
	for i := 0; i < crashPairs; i++ {
		users[fmt.Sprintf("snd%d", i)] = "pw-sender"
		users[fmt.Sprintf("rcv%d", i)] = "pw-receiver"
	}
	srv, err := s.start(ctx, Options{}, users)
	if err != nil {
		return fail(name, "start: %v", err)
	}
	defer srv.Kill()
	o := dialOpts{addr: srv.StartTLS}

	// Receivers 0..crashOnline-1 online with resumable XEP-0198 sessions.
	rcv := make([]*smReceiver, crashPairs)
	for i := range rcv {
		rcv[i] = &smReceiver{i: i, tag: tag, done: make(chan struct{})}
	}
	for i := 0; i < crashOnline; i++ {
		c, err := login(o, fmt.Sprintf("rcv%d", i), "pw-receiver", "phone")
		if err != nil {
			return fail(name, "%v", err)
		}
		id, err := c.enableSM(true)
		if err != nil || id == "" {
			return fail(name, "rcv%d: resumable stream management not enabled (%v)", i, err)
		}
		rcv[i].c, rcv[i].smID = c, id
		c.send("<presence/>")
		if _, _, err := c.ping("p0", 10*time.Second); err != nil {
			return fail(name, "rcv%d: %v", i, err)
		}
		go rcv[i].readLoop(0, true)
	}
	snd := make([]*smSender, crashPairs)
	stop := make(chan struct{})
	for i := range snd {
		c, err := login(o, fmt.Sprintf("snd%d", i), "pw-sender", "pc")
		if err != nil {
			return fail(name, "%v", err)
		}
		if _, err := c.enableSM(false); err != nil {
			return fail(name, "snd%d: %v", i, err)
		}
		snd[i] = &smSender{i: i, tag: tag, c: c, bounced: map[int]string{}, done: make(chan struct{})}
		go snd[i].readLoop()
	}
	for i := range snd {
		go snd[i].sendLoop(stop, fmt.Sprintf("rcv%d@%s", i, domain), crashRate, "")
	}
	time.Sleep(crashTraffic)

	// The fault, with the senders still sending.
	shutdown := ""
	if graceful {
		d, err := srv.Stop(20 * time.Second)
		if err != nil {
			shutdown = fmt.Sprintf("SIGTERM: %v; ", err)
		} else {
			shutdown = fmt.Sprintf("shutdown %.2fs, ", d.Seconds())
		}
	} else {
		srv.Kill()
	}
	close(stop)
	for i := range snd {
		snd[i].c.conn.Close()
		<-snd[i].done
	}
	for i := 0; i < crashOnline; i++ {
		select {
		case <-rcv[i].done:
		case <-time.After(5 * time.Second):
			rcv[i].c.conn.Close()
			<-rcv[i].done
		}
		rcv[i].c.conn.Close()
	}
	var sent, acked int64
	for _, x := range snd {
		sent += x.sent.Load()
		acked += x.acked.Load()
	}
	if acked == 0 {
		return fail(name, "no message was acknowledged before the fault (sent %d)", sent)
	}

	if err := srv.Start(ctx); err != nil {
		return fail(name, "restart: %v", err)
	}
	// Resumption must fail after a restart: the sessions lived in the
	// process's memory only.
	resumeRefused := 0
	for i := range rcv {
		c, err := dial(o)
		if err != nil {
			return fail(name, "after restart: %v", err)
		}
		if err := c.authSCRAM(fmt.Sprintf("rcv%d", i), "pw-receiver"); err != nil {
			return fail(name, "after restart: rcv%d: %v", i, err)
		}
		if err := c.restart(); err != nil {
			return fail(name, "%v", err)
		}
		if rcv[i].smID != "" {
			rcv[i].mu.Lock()
			h := rcv[i].h
			rcv[i].mu.Unlock()
			c.send("<resume xmlns='" + nsSM + "' previd='" + rcv[i].smID + "' h='" + strconv.Itoa(h) + "'/>")
			el, err := c.next(10 * time.Second)
			if err != nil {
				return fail(name, "resume: %v", err)
			}
			if el.Name() != "failed" {
				return fail(name, "rcv%d resumed a session of the dead process: %s", i, el)
			}
			resumeRefused++
		}
		if err := c.bind("laptop"); err != nil {
			return fail(name, "%v", err)
		}
		if _, err := c.enableSM(false); err != nil {
			return fail(name, "%v", err)
		}
		r := rcv[i]
		r.c = c
		r.mu.Lock()
		r.h, r.ackedH, r.stream = 0, 0, 1
		r.mu.Unlock()
		c.send("<presence/>")
		if err := collectQuiet(r, c, 1, true); err != nil {
			return fail(name, "rcv%d: %v", i, err)
		}
		bodies, err := c.mamAll()
		if err != nil {
			return fail(name, "rcv%d: %v", i, err)
		}
		for _, b := range bodies {
			if _, seq, ok := parseKey(b, tag); ok {
				r.got = append(r.got, receipt{seq: seq, stream: 1, archive: true})
			}
		}
		c.close()
	}

	// The count.
	var lost, dupAcked, dupUnacked, archDup, unarchived, beyond, notOffline int
	var examples []string
	for i := range snd {
		h := int(snd[i].acked.Load())
		deliv := map[int][]receipt{}
		arch := map[int]int{}
		for _, g := range rcv[i].got {
			if g.archive {
				arch[g.seq]++
			} else {
				deliv[g.seq] = append(deliv[g.seq], g)
			}
		}
		for seq := 1; seq <= h; seq++ {
			d := deliv[seq]
			if i >= crashOnline && len(d) == 0 {
				// xmppd writes offline storage before it counts the
				// message handled: for an offline account the archive
				// is no substitute (a client without MAM reads only
				// offline messages).
				notOffline++
				if len(examples) < 4 {
					examples = append(examples, msgKey(tag, i, seq)+" not offline")
				}
			}
			if len(d) == 0 && arch[seq] == 0 {
				lost++
				if len(examples) < 4 {
					examples = append(examples, msgKey(tag, i, seq))
				}
			}
			if len(d) > 1 {
				if d[0].acked {
					dupAcked++
					if len(examples) < 4 {
						examples = append(examples, msgKey(tag, i, seq)+" twice")
					}
				} else {
					dupUnacked++
				}
			}
			if arch[seq] > 1 {
				archDup++
			}
			if arch[seq] == 0 {
				unarchived++
			}
		}
		for seq := range deliv {
			if seq > h {
				beyond++
			}
		}
	}
	bounces := 0
	for _, x := range snd {
		bounces += len(x.bounced)
	}
	figures := fmt.Sprintf("%ssent %d, acknowledged %d, lost %d (to offline accounts, not in offline storage: %d), delivered twice %d (after the receiver's ack) + %d (unacknowledged, XEP-0198 redelivery), archived twice %d, acknowledged but not archived %d, unacknowledged yet delivered %d, bounced %d, resumption refused after restart %d/%d",
		shutdown, sent, acked, lost, notOffline, dupAcked, dupUnacked, archDup, unarchived, beyond, bounces, resumeRefused, crashOnline)
	if graceful && strings.HasPrefix(shutdown, "SIGTERM") {
		return fail(name, "%s", figures)
	}
	if resumeRefused != crashOnline {
		return fail(name, "%s", figures)
	}
	if lost > 0 || notOffline > 0 || dupAcked > 0 || archDup > 0 {
		return fail(name, "%s; e.g. %s", figures, strings.Join(examples, ", "))
	}
	if graceful {
		// The graceful shutdown tells every client and writes the
		// archive's queue before it exits.
		for i := 0; i < crashOnline; i++ {
			if !strings.Contains(rcv[i].ended, "system-shutdown") {
				return fail(name, "%s; rcv%d's stream ended with %q, not <system-shutdown/>", figures, i, rcv[i].ended)
			}
		}
		if unarchived > 0 {
			return fail(name, "%s: a graceful shutdown must write the archive's queue", figures)
		}
	}
	return pass(name, "%s", figures)
}

// collectQuiet reads into r until a ping round trip, after a pause,
// brings nothing new: offline messages come after the presence, perhaps
// paced, so not all of them before the first ping's answer. (Pings rather
// than read timeouts: a timed-out read may leave the decoder mid-element.)
func collectQuiet(r *smReceiver, c *client, stream int, sm bool) error {
	for round := 0; round < 200; round++ {
		els, _, err := c.ping("quiet"+strconv.Itoa(round), 30*time.Second)
		if err != nil {
			return err
		}
		n := 0
		for _, el := range els {
			if el.Name() == "message" {
				n++
			}
			r.handle(el, stream, sm)
		}
		if n == 0 && round > 0 {
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
	return errors.New("messages kept coming for a minute")
}
