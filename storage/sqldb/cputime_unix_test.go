//go:build unix

package sqldb_test

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time this process has used. The
// benchmarks report it per op beside ns/op because wall time on a shared
// 2-core box swings by 2x with whatever else runs; CPU time holds steadier.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
