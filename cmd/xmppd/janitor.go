package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Returning free heap pages to the system.
//
// After a burst of logins the runtime keeps the heap it grew to: about
// twice the live memory at the height of the burst, of which its
// background scavenger returns only what lies above 110% of the heap
// goal, and slowly. Those pages count in RSS: at 10,000 idle sessions
// 6 KiB per session (docs/performance.md). debug.FreeOSMemory returns them
// at the price of one collection, so it runs
//
//   - soon after a burst has calmed down: the server allocated less in
//     the last calmTicks seconds than an eighth of the free heap, so the
//     free pages are not about to be reused, and the collection costs CPU
//     the server is not using; at most once per minCalmGap;
//   - otherwise once per fallbackTicks (a minute), as a busy server's
//     free pages may also stay free for long.
//
// Either way only with at least minFree to return: the free heap and the
// garbage the next collection frees (what the heap's objects hold beyond
// the live heap the last collection marked). After a burst most of what
// there is to return can be that garbage: an idle server reaches no heap
// goal, so nothing collects it. At most one extra collection per burst,
// and one a minute when busy.
const (
	janitorTick   = time.Second
	calmTicks     = 3  // > c2s's loginIdle (2 s): the readers of the last logins have parked
	minCalmGap    = 10 // ticks between two returns on calm
	fallbackTicks = 60 // ticks between two returns otherwise
	minFree       = 16 << 20
)

// freer decides when to return free pages, from one sample per tick of
// what there is to return (free heap and garbage) and of the bytes
// allocated since start.
type freer struct {
	allocs [calmTicks + 1]uint64 // cumulative allocations of the last ticks, a ring
	n      int                   // samples seen
	since  int                   // ticks since the last return
}

// tick records a sample and reports whether to return free memory now.
func (f *freer) tick(free, allocs uint64) bool {
	f.allocs[f.n%len(f.allocs)] = allocs
	f.n++
	f.since++
	if free < minFree {
		return false
	}
	calm := false
	if f.n > calmTicks {
		then := f.allocs[f.n%len(f.allocs)] // calmTicks ticks ago
		calm = allocs-then < free/8
	}
	if calm && f.since >= minCalmGap || f.since >= fallbackTicks {
		f.since = 0
		return true
	}
	return false
}

// returnFreeMemory samples the runtime once per janitorTick (four counters
// read, no allocation) and calls debug.FreeOSMemory when freer says so.
func returnFreeMemory(ctx context.Context, log *slog.Logger) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	var f freer
	t := time.NewTicker(janitorTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(samples)
		free := samples[0].Value.Uint64()
		if objects, live := samples[2].Value.Uint64(), samples[3].Value.Uint64(); objects > live {
			free += objects - live
		}
		if f.tick(free, samples[1].Value.Uint64()) {
			start := time.Now()
			debug.FreeOSMemory()
			log.Debug("returned free heap to the system", "mib", free>>20, "took", time.Since(start))
		}
	}
}
