package testutil

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/admin"
)

// WaitTransportGone waits until the session full on s no longer has a
// live transport, as its admin listener's session list says (only this
// node's sessions carry a transport): the server has read the end of the
// client's socket. A resumable XEP-0198 session is then hibernating
// (still bound, waiting for resumption), any other unbound. It fails
// the test after Timeout. s needs an admin listener.
func (s *Server) WaitTransportGone(t testing.TB, full string) {
	t.Helper()
	if s.Admin == "" {
		t.Fatal("WaitTransportGone needs an admin listener")
	}
	for deadline := time.Now().Add(Timeout); ; time.Sleep(10 * time.Millisecond) {
		if !s.liveTransport(t, full) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still has a live transport after %v", full, Timeout)
		}
	}
}

func (s *Server) liveTransport(t testing.TB, full string) bool {
	t.Helper()
	resp, err := http.Get("http://" + s.Admin + admin.PathSessions)
	if err != nil {
		t.Fatalf("admin sessions: %v", err)
	}
	defer resp.Body.Close()
	var ss []admin.Session
	if err := json.NewDecoder(resp.Body).Decode(&ss); err != nil {
		t.Fatalf("admin sessions: %v", err)
	}
	for _, x := range ss {
		if x.JID == full && x.Transport != "" {
			return true
		}
	}
	return false
}
