// Command faults runs xmppd's fault suite (package internal/faults)
// against an xmppd binary:
//
//	go run ./internal/faults/cmd/faults -xmppd /path/to/xmppd [-run REGEXP] [-v]
//
// It prints one line per case (PASS, FAIL or SKIP, the case's name and its
// figures or reason) and a final line "N passed, M failed, K skipped"; the
// exit status is 1 when a case failed. scripts/faults.sh builds the binary
// and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/xmppd/xmppd/internal/faults"
)

func main() {
	bin := flag.String("xmppd", "", "the xmppd binary under test (required)")
	run := flag.String("run", "", "run only the cases whose names match this regular expression")
	verbose := flag.Bool("v", false, "progress notes on stderr")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "faults: -xmppd is required")
		os.Exit(2)
	}
	var filter *regexp.Regexp
	if *run != "" {
		var err error
		if filter, err = regexp.Compile(*run); err != nil {
			fmt.Fprintln(os.Stderr, "faults: -run:", err)
			os.Exit(2)
		}
	}
	var log io.Writer = io.Discard
	if *verbose {
		log = os.Stderr
	}
	// Interrupted, the cases still stop their servers and unmount what
	// they mounted (their deferred clean-up runs as the context ends).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed, err := faults.Run(ctx, *bin, filter, os.Stdout, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(2)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
