package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xml"
)

// runFailover measures how long the users of a cluster node that dies take
// to be back on the others (issue 17). -sessions sessions, one account each,
// log in to -addr (the node about to be killed); when all are in, the tool
// writes -ready-file and waits. When a session's stream ends, it logs in
// again at once, as a mobile client would, to one of -to (the survivors,
// round robin) with the same resource. It reports how long after the first
// stream ended each user had a session again, then checks the routing to
// the new sessions: each user sends a chat message to the next user's bare
// JID, and every message must arrive.
func runFailover(args []string) error {
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("sessions", 500, "sessions (one account each) on the node that will die")
	to := fs.String("to", "", "the surviving nodes' addresses host:port, comma-separated (required)")
	ready := fs.String("ready-file", "", "written once every session is logged in (the signal to kill the node)")
	wait := fs.Duration("wait", 10*time.Minute, "how long to wait for the node to die")
	recoverIn := fs.Duration("recover", 2*time.Minute, "how long after the first lost stream every user must be back")
	useSM := fs.Bool("sm", false, "enable XEP-0198 (resume true) and resume on the survivor, binding anew only when resumption fails")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("-to is required: the surviving nodes' addresses")
	}
	c.users = *n
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	res := newResult("failover", c.label)
	if nofile := raiseNoFile(); uint64(2**n)+64 > nofile {
		return fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d sessions: raise it (ulimit -n)", nofile, *n)
	}
	fmt.Printf("xmppload failover: %d sessions to %s, back on %s (%s, %s)\n", *n, c.addr, *to, c.transport, c.mech)

	var errs errCounts
	sm := make([]smState, *n)
	var (
		sessions []*session
		failed   int
		el       time.Duration
	)
	if *useSM {
		sessions, _, failed, el = openSessionsWith(&c, *n, &errs, true, func(i int) (*session, error) {
			return smLogin(o, i, userName(c.prefix, c.users, i), resourceName(i), &sm[i])
		})
	} else {
		sessions, _, failed, el = openSessions(o, &c, *n, &errs, true)
	}
	if failed > 0 {
		errs.print()
		return fmt.Errorf("%d of %d logins to the doomed node failed", failed, *n)
	}
	fmt.Printf("logged in: %d in %.2fs\n", *n, el.Seconds())

	var (
		firstLoss atomic.Int64 // unix ns of the first stream end
		lost      = make(chan int, *n)
		closing   atomic.Bool
	)
	for i, s := range sessions {
		var handle func(*xml.Element)
		if *useSM {
			handle = func(el *xml.Element) { s.smCount(el, &sm[i]) }
		}
		s.startReader(handle, func(error) {
			if closing.Load() {
				return
			}
			firstLoss.CompareAndSwap(0, time.Now().UnixNano())
			lost <- i
		})
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte("ready\n"), 0o644); err != nil {
			return fmt.Errorf("ready file: %w", err)
		}
	}
	fmt.Println("ready: kill the node now")

	var first int
	select {
	case first = <-lost:
	case <-time.After(*wait):
		return fmt.Errorf("no stream ended within %s: was the node killed?", *wait)
	}
	t0 := time.Unix(0, firstLoss.Load())

	o2 := *o
	o2.addr = *to
	o2.srcAddrs = loopbackSources(strings.Split(*to, ",")[0], c.srcN)
	back := make([]*session, *n)
	after := make([]int64, *n) // µs from the first loss to a session again
	var got atomic.Int64       // check messages received
	var backN, backFailed, retried, resumed atomic.Int64
	stop := progress(time.Second, func(time.Duration) string {
		return fmt.Sprintf("%d/%d back, %d failed", backN.Load(), *n, backFailed.Load())
	})
	// done ends the workers: at the recover deadline, or once every
	// session is accounted for.
	done := make(chan struct{})
	var doneOnce sync.Once
	finish := func() { doneOnce.Do(func() { close(done) }) }
	deadline := time.AfterFunc(time.Until(t0.Add(*recoverIn)), finish)
	defer deadline.Stop()
	queue := make(chan int, *n)
	queue <- first
	go func() {
		for {
			select {
			case i := <-lost:
				queue <- i
			case <-done:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < c.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var i int
				select {
				case i = <-queue:
				case <-done:
					return
				}
				// The same resource, as a client keeps it: the new bind
				// replaces the dead node's record of that full JID.
				var s *session
				var err error
				if *useSM {
					var ok bool
					s, ok, err = smResume(&o2, i, userName(c.prefix, c.users, i), resourceName(i), &sm[i])
					if ok {
						resumed.Add(1)
					}
				} else {
					s, err = loginUntil(&o2, i, userName(c.prefix, c.users, i), resourceName(i), t0.Add(*recoverIn), &retried, &errs)
				}
				if err != nil {
					backFailed.Add(1)
					errs.add(err)
				} else {
					after[i] = time.Since(t0).Microseconds()
					st := &sm[i]
					s.startReader(func(el *xml.Element) {
						if *useSM {
							s.smCount(el, st)
						}
						if el.Name() != "message" {
							return
						}
						if b := el.Child("body", ""); b != nil && strings.HasPrefix(b.Text(), "failover ") {
							got.Add(1)
						}
					}, nil)
					back[i] = s
					backN.Add(1)
				}
				if backN.Load()+backFailed.Load() >= int64(*n) {
					finish()
				}
			}
		}()
	}
	wg.Wait()
	stop()
	allBack := time.Since(t0)

	var okAfter []int64
	for i := range back {
		if back[i] != nil {
			okAfter = append(okAfter, after[i])
		}
	}
	ok := len(okAfter)
	p := percentiles(okAfter, 0.5, 0.99, 1)
	fmt.Printf("back on the survivors: %d of %d, last %.2fs after the first lost stream; p50 %s p99 %s max %s; %d login attempts retried\n",
		ok, *n, allBack.Seconds(), fmtLat(p[0]), fmtLat(p[1]), fmtLat(p[2]), retried.Load())
	if *useSM {
		fmt.Printf("XEP-0198: %d of %d resumed, %d bound anew\n", resumed.Load(), ok, int64(ok)-resumed.Load())
	}

	// Routing to the new sessions: user i writes to user i+1's bare JID.
	sent := 0
	for i, s := range back {
		j := (i + 1) % *n
		if s == nil || back[j] == nil {
			continue
		}
		if err := s.send("<message type='chat' to='%s@%s'><body>failover %d</body></message>", userName(c.prefix, c.users, j), c.domain, i); err == nil {
			sent++
		}
	}
	checkEnd := time.Now().Add(30 * time.Second)
	for got.Load() < int64(sent) && time.Now().Before(checkEnd) {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("check messages to the new sessions' bare JIDs: %d of %d arrived\n", got.Load(), sent)
	errs.print()
	closing.Store(true)
	forEach(sessions, c.concurrency, func(_ int, s *session) { s.conn.Close() })
	forEach(back, c.concurrency, func(i int, s *session) { s.close() })

	c.params(res)
	res.Params["sessions"] = *n
	res.Params["to"] = *to
	res.set("back", float64(ok))
	res.set("failed", float64(*n-ok))
	res.set("all_back_s", allBack.Seconds())
	res.setLatency("back", okAfter)
	res.set("retried", float64(retried.Load()))
	res.Params["sm"] = *useSM
	res.set("resumed", float64(resumed.Load()))
	res.set("check_sent", float64(sent))
	res.set("check_arrived", float64(got.Load()))
	if err := res.finish(os.Stdout, c.jsonFile, &errs); err != nil {
		return err
	}
	if ok < *n {
		return fmt.Errorf("%d of %d users not back within %s", *n-ok, *n, *recoverIn)
	}
	if got.Load() < int64(sent) {
		return fmt.Errorf("%d of %d check messages lost", int64(sent)-got.Load(), sent)
	}
	return nil
}

// loginUntil retries login until it succeeds or until: right after a node
// dies a survivor may refuse a login for a moment (for instance while the
// session bucket elects a new leader), and a real client retries too.
// retried counts the failed attempts, errs what they were.
func loginUntil(o *loginOptions, idx int, user, resource string, until time.Time, retried *atomic.Int64, errs *errCounts) (*session, error) {
	for {
		s, err := login(o, idx, user, resource)
		if err == nil || time.Now().After(until) {
			return s, err
		}
		retried.Add(1)
		errs.add(fmt.Errorf("retried: %w", err))
		time.Sleep(100 * time.Millisecond)
	}
}

// smState is a session's XEP-0198 state as a client keeps it: the id to
// resume and the count of stanzas it has handled (§4: every message,
// presence and iq received after <enabled/>).
type smState struct {
	id string
	h  atomic.Uint32
}

const nsSM = "urn:xmpp:sm:3"

// smLogin logs in as login does, with stream management enabled (resume
// true) right after the bind.
func smLogin(o *loginOptions, idx int, user, resource string, st *smState) (*session, error) {
	s, err := authed(o, idx, user)
	if err != nil {
		return nil, err
	}
	if err := s.bind(resource); err != nil {
		s.conn.Close()
		return nil, err
	}
	if err := s.enableSM(st); err != nil {
		s.conn.Close()
		return nil, err
	}
	return s, nil
}

// enableSM asks for a resumable session, then sends the initial presence
// and waits for a ping's answer, counting what it reads.
func (s *session) enableSM(st *smState) error {
	if err := s.send("<enable xmlns='" + nsSM + "' resume='true'/>"); err != nil {
		return err
	}
	el, err := s.dec.Next()
	if err != nil {
		return fmt.Errorf("sm enable: %w", err)
	}
	if el.Name() != "enabled" || el.Attr("resume") != "true" && el.Attr("resume") != "1" {
		return fmt.Errorf("%w: sm enable: %s", errUnexpected, el)
	}
	st.id = el.Attr("id")
	st.h.Store(0)
	if err := s.send("<presence/><iq type='get' id='p0'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		return err
	}
	for {
		el, err := s.dec.Next()
		if err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		if s.smCount(el, st) && el.Name() == "iq" && el.Attr("id") == "p0" {
			s.conn.SetDeadline(time.Time{})
			return nil
		}
	}
}

// smCount counts a stanza as handled, answers the server's <r/>, and
// says whether el was a stanza.
func (s *session) smCount(el *xml.Element, st *smState) bool {
	switch el.Name() {
	case "message", "presence", "iq":
		st.h.Add(1)
		return true
	case "r":
		if el.NS() == nsSM {
			s.send("<a xmlns='"+nsSM+"' h='%d'/>", st.h.Load())
		}
	}
	return false
}

// smResume reconnects and resumes the session of st (XEP-0198 §5) with
// the count of what was handled; when the server cannot (<failed/>), it
// binds a new session on the same stream, as a client does. resumed says
// which happened.
func smResume(o *loginOptions, idx int, user, resource string, st *smState) (s *session, resumed bool, err error) {
	s, err = authed(o, idx, user)
	if err != nil {
		return nil, false, err
	}
	if resumed, err = s.resume(o, resource, st); err != nil {
		s.conn.Close()
		return nil, false, err
	}
	return s, resumed, nil
}

func (s *session) resume(o *loginOptions, resource string, st *smState) (bool, error) {
	if err := s.send("<resume xmlns='"+nsSM+"' previd='%s' h='%d'/>", st.id, st.h.Load()); err != nil {
		return false, err
	}
	el, err := s.dec.Next()
	if err != nil {
		return false, fmt.Errorf("resume: %w", err)
	}
	switch el.Name() {
	case "resumed":
		// A ping's answer: the session is live on this node.
		if err := s.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
			return false, err
		}
		for {
			el, err := s.dec.Next()
			if err != nil {
				return false, fmt.Errorf("ping after resume: %w", err)
			}
			if s.smCount(el, st) && el.Name() == "iq" && el.Attr("id") == "p1" {
				s.conn.SetDeadline(time.Time{})
				return true, nil
			}
		}
	case "failed":
	default:
		return false, fmt.Errorf("%w: resume: %s", errUnexpected, el)
	}
	if err := s.bind(resource); err != nil {
		return false, fmt.Errorf("after a failed resumption: %w", err)
	}
	return false, s.enableSM(st)
}
