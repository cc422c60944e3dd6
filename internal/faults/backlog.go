package faults

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// The offline backlog: 1,000 messages of 8 KiB wait for an account (8 MB,
// eight times the default outbound queue per session) and a client that
// reads slowly logs in. Every message must reach it exactly once, across
// reconnections if the server closes the session, with and without
// XEP-0198.

const (
	backlogN       = 1000
	backlogPad     = 8 << 10
	backlogReadBps = 2 << 20 // the slow reader: 2 MiB/s
)

// slowConn reads at most rate bytes per second: a client on a slow link.
type slowConn struct {
	net.Conn
	rate int
}

func (s *slowConn) Read(p []byte) (int, error) {
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	n, err := s.Conn.Read(p)
	if n > 0 {
		time.Sleep(time.Duration(n) * time.Second / time.Duration(s.rate))
	}
	return n, err
}

func caseBacklog(ctx context.Context, s *Suite) Result {
	const name = "offline-backlog"
	users := map[string]string{"bsnd": "password1", "bplain": "password1", "bsm": "password1"}
	srv, err := s.start(ctx, Options{}, users)
	if err != nil {
		return fail(name, "start: %v", err)
	}
	defer srv.Kill()
	o := dialOpts{addr: srv.StartTLS}

	c, err := login(o, "bsnd", "password1", "pc")
	if err != nil {
		return fail(name, "%v", err)
	}
	defer c.close()
	if _, err := c.enableSM(false); err != nil {
		return fail(name, "%v", err)
	}
	snd := &smSender{tag: "bl", c: c, bounced: map[int]string{}, done: make(chan struct{})}
	go snd.readLoop()
	pad := " " + strings.Repeat("x", backlogPad)
	start := time.Now()
	// Sender index 0 for bplain, 1 for bsm; one h counts both (in order).
	for n := 1; n <= backlogN; n++ {
		for i, to := range []string{"bplain", "bsm"} {
			k := msgKey("bl", i, n)
			m := "<message to='" + to + "@" + domain + "' type='chat' id='" + k + "'><body>" + k + pad + "</body></message>"
			if n%50 == 0 && i == 1 {
				m += "<r xmlns='" + nsSM + "'/>"
			}
			if err := c.send(m); err != nil {
				return fail(name, "send: %v", err)
			}
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for snd.acked.Load() < 2*backlogN && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stored := time.Since(start)
	acked := snd.acked.Load()
	snd.mu.Lock()
	bounced := len(snd.bounced)
	snd.mu.Unlock()
	if acked < 2*backlogN {
		return fail(name, "only %d of %d messages acknowledged in 60s (%d bounced)", acked, 2*backlogN, bounced)
	}
	if bounced > 0 {
		return fail(name, "%d of %d messages bounced while storing (quota %d)", bounced, 2*backlogN, backlogN)
	}

	var figs []string
	failed := false
	for i, acct := range []string{"bplain", "bsm"} {
		sm := acct == "bsm"
		r := &smReceiver{i: i, tag: "bl"}
		t0 := time.Now()
		logins, err := collectBacklog(o, r, acct, sm)
		took := time.Since(t0)
		seen := map[int][]receipt{}
		for _, g := range r.got {
			seen[g.seq] = append(seen[g.seq], g)
		}
		lost, dupAcked, dupUnacked := 0, 0, 0
		for seq := 1; seq <= backlogN; seq++ {
			switch d := seen[seq]; {
			case len(d) == 0:
				lost++
			case len(d) > 1 && (d[0].acked || !sm):
				dupAcked++
			case len(d) > 1:
				dupUnacked++
			}
		}
		mode := "without XEP-0198"
		if sm {
			mode = "with XEP-0198"
		}
		f := fmt.Sprintf("%s: %d/%d received in %.1fs over %d login(s), lost %d, twice %d", mode, backlogN-lost, backlogN, took.Seconds(), logins, lost, dupAcked)
		if dupUnacked > 0 {
			f += fmt.Sprintf(" (+%d unacknowledged redelivered)", dupUnacked)
		}
		if err != nil {
			f += fmt.Sprintf(" (%v)", err)
		}
		figs = append(figs, f)
		failed = failed || lost > 0 || dupAcked > 0
	}
	res := fmt.Sprintf("%d x %d KiB stored in %.1fs; %s", 2*backlogN, backlogPad>>10, stored.Seconds(), strings.Join(figs, "; "))
	if failed {
		return fail(name, "%s", res)
	}
	return pass(name, "%s", res)
}

// collectBacklog logs in to acct as a slow reader and reads until all the
// backlog arrived, logging in again (up to five times) when the server
// ends the session or nothing comes for 5 s.
func collectBacklog(o dialOpts, r *smReceiver, acct string, sm bool) (int, error) {
	var lastErr error
	for attempt := 1; attempt <= 5; attempt++ {
		c, err := loginSlow(o, acct, "r"+strconv.Itoa(attempt))
		if err != nil {
			return attempt, err
		}
		r.c = c
		r.mu.Lock()
		r.h, r.ackedH, r.stream = 0, 0, attempt
		r.mu.Unlock()
		if sm {
			if _, err := c.enableSM(false); err != nil {
				c.conn.Close()
				return attempt, err
			}
		}
		c.send("<presence/>")
		for {
			el, err := c.next(5 * time.Second)
			if err != nil {
				lastErr = err
				break
			}
			r.handle(el, attempt, sm)
			if complete(r) {
				if sm {
					r.mu.Lock()
					r.ackLocked(false)
					r.mu.Unlock()
				}
				c.close()
				return attempt, nil
			}
		}
		c.conn.Close()
	}
	return 5, fmt.Errorf("gave up: %v", lastErr)
}

func complete(r *smReceiver) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[int]bool{}
	for _, g := range r.got {
		seen[g.seq] = true
	}
	return len(seen) >= backlogN
}

// loginSlow logs in over a connection read at backlogReadBps with a small
// socket buffer: the server sees a socket that drains slowly.
func loginSlow(o dialOpts, user, resource string) (*client, error) {
	o.readRate, o.readBuf = backlogReadBps, 32<<10
	return login(o, user, "password1", resource)
}
