package muc_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// durabilityWindow is the bound docs/reliability.md ("The archive's
// commit window") states for room archives as for accounts' (the room
// writer commits at most every 25 ms, plus two commits). The test waits it
// once; it is not a performance threshold.
const durabilityWindow = 500 * time.Millisecond

// child is the xmppd the durability test kills with SIGKILL, run by the
// test binary in a process of its own: MUC with its room archive, the
// defaults but no rate limit.
var child = testutil.CrashChild{Env: "XMPPD_MUC_CRASH_CHILD", Config: "[muc]\nmessage_rate = 0.0\n", Users: []string{"alice"}, Password: "secret"}

func TestMain(m *testing.M) { child.Main(m) }

func childLogin(t *testing.T, addr string) *user {
	t.Helper()
	return &user{t: t, Client: child.Login(t, addr, "alice"), name: "alice"}
}

// TestRoomArchiveSurvivesKill: groupchat messages echoed more than the
// stated window before the server process is killed (SIGKILL: no
// shutdown, no final flush) are in the room's archive after a restart.
// Messages sent right before the kill may be lost; they are counted, not
// required.
func TestRoomArchiveSurvivesKill(t *testing.T) {
	child.SkipShortOrRace(t)
	dir := t.TempDir()
	cmd, addr := child.Start(t, dir)
	alice := childLogin(t, addr)
	alice.create("crash", "alice")
	if res := alice.configure("crash", map[string]string{"muc#roomconfig_persistentroom": "1"}); res.Attr("type") != "result" {
		t.Fatalf("configure: %s", res)
	}

	const n = 200
	send := func(from, count int) {
		var b strings.Builder
		for i := from; i < from+count; i++ {
			fmt.Fprintf(&b, "<message type='groupchat' to='crash@%s' id='m%d'><body>message %d</body></message>", service, i, i)
		}
		alice.Send("%s", b.String())
	}
	send(0, n)
	for range n {
		alice.nextGroupchat() // the echo: the room handled it
	}
	time.Sleep(durabilityWindow)
	send(n, n)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	_, addr = child.Start(t, dir)
	alice = childLogin(t, addr)
	iq := alice.iq("<iq type='set' id='ID' to='crash@%s'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set></query></iq>", service)
	fin := iq.Child("fin", "urn:xmpp:mam:2")
	if iq.Attr("type") != "result" || fin == nil {
		t.Fatalf("count query: %s", iq)
	}
	got, err := strconv.Atoi(fin.Child("set", "http://jabber.org/protocol/rsm").Child("count", "http://jabber.org/protocol/rsm").Text())
	if err != nil {
		t.Fatalf("count query: %s", iq)
	}
	t.Logf("room archive after the kill: %d messages (%d echoed before the window, %d sent at the kill)", got, n, n)
	if got < n {
		t.Errorf("room archive has %d messages, want at least the %d echoed %v before the kill", got, n, durabilityWindow)
	}
}
