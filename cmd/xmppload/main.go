// Command xmppload is a load generator for xmppd (or any XMPP server). It
// speaks real XMPP: TCP, STARTTLS or direct TLS (or plain TCP on loopback),
// SASL SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, bind, presence.
//
//	xmppload register|login|idle|chat|muc|roster-setup|roster|failover|disco|settle|report [flags]
//
// register creates the accounts in-band (XEP-0077); login measures logins/s
// and login latency; idle holds N sessions and reads the server's memory
// (VmRSS of -pid); chat has pairs of sessions exchange messages at a fixed
// rate or as fast as a window allows (throughput, latency, loss); muc has M
// occupants of one room (XEP-0045) send groupchat at a fixed rate (fan-out
// deliveries/s, latency); roster-setup gives users a ring of mutual
// contacts and roster measures how long their presence broadcast takes when
// they all log in at once. Every scenario reports the server's CPU (from
// /proc/PID/stat of -pid) and the harness's own (getrusage), prints a
// progress line while it runs and ends with one JSON line; report turns
// those lines into a markdown table (bench/compare.sh, docs/performance.md).
//
// Accounts are prefix0 ... prefix<users-1>; session i logs in to
// prefix<i mod users> with resource r<i>. With -users 1 every session uses
// the same account (one distinct resource each), which needs one account
// only and is enough to measure per-session cost.
//
// Connections come from 127.0.0.2, 127.0.0.3, ... (-src-addrs of them,
// round robin) when -addr is an IPv4 loopback address, so neither the
// server's per-IP limits nor the ~28k ephemeral ports per source address
// get in the way. The tool raises its own RLIMIT_NOFILE to the hard limit;
// the server needs a large enough limit too (ulimit -n).
package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	// The harness shares the machine with the server, and its own
	// collections show in the latency it measures: at 20,000 msg/s one
	// every 0.7 s, with stop-the-world phases of up to 3 ms
	// (GODEBUG=gctrace=1). Its heap is small (the latency samples), so
	// trade memory for fewer of them, unless GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// XMPPLOAD_CPUPROFILE=file profiles the harness itself: it shares the
	// machine with the server, so its CPU per message is part of what a
	// fixed-rate run can reach.
	if f := os.Getenv("XMPPLOAD_CPUPROFILE"); f != "" {
		if stop, err := startCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "xmppload:", err)
		} else {
			defer stop()
		}
	}
	if err := run(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "xmppload:", err)
		if errors.Is(err, errNoService) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

func startCPUProfile(name string) (func(), error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func run() error {
	var err error
	switch os.Args[1] {
	case "idle":
		err = runIdle(os.Args[2:])
	case "chat":
		err = runChat(os.Args[2:])
	case "login":
		err = runLogin(os.Args[2:])
	case "muc":
		err = runMUC(os.Args[2:])
	case "roster":
		err = runRoster(os.Args[2:])
	case "failover":
		err = runFailover(os.Args[2:])
	case "roster-setup":
		err = runRosterSetup(os.Args[2:])
	case "register":
		err = runRegister(os.Args[2:])
	case "disco":
		err = runDisco(os.Args[2:])
	case "report":
		err = runReport(os.Args[2:])
	case "settle":
		err = runSettle(os.Args[2:])
	case "help", "-h", "--help":
		usage()
	default:
		usage()
		return flag.ErrHelp
	}
	return err
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  xmppload register [flags]      create accounts by in-band registration (XEP-0077)
  xmppload login [flags]         -sessions logins, -concurrency at a time: logins/s, latency
  xmppload idle [flags]          open -sessions idle sessions and measure the server's memory
  xmppload chat [flags]          -pairs of sessions exchanging messages: rate, latency, loss, CPU
  xmppload muc [flags]           -occupants in one room (XEP-0045): fan-out rate and latency
  xmppload roster-setup [flags]  give -users a ring of -contacts mutual subscriptions
  xmppload roster [flags]        those users log in at once: presence broadcast time
  xmppload failover [flags]      -sessions on a cluster node that is then killed: time until all are back on the others
  xmppload disco [flags]         exit 0 if -jid answers disco#info (3 if not)
  xmppload settle -pid P         wait until the server is idle (between scenarios)
  xmppload report [files]        JSON result lines -> markdown comparison table
Run "xmppload SCENARIO -h" for the flags. Every scenario ends with one JSON line.
`)
}

// common holds the flags shared by the scenarios.
type common struct {
	addr, domain, password, prefix, mech string
	users, concurrency, srcN             int
	directTLS                            bool
	transport                            string
	curves                               string
	pidList                              string
	pids                                 []int
	pprof                                string
	timeout                              time.Duration
	label, jsonFile, variant             string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:5222", "server address host:port; several, comma-separated (cluster nodes): sessions go to them round robin")
	fs.StringVar(&c.domain, "domain", "localhost", "XMPP domain")
	fs.StringVar(&c.password, "password", "", "password of the accounts")
	fs.StringVar(&c.prefix, "user-prefix", "load", "accounts are <prefix>0 ... <prefix><users-1>")
	fs.IntVar(&c.users, "users", 1, "number of accounts used round robin (1: all sessions on <prefix>0; 0: one per session)")
	fs.IntVar(&c.concurrency, "concurrency", 64, "logins in flight at once")
	fs.IntVar(&c.srcN, "src-addrs", 16, "loopback source addresses 127.0.0.2... to spread connections over")
	fs.BoolVar(&c.directTLS, "direct-tls", false, "same as -tls direct")
	fs.StringVar(&c.transport, "tls", "starttls", "starttls, direct (TLS from the first byte, XEP-0368) or none (plain TCP: loopback only)")
	fs.StringVar(&c.curves, "curves", "", "TLS key exchanges the client offers, comma-separated: x25519mlkem768, x25519, p256 (empty: Go's default, the hybrid post-quantum X25519MLKEM768 first)")
	fs.StringVar(&c.mech, "mech", "SCRAM-SHA-256", "SASL mechanism: SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN")
	fs.StringVar(&c.pidList, "pid", "", "server process ids, comma-separated: memory (VmRSS) and CPU (/proc/PID/stat) are summed over them (empty: not measured)")
	fs.StringVar(&c.label, "label", "", "name of the server under test, copied into the JSON result")
	fs.StringVar(&c.jsonFile, "json", "", "also append the JSON result line to this file")
	fs.StringVar(&c.variant, "variant", "", "name of this run's table in the report (default: from the scenario and its settings)")
	fs.StringVar(&c.pprof, "pprof", "", "server's net/http/pprof base URL (e.g. http://127.0.0.1:6060) for Go runtime figures (optional)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "deadline for each login")
}

func (c *common) loginOptions() (*loginOptions, error) {
	if c.password == "" {
		return nil, errors.New("-password is required")
	}
	c.mech = strings.ToUpper(c.mech)
	switch c.mech {
	case "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN":
	default:
		return nil, fmt.Errorf("-mech: SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, not %q", c.mech)
	}
	if c.directTLS {
		c.transport = "direct"
	}
	switch c.transport {
	case "starttls", "direct", "none":
	default:
		return nil, fmt.Errorf("-tls: starttls, direct or none, not %q", c.transport)
	}
	curves, err := parseCurves(c.curves)
	if err != nil {
		return nil, err
	}
	pids, err := parsePIDs(c.pidList)
	if err != nil {
		return nil, err
	}
	c.pids = pids
	if c.concurrency < 1 {
		c.concurrency = 1
	}
	return &loginOptions{addr: c.addr, domain: c.domain, password: c.password, mech: c.mech,
		transport: c.transport, curves: curves, timeout: c.timeout, srcAddrs: loopbackSources(strings.Split(c.addr, ",")[0], c.srcN)}, nil
}

// params are the common settings copied into the JSON result.
func (c *common) params(r *result) {
	r.Params["addr"] = c.addr
	r.Params["domain"] = c.domain
	r.Params["tls"] = c.transport
	r.Params["mech"] = c.mech
	if c.curves != "" {
		r.Params["curves"] = c.curves
	}
	r.Params["users"] = c.users
	r.Params["concurrency"] = c.concurrency
	r.Params["pids"] = c.pids
	if c.variant != "" {
		r.Params["variant"] = c.variant
	}
}

// parseCurves reads -curves (empty: nil, crypto/tls's default).
func parseCurves(list string) ([]tls.CurveID, error) {
	var out []tls.CurveID
	for _, f := range strings.FieldsFunc(strings.ToLower(list), func(r rune) bool { return r == ',' || r == ' ' }) {
		switch f {
		case "x25519mlkem768":
			out = append(out, tls.X25519MLKEM768)
		case "x25519":
			out = append(out, tls.X25519)
		case "p256":
			out = append(out, tls.CurveP256)
		default:
			return nil, fmt.Errorf("-curves: x25519mlkem768, x25519 or p256, not %q", f)
		}
	}
	return out, nil
}

// parsePIDs reads "123,456" (empty: none).
func parsePIDs(list string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-pid: %q is not a process id", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// raiseNoFile lifts the soft RLIMIT_NOFILE to the hard limit.
func raiseNoFile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}

// procStatus returns a field of /proc/PID/status in bytes (VmRSS, RssAnon...).
func procStatus(pid int, field string) (int64, error) {
	p := "/proc/self/status"
	if pid > 0 {
		p = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			break
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return n * 1024, nil // the kernel reports kB
	}
	return 0, fmt.Errorf("%s: no %s", p, field)
}

// memSample is the server's memory at one moment.
type memSample struct {
	label           string
	rss, anon       int64
	goStats         map[string]int64 // from the heap profile's runtime.MemStats, if -pprof
	goroutines      int64
	haveRSS, haveGo bool
}

func sample(c *common, label string, gc bool) memSample {
	m := memSample{label: label}
	if len(c.pids) > 0 {
		m.haveRSS = true
		for _, pid := range c.pids {
			rss, err1 := procStatus(pid, "VmRSS")
			anon, err2 := procStatus(pid, "RssAnon")
			m.rss += rss
			m.anon += anon
			m.haveRSS = m.haveRSS && err1 == nil && err2 == nil
		}
	}
	if c.pprof != "" {
		m.goStats, m.goroutines = goRuntime(c.pprof, gc)
		m.haveGo = m.goStats != nil
	}
	return m
}

var goKeys = []string{"HeapAlloc", "HeapInuse", "HeapIdle", "HeapReleased", "StackInuse", "Sys", "NumGC"}

// goRuntime reads runtime.MemStats from the text heap profile of
// net/http/pprof; gc asks the server to collect garbage first.
func goRuntime(base string, gc bool) (map[string]int64, int64) {
	cl := &http.Client{Timeout: 30 * time.Second}
	u := strings.TrimSuffix(base, "/") + "/debug/pprof/heap?debug=1"
	if gc {
		u += "&gc=1"
	}
	resp, err := cl.Get(u)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pprof:", err)
		return nil, 0
	}
	defer resp.Body.Close()
	stats := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "# ") {
			continue
		}
		k, v, ok := strings.Cut(line[2:], " = ")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if a, b, ok := strings.Cut(v, " / "); ok {
			// "# Stack = StackInuse / StackSys"
			if n, err := strconv.ParseInt(a, 10, 64); err == nil {
				stats[k+"Inuse"] = n
			}
			if n, err := strconv.ParseInt(b, 10, 64); err == nil {
				stats[k+"Sys"] = n
			}
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			stats[k] = n
		}
	}
	var g int64
	if r2, err := cl.Get(strings.TrimSuffix(base, "/") + "/debug/pprof/goroutine?debug=1"); err == nil {
		line, _ := bufio.NewReader(r2.Body).ReadString('\n')
		io.Copy(io.Discard, r2.Body)
		r2.Body.Close()
		if _, after, ok := strings.Cut(line, "total "); ok {
			g, _ = strconv.ParseInt(strings.TrimSpace(after), 10, 64)
		}
	}
	return stats, g
}

func fetch(url, file string) error {
	resp, err := (&http.Client{Timeout: time.Minute}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
func perS(b int64, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f KiB", float64(b)/1024/float64(n))
}

func printSample(m memSample) {
	if m.haveRSS {
		fmt.Printf("  %-22s VmRSS %10s  RssAnon %10s\n", m.label+":", mib(m.rss), mib(m.anon))
	}
	if m.haveGo {
		var parts []string
		for _, k := range goKeys {
			if v, ok := m.goStats[k]; ok {
				if k == "NumGC" {
					parts = append(parts, fmt.Sprintf("%s %d", k, v))
				} else {
					parts = append(parts, fmt.Sprintf("%s %s", k, mib(v)))
				}
			}
		}
		fmt.Printf("  %-22s goroutines %d  %s\n", "", m.goroutines, strings.Join(parts, "  "))
	}
}

func printDelta(label string, a, b memSample, n int) {
	if a.haveRSS && b.haveRSS {
		fmt.Printf("  per session (%s): VmRSS %s  RssAnon %s\n", label, perS(b.rss-a.rss, n), perS(b.anon-a.anon, n))
	}
	if a.haveGo && b.haveGo {
		fmt.Printf("  per session (%s, Go): HeapInuse %s  StackInuse %s  Sys %s  goroutines %+.2f\n", label,
			perS(b.goStats["HeapInuse"]-a.goStats["HeapInuse"], n),
			perS(b.goStats["StackInuse"]-a.goStats["StackInuse"], n),
			perS(b.goStats["Sys"]-a.goStats["Sys"], n),
			float64(b.goroutines-a.goroutines)/float64(max(n, 1)))
	}
}

// errCounts tallies failures by message so a run with 10k failures prints
// a few lines, not 10k.
type errCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (e *errCounts) add(err error) {
	msg := err.Error()
	// addresses and ports differ per connection; keep the kind
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg[:i], "127.0.0.") {
		msg = msg[i+2:]
	}
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int{}
	}
	e.m[msg]++
	e.mu.Unlock()
}

// snapshot copies the counts for the JSON result.
func (e *errCounts) snapshot() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) == 0 {
		return nil
	}
	out := make(map[string]int, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

func (e *errCounts) print() {
	e.mu.Lock()
	defer e.mu.Unlock()
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range e.m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	for i, x := range l {
		if i == 10 {
			fmt.Printf("  ... %d more kinds\n", len(l)-10)
			break
		}
		fmt.Printf("  %6d x %s\n", x.v, x.k)
	}
}

// openSessions logs in n sessions with conc workers and returns them
// (nil entries for failures), each login's latency in microseconds (0 for
// failures), the failure count and the elapsed time.
func openSessions(o *loginOptions, c *common, n int, errs *errCounts, showProgress bool) ([]*session, []int64, int, time.Duration) {
	return openSessionsWith(c, n, errs, showProgress, func(i int) (*session, error) {
		return login(o, i, userName(c.prefix, c.users, i), resourceName(i))
	})
}

// openSessionsWith is openSessions with login(i) logging in session i.
func openSessionsWith(c *common, n int, errs *errCounts, showProgress bool, login func(i int) (*session, error)) ([]*session, []int64, int, time.Duration) {
	sessions := make([]*session, n)
	lat := make([]int64, n)
	var next, failed, done atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	stop := func() {}
	if showProgress {
		stop = progress(2*time.Second, func(el time.Duration) string {
			d := done.Load()
			return fmt.Sprintf("%d/%d logged in, %d failed, %.0f/s", d, n, failed.Load(), float64(d)/el.Seconds())
		})
	}
	for w := 0; w < c.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				s, err := login(i)
				if err != nil {
					failed.Add(1)
					errs.add(err)
					continue
				}
				lat[i] = time.Since(t0).Microseconds()
				sessions[i] = s
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	stop()
	return sessions, lat, int(failed.Load()), time.Since(start)
}

// forEach runs f on every non-nil session with conc workers.
func forEach(sessions []*session, conc int, f func(i int, s *session)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(sessions) {
					return
				}
				if sessions[i] != nil {
					f(i, sessions[i])
				}
			}
		}()
	}
	wg.Wait()
}

func runIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("sessions", 1000, "sessions to open")
	hold := fs.Duration("hold", 10*time.Second, "settle time after the last login before measuring again")
	verify := fs.Bool("verify", true, "after -hold, ping every session to count those still alive")
	heapFile := fs.String("heap-profile", "", "with -pprof: save the server's heap profile (after a forced GC) to this file, for go tool pprof")
	goroutineFile := fs.String("goroutine-profile", "", "with -pprof: save the server's goroutine profile (debug=1 text) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	// created now: it records the load average at the start
	res := newResult("idle", c.label)
	if c.users == 0 {
		c.users = *n
	}
	nofile := raiseNoFile()
	if uint64(*n)+64 > nofile {
		return fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d sessions: raise it (ulimit -n)", nofile, *n)
	}
	fmt.Printf("xmppload idle: %d sessions to %s (%s, %s), %d accounts, concurrency %d, %d source addresses, nofile %d\n",
		*n, c.addr, c.transport, c.mech, c.users, c.concurrency, len(o.srcAddrs), nofile)

	before := sample(&c, "before", false)
	var errs errCounts
	cpu0 := markCPU(c.pids)
	sessions, _, failed, elapsed := openSessions(o, &c, *n, &errs, true)
	cpu1 := markCPU(c.pids)
	ok := *n - failed
	after := sample(&c, "after logins", false)
	time.Sleep(*hold)
	afterHold := sample(&c, fmt.Sprintf("after %s hold", *hold), false)
	var afterGC memSample
	if c.pprof != "" {
		afterGC = sample(&c, "after forced GC", true)
		if *heapFile != "" {
			if err := fetch(c.pprof+"/debug/pprof/heap", *heapFile); err != nil {
				fmt.Fprintln(os.Stderr, "heap profile:", err)
			}
		}
		if *goroutineFile != "" {
			if err := fetch(c.pprof+"/debug/pprof/goroutine?debug=1", *goroutineFile); err != nil {
				fmt.Fprintln(os.Stderr, "goroutine profile:", err)
			}
		}
	}
	alive := -1
	if *verify {
		var a atomic.Int64
		forEach(sessions, c.concurrency, func(i int, s *session) {
			s.conn.SetDeadline(time.Now().Add(c.timeout))
			if s.ping(c.domain, "v") == nil {
				a.Add(1)
			}
		})
		alive = int(a.Load())
	}
	self, _ := procStatus(0, "VmRSS")

	fmt.Printf("sessions established: %d of %d, failures: %d\n", ok, *n, failed)
	errs.print()
	fmt.Printf("login time: %.2fs, login rate: %.0f sessions/s\n", elapsed.Seconds(), float64(ok)/elapsed.Seconds())
	if alive >= 0 {
		fmt.Printf("alive after hold (ping answered): %d\n", alive)
	}
	fmt.Println("server memory:")
	printSample(before)
	printSample(after)
	printSample(afterHold)
	if c.pprof != "" {
		printSample(afterGC)
	}
	printDelta("after logins", before, after, ok)
	printDelta("after hold", before, afterHold, ok)
	if c.pprof != "" {
		printDelta("after forced GC", before, afterGC, ok)
	}
	if c.pprof != "" && afterGC.haveGo {
		g := afterGC.goStats
		fmt.Printf("  Go runtime after GC: HeapAlloc %s (live objects), HeapInuse %s, StackInuse %s, MSpanInuse %s, GCSys %s, OtherSys %s\n",
			mib(g["HeapAlloc"]), mib(g["HeapInuse"]), mib(g["StackInuse"]), mib(g["MSpanInuse"]), mib(g["GCSys"]), mib(g["OtherSys"]))
		fmt.Printf("  per session after GC (Go): HeapAlloc %s  StackInuse %s\n",
			perS(g["HeapAlloc"]-before.goStats["HeapAlloc"], ok), perS(g["StackInuse"]-before.goStats["StackInuse"], ok))
	}
	fmt.Printf("xmppload itself: VmRSS %s (%s per session), GOMAXPROCS %d\n", mib(self), perS(self, ok), runtime.GOMAXPROCS(0))

	c.params(res)
	res.Params["sessions"] = *n
	res.Params["hold"] = hold.String()
	res.set("established", float64(ok))
	res.set("failed", float64(failed))
	if alive >= 0 {
		res.set("alive", float64(alive))
		res.set("lost_sessions", float64(ok-alive))
	}
	res.set("logins_per_s", float64(ok)/elapsed.Seconds())
	addCPU(res, cpu0, cpu1, int64(ok), "server_cpu_s_per_1000_logins")
	if before.haveRSS && afterHold.haveRSS && ok > 0 {
		res.set("server_rss_before_mib", float64(before.rss)/(1<<20))
		res.set("server_rss_after_mib", float64(afterHold.rss)/(1<<20))
		res.set("rss_per_session_kib", float64(afterHold.rss-before.rss)/1024/float64(ok))
	}
	res.set("harness_rss_mib", float64(self)/(1<<20))

	forEach(sessions, c.concurrency, func(i int, s *session) { s.close() })
	if err := res.finish(os.Stdout, c.jsonFile, &errs); err != nil {
		return err
	}
	if ok == 0 {
		return errors.New("no session established")
	}
	return nil
}
