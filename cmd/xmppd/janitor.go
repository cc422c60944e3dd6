package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// returnFreeMemory gives the heap pages a login burst leaves free back to
// the system, checking once a minute. The runtime's scavenger returns them
// only slowly (or near a memory limit); meanwhile they count in RSS: at
// 10,000 idle sessions about 6 KiB per session (docs/performance.md).
// FreeOSMemory costs one collection, so it runs only when at least 16 MiB
// are free: at most one extra collection a minute.
func returnFreeMemory(ctx context.Context, every time.Duration, log *slog.Logger) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(samples)
		free := samples[0].Value.Uint64()
		if free >= 16<<20 {
			start := time.Now()
			debug.FreeOSMemory()
			log.Debug("returned free heap to the system", "free_mib", free>>20, "took", time.Since(start))
		}
	}
}
