package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// runLogin logs in -sessions sessions, -concurrency at a time, each to its
// own account (with -users equal to -sessions), and reports logins/s and
// the latency of one login (connect to ping answered after presence).
func runLogin(args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("sessions", 1000, "sessions to log in")
	warm := fs.Bool("warm", true, "log every session in once, untimed, first (caches the client's SCRAM keys)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	// created now: it records the load average at the start
	res := newResult("login", c.label)
	if c.users == 0 {
		c.users = *n
	}
	nofile := raiseNoFile()
	if uint64(*n)+64 > nofile {
		return fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d sessions: raise it (ulimit -n)", nofile, *n)
	}
	fmt.Printf("xmppload login: %d sessions to %s (%s, %s), %d accounts, concurrency %d\n",
		*n, c.addr, c.transport, c.mech, c.users, c.concurrency)
	if *warm {
		// An untimed first pass: the SCRAM client caches each account's
		// salted password, so the timed pass does not measure the
		// harness's own PBKDF2 (the server's work is the same in both).
		var werrs errCounts
		ws, _, wf, wel := openSessions(o, &c, *n, &werrs, false)
		forEach(ws, c.concurrency, func(i int, s *session) { s.close() })
		fmt.Printf("warm-up pass: %d logins in %.2fs, %d failed\n", *n-wf, wel.Seconds(), wf)
	}

	var errs errCounts
	cpu0 := markCPU(c.pids)
	sessions, lat, failed, elapsed := openSessions(o, &c, *n, &errs, true)
	cpu1 := markCPU(c.pids)
	ok := *n - failed
	var okLat []int64
	for i, s := range sessions {
		if s != nil {
			okLat = append(okLat, lat[i])
		}
	}
	forEach(sessions, c.concurrency, func(i int, s *session) { s.close() })

	c.params(res)
	res.Params["sessions"] = *n
	res.Params["warm"] = *warm
	res.set("established", float64(ok))
	res.set("failed", float64(failed))
	res.set("logins_per_s", float64(ok)/elapsed.Seconds())
	res.setLatency("login", okLat)
	addCPU(res, cpu0, cpu1, int64(ok), "server_cpu_s_per_1000_logins")

	p := percentiles(okLat, 0.5, 0.99, 0.999, 1)
	fmt.Printf("logged in: %d of %d in %.2fs (%.0f/s), failures: %d\n", ok, *n, elapsed.Seconds(), float64(ok)/elapsed.Seconds(), failed)
	errs.print()
	fmt.Printf("login latency: p50 %s  p99 %s  max %s\n", fmtLat(p[0]), fmtLat(p[1]), fmtLat(p[3]))
	printCPU(res)
	if err := res.finish(os.Stdout, c.jsonFile, &errs); err != nil {
		return err
	}
	if ok == 0 {
		return errors.New("no session established")
	}
	return nil
}

// runRegister creates accounts <prefix>0 ... <prefix><users-1> by in-band
// registration (XEP-0077), one stream per account; an existing account
// (conflict) counts as done, so a second run is harmless.
func runRegister(args []string) error {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	var c common
	c.register(fs)
	first := fs.Int("first", 0, "index of the first account")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	n := c.users
	fmt.Printf("xmppload register: %s%d ... %s%d at %s (%s), concurrency %d\n", c.prefix, *first, c.prefix, *first+n-1, c.addr, c.transport, c.concurrency)
	var next, created, existed, failed atomic.Int64
	var errs errCounts
	stop := progress(2*time.Second, func(el time.Duration) string {
		return fmt.Sprintf("%d created, %d existed, %d failed of %d", created.Load(), existed.Load(), failed.Load(), n)
	})
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)-1) + *first
				if i >= *first+n {
					return
				}
				isNew, err := register(o, i, fmt.Sprintf("%s%d", c.prefix, i))
				switch {
				case err != nil:
					failed.Add(1)
					errs.add(err)
				case isNew:
					created.Add(1)
				default:
					existed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	stop()
	el := time.Since(start)
	fmt.Printf("registered: %d created, %d existed, %d failed in %.2fs\n", created.Load(), existed.Load(), failed.Load(), el.Seconds())
	errs.print()
	if failed.Load() > 0 {
		return fmt.Errorf("%d registrations failed", failed.Load())
	}
	return nil
}

// connect opens a stream up to the point where SASL would start: TCP,
// STARTTLS or direct TLS as o says.
func connect(o *loginOptions, idx int) (*session, error) {
	d := net.Dialer{Timeout: o.timeout}
	if len(o.srcAddrs) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: o.srcAddrs[idx%len(o.srcAddrs)]}
	}
	addr := o.addr
	if as := strings.Split(addr, ","); len(as) > 1 {
		// Several servers (cluster nodes): session idx goes to the
		// idx-th, round robin, so chatting pairs (2k, 2k+1) sit on
		// different nodes.
		addr = as[idx%len(as)]
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	nc.SetDeadline(time.Now().Add(o.timeout))
	s := &session{conn: nc}
	if err := s.secure(o, nc); err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

// register creates one account in-band; isNew is false if it existed.
func register(o *loginOptions, idx int, user string) (isNew bool, err error) {
	s, err := connect(o, idx)
	if err != nil {
		return false, err
	}
	defer s.close()
	if err := s.send("<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>%s</username><password>%s</password></query></iq>", user, o.password); err != nil {
		return false, err
	}
	for {
		el, err := s.dec.Next()
		if err != nil {
			return false, fmt.Errorf("register: %w", err)
		}
		if el.Name() != "iq" || el.Attr("id") != "reg" {
			continue
		}
		if el.Attr("type") == "result" {
			return true, nil
		}
		if e := el.Child("error", "jabber:client"); e != nil && e.Child("conflict", "urn:ietf:params:xml:ns:xmpp-stanzas") != nil {
			return false, nil
		}
		return false, fmt.Errorf("register: %s", errorCondition(el))
	}
}

// errorCondition names the defined condition of an error stanza, or
// shows the stanza when it has none.
func errorCondition(el *xml.Element) string {
	if c := stanza.Condition(el); c != "" {
		return c
	}
	return el.String()
}
