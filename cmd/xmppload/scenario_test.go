package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

func TestPercentiles(t *testing.T) {
	s := []int64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	got := percentiles(s, 0, 0.5, 0.9, 0.99, 1)
	want := []float64{1, 5, 9, 10, 10}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("p%v = %v, want %v", []float64{0, 0.5, 0.9, 0.99, 1}[i], got[i], want[i])
		}
	}
	if s[0] != 5 {
		t.Error("percentiles sorted its input in place")
	}
	if p := percentiles(nil, 0.5); !math.IsNaN(p[0]) {
		t.Errorf("empty sample: %v, want NaN", p[0])
	}
	one := percentiles([]int64{7}, 0.001, 0.999)
	if one[0] != 7 || one[1] != 7 {
		t.Errorf("one sample: %v", one)
	}
}

func TestParseStatCPU(t *testing.T) {
	// pid (comm with spaces and a paren) state ppid ... utime stime
	stat := "1234 (a b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 1 0 1 1 1"
	v, err := parseStatCPU(stat)
	if err != nil || v != 3.8 {
		t.Errorf("parseStatCPU = %v, %v; want 3.8", v, err)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Error("no error for garbage")
	}
	if v, err := procCPU(os.Getpid()); err != nil || v < 0 {
		t.Errorf("procCPU(self) = %v, %v", v, err)
	}
}

func TestParsePIDsAndFlags(t *testing.T) {
	if p, err := parsePIDs("12, 34"); err != nil || len(p) != 2 || p[1] != 34 {
		t.Errorf("parsePIDs = %v, %v", p, err)
	}
	if _, err := parsePIDs("12,x"); err == nil {
		t.Error("parsePIDs accepted x")
	}
	for _, tc := range []struct {
		c  common
		ok bool
	}{
		{common{password: "p", mech: "scram-sha-1", transport: "starttls"}, true},
		{common{password: "p", mech: "PLAIN", transport: "none"}, true},
		{common{password: "p", mech: "DIGEST-MD5", transport: "starttls"}, false},
		{common{password: "p", mech: "PLAIN", transport: "ssl"}, false},
		{common{mech: "PLAIN", transport: "none"}, false},
	} {
		_, err := tc.c.loginOptions()
		if (err == nil) != tc.ok {
			t.Errorf("%+v: err %v, want ok %v", tc.c, err, tc.ok)
		}
	}
	c := common{password: "p", mech: "PLAIN", transport: "starttls", directTLS: true}
	if o, err := c.loginOptions(); err != nil || o.transport != "direct" {
		t.Errorf("-direct-tls: %+v %v", o, err)
	}
	for _, f := range []chatFlags{{pairs: 0, rate: 1, dur: 1}, {pairs: 1, rate: -1, dur: 1}, {pairs: 1, rate: 0, window: 0, dur: 1}} {
		if f.check() == nil {
			t.Errorf("chat flags %+v accepted", f)
		}
	}
	if (&rosterFlags{contacts: 3}).check(10) == nil || (&rosterFlags{contacts: 10}).check(10) == nil {
		t.Error("bad -contacts accepted")
	}
}

func TestContacts(t *testing.T) {
	u, k := 7, 4
	rel := map[[2]int]bool{}
	for i := range u {
		cs := contacts(i, u, k)
		if len(cs) != k {
			t.Fatalf("contacts(%d) = %v", i, cs)
		}
		for _, j := range cs {
			if j == i {
				t.Errorf("%d is its own contact", i)
			}
			rel[[2]int{i, j}] = true
		}
	}
	for p := range rel {
		if !rel[[2]int{p[1], p[0]}] {
			t.Errorf("%d -> %d but not back", p[0], p[1])
		}
	}
}

func TestStamp(t *testing.T) {
	b := stamp("xx")
	age, ok := stampAge(b, timeNow())
	if !ok || age < 0 {
		t.Errorf("stampAge(%q) = %d, %v", b, age, ok)
	}
	if _, ok := stampAge("hello world", timeNow()); ok {
		t.Error("a plain body parsed as a stamp")
	}
	if _, ok := stampAge("1796190589000000000 otherrun ", timeNow()); ok {
		t.Error("another run's stamp accepted")
	}
}

func TestResultJSONAndReport(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.jsonl")
	var out bytes.Buffer
	mk := func(label string, perK, p99 float64) {
		r := newResult("chat", label)
		r.Params["rate_per_session"] = 0.0
		r.set("server_cpu_s_per_1000_msgs", perK)
		r.set("latency_p99_ms", p99)
		r.set("nan", math.NaN())
		var errs errCounts
		if err := r.finish(&out, file, &errs); err != nil {
			t.Fatal(err)
		}
	}
	mk("xmppd", 0.02, 3)
	mk("prosody", 0.1, 30)
	line := strings.SplitN(out.String(), "\n", 2)[0]
	var back map[string]any
	if err := json.Unmarshal([]byte(line), &back); err != nil {
		t.Fatalf("not JSON: %q: %v", line, err)
	}
	if back["scenario"] != "chat" || back["label"] != "xmppd" {
		t.Errorf("JSON line %s", line)
	}
	if m := back["metrics"].(map[string]any); m["nan"] != nil || m["latency_p99_ms"] != 3.0 {
		t.Errorf("metrics %v", m)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := readResults(f)
	if err != nil || len(rs) != 2 {
		t.Fatalf("readResults: %d, %v", len(rs), err)
	}
	rs = append(rs, &resultLine{result: result{Scenario: "muc", Label: "xmppd"}, Skipped: "no MUC service"})
	var md bytes.Buffer
	ratios := writeReport(&md, rs, "xmppd")
	if got := ratios["chat, full speed: server_cpu_s_per_1000_msgs"]["xmppd/prosody"]; math.Abs(got-0.2) > 1e-9 {
		t.Errorf("ratio %v, want 0.2; table:\n%s", got, md.String())
	}
	for _, want := range []string{"### chat, full speed", "| xmppd / prosody |", "| server CPU-s per 1,000 msgs | 0.0200 | 0.1000 | 0.20 |", "skipped: no MUC service"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, md.String())
		}
	}
}

// TestScenarios runs every scenario xmppd supports against a real server
// at a tiny size: it checks that they complete, lose nothing and write
// their JSON line. No timing is asserted.
func TestScenarios(t *testing.T) {
	dir := t.TempDir()
	cfg := strings.Replace(testutil.BaseConfig(dir), "domain = \"localhost\"\n", "domain = \"localhost\"\nregistration = true\n", 1)
	cfg = strings.Replace(cfg, "tls = \"starttls\"\n", "tls = \"starttls\"\nrequire_tls = false\n", 1)
	cfg += "\n[registration]\nmin_interval = \"0s\"\n[limits]\nmax_connections_per_ip = 0\nconnection_rate = 0.0\nauth_failure_delay = \"0s\"\n"
	s := testutil.StartIn(t, dir, cfg)
	out := filepath.Join(dir, "results.jsonl")
	pid := itoa(os.Getpid()) // the server runs in this process
	base := func(addr string) []string {
		return []string{"-addr", addr, "-password", "load-secret", "-user-prefix", "t", "-concurrency", "4",
			"-src-addrs", "2", "-pid", pid, "-json", out, "-label", "xmppd", "-timeout", "10s"}
	}
	run := func(name string, f func([]string) error, args ...string) {
		t.Helper()
		if err := f(args); err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
	}
	run("register", runRegister, append(base(s.StartTLS), "-users", "8")...)
	run("register again", runRegister, append(base(s.StartTLS), "-users", "8")...)
	run("login", runLogin, append(base(s.StartTLS), "-users", "0", "-sessions", "4")...)
	run("login direct", runLogin, append(base(s.DirectTLS), "-tls", "direct", "-mech", "SCRAM-SHA-1", "-users", "0", "-sessions", "2", "-warm=false")...)
	run("login plain", runLogin, append(base(s.StartTLS), "-tls", "none", "-mech", "SCRAM-SHA-256", "-users", "0", "-sessions", "2")...)
	run("idle", runIdle, append(base(s.StartTLS), "-users", "0", "-sessions", "4", "-hold", "0s")...)
	run("chat rate", runChat, append(base(s.StartTLS), "-users", "0", "-pairs", "2", "-rate", "20", "-duration", "500ms")...)
	run("chat full", runChat, append(base(s.StartTLS), "-users", "0", "-pairs", "2", "-rate", "0", "-window", "4", "-duration", "500ms")...)
	run("roster-setup", runRosterSetup, append(base(s.StartTLS), "-users", "6", "-contacts", "2")...)
	run("roster", runRoster, append(base(s.StartTLS), "-users", "6", "-contacts", "2", "-wait", "10s")...)
	run("settle", runSettle, "-pid", pid, "-below", "100", "-max", "5s")
	if err := runDisco(append(base(s.StartTLS), "-jid", "conference.localhost")); err == nil {
		t.Log("xmppd answers disco for conference.localhost: MUC is there")
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := readResults(f)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range rs {
		got[r.Scenario]++
		if r.Metrics["failed"] != 0 || r.Metrics["lost"] != 0 || r.Metrics["lost_sessions"] != 0 {
			t.Errorf("%s: failures or loss: %v %v", r.Scenario, r.Metrics, r.Errors)
		}
		if _, ok := r.Metrics["server_cpu_s"]; !ok {
			t.Errorf("%s: no server CPU figure: %v", r.Scenario, r.Metrics)
		}
	}
	for sc, n := range map[string]int{"login": 3, "idle": 1, "chat": 2, "roster": 1} {
		if got[sc] != n {
			t.Errorf("%d %s results, want %d (all: %v)", got[sc], sc, n, got)
		}
	}
	for _, r := range rs {
		if r.Scenario == "chat" && r.Metrics["received"] == 0 {
			t.Errorf("chat delivered nothing: %v", r.Metrics)
		}
		if r.Scenario == "roster" && r.Metrics["received_presences"] != 12 {
			t.Errorf("roster: %v contact presences, want 12", r.Metrics["received_presences"])
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func timeNow() time.Time { return time.Now() }
