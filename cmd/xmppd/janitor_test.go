package main

import "testing"

// TestFreerReturnsAfterBurst: the janitor returns free pages a few ticks
// after allocation calms down (a login burst ends), not during the
// burst, not twice for one burst, and once a minute when busy.
func TestFreerReturnsAfterBurst(t *testing.T) {
	const mib = 1 << 20
	type step struct {
		n      int    // ticks of this step
		free   uint64 // free heap during them
		rate   uint64 // bytes allocated per tick during them
		fires  []int  // ticks (0-based, within the step) that return memory
		refill bool   // free stays: a busy heap's collections free pages again
		reason string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst then calm", []step{
			{n: 30, free: 40 * mib, rate: 10 * mib, refill: true, reason: "busy: allocations would reuse the free pages"},
			{n: 20, free: 40 * mib, rate: 4 << 10, fires: []int{2}, reason: "calm for calmTicks: once"},
		}},
		{"little free", []step{
			{n: 120, free: 8 * mib, rate: 0, fires: nil, reason: "below minFree nothing is worth a collection"},
		}},
		{"busy for long", []step{
			{n: 130, free: 40 * mib, rate: 10 * mib, refill: true, fires: []int{59, 119}, reason: "the once-a-minute fallback"},
		}},
		{"two bursts", []step{
			{n: 10, free: 64 * mib, rate: 20 * mib, refill: true},
			{n: 4, free: 64 * mib, rate: 0, fires: []int{2}},
			{n: 3, free: 64 * mib, rate: 20 * mib, refill: true},
			{n: 10, free: 64 * mib, rate: 0, fires: []int{5}, reason: "calm again, but minCalmGap after the first return"},
		}},
		{"calm from the start", []step{
			{n: 12, free: 20 * mib, rate: 0, fires: []int{9}, reason: "no return before minCalmGap ticks"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f freer
			var allocs uint64
			for si, s := range tt.steps {
				var got []int
				free := s.free
				for i := range s.n {
					allocs += s.rate
					if f.tick(free, allocs) {
						got = append(got, i)
						if !s.refill {
							free = 0 // FreeOSMemory returned it
						}
					}
				}
				if !equal(got, s.fires) {
					t.Errorf("step %d: returned at ticks %v, want %v (%s)", si, got, s.fires, s.reason)
				}
			}
		})
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
