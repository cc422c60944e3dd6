package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xml"
)

const (
	nsMUC      = "http://jabber.org/protocol/muc"
	nsMUCUser  = "http://jabber.org/protocol/muc#user"
	nsMUCOwner = "http://jabber.org/protocol/muc#owner"
)

// occupant is one session's view of the room, written by its reader.
type occupant struct {
	joined  chan error // one value: nil once our own presence (status 110) came back
	once    sync.Once
	created atomic.Bool // status 201: we made the room
}

func (o *occupant) signal(err error) { o.once.Do(func() { o.joined <- err }) }

// mucPresence inspects a presence from the room for occupant oc: our own
// (status 110) ends the join, an error presence fails it.
func mucPresence(el *xml.Element, oc *occupant) {
	if el.Attr("type") == "error" {
		oc.signal(fmt.Errorf("join refused: %s", errorCondition(el)))
		return
	}
	x := el.Child("x", nsMUCUser)
	if x == nil {
		return
	}
	self := false
	for st := range x.Children() {
		if st.Name() != "status" {
			continue
		}
		switch st.Attr("code") {
		case "110":
			self = true
		case "201":
			oc.created.Store(true)
		}
	}
	if self {
		oc.signal(nil)
	}
}

// runMUC joins -occupants sessions to one room (XEP-0045) and has each send
// groupchat messages at -rate for -duration; every message fans out to
// every occupant, the sender included, so sent x occupants deliveries are
// expected.
func runMUC(args []string) error {
	fs := flag.NewFlagSet("muc", flag.ContinueOnError)
	var c common
	c.register(fs)
	m := fs.Int("occupants", 50, "occupants of the room")
	rate := fs.Float64("rate", 5, "groupchat messages per second sent by each occupant")
	dur := fs.Duration("duration", 20*time.Second, "how long to send")
	drain := fs.Duration("drain", 10*time.Second, "after sending: how long to wait for the last deliveries")
	service := fs.String("service", "", "MUC service (default conference.<domain>)")
	room := fs.String("room", "", "room name (default bench<unix time>, so each run starts a new room)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	// created now: it records the load average at the start
	res := newResult("muc", c.label)
	if *m < 1 || *rate <= 0 || *dur <= 0 {
		return errors.New("-occupants, -rate and -duration must be positive")
	}
	if *service == "" {
		*service = "conference." + c.domain
	}
	if *room == "" {
		*room = fmt.Sprintf("bench%d", time.Now().Unix())
	}
	if c.users == 0 {
		c.users = *m
	}
	roomJID := *room + "@" + *service
	raiseNoFile()
	fmt.Printf("xmppload muc: %d occupants in %s at %s (%s, %s), %.1f msg/s each for %s (offered %.0f deliveries/s)\n",
		*m, roomJID, c.addr, c.transport, c.mech, *rate, *dur, *rate*float64(*m)*float64(*m))

	var errs errCounts
	sessions, _, failed, elapsed := openSessions(o, &c, *m, &errs, true)
	fmt.Printf("sessions established: %d of %d in %.2fs, failures: %d\n", *m-failed, *m, elapsed.Seconds(), failed)
	errs.print()

	var sent, recvd, sendErr atomic.Int64
	var sending atomic.Bool
	lat := make([][]latSample, *m)
	mon := startStealMonitor()
	occ := make([]*occupant, *m)
	for i, s := range sessions {
		if s == nil {
			continue
		}
		oc := &occupant{joined: make(chan error, 1)}
		occ[i] = oc
		s.startReader(func(el *xml.Element) {
			from := el.Attr("from")
			if !strings.HasPrefix(from, roomJID) {
				return
			}
			switch el.Name() {
			case "presence":
				mucPresence(el, oc)
			case "message":
				if el.Attr("type") != "groupchat" || !sending.Load() {
					return
				}
				b := el.Child("body", "jabber:client")
				if b == nil {
					return
				}
				now := time.Now()
				if age, ok := stampAge(b.Text(), now); ok {
					lat[i] = append(lat[i], latSample{mon.since(now), time.Duration(age) * time.Microsecond})
					recvd.Add(1)
				}
			}
		}, func(err error) { oc.signal(fmt.Errorf("stream ended: %w", err)) })
	}

	// The first occupant creates the room; if the server says 201 (new,
	// locked until configured) it accepts the default configuration by
	// submitting an empty form: an instant room (XEP-0045 §10.1.2).
	join := func(i int) error {
		s := sessions[i]
		err := s.send("<presence to='%s/n%d'><x xmlns='%s'><history maxstanzas='0'/></x></presence>", roomJID, i, nsMUC)
		if err != nil {
			return err
		}
		select {
		case err := <-occ[i].joined:
			return err
		case <-time.After(c.timeout):
			return fmt.Errorf("join: no self-presence in %s", c.timeout)
		}
	}
	first := -1
	for i, s := range sessions {
		if s != nil {
			first = i
			break
		}
	}
	if first < 0 {
		return errors.New("no session established")
	}
	if err := join(first); err != nil {
		return fmt.Errorf("first occupant: %w", err)
	}
	if occ[first].created.Load() {
		err := sessions[first].request(func(id string) string {
			return fmt.Sprintf("<iq type='set' id='%s' to='%s'><query xmlns='%s'><x xmlns='jabber:x:data' type='submit'/></query></iq>", id, roomJID, nsMUCOwner)
		}, nil, c.timeout)
		if err != nil {
			return fmt.Errorf("instant room: %w", err)
		}
	}
	var joinFailed atomic.Int64
	forEach(sessions, c.concurrency, func(i int, s *session) {
		if i == first {
			return
		}
		if err := join(i); err != nil {
			joinFailed.Add(1)
			errs.add(err)
			sessions[i] = nil
		}
	})
	joined := 0
	for _, s := range sessions {
		if s != nil {
			joined++
		}
	}
	fmt.Printf("joined: %d occupants (room created by us: %v), %d joins failed\n", joined, occ[first].created.Load(), joinFailed.Load())
	// Everyone's join presence has been broadcast before the clock starts.
	forEach(sessions, c.concurrency, func(i int, s *session) { s.barrier(c.domain, c.timeout) })
	time.Sleep(500 * time.Millisecond)

	stopProgress := progress(2*time.Second, func(el time.Duration) string {
		return fmt.Sprintf("sent %d, delivered %d of %d, %.0f deliveries/s", sent.Load(), recvd.Load(), sent.Load()*int64(joined), float64(recvd.Load())/el.Seconds())
	})
	sending.Store(true)
	cpu0 := markCPU(c.pids)
	start := time.Now()
	deadline := start.Add(*dur)
	interval := time.Duration(float64(time.Second) / *rate)
	var swg sync.WaitGroup
	for i, s := range sessions {
		if s == nil {
			continue
		}
		swg.Add(1)
		go func() {
			defer swg.Done()
			time.Sleep(time.Duration(int64(interval) * int64(i) / int64(*m)))
			t := time.NewTicker(interval)
			defer t.Stop()
			for now := time.Now(); now.Before(deadline); now = <-t.C {
				if err := s.sendRaw("<message to='" + roomJID + "' type='groupchat'><body>" + stamp("") + "</body></message>"); err != nil {
					sendErr.Add(1)
					return
				}
				sent.Add(1)
			}
		}()
	}
	swg.Wait()
	sendTime := time.Since(start)
	expected := sent.Load() * int64(joined)
	for end := time.Now().Add(*drain); time.Now().Before(end) && recvd.Load() < expected; {
		time.Sleep(20 * time.Millisecond)
	}
	cpu1 := markCPU(c.pids)
	stopProgress()
	got := recvd.Load()
	forEach(sessions, c.concurrency, func(i int, s *session) { s.close() })

	c.params(res)
	res.Params["occupants"] = *m
	res.Params["rate_per_occupant"] = *rate
	res.Params["duration"] = dur.String()
	res.Params["room"] = roomJID
	res.set("joined", float64(joined))
	res.set("sent", float64(sent.Load()))
	res.set("expected_deliveries", float64(expected))
	res.set("delivered", float64(got))
	res.set("lost", float64(expected-got))
	res.set("send_errors", float64(sendErr.Load()))
	res.set("deliveries_per_s", float64(got)/sendTime.Seconds())
	mon.stop()
	all, quiet := res.setLatencies("latency", lat, mon)
	addCPU(res, cpu0, cpu1, got, "server_cpu_s_per_1000_deliveries")
	if srv := res.Metrics["server_cpu_s"]; srv > 0 {
		res.set("deliveries_per_server_cpu_s", float64(got)/srv)
	}

	p := percentiles(all, 0.5, 0.99, 0.999, 1)
	fmt.Printf("messages sent: %d, deliveries: %d of %d expected, lost: %d\n", sent.Load(), got, expected, expected-got)
	fmt.Printf("fan-out: %.0f deliveries/s (over %.2fs)\n", float64(got)/sendTime.Seconds(), sendTime.Seconds())
	fmt.Printf("latency: p50 %s  p99 %s  p99.9 %s  max %s\n", fmtLat(p[0]), fmtLat(p[1]), fmtLat(p[2]), fmtLat(p[3]))
	printQuiet(quiet, len(all), mon, start, sendTime)
	printCPU(res)
	return res.finish(os.Stdout, c.jsonFile, &errs)
}

// errNoService is the disco check's negative answer (exit status 3).
var errNoService = errors.New("no service")

// runDisco asks -jid for disco#info (XEP-0030) and exits 0 if it answers
// with a result, 3 otherwise: compare.sh uses it to skip muc on a server
// without a conference service.
func runDisco(args []string) error {
	fs := flag.NewFlagSet("disco", flag.ContinueOnError)
	var c common
	c.register(fs)
	target := fs.String("jid", "", "entity to query (default conference.<domain>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := c.loginOptions()
	if err != nil {
		return err
	}
	if *target == "" {
		*target = "conference." + c.domain
	}
	s, err := login(o, 0, userName(c.prefix, 1, 0), "disco")
	if err != nil {
		return err
	}
	defer s.close()
	s.startReader(nil, nil)
	var ids []string
	err = s.request(func(id string) string {
		return fmt.Sprintf("<iq type='get' id='%s' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", id, *target)
	}, func(el *xml.Element) error {
		if el.Attr("type") != "result" {
			return fmt.Errorf("%s: %s", *target, errorCondition(el))
		}
		if q := el.Child("query", "http://jabber.org/protocol/disco#info"); q != nil {
			for ch := range q.Children() {
				if ch.Name() == "identity" {
					ids = append(ids, ch.Attr("category")+"/"+ch.Attr("type"))
				}
			}
		}
		return nil
	}, c.timeout)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoService, err)
	}
	fmt.Printf("%s: identities %s\n", *target, strings.Join(ids, ", "))
	return nil
}
