package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The SASL storm: many parallel wrong-password attempts on one account
// from one address (127.0.0.1), with the server's default limits, while
// another account logs in from another address (127.0.0.2). The guess
// rate must stay bounded and the legitimate login fast.

const (
	stormWorkers = 48
	stormTime    = 8 * time.Second
	// stormMaxRate bounds the passwords checked per second for one
	// address against one account. Not the connection rate: at the
	// default 20 new connections/s (burst 40) an address could try 20
	// passwords a second on one account, 1.7 million a day.
	stormMaxRate = 10.0
	// stormCeiling bounds the whole window, the first burst included:
	// the default connection_rate (20/s) is the most one address could
	// ever get with one guess per connection.
	stormCeiling = 20.0
	loginMax     = 500 * time.Millisecond
	// stormPatience: how long the attacker waits for an answer; a right
	// password is answered in a few milliseconds on loopback.
	stormPatience = 300 * time.Millisecond
)

func caseSASLStorm(ctx context.Context, s *Suite) Result {
	const name = "sasl-storm"
	srv, err := s.start(ctx, Options{}, map[string]string{"victim": "correct horse", "legit": "pw-legit"})
	if err != nil {
		return fail(name, "start: %v", err)
	}
	defer srv.Kill()

	legitLogin := func(n int) (time.Duration, error) {
		t0 := time.Now()
		c, err := login(dialOpts{addr: srv.StartTLS, src: "127.0.0.2", timeout: 5 * time.Second}, "legit", "pw-legit", fmt.Sprintf("r%d", n))
		if err != nil {
			return 0, err
		}
		d := time.Since(t0)
		c.close()
		return d, nil
	}
	// The same logins before the storm: what this (shared) machine gives.
	var base []time.Duration
	for n := 0; n < 3; n++ {
		d, err := legitLogin(100 + n)
		if err != nil {
			return fail(name, "login before the storm: %v", err)
		}
		base = append(base, d)
	}

	// The attacker does not wait for answers: xmppd delays a failure,
	// but a right password would be answered at once, so an answer that
	// has not come within stormPatience is a "no" too. Each worker sends
	// one guess per connection, waits that long, closes and reconnects.
	// What counts is how many passwords the server checked for the
	// attacker's address: its "authentication failed" log lines (one per
	// check, written when the check fails, before any delay).
	checks := func() int { return srv.LogCount("authentication failed") }
	checks0 := checks()
	start := time.Now()
	end := start.Add(stormTime)
	var answered, connErrs atomic.Int64
	var checksHalf atomic.Int64
	go func() {
		time.Sleep(stormTime / 2)
		checksHalf.Store(int64(checks()))
	}()
	var wg sync.WaitGroup
	for w := 0; w < stormWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(end); n++ {
				c, err := dial(dialOpts{addr: srv.DirectTLS, direct: true, src: "127.0.0.1", timeout: 5 * time.Second})
				if err != nil {
					connErrs.Add(1)
					// Refused (per-address limits). Back off a little:
					// the harness shares the two cores with the server
					// and the login being timed.
					time.Sleep(250 * time.Millisecond)
					continue
				}
				if err := c.authPlain("victim", fmt.Sprintf("guess-%d-%d", w, n), stormPatience); errors.Is(err, errFailure) {
					answered.Add(1)
				}
				c.conn.Close()
			}
		}()
	}

	// The legitimate user, from another address, meanwhile.
	var during []time.Duration
	var loginErr error
	time.Sleep(time.Second)
	for time.Now().Before(end.Add(-500 * time.Millisecond)) {
		d, err := legitLogin(len(during))
		if err != nil {
			loginErr = err
			break
		}
		during = append(during, d)
		time.Sleep(700 * time.Millisecond)
	}
	wg.Wait()
	total := checks() - checks0
	late := checks() - int(checksHalf.Load())
	lateRate := float64(late) / (time.Since(start) - stormTime/2).Seconds()
	overall := float64(total) / stormTime.Seconds()
	figures := fmt.Sprintf("%d workers from 127.0.0.1 for %v: %d passwords checked (%.1f/s overall, bound %.0f/s; %.1f/s in the second half, bound %.0f/s), %d failures answered within %v, %d connections refused; legitimate logins from 127.0.0.2: %d, median %.0f ms, worst %.0f ms (before the storm: median %.0f ms)",
		stormWorkers, stormTime, total, overall, stormCeiling, lateRate, stormMaxRate, answered.Load(), stormPatience, connErrs.Load(), len(during), ms(median(during)), ms(slices.Max(append([]time.Duration{0}, during...))), ms(median(base)))
	switch {
	case loginErr != nil:
		return fail(name, "legitimate login failed: %v; %s", loginErr, figures)
	case len(during) == 0:
		return fail(name, "no legitimate login: %s", figures)
	case total == 0:
		return fail(name, "no guess was answered: nothing was tested (%s)", figures)
	case lateRate > stormMaxRate || overall > stormCeiling:
		return fail(name, "guess rate not bounded: %s", figures)
	case median(during) > loginMax || slices.Max(during) > 2*loginMax:
		return fail(name, "legitimate login slower than %v: %s", loginMax, figures)
	}
	return pass(name, "%s", figures)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
