package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
)

// A BOSH client logging in to a backlog of 1,000 stored messages of 8
// KiB (issue 16) gets every one once, in order: the delivery is paced by
// the output BOSH keeps for the client's next request, which would
// otherwise overflow (1 MiB) and end the session.
func TestBOSHLargeOfflineBacklog(t *testing.T) {
	const n = 1000
	s := backlog(t, n)
	c := testutil.NewBOSH(t, s)
	c.Login("alice", pw, "web")
	var ids []string
	collect := func(payload string) {
		t.Helper()
		body := c.Send("", payload)
		if body.Attr("type") == "terminate" {
			t.Fatalf("after %d messages: session terminated: %s", len(ids), body)
		}
		for ch := range body.Children() {
			if ch.Name() == "message" {
				ids = append(ids, ch.Attr("id"))
			}
		}
	}
	collect("<presence xmlns='jabber:client'/>")
	for len(ids) < n {
		time.Sleep(2 * time.Millisecond) // a client that polls at its own pace
		collect("")
	}
	for i, id := range ids {
		if id != fmt.Sprintf("b%d", i) {
			t.Fatalf("message %d is %q (of %d)", i, id, len(ids))
		}
	}
	if len(ids) != n {
		t.Fatalf("%d messages, want %d", len(ids), n)
	}
}

// backlog starts a server with an HTTPS listener where alice has n stored
// messages of 8 KiB, b0 to b(n-1).
func backlog(t *testing.T, n int) *testutil.Server {
	t.Helper()
	s := testutil.Start(t, https)
	s.AddUser(t, "alice", pw)
	st := s.Accounts().(storage.Offline)
	pad := strings.Repeat("x", 8<<10)
	for i := range n {
		msg := fmt.Sprintf("<message from='bob@localhost/phone' to='alice@localhost' type='chat' id='b%d'><body>%s</body></message>", i, pad)
		if err := st.StoreOffline(context.Background(), "localhost", "alice", []byte(msg), time.Now(), 0); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// The same backlog over WebSocket, to a client that reads at its own
// pace: each message once, in order, and nothing left stored.
func TestWebSocketLargeOfflineBacklog(t *testing.T) {
	const n = 1000
	s := backlog(t, n)
	c, err := dialWS(t, s)
	if err != nil {
		t.Fatal(err)
	}
	c.login("alice", "ws")
	c.Send("<presence xmlns='jabber:client'/>")
	next := 0
	for next < n {
		el := c.Next()
		switch {
		case el.Name() == "message":
			if id := el.Attr("id"); id != fmt.Sprintf("b%d", next) {
				t.Fatalf("message %d is %q", next, id)
			}
			next++
			if next%16 == 0 {
				time.Sleep(time.Millisecond) // a client that reads at its own pace
			}
		case el.Name() == "error" || el.Name() == "close":
			t.Fatalf("after %d messages: %s", next, el.Append(nil, ""))
		}
	}
	st := s.Accounts().(storage.Offline)
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, err := st.CountOffline(context.Background(), "localhost", "alice")
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still stored", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
