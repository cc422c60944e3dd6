package main

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestLogin runs the load client against a real server: STARTTLS and
// direct TLS, SCRAM-SHA-256 and PLAIN, several sessions on one account.
func TestLogin(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "load0", "pw")
	for _, tc := range []struct {
		name, addr, mech, transport string
	}{
		{"starttls-scram", s.StartTLS, "SCRAM-SHA-256", "starttls"},
		{"direct-scram", s.DirectTLS, "SCRAM-SHA-256", "direct"},
		{"starttls-plain", s.StartTLS, "PLAIN", "starttls"},
		{"starttls-scram1", s.StartTLS, "SCRAM-SHA-1", "starttls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &loginOptions{addr: tc.addr, domain: "localhost", password: "pw", mech: tc.mech,
				transport: tc.transport, timeout: 10 * time.Second, srcAddrs: loopbackSources(tc.addr, 4)}
			var sessions []*session
			for i := range 3 {
				sess, err := login(o, i, userName("load", 1, i), tc.name+resourceName(i))
				if err != nil {
					t.Fatalf("login %d: %v", i, err)
				}
				if want := "load0@localhost/" + tc.name + resourceName(i); sess.jid != want {
					t.Errorf("jid %q, want %q", sess.jid, want)
				}
				sessions = append(sessions, sess)
			}
			for _, sess := range sessions {
				sess.conn.SetDeadline(time.Now().Add(10 * time.Second))
				if err := sess.ping("localhost", "again"); err != nil {
					t.Error(err)
				}
				sess.close()
			}
		})
	}
	o := &loginOptions{addr: s.StartTLS, domain: "localhost", password: "wrong", mech: "SCRAM-SHA-256", timeout: 10 * time.Second}
	if _, err := login(o, 0, "load0", "x"); err == nil {
		t.Error("login with a wrong password succeeded")
	}
}

func TestHelpers(t *testing.T) {
	if rss, err := procStatus(0, "VmRSS"); err != nil || rss <= 0 {
		t.Errorf("procStatus(self, VmRSS) = %d, %v", rss, err)
	}
	src := loopbackSources("127.0.0.1:5222", 3)
	if len(src) != 3 || src[0].String() != "127.0.0.2" || src[2].String() != "127.0.0.4" {
		t.Errorf("loopbackSources = %v", src)
	}
	if src := loopbackSources("[::1]:5222", 3); src != nil {
		t.Errorf("loopbackSources(::1) = %v, want nil", src)
	}
	if got := userName("load", 3, 7); got != "load1" {
		t.Errorf("userName = %q", got)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/debug/pprof/heap":
			w.Write([]byte("heap profile: 1: 2 [3: 4] @ heap/1048576\n\n# runtime.MemStats\n# HeapAlloc = 1234\n# Stack = 4096 / 8192\n# NumGC = 7\n"))
		case "/debug/pprof/goroutine":
			w.Write([]byte("goroutine profile: total 42\n"))
		}
	}))
	defer hs.Close()
	st, g := goRuntime(hs.URL, true)
	if st["HeapAlloc"] != 1234 || st["StackInuse"] != 4096 || st["StackSys"] != 8192 || st["NumGC"] != 7 || g != 42 {
		t.Errorf("goRuntime = %v, %d", st, g)
	}
}

func TestParseCurves(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []tls.CurveID
		err  bool
	}{
		{"", nil, false},
		{"x25519", []tls.CurveID{tls.X25519}, false},
		{"X25519MLKEM768, p256", []tls.CurveID{tls.X25519MLKEM768, tls.CurveP256}, false},
		{"x448", nil, true},
	} {
		got, err := parseCurves(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseCurves(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
