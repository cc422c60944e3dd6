package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
)

// OfflineStore is what the offline suite needs: offline messages, and
// accounts to own them.
type OfflineStore interface {
	storage.Accounts
	storage.Offline
}

// RunOffline checks a storage.Offline implementation against the
// contract. newStore must return a fresh, empty store on every call.
func RunOffline(t *testing.T, newStore func(t *testing.T) OfflineStore) {
	t.Helper()
	run(t, newStore, []testCase[OfflineStore]{
		{"Empty", testOfflineEmpty},
		{"RoundTripInOrder", testOfflineRoundTrip},
		{"DeleteUpTo", testOfflineDeleteUpTo},
		{"Page", testOfflinePage},
		{"Limit", testOfflineLimit},
		{"MissingAccount", testOfflineMissingAccount},
		{"PerAccount", testOfflinePerAccount},
		{"DeleteAccountCascades", testOfflineDeleteAccount},
		{"ConcurrentLimit", testOfflineConcurrentLimit},
	})
}

func mustStoreOffline(t *testing.T, ctx context.Context, s OfflineStore, domain, user, stanza string, stamp time.Time, limit int) {
	t.Helper()
	if err := s.StoreOffline(ctx, domain, user, []byte(stanza), stamp, limit); err != nil {
		t.Fatalf("StoreOffline(%q, %q): %v", domain, user, err)
	}
}

func mustOffline(t *testing.T, ctx context.Context, s OfflineStore, domain, user string) []storage.OfflineMessage {
	t.Helper()
	ms, err := s.OfflineMessages(ctx, domain, user)
	if err != nil {
		t.Fatalf("OfflineMessages(%q, %q): %v", domain, user, err)
	}
	return ms
}

func wantOfflineCount(t *testing.T, ctx context.Context, s OfflineStore, domain, user string, want int) {
	t.Helper()
	n, err := s.CountOffline(ctx, domain, user)
	if err != nil {
		t.Fatalf("CountOffline(%q, %q): %v", domain, user, err)
	}
	if n != want {
		t.Fatalf("CountOffline(%q, %q) = %d, want %d", domain, user, n, want)
	}
}

func testOfflineEmpty(t *testing.T, ctx context.Context, s OfflineStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	if ms := mustOffline(t, ctx, s, "example.org", "alice"); len(ms) != 0 {
		t.Fatalf("new account has %d messages", len(ms))
	}
	wantOfflineCount(t, ctx, s, "example.org", "alice", 0)
	// Unknown accounts read as empty.
	if ms := mustOffline(t, ctx, s, "example.org", "nobody"); len(ms) != 0 {
		t.Fatalf("missing account has %d messages", len(ms))
	}
	n, err := s.DeleteOffline(ctx, "example.org", "alice", 1<<62)
	if err != nil || n != 0 {
		t.Fatalf("DeleteOffline on empty = %d, %v", n, err)
	}
}

func testOfflineRoundTrip(t *testing.T, ctx context.Context, s OfflineStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	base := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	var want []string
	for i := range 5 {
		// Binary-safe and non-ASCII content, stamps not in id order.
		st := fmt.Sprintf("<message to='alice@example.org'><body>%d ünïcødé \x00\xff</body></message>", i)
		want = append(want, st)
		mustStoreOffline(t, ctx, s, "example.org", "alice", st, base.Add(time.Duration(5-i)*time.Second), 0)
	}
	ms := mustOffline(t, ctx, s, "example.org", "alice")
	if len(ms) != len(want) {
		t.Fatalf("got %d messages, want %d", len(ms), len(want))
	}
	for i, m := range ms {
		if string(m.Stanza) != want[i] {
			t.Errorf("message %d = %q, want %q", i, m.Stanza, want[i])
		}
		if i > 0 && m.ID <= ms[i-1].ID {
			t.Errorf("IDs not increasing: %d after %d", m.ID, ms[i-1].ID)
		}
		if ws := base.Add(time.Duration(5-i) * time.Second); !m.Stamp.Equal(ws) {
			t.Errorf("message %d stamp = %v, want %v", i, m.Stamp, ws)
		}
	}
	wantOfflineCount(t, ctx, s, "example.org", "alice", 5)
}

func testOfflineDeleteUpTo(t *testing.T, ctx context.Context, s OfflineStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	now := time.Now()
	for i := range 3 {
		mustStoreOffline(t, ctx, s, "example.org", "alice", fmt.Sprintf("<m%d/>", i), now, 0)
	}
	ms := mustOffline(t, ctx, s, "example.org", "alice")
	// A message stored after the fetch survives a delete up to the
	// fetched ones.
	mustStoreOffline(t, ctx, s, "example.org", "alice", "<late/>", now, 0)
	n, err := s.DeleteOffline(ctx, "example.org", "alice", ms[len(ms)-1].ID)
	if err != nil || n != 3 {
		t.Fatalf("DeleteOffline = %d, %v; want 3, nil", n, err)
	}
	left := mustOffline(t, ctx, s, "example.org", "alice")
	if len(left) != 1 || string(left[0].Stanza) != "<late/>" {
		t.Fatalf("after delete: %v", left)
	}
	wantOfflineCount(t, ctx, s, "example.org", "alice", 1)
}

// testOfflinePage reads a backlog a page at a time, as delivery does,
// with messages stored and deleted between the pages.
func testOfflinePage(t *testing.T, ctx context.Context, s OfflineStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	base := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	for i := range 7 {
		mustStoreOffline(t, ctx, s, "example.org", "alice", fmt.Sprintf("<m%d/>", i), base.Add(time.Duration(i)*time.Second), 0)
		mustStoreOffline(t, ctx, s, "example.org", "bob", fmt.Sprintf("<b%d/>", i), base, 0)
	}
	page := func(after int64, limit int) []storage.OfflineMessage {
		t.Helper()
		ms, err := s.OfflinePage(ctx, "example.org", "alice", after, limit)
		if err != nil {
			t.Fatalf("OfflinePage(after %d, limit %d): %v", after, limit, err)
		}
		return ms
	}
	var got []string
	var after int64
	for {
		ms := page(after, 3)
		if len(ms) > 3 {
			t.Fatalf("page of %d messages, limit 3", len(ms))
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			if m.ID <= after {
				t.Fatalf("ID %d not after %d", m.ID, after)
			}
			if ws := base.Add(time.Duration(len(got)) * time.Second); !m.Stamp.Equal(ws) {
				t.Errorf("message %d stamp = %v, want %v", len(got), m.Stamp, ws)
			}
			after = m.ID
			got = append(got, string(m.Stanza))
		}
		if len(got) == 6 {
			// Stored while the backlog is read: comes last, in the
			// next page; deleting what was read does not disturb it.
			mustStoreOffline(t, ctx, s, "example.org", "alice", "<late/>", base.Add(7*time.Second), 0)
			if n, err := s.DeleteOffline(ctx, "example.org", "alice", after); err != nil || n != 6 {
				t.Fatalf("DeleteOffline = %d, %v; want 6, nil", n, err)
			}
		}
	}
	if want := "<m0/>,<m1/>,<m2/>,<m3/>,<m4/>,<m5/>,<m6/>,<late/>"; strings.Join(got, ",") != want {
		t.Fatalf("pages gave %v, want %s", got, want)
	}
	if ms := page(0, 100); len(ms) != 2 || string(ms[0].Stanza) != "<m6/>" {
		t.Fatalf("after delete: %v", ms)
	}
	if ms := page(1<<62, 10); len(ms) != 0 {
		t.Fatalf("after the last ID: %v", ms)
	}
	if ms, err := s.OfflinePage(ctx, "example.org", "nobody", 0, 10); err != nil || len(ms) != 0 {
		t.Fatalf("missing account: %v, %v", ms, err)
	}
	// Bob's messages were never in alice's pages.
	wantOfflineCount(t, ctx, s, "example.org", "bob", 7)
}

func testOfflineLimit(t *testing.T, ctx context.Context, s OfflineStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	now := time.Now()
	for i := range 3 {
		mustStoreOffline(t, ctx, s, "example.org", "alice", fmt.Sprintf("<m%d/>", i), now, 3)
	}
	if err := s.StoreOffline(ctx, "example.org", "alice", []byte("<over/>"), now, 3); !errors.Is(err, storage.ErrFull) {
		t.Fatalf("StoreOffline over limit: %v, want ErrFull", err)
	}
	wantOfflineCount(t, ctx, s, "example.org", "alice", 3)
	// A higher limit, or none, admits more.
	mustStoreOffline(t, ctx, s, "example.org", "alice", "<m3/>", now, 4)
	mustStoreOffline(t, ctx, s, "example.org", "alice", "<m4/>", now, 0)
	wantOfflineCount(t, ctx, s, "example.org", "alice", 5)
}

func testOfflineMissingAccount(t *testing.T, ctx context.Context, s OfflineStore) {
	err := s.StoreOffline(ctx, "example.org", "nobody", []byte("<m/>"), time.Now(), 10)
	wantNotFound(t, "StoreOffline for missing account", err)
	err = s.StoreOffline(ctx, "example.org", "nobody", []byte("<m/>"), time.Now(), 0)
	wantNotFound(t, "StoreOffline (no limit) for missing account", err)
}

func testOfflinePerAccount(t *testing.T, ctx context.Context, s OfflineStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	mustCreate(t, ctx, s, "example.net", "alice", nil)
	now := time.Now()
	mustStoreOffline(t, ctx, s, "example.org", "alice", "<a/>", now, 1)
	mustStoreOffline(t, ctx, s, "example.org", "bob", "<b/>", now, 1)
	mustStoreOffline(t, ctx, s, "example.net", "alice", "<c/>", now, 1)
	for _, k := range []struct{ d, u, want string }{{"example.org", "alice", "<a/>"}, {"example.org", "bob", "<b/>"}, {"example.net", "alice", "<c/>"}} {
		ms := mustOffline(t, ctx, s, k.d, k.u)
		if len(ms) != 1 || string(ms[0].Stanza) != k.want {
			t.Errorf("%s@%s: %v", k.u, k.d, ms)
		}
	}
	// Deleting bob's does not touch alice's, even with a high bound.
	if _, err := s.DeleteOffline(ctx, "example.org", "bob", 1<<62); err != nil {
		t.Fatal(err)
	}
	wantOfflineCount(t, ctx, s, "example.org", "bob", 0)
	wantOfflineCount(t, ctx, s, "example.org", "alice", 1)
	wantOfflineCount(t, ctx, s, "example.net", "alice", 1)
}

func testOfflineDeleteAccount(t *testing.T, ctx context.Context, s OfflineStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustStoreOffline(t, ctx, s, "example.org", "alice", "<a/>", time.Now(), 0)
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantOfflineCount(t, ctx, s, "example.org", "alice", 0)
}

func testOfflineConcurrentLimit(t *testing.T, ctx context.Context, s OfflineStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	const limit, writers = 5, 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, full int
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.StoreOffline(ctx, "example.org", "alice", fmt.Appendf(nil, "<m%d/>", i), time.Now(), limit)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrFull):
				full++
			default:
				t.Errorf("StoreOffline: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != limit || full != writers-limit {
		t.Fatalf("%d stored, %d full; want %d, %d", ok, full, limit, writers-limit)
	}
	wantOfflineCount(t, ctx, s, "example.org", "alice", limit)
}
