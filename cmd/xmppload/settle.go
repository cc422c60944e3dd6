package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"time"
)

// runSettle waits until the server processes use less than -below cores
// over a one-second window, for at most -max: a server still working off
// the backlog of the previous scenario would otherwise charge it to the
// next one. It never fails the run: after -max it reports and returns.
func runSettle(args []string) error {
	fs := flag.NewFlagSet("settle", flag.ContinueOnError)
	list := fs.String("pid", "", "server process ids, comma-separated")
	below := fs.Float64("below", 0.05, "idle means fewer cores than this")
	most := fs.Duration("max", 2*time.Minute, "longest wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pids, err := parsePIDs(*list)
	if err != nil {
		return err
	}
	if len(pids) == 0 {
		return errors.New("-pid is required")
	}
	start := time.Now()
	for time.Since(start) < *most {
		a := markCPU(pids)
		time.Sleep(time.Second)
		b := markCPU(pids)
		if math.IsNaN(a.server) || math.IsNaN(b.server) {
			return errors.New("settle: server CPU not readable")
		}
		if cores := (b.server - a.server) / b.at.Sub(a.at).Seconds(); cores < *below {
			fmt.Printf("settle: server idle (%.2f cores) after %.0fs\n", cores, time.Since(start).Seconds())
			return nil
		}
	}
	fmt.Printf("settle: server still busy after %s\n", *most)
	return nil
}
