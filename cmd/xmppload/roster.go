package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xml"
)

// contacts returns the K contacts of user i among u users: its K/2
// neighbours on each side of a ring, so every user has exactly k
// contacts and the relation is symmetric.
func contacts(i, u, k int) []int {
	out := make([]int, 0, k)
	for d := 1; d <= k/2; d++ {
		out = append(out, (i+d)%u, (i-d+u)%u)
	}
	return out
}

// rosterFlags are shared by roster and roster-setup.
type rosterFlags struct {
	contacts int
}

func (f *rosterFlags) check(users int) error {
	if f.contacts < 2 || f.contacts%2 != 0 {
		return errors.New("-contacts must be even and at least 2")
	}
	if f.contacts >= users {
		return fmt.Errorf("-contacts %d needs more than %d users", f.contacts, users)
	}
	return nil
}

func bareJID(prefix string, i int, domain string) string {
	return fmt.Sprintf("%s%d@%s", prefix, i, domain)
}

// countBoth requests the roster (RFC 6121 §2.1.3) and counts the wanted
// contacts it holds with subscription "both".
func countBoth(s *session, want map[string]bool, timeout time.Duration) (int, error) {
	n := 0
	err := s.request(func(id string) string {
		return fmt.Sprintf("<iq type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>", id)
	}, func(el *xml.Element) error {
		q := el.Child("query", "jabber:iq:roster")
		if el.Attr("type") != "result" || q == nil {
			return fmt.Errorf("roster get: %s", errorCondition(el))
		}
		for it := range q.Children() {
			if it.Attr("subscription") == "both" && want[strings.ToLower(it.Attr("jid"))] {
				n++
			}
		}
		return nil
	}, timeout)
	return n, err
}

// rosterSetup gives users <prefix>0..<users-1> their ring of contacts
// with mutual subscriptions over the wire, as clients would: A subscribes
// to B, B approves and subscribes back, A approves. Each step is fenced
// by a ping from every session so the server has processed it before the
// next one depends on it.
func runRosterSetup(args []string) error {
	fs := flag.NewFlagSet("roster-setup", flag.ContinueOnError)
	var c common
	c.register(fs)
	var f rosterFlags
	fs.IntVar(&f.contacts, "contacts", 20, "contacts per user (even)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	if err := f.check(c.users); err != nil {
		return err
	}
	u, k := c.users, f.contacts
	fmt.Printf("xmppload roster-setup: %d users x %d contacts at %s\n", u, k, c.addr)
	var errs errCounts
	sessions, _, failed, _ := openSessions(o, &c, u, &errs, true)
	if failed > 0 {
		errs.print()
		return fmt.Errorf("%d of %d logins failed", failed, u)
	}
	for _, s := range sessions {
		s.startReader(nil, nil)
	}
	// step sends, from every session i and for each d in 1..k/2, what
	// stanzas(i, d) returns, then fences with a ping from every session.
	step := func(name string, stanzas func(i, d int) string) error {
		var bad atomic.Int64
		forEach(sessions, c.concurrency, func(i int, s *session) {
			for d := 1; d <= k/2; d++ {
				if err := s.sendRaw(stanzas(i, d)); err != nil {
					bad.Add(1)
					errs.add(err)
				}
			}
		})
		forEach(sessions, c.concurrency, func(i int, s *session) {
			if err := s.barrier(c.domain, c.timeout); err != nil {
				bad.Add(1)
				errs.add(err)
			}
		})
		// a server may hand the stanza on to another process (ejabberd's
		// c2s processes) after answering the ping: a little slack
		time.Sleep(500 * time.Millisecond)
		fmt.Printf("  %s: done\n", name)
		if bad.Load() > 0 {
			errs.print()
			return fmt.Errorf("%s: %d errors", name, bad.Load())
		}
		return nil
	}
	jid := func(i int) string { return bareJID(c.prefix, (i+u)%u, c.domain) }
	// i asks its upper neighbours i+d; they approve and ask back; i approves.
	if err := step("subscribe", func(i, d int) string {
		return fmt.Sprintf("<presence to='%s' type='subscribe'/>", jid(i+d))
	}); err != nil {
		return err
	}
	if err := step("subscribed and subscribe back", func(i, d int) string {
		return fmt.Sprintf("<presence to='%s' type='subscribed'/><presence to='%s' type='subscribe'/>", jid(i-d), jid(i-d))
	}); err != nil {
		return err
	}
	if err := step("subscribed", func(i, d int) string {
		return fmt.Sprintf("<presence to='%s' type='subscribed'/>", jid(i+d))
	}); err != nil {
		return err
	}
	var complete atomic.Int64
	forEach(sessions, c.concurrency, func(i int, s *session) {
		want := map[string]bool{}
		for _, j := range contacts(i, u, k) {
			want[bareJID(c.prefix, j, c.domain)] = true
		}
		n, err := countBoth(s, want, c.timeout)
		if err != nil {
			errs.add(err)
		}
		if n == k {
			complete.Add(1)
		}
	})
	forEach(sessions, c.concurrency, func(i int, s *session) { s.close() })
	fmt.Printf("users with all %d contacts at subscription both: %d of %d\n", k, complete.Load(), u)
	errs.print()
	if int(complete.Load()) != u {
		return fmt.Errorf("roster setup incomplete: %d of %d users", complete.Load(), u)
	}
	return nil
}

// runRoster logs in -users users that have -contacts mutual contacts each
// (roster-setup), without presence; then all send their initial presence
// at once and it measures until every user has received the available
// presence of every contact (from the broadcast or the probe answers).
func runRoster(args []string) error {
	fs := flag.NewFlagSet("roster", flag.ContinueOnError)
	var c common
	c.register(fs)
	var f rosterFlags
	fs.IntVar(&f.contacts, "contacts", 20, "contacts per user (even), as given to roster-setup")
	wait := fs.Duration("wait", 30*time.Second, "longest wait for the presence broadcast to complete")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	// created now: it records the load average at the start
	res := newResult("roster", c.label)
	if err := f.check(c.users); err != nil {
		return err
	}
	u, k := c.users, f.contacts
	o.noPresence = true
	fmt.Printf("xmppload roster: %d users x %d contacts at %s (%s, %s)\n", u, k, c.addr, c.transport, c.mech)
	index := make(map[string]int, u)
	for i := range u {
		index[bareJID(c.prefix, i, c.domain)] = i
	}
	var errs errCounts
	cpuLogin := markCPU(c.pids)
	sessions, _, failed, elapsed := openSessions(o, &c, u, &errs, true)
	cpuLogged := markCPU(c.pids)
	fmt.Printf("logged in (no presence yet): %d of %d in %.2fs\n", u-failed, u, elapsed.Seconds())
	if failed > 0 {
		errs.print()
	}

	var total, stanzas atomic.Int64
	var t0 atomic.Int64        // start of the broadcast, Unix ns
	doneAt := make([]int64, u) // µs after t0 when user i had all its contacts' presence
	all := make(chan struct{})
	var closedAll atomic.Bool
	want := int64(0)
	for i, s := range sessions {
		if s == nil {
			continue
		}
		mine := map[int]bool{}
		for _, j := range contacts(i, u, k) {
			mine[j] = true
		}
		seen := map[int]bool{}
		s.startReader(func(el *xml.Element) {
			if el.Name() != "presence" || el.Attr("type") != "" {
				return
			}
			stanzas.Add(1)
			from, _, _ := strings.Cut(strings.ToLower(el.Attr("from")), "/")
			j, ok := index[from]
			if !ok || !mine[j] || seen[j] {
				return
			}
			seen[j] = true
			if len(seen) == k {
				doneAt[i] = (time.Now().UnixNano() - t0.Load()) / 1000
			}
			if total.Add(1) == want && closedAll.CompareAndSwap(false, true) {
				close(all)
			}
		}, nil)
	}
	// Every session's roster must hold its contacts (and a client fetches
	// the roster before its initial presence anyway).
	var incompleteN atomic.Int64
	forEach(sessions, c.concurrency, func(i int, s *session) {
		w := map[string]bool{}
		for _, j := range contacts(i, u, k) {
			w[bareJID(c.prefix, j, c.domain)] = true
		}
		n, err := countBoth(s, w, c.timeout)
		if err != nil {
			errs.add(err)
		}
		if n != k {
			incompleteN.Add(1)
		}
	})
	incomplete := incompleteN.Load()
	if incomplete > 0 {
		fmt.Printf("warning: %d users lack some of their %d contacts: run roster-setup\n", incomplete, k)
	}
	live := 0
	for _, s := range sessions {
		if s != nil {
			live++
		}
	}
	// Only pairs where both ends are online can complete.
	for i, s := range sessions {
		if s == nil {
			continue
		}
		for _, j := range contacts(i, u, k) {
			if sessions[j] != nil {
				want++
			}
		}
	}
	cpu0 := markCPU(c.pids)
	t0.Store(time.Now().UnixNano())
	start := time.Now()
	stop := progress(time.Second, func(el time.Duration) string {
		return fmt.Sprintf("%d of %d contact presences received", total.Load(), want)
	})
	forEach(sessions, len(sessions), func(i int, s *session) { s.send("<presence/>") })
	var broadcast time.Duration
	select {
	case <-all:
		broadcast = time.Since(start)
	case <-time.After(*wait):
	}
	cpu1 := markCPU(c.pids)
	stop()
	got := total.Load()
	forEach(sessions, c.concurrency, func(i int, s *session) { s.close() })

	var per []int64
	for i, s := range sessions {
		if s != nil && doneAt[i] > 0 {
			per = append(per, doneAt[i])
		}
	}
	c.params(res)
	res.Params["contacts"] = k
	res.set("established", float64(live))
	res.set("rosters_incomplete", float64(incomplete))
	res.set("login_s", elapsed.Seconds())
	if !isNaN(cpuLogin.server) {
		res.set("server_cpu_s_login", cpuLogged.server-cpuLogin.server)
	}
	res.set("expected_presences", float64(want))
	res.set("received_presences", float64(got))
	res.set("lost", float64(want-got))
	res.set("presence_stanzas", float64(stanzas.Load()))
	if broadcast > 0 {
		res.set("broadcast_ms", float64(broadcast.Microseconds())/1000)
	}
	res.setLatency("user_complete", per)
	addCPU(res, cpu0, cpu1, got, "server_cpu_s_per_1000_presences")

	if broadcast > 0 {
		fmt.Printf("presence broadcast complete: %d contact presences in %s\n", got, broadcast)
	} else {
		fmt.Printf("presence broadcast NOT complete after %s: %d of %d contact presences\n", *wait, got, want)
	}
	p := percentiles(per, 0.5, 0.99, 1)
	fmt.Printf("per user, all contacts seen after: p50 %s  p99 %s  max %s\n", fmtLat(p[0]), fmtLat(p[1]), fmtLat(p[2]))
	printCPU(res)
	errs.print()
	return res.finish(os.Stdout, c.jsonFile, &errs)
}

func isNaN(f float64) bool { return f != f }
