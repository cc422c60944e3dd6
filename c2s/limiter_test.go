package c2s

import (
	"strconv"
	"testing"
	"time"
)

// TestAuthThrottle checks the schedule of throttle.go with a fixed clock.
func TestAuthThrottle(t *testing.T) {
	const base, most = 250 * time.Millisecond, 10 * time.Second
	t0 := time.Unix(1_000_000, 0)
	newT := func() *authThrottle {
		var th authThrottle
		th.init(base, most)
		return &th
	}
	wait := func(th *authThrottle, ip, acct string, at time.Time) time.Duration {
		t.Helper()
		d, ok := th.wait(ip, acct, at)
		if !ok {
			return -1
		}
		return d
	}

	t.Run("failures from parallel connections add up", func(t *testing.T) {
		th := newT()
		if d := th.failed("192.0.2.1", "alice@x", t0); d != base {
			t.Fatalf("first failure answered after %v, want %v", d, base)
		}
		// A second connection fails at the same instant: its guess
		// comes after the first's slot, and takes one of its own.
		if d := th.failed("192.0.2.1", "bob@x", t0); d != base+2*base {
			t.Fatalf("second failure answered after %v, want %v", d, 3*base)
		}
		if d := wait(th, "192.0.2.1", "carol@x", t0); d != 3*base {
			t.Fatalf("next check from the address waits %v, want %v", d, 3*base)
		}
		// That check took the slot up to 4*base (see below).
		if d := wait(th, "192.0.2.1", "carol@x", t0.Add(4*base)); d != 0 {
			t.Fatalf("after its slot: %v", d)
		}
		for range 10 {
			th.failed("192.0.2.1", "dave@x", t0)
		}
		if d, ok := th.wait("192.0.2.1", "erin@x", t0); ok || d != most {
			t.Fatalf("far behind schedule: wait %v ok %v, want refused after %v", d, ok, most)
		}
	})
	t.Run("parallel checks from a failing address take a slot each", func(t *testing.T) {
		th := newT()
		th.failed("192.0.2.1", "alice@x", t0) // schedule free again at base
		// Connections that all ask at once, before any result is known:
		// one check per base interval, the rest refused untested.
		admitted := 0
		for range 60 {
			if _, ok := th.wait("192.0.2.1", "alice@x", t0.Add(base)); ok {
				admitted++
			}
		}
		if want := int(most/base) + 1; admitted != want {
			t.Fatalf("%d of 60 parallel checks admitted, want %d (one per %v up to %v)", admitted, want, base, most)
		}
	})
	t.Run("others are not slowed", func(t *testing.T) {
		th := newT()
		for range 20 {
			th.failed("192.0.2.1", "alice@x", t0)
		}
		if d := wait(th, "192.0.2.2", "bob@x", t0); d != 0 {
			t.Fatalf("another account from another address waits %v", d)
		}
		// The account guessed from elsewhere: slowed, at most by most.
		if d := wait(th, "192.0.2.3", "alice@x", t0); d <= 0 || d > most {
			t.Fatalf("the guessed account from another address: wait %v, want (0, %v]", d, most)
		}
	})
	t.Run("a success clears the account, not the address", func(t *testing.T) {
		th := newT()
		th.failed("192.0.2.1", "alice@x", t0)
		th.failed("192.0.2.1", "alice@x", t0)
		th.succeeded("mallory@x") // the guesser's own account
		if d := wait(th, "192.0.2.1", "alice@x", t0); d != 3*base {
			t.Fatalf("address schedule after a success for another account: %v, want %v", d, 3*base)
		}
		// The check admitted at 3*base took the slot up to 4*base; its
		// failure (the third: 4*base) comes after that slot. A count
		// reset by the success would give base instead.
		if d := th.failed("192.0.2.1", "alice@x", t0.Add(3*base)); d != 5*base {
			t.Fatalf("third failure: %v, want %v (the count survived)", d, 5*base)
		}
		th.succeeded("alice@x")
		if d := wait(th, "192.0.2.9", "alice@x", t0); d != 0 {
			t.Fatalf("account after its own success, other address: %v", d)
		}
	})
	t.Run("unknown and existing accounts alike", func(t *testing.T) {
		// The throttle knows no accounts: there is nothing to tell apart.
		th := newT()
		a := th.failed("192.0.2.1", "exists@x", t0)
		b := th.failed("192.0.2.2", "nobody@x", t0)
		if a != b {
			t.Fatalf("%v vs %v", a, b)
		}
	})
	t.Run("IPv6 by /64", func(t *testing.T) {
		th := newT()
		th.failed("2001:db8::1", "", t0)
		if d := wait(th, "2001:db8::ffff", "", t0); d != base {
			t.Fatalf("same /64: %v", d)
		}
		if d := wait(th, "2001:db8:0:1::1", "", t0); d != 0 {
			t.Fatalf("other /64: %v", d)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		th := newT()
		for range 5 {
			th.failed("192.0.2.1", "alice@x", t0)
		}
		later := t0.Add(throttleWindow + time.Hour)
		if d := wait(th, "192.0.2.1", "alice@x", later); d != 0 {
			t.Fatalf("after the window: %v", d)
		}
		if d := th.failed("192.0.2.1", "alice@x", later); d != base {
			t.Fatalf("first failure after the window: %v, want %v", d, base)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		th := newT()
		for i := range maxThrottleKeys + 100 {
			th.failed("192.0.2.1", "user"+strconv.Itoa(i)+"@x", t0.Add(time.Duration(i)))
		}
		if n := len(th.accounts); n > maxThrottleKeys {
			t.Fatalf("%d accounts tracked, bound %d", n, maxThrottleKeys)
		}
		if th.accounts["user"+strconv.Itoa(maxThrottleKeys+99)+"@x"] == nil {
			t.Fatal("the newest entry was dropped")
		}
	})
	t.Run("off", func(t *testing.T) {
		l := NewLimiter(0, 0, 0, 0, 0)
		if d := l.AuthFailed("192.0.2.1", "alice@x"); d != 0 {
			t.Fatalf("delay disabled: %v", d)
		}
		if d, ok := l.AuthWait("192.0.2.1", "alice@x"); d != 0 || !ok {
			t.Fatalf("disabled: %v %v", d, ok)
		}
	})
}

func TestLimiterConnections(t *testing.T) {
	l := NewLimiter(2, 0, 0, 0, 0)
	first, second := l.Admit("a"), l.Admit("a")
	if !first || !second {
		t.Fatal("first two refused")
	}
	if l.Admit("a") {
		t.Fatal("third concurrent connection admitted")
	}
	if !l.Admit("b") {
		t.Fatal("other address refused")
	}
	l.Release("a")
	if !l.Admit("a") {
		t.Fatal("not admitted after a release")
	}
}

func TestLimiterRate(t *testing.T) {
	// A burst of 3 and a rate too slow to refill during the test.
	l := NewLimiter(0, 0.001, 3, 0, 0)
	for i := range 3 {
		if !l.Admit("a") {
			t.Fatalf("connection %d of the burst refused", i+1)
		}
	}
	if l.Admit("a") {
		t.Fatal("connection beyond the burst admitted")
	}
}

// TestLimiterSet: a configuration reload changes the limits of the
// running limiter; the open connections it counts stay counted.
func TestLimiterSet(t *testing.T) {
	l := NewLimiter(1, 0, 0, 0, 0)
	if !l.Admit("a") || l.Admit("a") {
		t.Fatal("limit 1 not kept")
	}
	l.Set(2, 0, 0, time.Second, 10*time.Second)
	if !l.Admit("a") {
		t.Fatal("raised limit not applied")
	}
	if l.Admit("a") {
		t.Fatal("third connection admitted under limit 2")
	}
	if got := l.auth.failed("a", "x@example.com", time.Now()); got != time.Second {
		t.Fatalf("auth failure delay %v, want the new 1s", got)
	}
}
