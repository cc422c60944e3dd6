package mam_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/modules/mam"
)

// durabilityWindow is the bound docs/performance.md ("Archive durability")
// states: a message delivered longer ago than this is in the archive after
// a crash (write_interval 25 ms plus two commits of a writer that keeps
// up). The test waits it once; it is not a performance threshold.
const durabilityWindow = 500 * time.Millisecond

// child is the xmppd the durability test kills with SIGKILL, run by the
// test binary in a process of its own (archiving with the defaults).
var child = testutil.CrashChild{Env: "XMPPD_MAM_CRASH_CHILD", Users: []string{"alice", "bob"}, Password: pw}

func TestMain(m *testing.M) { child.Main(m) }

// archiveCount asks c's archive for its size (max=0: the count alone).
func archiveCount(t *testing.T, c *testutil.Client) int {
	t.Helper()
	iq, _ := request(t, c, "<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query></iq>")
	fin := iq.Child("fin", mam.NS)
	if iq.Attr("type") != "result" || fin == nil {
		t.Fatalf("count query: %s", iq)
	}
	n, err := strconv.Atoi(fin.Child("set", mam.NSRSM).Child("count", mam.NSRSM).Text())
	if err != nil {
		t.Fatalf("count query: %s", iq)
	}
	return n
}

// TestArchiveSurvivesKill: messages delivered more than the stated window
// before the server process is killed (SIGKILL: no shutdown, no final
// flush) are in both archives after a restart, with the stanza-ids the
// recipient got. Messages sent right before the kill may be lost; they are
// counted, not required.
func TestArchiveSurvivesKill(t *testing.T) {
	child.SkipShortOrRace(t)
	dir := t.TempDir()
	cmd, addr := child.Start(t, dir)
	alice := child.Login(t, addr, "alice")
	bob := child.Login(t, addr, "bob")

	const n = 200
	send := func(from int, count int) {
		var b strings.Builder
		for i := from; i < from+count; i++ {
			fmt.Fprintf(&b, "<message to='bob@localhost/r' type='chat' id='m%d'><body>message %d</body></message>", i, i)
		}
		alice.Send("%s", b.String())
	}
	send(0, n)
	ids := map[string]bool{}
	for len(ids) < n {
		el := bob.Next()
		if el.Name() != "message" {
			continue
		}
		for _, s := range stanzaIDs(el) {
			by, id, _ := strings.Cut(s, " ")
			if by == "bob@localhost" {
				ids[id] = true
			}
		}
	}
	// All n delivered (each with its stanza-id): wait the window, send
	// a second burst that may or may not make it, and kill.
	time.Sleep(durabilityWindow)
	send(n, n)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	_, addr = child.Start(t, dir)
	for _, user := range []string{"alice", "bob"} {
		c := child.Login(t, addr, user)
		got := archiveCount(t, c)
		t.Logf("%s's archive after the kill: %d messages (%d delivered before the window, %d sent at the kill)", user, got, n, n)
		if got < n {
			t.Errorf("%s's archive has %d messages, want at least the %d delivered %v before the kill", user, got, n, durabilityWindow)
		}
		if user == "bob" {
			// The stanza-ids bob was given name archived messages.
			var q strings.Builder
			k := 0
			for id := range ids {
				if k++; k > 20 {
					break
				}
				fmt.Fprintf(&q, "<value>%s</value>", id)
			}
			iq, _ := request(t, c, "<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='ids'>"+q.String()+"</field></x><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query></iq>")
			// item-not-found if one of them is not in the archive.
			if fin := iq.Child("fin", mam.NS); fin == nil || fin.Child("set", mam.NSRSM).Child("count", mam.NSRSM).Text() != "20" {
				t.Errorf("20 of the delivered stanza-ids: %s", iq)
			}
		}
	}
}

// TestArchiveMetrics: the writer's queue and counters are on the admin
// listener's /metrics, per server (two servers in one process register
// on registries of their own).
func TestArchiveMetrics(t *testing.T) {
	admin := "\n[[listen]]\ntype = \"admin\"\naddress = \"127.0.0.1:0\"\n"
	s, alice, _ := setup(t, admin)
	s2 := testutil.Start(t, admin) // a second server in the same process
	chat(t, alice, "bob@localhost", "m", 3)
	for _, srv := range []*testutil.Server{s, s2} {
		resp, err := http.Get("http://" + srv.Admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"xmppd_archive_queued ", "xmppd_archive_queue_waits_total 0", "xmppd_archive_dropped_total 0", "xmppd_archive_write_failures_total 0"} {
			if !strings.Contains(string(b), "\n"+want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	}
	// Stopping the module unregisters its collectors: a server restarted
	// in the same process (tests do) registers them again.
	s.Stop(t)
}
