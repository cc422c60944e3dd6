//go:build !unix

package testutil

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
