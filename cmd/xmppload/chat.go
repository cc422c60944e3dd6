package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xml"
)

// chatFlags are the chat scenario's own settings.
type chatFlags struct {
	pairs  int
	rate   float64 // messages/s per session; 0 = as fast as the window allows
	window int     // messages in flight per sender when rate is 0
	dur    time.Duration
	drain  time.Duration
	size   int
}

func (f *chatFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.pairs, "pairs", 100, "pairs of sessions")
	fs.Float64Var(&f.rate, "rate", 10, "messages per second sent by each session; 0: as fast as the server allows (closed loop, -window in flight per sender)")
	fs.IntVar(&f.window, "window", 8, "with -rate 0: messages in flight (sent, not yet received) per sender")
	fs.DurationVar(&f.dur, "duration", 30*time.Second, "how long to send")
	fs.DurationVar(&f.drain, "drain", 10*time.Second, "after sending: how long to wait for the last messages")
	fs.IntVar(&f.size, "body", 0, "extra bytes of padding in each body")
}

func (f *chatFlags) check() error {
	if f.pairs < 1 {
		return errors.New("-pairs must be at least 1")
	}
	if f.rate < 0 {
		return errors.New("-rate must not be negative")
	}
	if f.rate == 0 && f.window < 1 {
		return errors.New("-window must be at least 1")
	}
	if f.dur <= 0 {
		return errors.New("-duration must be positive")
	}
	return nil
}

// runToken tells this run's messages from older ones a server may still
// deliver (offline storage, a backlog from a previous run).
var runToken = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)

// stamp is the body of a timed message: the send time in Unix nanoseconds,
// the run token, then padding. The receiver (this process, same clock)
// takes the latency.
func stamp(pad string) string {
	return string(appendStamp(nil, pad))
}

// appendStamp appends a stamp to b, for senders that reuse a buffer.
func appendStamp(b []byte, pad string) []byte {
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, ' ')
	b = append(b, runToken...)
	b = append(b, ' ')
	return append(b, pad...)
}

// stampAge parses a body made by stamp in this run and returns its age in
// microseconds; ok is false for other bodies (history, MOTD, older runs).
func stampAge(body string, now time.Time) (int64, bool) {
	ts, rest, ok := strings.Cut(body, " ")
	if !ok {
		return 0, false
	}
	tok, _, _ := strings.Cut(rest, " ")
	if tok != runToken {
		return 0, false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return (now.UnixNano() - n) / 1000, true
}

// runChat logs in 2*pairs sessions; sessions 2k and 2k+1 send each other
// chat messages, at -rate per session or as fast as a window of messages
// in flight allows, for -duration.
func runChat(args []string) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	var c common
	c.register(fs)
	var f chatFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	// created now: it records the load average at the start
	res := newResult("chat", c.label)
	if err := f.check(); err != nil {
		return err
	}
	nofile := raiseNoFile()
	n := 2 * f.pairs
	if c.users == 0 {
		c.users = n
	}
	mode := fmt.Sprintf("%.1f msg/s per session (offered %.0f msg/s)", f.rate, f.rate*float64(n))
	if f.rate == 0 {
		mode = fmt.Sprintf("full speed, window %d per sender", f.window)
	}
	fmt.Printf("xmppload chat: %d pairs to %s (%s, %s), %s for %s, concurrency %d, nofile %d\n",
		f.pairs, c.addr, c.transport, c.mech, mode, f.dur, c.concurrency, nofile)

	var errs errCounts
	sessions, _, failed, elapsed := openSessions(o, &c, n, &errs, true)
	fmt.Printf("sessions established: %d of %d in %.2fs, failures: %d\n", n-failed, n, elapsed.Seconds(), failed)
	errs.print()
	before := sample(&c, "before chat", false)

	pad := strings.Repeat("x", f.size)
	var sent, recvd, sendErr, closed atomic.Int64
	lat := make([][]latSample, n) // one slice per receiver
	mon := startStealMonitor()
	// credit[i] is sender i's window: a token is taken to send and given
	// back when the peer receives the message.
	credit := make([]chan struct{}, n)
	for i := range credit {
		credit[i] = make(chan struct{}, max(f.window, 1))
		for range f.window {
			credit[i] <- struct{}{}
		}
	}
	var rwg sync.WaitGroup
	for i, s := range sessions {
		if s == nil {
			continue
		}
		rwg.Add(1)
		s.startReader(func(el *xml.Element) {
			if el.Name() != "message" {
				return
			}
			b := el.Child("body", "jabber:client")
			if b == nil {
				return
			}
			now := time.Now()
			age, ok := stampAge(b.Text(), now)
			if !ok {
				return
			}
			lat[i] = append(lat[i], latSample{mon.since(now), time.Duration(age) * time.Microsecond})
			recvd.Add(1)
			if f.rate == 0 {
				select {
				case credit[i^1] <- struct{}{}:
				default:
				}
			}
		}, func(error) { closed.Add(1); rwg.Done() })
	}

	stopProgress := progress(2*time.Second, func(el time.Duration) string {
		return fmt.Sprintf("sent %d, received %d, in flight %d, %.0f msg/s", sent.Load(), recvd.Load(), sent.Load()-recvd.Load(), float64(recvd.Load())/el.Seconds())
	})
	cpu0 := markCPU(c.pids)
	start := time.Now()
	deadline := start.Add(f.dur)
	var swg sync.WaitGroup
	for i, s := range sessions {
		peer := sessions[i^1]
		if s == nil || peer == nil {
			continue
		}
		swg.Add(1)
		go func() {
			defer swg.Done()
			// One buffer per sender: the harness shares the machine, and
			// its allocations (and so its collections) show in the
			// latency it measures.
			head := "<message to='" + peer.jid + "' type='chat' id='m"
			var buf []byte
			send := func(seq int) bool {
				buf = append(buf[:0], head...)
				buf = strconv.AppendInt(buf, int64(seq), 10)
				buf = append(buf, "'><body>"...)
				buf = appendStamp(buf, pad)
				buf = append(buf, "</body></message>"...)
				err := s.write(buf)
				if err != nil {
					sendErr.Add(1)
					return false
				}
				sent.Add(1)
				return true
			}
			if f.rate == 0 {
				// one timer per sender, not one per message: at 100k
				// msgs/s those would be the harness's own hot spot
				end := time.NewTimer(time.Until(deadline))
				defer end.Stop()
				for seq := 1; time.Now().Before(deadline); seq++ {
					select {
					case <-credit[i]:
					case <-end.C:
						return
					}
					if !send(seq) {
						return
					}
				}
				return
			}
			interval := time.Duration(float64(time.Second) / f.rate)
			// spread the senders' phases over one interval
			time.Sleep(time.Duration(int64(interval) * int64(i) / int64(n)))
			t := time.NewTicker(interval)
			defer t.Stop()
			for seq, now := 1, time.Now(); now.Before(deadline); seq, now = seq+1, <-t.C {
				if !send(seq) {
					return
				}
			}
		}()
	}
	swg.Wait()
	sendTime := time.Since(start)
	// let the last messages arrive
	for end := time.Now().Add(f.drain); time.Now().Before(end) && recvd.Load() < sent.Load(); {
		time.Sleep(20 * time.Millisecond)
	}
	cpu1 := markCPU(c.pids)
	stopProgress()
	got := recvd.Load()
	during := sample(&c, "after chat", false)
	forEach(sessions, c.concurrency, func(i int, s *session) { s.close() })
	rwg.Wait()

	c.params(res)
	res.Params["pairs"] = f.pairs
	res.Params["rate_per_session"] = f.rate
	res.Params["window"] = f.window
	res.Params["duration"] = f.dur.String()
	res.Params["body_padding"] = f.size
	res.set("established", float64(n-failed))
	res.set("failed", float64(failed))
	res.set("sent", float64(sent.Load()))
	res.set("received", float64(got))
	res.set("lost", float64(sent.Load()-got))
	res.set("send_errors", float64(sendErr.Load()))
	res.set("sent_per_s", float64(sent.Load())/sendTime.Seconds())
	if f.rate > 0 {
		res.set("offered_per_s", f.rate*float64(n-failed))
	}
	res.set("delivered_per_s", float64(got)/sendTime.Seconds())
	mon.stop()
	all, quiet := res.setLatencies("latency", lat, mon)
	addCPU(res, cpu0, cpu1, got, "server_cpu_s_per_1000_msgs")
	if srv := res.Metrics["server_cpu_s"]; srv > 0 {
		res.set("msgs_per_server_cpu_s", float64(got)/srv)
	}
	if h, ok := res.Metrics["harness_cpu_s"]; ok && got > 0 {
		res.set("harness_cpu_s_per_1000_msgs", h/float64(got)*1000)
	}

	p := percentiles(all, 0.5, 0.99, 0.999, 1)
	fmt.Printf("messages sent: %d, received: %d, lost: %d, send errors: %d\n", sent.Load(), got, sent.Load()-got, sendErr.Load())
	fmt.Printf("throughput: %.0f msg/s sent, %.0f msg/s delivered (over %.2fs)\n", float64(sent.Load())/sendTime.Seconds(), float64(got)/sendTime.Seconds(), sendTime.Seconds())
	fmt.Printf("latency: p50 %s  p99 %s  p99.9 %s  max %s\n", fmtLat(p[0]), fmtLat(p[1]), fmtLat(p[2]), fmtLat(p[3]))
	printQuiet(quiet, len(all), mon, start, sendTime)
	printCPU(res)
	if before.haveRSS || before.haveGo {
		fmt.Println("server memory:")
		printSample(before)
		printSample(during)
	}
	return res.finish(os.Stdout, c.jsonFile, &errs)
}

// printCPU prints the CPU figures addCPU recorded.
func printCPU(r *result) {
	m := r.Metrics
	if v, ok := m["server_cpu_s"]; ok {
		fmt.Printf("server CPU: %.2f s (%.2f cores)", v, m["server_cores"])
		for k, x := range m {
			if strings.HasPrefix(k, "server_cpu_s_per_1000_") {
				fmt.Printf(", %.3f s per 1,000 %s", x, strings.TrimPrefix(k, "server_cpu_s_per_1000_"))
			}
		}
		fmt.Println()
	}
	fmt.Printf("harness CPU: %.2f s (%.2f cores) over %.2fs\n", m["harness_cpu_s"], m["harness_cores"], m["phase_s"])
}
