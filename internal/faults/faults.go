// Package faults replays faults against a real xmppd process: kill -9 and
// SIGTERM in the middle of XEP-0198 traffic, a large offline backlog for a
// slow reader, a full and a read-only disk, slowloris on every listener and
// a SASL guessing storm. Each case starts the xmppd binary as a child
// process with its own data folder and configuration on loopback ports,
// creates its accounts with the CLI (xmppd user add), and checks what the
// server promised against what a client can observe on the wire: every
// message the server acknowledged must be found again, exactly once.
//
// scripts/faults.sh runs it (cmd/faults); docs/reliability.md states the
// promises and the figures measured.
package faults

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"
)

// Status of one case.
type Status string

const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one case's outcome: figures for a pass, why for the others.
type Result struct {
	Name   string
	Status Status
	Detail string
}

// Case is one fault scenario.
type Case struct {
	Name string
	Run  func(ctx context.Context, s *Suite) Result
}

// Suite holds what the cases share: the binary under test and a temp
// folder for their data.
type Suite struct {
	Bin string
	tmp string
	Log io.Writer // progress notes (may be io.Discard)
}

// Cases lists every case in the order they run.
func Cases() []Case {
	return []Case{
		{"kill9", caseKill9},
		{"sigterm", caseSigterm},
		{"offline-backlog", caseBacklog},
		{"disk-full", caseDiskFull},
		{"read-only", caseReadOnly},
		{"slowloris-starttls", slowloris("starttls")},
		{"slowloris-directtls", slowloris("direct")},
		{"slowloris-http", slowloris("http")},
		{"slowloris-s2s", slowloris("s2s")},
		{"slowloris-stanza", caseHalfStanza},
		{"sasl-storm", caseSASLStorm},
	}
}

func pass(name, format string, a ...any) Result {
	return Result{name, Pass, fmt.Sprintf(format, a...)}
}
func fail(name, format string, a ...any) Result {
	return Result{name, Fail, fmt.Sprintf(format, a...)}
}
func skip(name, format string, a ...any) Result {
	return Result{name, Skip, fmt.Sprintf(format, a...)}
}

// Run runs the cases whose names match filter (nil: all), printing one
// line per case to out and the final count; it returns the failures.
func Run(ctx context.Context, bin string, filter *regexp.Regexp, out, log io.Writer) (int, error) {
	tmp, err := os.MkdirTemp("", "xmppd-faults-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	s := &Suite{Bin: bin, tmp: tmp, Log: log}
	var passed, failed, skipped int
	for _, c := range Cases() {
		if filter != nil && !filter.MatchString(c.Name) {
			continue
		}
		start := time.Now()
		r := runCase(ctx, s, c)
		switch r.Status {
		case Pass:
			passed++
		case Fail:
			failed++
		default:
			skipped++
		}
		fmt.Fprintf(out, "%s %s: %s (%.1fs)\n", r.Status, r.Name, r.Detail, time.Since(start).Seconds())
	}
	fmt.Fprintf(out, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	return failed, nil
}

// runCase bounds a case's time and turns a panic into a failure, so one
// broken case does not hide the others' results.
func runCase(ctx context.Context, s *Suite, c Case) (r Result) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			r = fail(c.Name, "panic: %v", p)
		}
	}()
	return c.Run(ctx, s)
}

func (s *Suite) logf(format string, a ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, "  "+format+"\n", a...)
	}
}

// start makes a server with opts, creates the accounts (user → password,
// at least 8 characters: the CLI applies [registration]
// min_password_length) and starts it.
func (s *Suite) start(ctx context.Context, opts Options, users map[string]string) (*Server, error) {
	srv, err := s.newServer(opts)
	if err != nil {
		return nil, err
	}
	for u, p := range users {
		if err := srv.AddUser(ctx, u+"@"+domain, p); err != nil {
			return nil, err
		}
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}
