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
	sessions, _, failed, el := openSessions(o, &c, *n, &errs, true)
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
		s.startReader(nil, func(error) {
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
	var backN, backFailed, retried atomic.Int64
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
				s, err := loginUntil(&o2, i, userName(c.prefix, c.users, i), resourceName(i), t0.Add(*recoverIn), &retried, &errs)
				if err != nil {
					backFailed.Add(1)
					errs.add(err)
				} else {
					after[i] = time.Since(t0).Microseconds()
					s.startReader(func(el *xml.Element) {
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
