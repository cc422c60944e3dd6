package admin_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/internal/admin"
	"github.com/xmppd/xmppd/internal/testutil"
)

const adminListener = `
[[listen]]
type = "admin"
address = "127.0.0.1:0"
`

// scrape reads /metrics and returns the samples by "name{labels}".
func scrape(t *testing.T, s *testutil.Server) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.Admin + admin.PathMetrics)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// waitMetric polls until sample reaches want (counts of other goroutines,
// such as a closing connection, land a moment after the client sees the
// effect).
func waitMetric(t *testing.T, s *testutil.Server, sample string, want float64) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = scrape(t, s)[sample]; got == want {
			return
		}
	}
	t.Fatalf("%s = %v, want %v", sample, got, want)
}

func TestMetricsOnTheWire(t *testing.T) {
	s := testutil.Start(t, adminListener)
	s.AddUser(t, "alice", "alice pass")
	s.AddUser(t, "bob", "bob pass")

	before := scrape(t, s)
	for _, name := range []string{"go_goroutines", "process_open_fds", `xmppd_sessions_bound`} {
		if _, ok := before[name]; !ok {
			t.Errorf("no %s in /metrics", name)
		}
	}

	// A wrong password counts as a failed PLAIN authentication.
	bad := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	bad.Open("localhost")
	bad.StartTLS("localhost")
	if r := bad.AuthPLAIN("alice", "wrong"); r.OK {
		t.Fatal("wrong password accepted")
	}
	waitMetric(t, s, `xmppd_authentications_total{mechanism="PLAIN",result="failed"}`, 1)

	alice := testutil.Login(t, s, "alice", "alice pass", "a")
	bob := testutil.Login(t, s, "bob", "bob pass", "b")
	m := scrape(t, s)
	for _, c := range []struct {
		sample string
		want   float64
	}{
		{`xmppd_authentications_total{mechanism="SCRAM-SHA-256",result="ok"}`, 2},
		{`xmppd_authentications_total{mechanism="PLAIN",result="ok"}`, 0},
		{`xmppd_sessions_bound`, 2},
		{`xmppd_connections_open{listener="c2s"}`, 3},
		{`xmppd_connections_open{listener="http"}`, 0},
	} {
		if got := m[c.sample]; got != c.want {
			t.Errorf("%s = %v, want %v", c.sample, got, c.want)
		}
	}

	inMsg := m[`xmppd_stanzas_total{direction="in",kind="message"}`]
	outMsg := m[`xmppd_stanzas_total{direction="out",kind="message"}`]
	delivered := m[`xmppd_routed_stanzas_total{result="delivered"}`]
	alice.Send("<message to='%s' type='chat' id='m1'><body>hi</body></message>", bob.JID)
	if el := bob.NextNamed("message"); el.Attr("id") != "m1" {
		t.Fatalf("bob got %s", el)
	}
	m = scrape(t, s)
	if got := m[`xmppd_stanzas_total{direction="in",kind="message"}`]; got != inMsg+1 {
		t.Errorf("messages in %v -> %v, want +1", inMsg, got)
	}
	if got := m[`xmppd_stanzas_total{direction="out",kind="message"}`]; got != outMsg+1 {
		t.Errorf("messages out %v -> %v, want +1", outMsg, got)
	}
	if got := m[`xmppd_routed_stanzas_total{result="delivered"}`]; got != delivered+1 {
		t.Errorf("routed delivered %v -> %v, want +1", delivered, got)
	}

	// A message to a nonexistent account is bounced: routed with result error.
	errs := m[`xmppd_routed_stanzas_total{result="error"}`]
	alice.Send("<message to='nobody@localhost' type='chat' id='m2'><body>?</body></message>")
	if el := alice.NextNamed("message"); el.Attr("type") != "error" {
		t.Fatalf("expected a bounce, got %s", el)
	}
	waitMetric(t, s, `xmppd_routed_stanzas_total{result="error"}`, errs+1)

	// A non-TLS byte stream on the direct TLS port is a failed handshake.
	raw := testutil.Dial(t, s.DirectTLS)
	raw.Write([]byte("<?xml version='1.0'?><stream:stream>"))
	waitMetric(t, s, `xmppd_tls_handshakes_failed_total`, 1)

	// An unsupported top-level element ends the stream with its condition.
	alice.Send("<bogus xmlns='jabber:client'/>")
	if cond := alice.ExpectStreamError(); cond != "unsupported-stanza-type" {
		t.Fatalf("condition %s", cond)
	}
	waitMetric(t, s, `xmppd_stream_errors_total{condition="unsupported-stanza-type"}`, 1)
	waitMetric(t, s, `xmppd_sessions_bound`, 1)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func kick(t *testing.T, s *testutil.Server, jid string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(admin.Kick{JID: jid})
	resp, err := http.Post("http://"+s.Admin+admin.PathKick, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminAPI(t *testing.T) {
	s := testutil.Start(t, adminListener)
	s.AddUser(t, "alice", "alice pass")
	s.AddUser(t, "bob", "bob pass")
	alice := testutil.Login(t, s, "alice", "alice pass", "phone")
	bob := testutil.Login(t, s, "bob", "bob pass", "desk")

	var st admin.Status
	getJSON(t, "http://"+s.Admin+admin.PathStatus, &st)
	if st.Sessions != 2 || st.Connections != 2 || st.Goroutines == 0 || st.MemorySysBytes == 0 ||
		fmt.Sprint(st.Hosts) != "[localhost example.test]" || len(st.Listeners) != 3 || st.Listeners[2].Type != "admin" ||
		st.Listeners[2].Address != s.Admin || st.Listeners[0].Address != s.StartTLS || st.Version == "" {
		t.Errorf("status %+v", st)
	}

	var ss []c2s.SessionInfo
	getJSON(t, "http://"+s.Admin+admin.PathSessions, &ss)
	byJID := map[string]c2s.SessionInfo{}
	for _, si := range ss {
		byJID[si.JID] = si
	}
	a, ok := byJID["alice@localhost/phone"]
	if len(ss) != 2 || !ok || a.IP != "127.0.0.1" || a.TLSVersion != "TLS 1.3" || a.Transport != "c2s" || a.SM ||
		time.Since(a.Since) > time.Minute {
		t.Errorf("sessions %+v", ss)
	}

	for _, c := range []struct {
		name, jid string
		code      int
	}{
		{"bare JID", "bob@localhost", 400},
		{"not a JID", "@@", 400},
		{"no such session", "bob@localhost/other", 404},
	} {
		if code, body := kick(t, s, c.jid); code != c.code {
			t.Errorf("%s: kick %q: %d %s, want %d", c.name, c.jid, code, body, c.code)
		}
	}

	// RFC 6120 §4.9.3.14: the kicked client reads policy-violation with
	// the reason, then the end of the stream.
	if code, body := kick(t, s, bob.JID); code != 200 {
		t.Fatalf("kick: %d %s", code, body)
	}
	if cond := bob.ExpectStreamError(); cond != "policy-violation" {
		t.Fatalf("kicked client got %s", cond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Sessions() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	getJSON(t, "http://"+s.Admin+admin.PathSessions, &ss)
	if len(ss) != 1 || ss[0].JID != "alice@localhost/phone" {
		t.Errorf("after kick: %+v", ss)
	}
	_ = alice
}
