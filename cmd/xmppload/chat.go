package main

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runChat logs in 2*pairs sessions; session 2k and 2k+1 send each other
// chat messages at -rate per session for -duration. Each body carries the
// send time in Unix nanoseconds, so the receiver (in this same process,
// same clock) measures the one-way latency through the server.
func runChat(args []string) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	var c common
	c.register(fs)
	pairs := fs.Int("pairs", 100, "pairs of sessions")
	rate := fs.Float64("rate", 10, "messages per second sent by each session")
	dur := fs.Duration("duration", 30*time.Second, "how long to send")
	size := fs.Int("body", 0, "extra bytes of padding in each body")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	if *rate <= 0 {
		return errors.New("-rate must be positive")
	}
	nofile := raiseNoFile()
	n := 2 * *pairs
	fmt.Printf("xmppload chat: %d pairs to %s, %.1f msg/s per session for %s (offered %.0f msg/s), concurrency %d, nofile %d\n",
		*pairs, c.addr, *rate, *dur, *rate*float64(n), c.concurrency, nofile)

	var errs errCounts
	sessions, failed, elapsed := openSessions(o, &c, n, &errs, false)
	fmt.Printf("sessions established: %d of %d in %.2fs, failures: %d\n", n-failed, n, elapsed.Seconds(), failed)
	errs.print()
	before := sample(&c, "before chat", false)

	pad := make([]byte, *size)
	for i := range pad {
		pad[i] = 'x'
	}
	var sent, recvd, sendErr atomic.Int64
	lat := make([][]int64, n) // microseconds, one slice per receiver
	var rwg sync.WaitGroup
	for i, s := range sessions {
		if s == nil {
			continue
		}
		s.conn.SetDeadline(time.Time{})
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				el, err := s.dec.Next()
				if err != nil {
					return
				}
				if el.Name() != "message" {
					continue
				}
				b := el.Child("body", "jabber:client")
				if b == nil {
					continue
				}
				txt := b.Text()
				if j := indexByte(txt, ' '); j >= 0 {
					txt = txt[:j]
				}
				ts, err := strconv.ParseInt(txt, 10, 64)
				if err != nil {
					continue
				}
				lat[i] = append(lat[i], (time.Now().UnixNano()-ts)/1000)
				recvd.Add(1)
			}
		}()
	}

	start := time.Now()
	deadline := start.Add(*dur)
	interval := time.Duration(float64(time.Second) / *rate)
	var swg sync.WaitGroup
	for i, s := range sessions {
		peer := sessions[i^1]
		if s == nil || peer == nil {
			continue
		}
		swg.Add(1)
		go func() {
			defer swg.Done()
			// spread the senders' phases over one interval
			time.Sleep(time.Duration(int64(interval) * int64(i) / int64(n)))
			t := time.NewTicker(interval)
			defer t.Stop()
			seq := 0
			for now := time.Now(); now.Before(deadline); now = <-t.C {
				seq++
				err := s.send("<message to='%s' type='chat' id='m%d'><body>%d %s</body></message>", peer.jid, seq, time.Now().UnixNano(), pad)
				if err != nil {
					sendErr.Add(1)
					return
				}
				sent.Add(1)
			}
		}()
	}
	swg.Wait()
	sendTime := time.Since(start)
	// let the last messages arrive
	for w := 0; w < 50 && recvd.Load() < sent.Load(); w++ {
		time.Sleep(100 * time.Millisecond)
	}
	got := recvd.Load()
	during := sample(&c, "after chat", false)
	forEach(sessions, c.concurrency, func(i int, s *session) { s.close() })
	rwg.Wait()

	var all []int64
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) string {
		if len(all) == 0 {
			return "-"
		}
		k := int(p * float64(len(all)-1))
		return (time.Duration(all[k]) * time.Microsecond).String()
	}
	fmt.Printf("messages sent: %d, received: %d, lost: %d, send errors: %d\n", sent.Load(), got, sent.Load()-got, sendErr.Load())
	fmt.Printf("throughput: %.0f msg/s sent, %.0f msg/s received (over %.2fs)\n", float64(sent.Load())/sendTime.Seconds(), float64(got)/sendTime.Seconds(), sendTime.Seconds())
	fmt.Printf("latency: p50 %s  p90 %s  p99 %s  max %s\n", pct(0.50), pct(0.90), pct(0.99), pct(1))
	if before.haveRSS || before.haveGo {
		fmt.Println("server memory:")
		printSample(before)
		printSample(during)
	}
	return nil
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}
