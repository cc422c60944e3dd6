package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// percentiles returns the values at the given fractions (0..1) of samples,
// nearest rank on a sorted copy; NaN for an empty sample.
func percentiles(samples []int64, ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if len(samples) == 0 {
		for i := range out {
			out[i] = math.NaN()
		}
		return out
	}
	s := append([]int64(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	for i, p := range ps {
		k := int(math.Ceil(p*float64(len(s)))) - 1
		k = min(max(k, 0), len(s)-1)
		out[i] = float64(s[k])
	}
	return out
}

// clkTck is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports (the kernel ABI fixes it).
const clkTck = 100

// procCPU returns the user+system CPU seconds used so far by pid, read
// from /proc/PID/stat (fields 14 and 15, counted after the ')' that ends
// the command name, which may itself contain spaces).
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// after ')': state(3) ppid(4) ... utime(14) stime(15): index 11 and 12
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q stime %q", f[11], f[12])
	}
	return float64(u+s) / clkTck, nil
}

// selfCPU is the harness's own user+system CPU seconds (getrusage).
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// loadAvg is the 1-minute load average (/proc/loadavg), -1 if unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// cpuMark is a point in time for measuring CPU used over a phase by the
// server processes and by the harness itself.
type cpuMark struct {
	at     time.Time
	server float64 // sum over the PIDs; NaN when no PID or unreadable
	self   float64
}

func markCPU(pids []int) cpuMark {
	m := cpuMark{at: time.Now(), server: math.NaN(), self: selfCPU()}
	if len(pids) > 0 {
		sum := 0.0
		for _, p := range pids {
			v, err := procCPU(p)
			if err != nil {
				fmt.Fprintln(os.Stderr, "server cpu:", err)
				return m
			}
			sum += v
		}
		m.server = sum
	}
	return m
}

// addCPU records the server's and the harness's CPU between a and b into
// r's metrics, and the server's CPU-seconds per 1,000 of count (what the
// phase did: logins, messages), under the name per1000.
func addCPU(r *result, a, b cpuMark, count int64, per1000 string) {
	wall := b.at.Sub(a.at).Seconds()
	r.set("phase_s", wall)
	self := b.self - a.self
	r.set("harness_cpu_s", self)
	if wall > 0 {
		r.set("harness_cores", self/wall)
	}
	if math.IsNaN(a.server) || math.IsNaN(b.server) {
		return
	}
	srv := b.server - a.server
	r.set("server_cpu_s", srv)
	if wall > 0 {
		r.set("server_cores", srv/wall)
	}
	if count > 0 && per1000 != "" {
		r.set(per1000, srv/float64(count)*1000)
	}
}

// result is what one scenario run reports: printed as one JSON line at the
// end (and appended to -json FILE) for scripts to collect.
type result struct {
	Scenario string             `json:"scenario"`
	Label    string             `json:"label,omitempty"`
	Time     string             `json:"time"`
	Load1    [2]float64         `json:"loadavg1"` // at start and end
	CPUs     int                `json:"cpus"`
	Params   map[string]any     `json:"params"`
	Metrics  map[string]float64 `json:"metrics"`
	Errors   map[string]int     `json:"errors,omitempty"`

	steal0, total0 uint64
}

func newResult(scenario, label string) *result {
	r := &result{Scenario: scenario, Label: label, Time: time.Now().UTC().Format(time.RFC3339),
		Load1: [2]float64{loadAvg(), 0}, CPUs: runtime.NumCPU(), Params: map[string]any{}, Metrics: map[string]float64{}}
	r.steal0, r.total0 = cpuSteal()
	return r
}

// cpuSteal reads the machine's steal and total CPU time (/proc/stat, in
// ticks): on a virtual machine, the time the hypervisor gave our virtual
// CPUs to someone else. A run with much of it is a noisy run (latency
// above all), whatever the load average says. Zeros if unknown.
func cpuSteal() (steal, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal; guest is inside user
			total += n
		}
		if i == 7 {
			steal = n
		}
	}
	return steal, total
}

// set records a metric; NaN and infinities (an empty sample) are left out
// because JSON cannot carry them.
func (r *result) set(name string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	r.Metrics[name] = v
}

// setLatency records p50/p99/p99.9/max of samples in microseconds as
// milliseconds under prefix_p50_ms ...
func (r *result) setLatency(prefix string, us []int64) {
	p := percentiles(us, 0.50, 0.99, 0.999, 1)
	for i, n := range []string{"p50", "p99", "p999", "max"} {
		r.set(prefix+"_"+n+"_ms", p[i]/1000)
	}
}

// finish writes the JSON line to w and, if file is set, appends it there.
func (r *result) finish(w io.Writer, file string, errs *errCounts) error {
	r.Load1[1] = loadAvg()
	if st, tot := cpuSteal(); tot > r.total0 {
		r.set("steal_pct", 100*float64(st-r.steal0)/float64(tot-r.total0))
	}
	if errs != nil {
		r.Errors = errs.snapshot()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("result json: %w", err)
	}
	b = append(b, '\n')
	w.Write(b)
	if file == "" {
		return nil
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("result file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("result file: %w", err)
	}
	return f.Close()
}

// fmtLat formats microseconds for the human summary.
func fmtLat(us float64) string {
	if math.IsNaN(us) {
		return "-"
	}
	return (time.Duration(us) * time.Microsecond).String()
}

// progress prints one status line to stderr every interval until stop is
// closed; line returns the text (counters read atomically by the caller).
func progress(interval time.Duration, line func(elapsed time.Duration) string) (stop func()) {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "  [%5.1fs] %s  load %.2f\n", time.Since(start).Seconds(), line(time.Since(start)), loadAvg())
			}
		}
	}()
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			close(done)
		}
	}
}
