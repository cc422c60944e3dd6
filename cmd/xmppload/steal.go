package main

import (
	"fmt"
	"sync"
	"time"
)

// stealWindow is the resolution of the steal record. /proc/stat counts in
// ticks of 10 ms (USER_HZ) summed over the CPUs, so a window of 100 ms on
// two CPUs holds 20 ticks: one tick of steal in it is 5%.
const stealWindow = 100 * time.Millisecond

// stealMonitor records the machine's CPU steal in consecutive windows, so
// that a latency sample can be told apart by whether the hypervisor took
// the CPUs away while that message was in flight. On this project's
// benchmark machines (shared virtual machines) steal comes in bursts of
// 20-80% lasting a second or two, and the messages in flight then wait
// for the hypervisor, whatever the server does; a run's overall p99 is
// then the host's figure more than the server's.
type stealMonitor struct {
	start time.Time
	mu    sync.Mutex
	steal []uint64 // ticks of steal in window i, [start+i*w, start+(i+1)*w)
	done  chan struct{}
	wg    sync.WaitGroup
}

func startStealMonitor() *stealMonitor {
	m := &stealMonitor{done: make(chan struct{})}
	last, _ := cpuSteal()
	m.start = time.Now()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(stealWindow)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				st, _ := cpuSteal()
				m.mu.Lock()
				m.steal = append(m.steal, st-last)
				m.mu.Unlock()
				last = st
			}
		}
	}()
	return m
}

// since is the time of a sample as the monitor keeps it.
func (m *stealMonitor) since(t time.Time) time.Duration { return t.Sub(m.start) }

func (m *stealMonitor) stop() {
	close(m.done)
	m.wg.Wait()
}

// quiet reports whether no steal was recorded in any window that the
// interval [at-age, at] touches (at: since the monitor started). A window
// not yet recorded, or one from before the start, counts as not quiet.
func (m *stealMonitor) quiet(at, age time.Duration) bool {
	first, last := int((at-age)/stealWindow), int(at/stealWindow)
	if at-age < 0 || first < 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if last >= len(m.steal) {
		return false
	}
	for _, s := range m.steal[first : last+1] {
		if s != 0 {
			return false
		}
	}
	return true
}

// quietWindows is how many windows in [from, to) recorded no steal, and
// how many there were.
func (m *stealMonitor) quietWindows(from, to time.Duration) (quiet, all int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := max(int(from/stealWindow), 0); i < min(int(to/stealWindow), len(m.steal)); i++ {
		all++
		if m.steal[i] == 0 {
			quiet++
		}
	}
	return quiet, all
}

// latSample is one message's latency and when it arrived.
type latSample struct {
	at  time.Duration // since the steal monitor started
	age time.Duration
}

// setLatencies records the latency percentiles of all samples under
// prefix (as setLatency) and those of the samples that no steal touched
// under prefix_nosteal, with the share of samples that were such. The
// overall figures stay the headline; the others say what the server and
// harness did when the machine was theirs.
func (r *result) setLatencies(prefix string, samples [][]latSample, m *stealMonitor) (all, quiet []int64) {
	for _, l := range samples {
		for _, s := range l {
			us := s.age.Microseconds()
			all = append(all, us)
			if m.quiet(s.at, s.age) {
				quiet = append(quiet, us)
			}
		}
	}
	r.setLatency(prefix, all)
	r.setLatency(prefix+"_nosteal", quiet)
	if len(all) > 0 {
		r.set(prefix+"_nosteal_share", float64(len(quiet))/float64(len(all)))
	}
	return all, quiet
}

// printQuiet prints the latency of the messages no steal touched, and how
// much of the sending phase (start, for d) had none.
func printQuiet(quiet []int64, all int, m *stealMonitor, start time.Time, d time.Duration) {
	q, n := m.quietWindows(m.since(start), m.since(start)+d)
	p := percentiles(quiet, 0.5, 0.99, 0.999, 1)
	fmt.Printf("  with no CPU steal in flight (%d of %d messages, %d of %d windows of %s): p50 %s  p99 %s  p99.9 %s  max %s\n",
		len(quiet), all, q, n, stealWindow, fmtLat(p[0]), fmtLat(p[1]), fmtLat(p[2]), fmtLat(p[3]))
}
