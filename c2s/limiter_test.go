package c2s

import (
	"testing"
	"time"
)

func TestLimiterAuthFailureDelay(t *testing.T) {
	l := NewLimiter(0, 0, 0, 250*time.Millisecond)
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := l.Failed("192.0.2.1"); got != w {
			t.Fatalf("failure %d: delay %v, want %v", i+1, got, w)
		}
	}
	if got := l.Failed("192.0.2.2"); got != 250*time.Millisecond {
		t.Fatalf("another address is slowed down too: %v", got)
	}
	l.Succeeded("192.0.2.1")
	if got := l.Failed("192.0.2.1"); got != 250*time.Millisecond {
		t.Fatalf("after a success: %v", got)
	}
	if got := NewLimiter(0, 0, 0, 0).Failed("192.0.2.1"); got != 0 {
		t.Fatalf("delay disabled: %v", got)
	}
}

func TestLimiterConnections(t *testing.T) {
	l := NewLimiter(2, 0, 0, 0)
	if !l.Admit("a") || !l.Admit("a") {
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
	l := NewLimiter(0, 0.001, 3, 0)
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
	l := NewLimiter(1, 0, 0, 0)
	if !l.Admit("a") || l.Admit("a") {
		t.Fatal("limit 1 not kept")
	}
	l.Set(2, 0, 0, time.Second)
	if !l.Admit("a") {
		t.Fatal("raised limit not applied")
	}
	if l.Admit("a") {
		t.Fatal("third connection admitted under limit 2")
	}
	if got := l.Failed("a"); got != time.Second {
		t.Fatalf("auth failure delay %v, want the new 1s", got)
	}
}
