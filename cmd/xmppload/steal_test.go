package main

import (
	"testing"
	"time"
)

func TestStealMonitorQuiet(t *testing.T) {
	w := stealWindow
	// windows 0-1 quiet, 2 with steal, 3-4 quiet; 5 not recorded yet
	m := &stealMonitor{steal: []uint64{0, 0, 3, 0, 0}}
	for _, tc := range []struct {
		at, age time.Duration
		want    bool
	}{
		{w/2 + w, w / 2, true},    // inside windows 0-1
		{2*w + w/2, w / 4, false}, // inside the window with steal
		{3*w + w/2, w, false},     // sent in window 2, received in 3
		{4*w + w/2, w / 2, true},  // windows 3-4
		{5*w + w/2, w / 2, false}, // reaches a window not recorded
		{w / 2, w, false},         // sent before the monitor started
	} {
		if got := m.quiet(tc.at, tc.age); got != tc.want {
			t.Errorf("quiet(%v, %v) = %v, want %v", tc.at, tc.age, got, tc.want)
		}
	}
	if q, n := m.quietWindows(0, 5*w); q != 4 || n != 5 {
		t.Errorf("quietWindows = %d of %d, want 4 of 5", q, n)
	}
}

func TestSetLatencies(t *testing.T) {
	w := stealWindow
	m := &stealMonitor{steal: []uint64{0, 5, 0}}
	r := newResult("chat", "")
	r.setLatencies("latency", [][]latSample{
		{{at: w / 2, age: time.Millisecond}, {at: w + w/2, age: 90 * time.Millisecond}},
		{{at: 2*w + w/2, age: 2 * time.Millisecond}},
	}, m)
	if got := r.Metrics["latency_nosteal_share"]; got < 0.66 || got > 0.67 {
		t.Errorf("share = %v, want 2/3", got)
	}
	if got := r.Metrics["latency_nosteal_max_ms"]; got != 2 {
		t.Errorf("no-steal max = %v ms, want 2 (the 90 ms one had steal)", got)
	}
	if got := r.Metrics["latency_max_ms"]; got != 90 {
		t.Errorf("max = %v ms, want 90", got)
	}
}
