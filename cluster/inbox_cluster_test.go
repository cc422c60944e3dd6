package cluster_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/xmppd/xmppd/cluster"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
)

// TestInboxOrderAndIsolation runs a node's inbox on per-recipient
// workers (issue 17), on three nodes:
//
//   - order: three senders, one per node, each send every recipient (two
//     on n2, one on n3) a numbered series at the same time; every
//     recipient gets each sender's series complete and in order (RFC 6120
//     §10.1), whatever else its node's inbox handles meanwhile;
//   - isolation: a client on n2 that does not read (its TCP window full,
//     then its output queue, until n2 cuts it off as a slow consumer) while
//     alice on n1 floods it. What reaches n2 for it after the cut is routed
//     again there, into offline storage, and the test holds a lock on that
//     table, so those deliveries wait. A message from n1 to carol on n2
//     must still arrive. With one inbox goroutine per node it waited behind
//     them (fails on main: carol's read times out). Once the lock goes,
//     every message n2 took back is in offline storage.
func TestInboxOrderAndIsolation(t *testing.T) {
	nodes, dsn := testutil.StartClusterDSN(t, 3, "\n[limits]\nmax_stanza_bytes = 65536\noutbound_queue_bytes = 65536\n[archive]\nenabled = false\n")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	// Order.
	const series = 150
	senders := []*testutil.Client{}
	for i, n := range nodes {
		u := fmt.Sprintf("s%d", i+1)
		n1.AddUser(t, u, pw)
		senders = append(senders, testutil.Login(t, n, u, pw, "pc"))
	}
	rcpt := map[string]*testutil.Client{}
	for _, r := range []struct {
		user string
		n    *testutil.Server
	}{{"r1", n2}, {"r2", n2}, {"r3", n3}} {
		n1.AddUser(t, r.user, pw)
		rcpt[r.user+"@localhost/pc"] = testutil.Login(t, r.n, r.user, pw, "pc")
		seen(t, nodes, r.user+"@localhost/pc", false)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(senders))
	for i, s := range senders {
		var buf strings.Builder
		for k := range series {
			for to := range rcpt {
				fmt.Fprintf(&buf, "<message to='%s' type='chat'><body>s%d %d</body></message>", to, i+1, k)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Conn.SetWriteDeadline(time.Now().Add(testutil.Timeout))
			if _, err := io.WriteString(s.Conn, buf.String()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send: %v", err)
	}
	for to, c := range rcpt {
		next := map[string]int{}
		for range series * len(senders) {
			m := nextMessage(t, c)
			from, seq, _ := strings.Cut(body(m), " ")
			k, err := strconv.Atoi(seq)
			if err != nil || k != next[from] {
				t.Fatalf("%s: got %q from %s after %d of its messages", to, body(m), from, next[from])
			}
			next[from]++
		}
	}

	// Isolation.
	n1.AddUser(t, "dave", pw)
	n1.AddUser(t, "slow", pw)
	// carol's messages must not share slow's worker on n2 (by bare JID).
	carol := ""
	for i := 0; carol == ""; i++ {
		c := fmt.Sprintf("carol%d", i)
		if cluster.InboxWorker(n2.Node(), c+"@localhost/pc") != cluster.InboxWorker(n2.Node(), "slow@localhost/pc") {
			carol = c
		}
	}
	n1.AddUser(t, carol, pw)
	dave := testutil.Login(t, n1, "dave", pw, "pc")
	carolC := testutil.Login(t, n2, carol, pw, "pc")
	seen(t, nodes, carol+"@localhost/pc", false)
	// A live message reaches carol only after her login's offline
	// delivery is done (c2s holds live stanzas behind it), and that
	// delivery reads offline_messages: were it still running when the
	// table is locked below, her messages would wait for the lock, not
	// for slow's worker (CI saw that once under load).
	dave.Send("<message to='%s@localhost/pc' type='chat'><body>fence</body></message>", carol)
	if m := nextMessage(t, carolC); body(m) != "fence" {
		t.Fatalf("carol got %s", m)
	}

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			tx.Rollback()
		}
	}
	defer unlock()
	if _, err := tx.Exec("LOCK TABLE offline_messages IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	filler := strings.Repeat("x", 8000)
	before := cluster.Rerouted(n2.Node())
	for attempt := 1; cluster.Rerouted(n2.Node()) == before; attempt++ {
		if attempt > 8 {
			t.Fatal("no message for the cut-off session reached n2 after its cut in 8 attempts")
		}
		// A sender of its own each time: once n1 hears that slow is
		// gone, it routes the flood into the locked table itself, and
		// the sender's session waits there.
		flood := fmt.Sprintf("flood%d", attempt)
		n1.AddUser(t, flood, pw)
		sender := testutil.Login(t, n1, flood, pw, "pc")
		full := fmt.Sprintf("slow@localhost/pc%d", attempt)
		testutil.Login(t, n2, "slow", pw, full[len("slow@localhost/"):]) // and never read
		seen(t, nodes, full, false)
		// Until n2 cuts slow off and n1 hears of it; what n1 sent
		// in between reaches n2 after the cut (most tries). Written
		// from a goroutine: once n1 hears of the cut it routes what
		// follows into the locked table itself, its session for the
		// sender stops reading, and a write may block (CI saw the test
		// time out on it) — that is the scenario, not a failure.
		var buf strings.Builder
		for range 20 {
			fmt.Fprintf(&buf, "<message to='%s' type='chat'><body>%s</body></message>", full, filler)
		}
		chunk := buf.String()
		bound := func() bool { return n1.Node().Directory().Session(jid.MustParse(full)) != nil }
		wrote := make(chan int, 1)
		go func() {
			sent := 0
			defer func() { wrote <- sent }()
			for ; sent <= 200 && bound(); sent++ {
				sender.Conn.SetWriteDeadline(time.Now().Add(testutil.Timeout))
				if _, err := io.WriteString(sender.Conn, chunk); err != nil {
					return
				}
			}
		}()
		// The writer ends after 200 chunks (or a write that failed);
		// n1 gets 10 s more to hear of the cut. The overall deadline
		// only keeps a broken build from hanging.
		var ended time.Time
		sent := 0
		for deadline := time.Now().Add(2 * time.Minute); bound(); time.Sleep(10 * time.Millisecond) {
			if ended.IsZero() {
				select {
				case sent = <-wrote:
					ended = time.Now()
				default:
				}
			}
			if !ended.IsZero() && time.Since(ended) > 10*time.Second || time.Now().After(deadline) {
				t.Fatalf("%s still bound after %d KB sent to it", full, sent*20*8)
			}
		}
		// Give n2 a moment to take what n1 sent before it knew: only
		// whether to try again depends on it.
		for i := 0; i < 100 && cluster.Rerouted(n2.Node()) == before; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("n2 routed %d messages for the cut-off session again (into the locked table)", cluster.Rerouted(n2.Node())-before)

	dave.Send("<message to='%s@localhost/pc' type='chat'><body>not behind slow</body></message>", carol)
	if m := nextMessage(t, carolC); body(m) != "not behind slow" {
		t.Fatalf("carol got %s", m)
	}

	// Nothing n2 took back is lost: all of it lands in offline storage
	// once the table is free.
	unlock()
	waitFor(t, "the rerouted messages in offline storage", func() bool {
		var stored uint64
		err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM offline_messages").Scan(&stored)
		return err == nil && stored >= cluster.Rerouted(n2.Node())-before
	})
}
