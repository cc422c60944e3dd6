package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
)

// LastActivityStore is what the last activity suite needs: the records,
// and accounts to own them.
type LastActivityStore interface {
	storage.Accounts
	storage.LastActivity
}

// RunLastActivity checks a storage.LastActivity implementation against the
// contract. newStore must return a fresh, empty store on every call.
func RunLastActivity(t *testing.T, newStore func(t *testing.T) LastActivityStore) {
	t.Helper()
	run(t, newStore, []testCase[LastActivityStore]{
		{"Absent", testLastAbsent},
		{"RoundTripReplace", testLastRoundTrip},
		{"AccountsApart", testLastApart},
		{"MissingAccount", testLastMissingAccount},
		{"DeleteAccountCascades", testLastDeleteAccount},
		{"Batch", testLastBatch},
	})
}

func wantLast(t *testing.T, ctx context.Context, s LastActivityStore, domain, user string, at time.Time, status string) {
	t.Helper()
	got, st, err := s.LastActivity(ctx, domain, user)
	if err != nil {
		t.Fatalf("LastActivity(%q, %q): %v", domain, user, err)
	}
	if !got.Equal(at) || got.Location() != time.UTC || st != status {
		t.Fatalf("LastActivity(%q, %q) = %v (%v), %q; want %v UTC, %q", domain, user, got, got.Location(), st, at, status)
	}
}

func wantNoLast(t *testing.T, ctx context.Context, s LastActivityStore, domain, user string) {
	t.Helper()
	if at, st, err := s.LastActivity(ctx, domain, user); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("LastActivity(%q, %q) = %v, %q, %v; want ErrNotFound", domain, user, at, st, err)
	}
}

func mustSetLast(t *testing.T, ctx context.Context, s LastActivityStore, domain, user string, at time.Time, status string) {
	t.Helper()
	if err := s.SetLastActivity(ctx, domain, user, at, status); err != nil {
		t.Fatalf("SetLastActivity(%q, %q): %v", domain, user, err)
	}
}

func testLastAbsent(t *testing.T, ctx context.Context, s LastActivityStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantNoLast(t, ctx, s, "example.org", "alice")
	wantNoLast(t, ctx, s, "example.org", "nobody")
}

func testLastRoundTrip(t *testing.T, ctx context.Context, s LastActivityStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	// Kept to the millisecond, returned in UTC whatever the zone given.
	at := time.Date(2026, 3, 1, 12, 30, 15, 123456789, time.FixedZone("X", 3600))
	mustSetLast(t, ctx, s, "example.org", "alice", at, "Heading Home é")
	wantLast(t, ctx, s, "example.org", "alice", at.Truncate(time.Millisecond), "Heading Home é")
	later := at.Add(time.Hour)
	mustSetLast(t, ctx, s, "example.org", "alice", later, "")
	wantLast(t, ctx, s, "example.org", "alice", later.Truncate(time.Millisecond), "")
}

func testLastApart(t *testing.T, ctx context.Context, s LastActivityStore) {
	base := time.UnixMilli(1_700_000_000_000).UTC()
	accts := [][2]string{{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"}}
	for i, a := range accts {
		mustCreate(t, ctx, s, a[0], a[1], nil)
		mustSetLast(t, ctx, s, a[0], a[1], base.Add(time.Duration(i)*time.Second), a[1]+"@"+a[0])
	}
	for i, a := range accts {
		wantLast(t, ctx, s, a[0], a[1], base.Add(time.Duration(i)*time.Second), a[1]+"@"+a[0])
	}
}

func testLastMissingAccount(t *testing.T, ctx context.Context, s LastActivityStore) {
	err := s.SetLastActivity(ctx, "example.org", "nobody", time.Now(), "x")
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("SetLastActivity for a missing account = %v, want ErrNotFound", err)
	}
	wantNoLast(t, ctx, s, "example.org", "nobody")
}

func testLastDeleteAccount(t *testing.T, ctx context.Context, s LastActivityStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustSetLast(t, ctx, s, "example.org", "alice", time.Now(), "bye")
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantNoLast(t, ctx, s, "example.org", "alice")
}

// SetLastActivities writes every record of existing accounts, replacing
// older ones, and skips those of missing accounts without failing the
// others.
func testLastBatch(t *testing.T, ctx context.Context, s LastActivityStore) {
	base := time.UnixMilli(1_700_000_000_000).UTC()
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	mustSetLast(t, ctx, s, "example.org", "alice", base, "old")
	for _, tc := range []struct {
		name string
		recs []storage.LastActivityRecord
	}{
		{"existing", []storage.LastActivityRecord{
			{Domain: "example.org", Username: "alice", At: base.Add(time.Second), Status: "a"},
			{Domain: "example.org", Username: "bob", At: base.Add(2 * time.Second), Status: "b"},
		}},
		{"missing between", []storage.LastActivityRecord{
			{Domain: "example.org", Username: "alice", At: base.Add(3 * time.Second), Status: "a2"},
			{Domain: "example.org", Username: "nobody", At: base.Add(3 * time.Second), Status: "x"},
			{Domain: "example.org", Username: "bob", At: base.Add(4 * time.Second), Status: "b2"},
		}},
	} {
		if err := s.SetLastActivities(ctx, tc.recs); err != nil {
			t.Fatalf("%s: SetLastActivities: %v", tc.name, err)
		}
		for _, r := range tc.recs {
			if r.Username == "nobody" {
				wantNoLast(t, ctx, s, r.Domain, r.Username)
				continue
			}
			wantLast(t, ctx, s, r.Domain, r.Username, r.At, r.Status)
		}
	}
	if err := s.SetLastActivities(ctx, nil); err != nil {
		t.Fatalf("SetLastActivities(nil): %v", err)
	}
}
