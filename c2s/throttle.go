package c2s

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

// authThrottle slows password guessing across connections. A delay kept
// per connection (the earlier scheme) let 90 parallel connections from one
// address guess 90 times per delay; here every remote address and every
// account has a schedule shared by all connections:
//
//   - each failed password check pushes the key's next free time by the
//     key's delay (the base, doubled per failure in the window, at most
//     max), so failures from many connections add up instead of
//     overlapping, and the failure is answered at that time (at most max
//     later);
//   - a password check waits until every key it concerns is free; one that
//     would wait longer than max is refused untested (temporary-auth-failure,
//     answered after max), so a flood costs no password checks and no
//     unbounded waits; from an address that has failed before, a check
//     admitted takes the next base interval of the address's schedule at
//     once, so parallel connections cannot all pass a free schedule before
//     their failures are counted.
//
// A guess from an address thus costs the attacker the delay, however many
// connections it opens. An account's schedule is pushed at most max ahead:
// someone guessing one account from many addresses slows its owner down
// (by at most max) but cannot lock them out; the addresses pay in full. A
// success forgets the account's failures, never the address's: a valid
// account of one's own does not reset the guessing of others from that
// address. Other accounts from other addresses are never slowed.
//
// IPv6 addresses count by /64, the block one host usually has. Both tables
// are bounded (maxThrottleKeys) and entries expire throttleWindow after
// their last failure. Existing and unknown accounts are tracked alike.
type authThrottle struct {
	base, max time.Duration

	mu       sync.Mutex
	addrs    map[string]*strikes
	accounts map[string]*strikes
	sweep    time.Time
}

type strikes struct {
	failures int
	last     time.Time // of the last failure
	next     time.Time // when the next password check may run
}

const (
	throttleWindow  = 10 * time.Minute
	maxThrottleKeys = 1 << 14 // per table: ~2-3 MiB at most
)

// errThrottled: a password check refused untested (Server.Gate).
var errThrottled = errors.New("c2s: too many failed authentications: try again later")

func (t *authThrottle) init(base, most time.Duration) {
	t.base, t.max = base, max(most, base)
	t.addrs, t.accounts = map[string]*strikes{}, map[string]*strikes{}
}

// set changes the delays of a running throttle (a configuration reload);
// base and max are read under mu.
func (t *authThrottle) set(base, most time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.base, t.max = base, max(most, base)
}

// addrKey is the key of an address: itself, or for IPv6 its /64.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// delay is the spacing after failures failures: base doubled per failure
// after the first, at most max.
func (t *authThrottle) delay(failures int) time.Duration {
	d := t.base
	for i := 1; i < failures && d < t.max; i++ {
		d *= 2
	}
	return min(d, t.max)
}

// live returns the key's entry unless it expired.
func live(m map[string]*strikes, key string, now time.Time) *strikes {
	e := m[key]
	if e != nil && now.Sub(e.last) > throttleWindow && !now.Before(e.next) {
		delete(m, key)
		return nil
	}
	return e
}

// wait is how long a password check for account from ip must wait before
// it runs (from now); ok false when that is more than max: the check is
// refused, and wait is how long to hold the refusal.
func (t *authThrottle) wait(ip, account string, now time.Time) (wait time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.base <= 0 {
		return 0, true
	}
	free := now
	addr := live(t.addrs, addrKey(ip), now)
	if addr != nil && addr.next.After(free) {
		free = addr.next
	}
	if account != "" {
		if e := live(t.accounts, account, now); e != nil && e.next.After(free) {
			free = e.next
		}
	}
	if d := free.Sub(now); d <= t.max {
		if addr != nil && addr.failures > 0 {
			// An address that has failed before gets one password check
			// per base interval, whatever its number of connections: the
			// slot is taken now, before this check's result is known, or
			// parallel checks would all find the schedule free at once.
			addr.next = free.Add(t.base)
		}
		return d, true
	}
	return t.max, false
}

// failed records a failed password check for account from ip and returns
// how long to wait before answering it.
func (t *authThrottle) failed(ip, account string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.base <= 0 {
		return 0
	}
	t.expire(now)
	e := t.strike(t.addrs, addrKey(ip), now)
	// The address's schedule is pushed in full: its guesses are spaced
	// however many connections make them.
	e.next = later(e.next, now).Add(t.delay(e.failures))
	answer := e.next
	if account != "" {
		a := t.strike(t.accounts, account, now)
		a.next = later(a.next, now).Add(t.delay(a.failures))
		// Bounded: guessing from many addresses must not lock the
		// owner out.
		if limit := now.Add(t.max); a.next.After(limit) {
			a.next = limit
		}
		answer = later(answer, a.next)
	}
	return min(answer.Sub(now), t.max)
}

// succeeded forgets the failures of account (not of the address: see
// authThrottle).
func (t *authThrottle) succeeded(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.base <= 0 {
		return
	}
	delete(t.accounts, account)
}

// strike counts a failure for key, making room in a full table by
// dropping the entry whose last failure is oldest.
func (t *authThrottle) strike(m map[string]*strikes, key string, now time.Time) *strikes {
	e := live(m, key, now)
	if e == nil {
		if len(m) >= maxThrottleKeys {
			var oldest string
			var at time.Time
			for k, o := range m {
				if oldest == "" || o.last.Before(at) {
					oldest, at = k, o.last
				}
			}
			delete(m, oldest)
		}
		e = &strikes{}
		m[key] = e
	}
	e.failures++
	e.last = now
	return e
}

// expire drops expired entries, at most once a minute.
func (t *authThrottle) expire(now time.Time) {
	if now.Sub(t.sweep) < time.Minute {
		return
	}
	t.sweep = now
	for _, m := range []map[string]*strikes{t.addrs, t.accounts} {
		for k := range m {
			live(m, k, now)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// AuthWait, AuthFailed and AuthSucceeded are the Limiter's face of the
// throttle; account is "local@domain" of the account tried ("" if none
// was named).

// AuthWait: how long a password check must wait before it runs; ok false:
// refuse it, after wait.
func (l *Limiter) AuthWait(ip, account string) (wait time.Duration, ok bool) {
	return l.auth.wait(ip, account, time.Now())
}

// AuthFailed records a failed password check; the failure is answered
// after the returned delay.
func (l *Limiter) AuthFailed(ip, account string) time.Duration {
	return l.auth.failed(ip, account, time.Now())
}

// AuthSucceeded forgets account's failures.
func (l *Limiter) AuthSucceeded(account string) { l.auth.succeeded(account) }
