package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/xml"
)

// TestInboxKey: the messages for one recipient (deliveries and closes to
// any of its resources, forwarded stanzas to its bare or full JID however
// spelled) share one worker.
func TestInboxKey(t *testing.T) {
	msg := func(to string) string {
		return "<message xmlns='jabber:client' from='alice@localhost/pc' to='" + to + "' type='chat'><body>hi</body></message>"
	}
	same := []string{
		"dbob@localhost/res\n" + msg("bob@localhost/res"),
		"Dbob@localhost/other\n7 n2-abcdef01\n" + msg("bob@localhost/other"),
		"cbob@localhost/res\nconflict\nreplaced",
		"ralice@localhost/pc\n" + msg("bob@localhost"),
		"ralice@localhost/pc\n" + msg("Bob@LocalHost./x"),
		"r\n<presence xmlns='jabber:client' to='bob@localhost/r/s'/>",
		"r\n<presence xmlns='jabber:client' to='ＢＯＢ@localhost'/>",         // fullwidth: jid.Parse folds it (RFC 7622)
		"Ralice@localhost/pc\n3 n1-abcdef01\n" + msg("bob@localhost/res"), // kept forward (components)
	}
	want := inboxKey([]byte(same[0]))
	for _, m := range same[1:] {
		if got := inboxKey([]byte(m)); got != want {
			t.Errorf("%q: key %x, want %x (bob's)", m, got, want)
		}
	}
	if inboxKey([]byte("dcarol@localhost/res\n"+msg("carol@localhost/res"))) == want {
		t.Error("carol's key is bob's")
	}
	// A room's stanzas go by the room, whoever sends them.
	room := inboxKey([]byte("ralice@localhost/pc\n" + msg("room@conference.localhost/nick")))
	if got := inboxKey([]byte("rcarol@localhost/pc\n<presence xmlns='jabber:client' from='carol@localhost/pc' to='room@conference.localhost/other'/>")); got != room {
		t.Errorf("room keys differ: %x, %x", got, room)
	}
}

// gateSession blocks deliveries of messages whose body is "block" until
// the gate opens, and records the order of the rest.
type gateSession struct {
	full jid.JID
	gate chan struct{}
	mu   sync.Mutex
	got  []string
}

func (s *gateSession) JID() jid.JID           { return s.full }
func (s *gateSession) Available() bool        { return true }
func (s *gateSession) Priority() int          { return 0 }
func (s *gateSession) Presence() *xml.Element { return nil }
func (s *gateSession) Deliver(el *xml.Element) bool {
	var body string
	if b := el.Child("body", xml.NSClient); b != nil {
		body = b.Text()
	}
	if body == "block" {
		<-s.gate
	}
	s.mu.Lock()
	s.got = append(s.got, body)
	s.mu.Unlock()
	return true
}
func (s *gateSession) CloseStream(cond, text string) {
	s.mu.Lock()
	s.got = append(s.got, "close:"+cond)
	s.mu.Unlock()
}
func (s *gateSession) bodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// eventually polls cond for up to 10 s: a deadlock or a lost message
// fails, however slow the machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestInboxWorkers: a recipient whose delivery blocks holds up neither
// the recipients of other workers nor receipts; its own messages, and a
// close after them, keep their order; a full queue makes the inbox wait
// (counted) and loses nothing.
func TestInboxWorkers(t *testing.T) {
	n, _, _, _ := inboxNode()
	n.startInbox()
	slow := &gateSession{full: jid.MustParse("slow@localhost/res"), gate: make(chan struct{})}
	var opened sync.Once
	open := func() { opened.Do(func() { close(slow.gate) }) }
	defer func() {
		open() // a failed test's workers end too
		close(n.stop)
		n.done.Wait()
	}()
	n.dir.local.Bind(slow)
	// A fast recipient on another worker than slow's.
	var fast *gateSession
	for i := 0; fast == nil; i++ {
		full := jid.MustParse(fmt.Sprintf("fast%d@localhost/res", i))
		if inboxKey([]byte("d"+full.String()))%uint64(len(n.inq)) != inboxKey([]byte("d"+slow.full.String()))%uint64(len(n.inq)) {
			fast = &gateSession{full: full}
			n.dir.local.Bind(fast)
		}
	}
	pad := ""
	deliver := func(s *gateSession, body string) {
		data := fmt.Appendf(nil, "d%s\n<message xmlns='jabber:client' to='%s'><body>%s</body>%s</message>", s.full, s.full, body, pad)
		n.inbox(&nats.Msg{Data: data})
	}
	// More small messages for the blocked recipient than a queue bounded
	// by count (256) held: NATS's one goroutine (this one) must not wait
	// for slow's worker, or fast's messages after them wait too.
	const small = 1000
	go func() {
		deliver(slow, "block")
		for i := range small {
			deliver(slow, strconv.Itoa(i))
		}
		n.inbox(&nats.Msg{Data: []byte("c" + slow.full.String() + "\nconflict\n")})
		for i := range 10 {
			deliver(fast, strconv.Itoa(i))
		}
	}()
	eventually(t, "the fast recipient's messages", func() bool { return len(fast.bodies()) == 10 })
	n.pend["n2-abcdef01"] = &pending{seq: 2, msgs: map[uint64]pendingMsg{1: {}, 2: {}}}
	n.inbox(&nats.Msg{Data: []byte("an2-abcdef01\n\x01\x02")})
	if m := n.pend["n2-abcdef01"].msgs; len(m) != 0 {
		t.Errorf("receipts waited behind a blocked delivery: copies left %v", m)
	}
	if got := slow.bodies(); len(got) != 0 {
		t.Fatalf("slow recipient got %q while blocked", got)
	}

	// Fill slow's queue (its bytes, not a count: many small messages
	// still fit): the inbox waits for the worker rather than drop.
	pad = "<x xmlns='urn:example:pad'>" + strings.Repeat("p", 64<<10) + "</x>"
	limit := n.inq[0].limit
	fill := limit/len(pad) + 5
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := small; i < small+fill; i++ {
			deliver(slow, strconv.Itoa(i))
		}
	}()
	eventually(t, "the inbox to wait for the full queue", func() bool { return n.stats.inboxFull.Load() > 0 })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n.Collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			got[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	if got["xmppd_cluster_inbox_queued"] < float64(limit/len(pad)) || got["xmppd_cluster_inbox_full_total"] < 1 || got["xmppd_cluster_inbox_dropped_total"] != 0 {
		t.Errorf("inbox metrics %v, want %d queued, a wait, no drop", got, limit/len(pad))
	}
	open()
	<-sent
	eventually(t, "the slow recipient's messages", func() bool { return len(slow.bodies()) == 1+small+1+fill })
	bodies := slow.bodies()
	want := []string{"block"}
	for i := range small {
		want = append(want, strconv.Itoa(i))
	}
	want = append(want, "close:conflict")
	for i := small; i < small+fill; i++ {
		want = append(want, strconv.Itoa(i))
	}
	for i := range want {
		if bodies[i] != want[i] {
			t.Fatalf("slow recipient's order: at %d got %q, want %q (all: %q)", i, bodies[i], want[i], bodies)
		}
	}
	if d := n.stats.dropped.Load(); d != 0 {
		t.Errorf("%d dropped", d)
	}
}
