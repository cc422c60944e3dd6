package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/storage"
)

// RosterStore is what the roster suite needs: rosters, and accounts to
// own them.
type RosterStore interface {
	storage.Accounts
	storage.Rosters
}

// RunRosters checks a storage.Rosters implementation against the
// contract. newStore must return a fresh, empty store on every call.
func RunRosters(t *testing.T, newStore func(t *testing.T) RosterStore) {
	t.Helper()
	run(t, newStore, []testCase[RosterStore]{
		{"EmptyRoster", testRosterEmpty},
		{"SetGetRoundTrip", testRosterRoundTrip},
		{"ReplaceItem", testRosterReplace},
		{"Delete", testRosterDelete},
		{"VersionIncreases", testRosterVersionIncreases},
		{"MissingAccount", testRosterMissingAccount},
		{"PerAccount", testRosterPerAccount},
		{"DeleteAccountCascades", testRosterDeleteAccount},
		{"Unicode", testRosterUnicode},
		{"Concurrent", testRosterConcurrent},
	})
}

func mustRoster(t *testing.T, ctx context.Context, s RosterStore, domain, user string) ([]storage.RosterItem, string) {
	t.Helper()
	items, ver, err := s.Roster(ctx, domain, user)
	if err != nil {
		t.Fatalf("Roster(%q, %q): %v", domain, user, err)
	}
	return items, ver
}

func mustSetItem(t *testing.T, ctx context.Context, s RosterStore, domain, user string, it storage.RosterItem) string {
	t.Helper()
	ver, err := s.SetRosterItem(ctx, domain, user, it)
	if err != nil {
		t.Fatalf("SetRosterItem(%q, %q, %q): %v", domain, user, it.JID, err)
	}
	return ver
}

// version parses a version string; the contract only promises that it
// increases, and the SQL backend's is a decimal integer.
func version(t *testing.T, v string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("version %q is not an integer: %v", v, err)
	}
	return n
}

// sameItem compares items treating nil and empty groups alike.
func sameItem(a, b storage.RosterItem) bool {
	sub := func(s string) string {
		if s == "" {
			return "none"
		}
		return s
	}
	return a.JID == b.JID && a.Name == b.Name && sub(a.Subscription) == sub(b.Subscription) &&
		a.Ask == b.Ask && a.Approved == b.Approved && a.PendingIn == b.PendingIn && a.Placeholder == b.Placeholder && len(a.Groups) == len(b.Groups) && (len(a.Groups) == 0 || slices.Equal(a.Groups, b.Groups))
}

func wantItems(t *testing.T, ctx context.Context, s RosterStore, domain, user string, want []storage.RosterItem) string {
	t.Helper()
	got, ver := mustRoster(t, ctx, s, domain, user)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameItem(got[i], want[i])
	}
	if !ok {
		t.Fatalf("Roster(%q, %q)\n got %+v\nwant %+v", domain, user, got, want)
	}
	return ver
}

func testRosterEmpty(t *testing.T, ctx context.Context, s RosterStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	items, ver := mustRoster(t, ctx, s, "example.org", "alice")
	if len(items) != 0 || ver != "0" {
		t.Fatalf("empty roster: %+v version %q, want none and \"0\"", items, ver)
	}
	// A user that does not exist has an empty roster too.
	items, ver = mustRoster(t, ctx, s, "example.org", "nobody")
	if len(items) != 0 || ver != "0" {
		t.Fatalf("roster of missing account: %+v version %q", items, ver)
	}
}

func testRosterRoundTrip(t *testing.T, ctx context.Context, s RosterStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	items := []storage.RosterItem{
		{JID: "romeo@example.net", Name: "Romeo", Subscription: "both", Groups: []string{"Friends", "Lovers"}},
		{JID: "example.com", Subscription: "to", Ask: true},
		{JID: "nurse@example.com", Subscription: "from", Approved: true, Groups: []string{"Servants"}},
		{JID: "benvolio@example.net", Name: `<&'">`, Subscription: "none", Groups: []string{"b", "a", "[]", `"`}},
		{JID: "tybalt@example.net"}, // zero values: subscription none
		{JID: "juliet@example.org", Subscription: "to", PendingIn: true},
		{JID: "stranger@example.net", PendingIn: true, Placeholder: true},
	}
	for _, it := range items {
		mustSetItem(t, ctx, s, "example.org", "alice", it)
	}
	want := slices.Clone(items)
	slices.SortFunc(want, func(a, b storage.RosterItem) int {
		switch {
		case a.JID < b.JID:
			return -1
		case a.JID > b.JID:
			return 1
		}
		return 0
	})
	wantItems(t, ctx, s, "example.org", "alice", want)
	// One item by its JID is the same item as in the whole roster.
	for _, w := range want {
		it, err := s.RosterItem(ctx, "example.org", "alice", w.JID)
		if err != nil || !sameItem(it, w) {
			t.Errorf("RosterItem(%s) = %+v, %v; want %+v", w.JID, it, err, w)
		}
	}
	if _, err := s.RosterItem(ctx, "example.org", "alice", "nobody@example.org"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RosterItem of a JID not in the roster: %v, want ErrNotFound", err)
	}
	if _, err := s.RosterItem(ctx, "example.org", "bob", want[0].JID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RosterItem in another roster: %v, want ErrNotFound", err)
	}
	got, _ := mustRoster(t, ctx, s, "example.org", "alice")
	for _, it := range got {
		if it.Subscription == "" {
			t.Errorf("item %s: empty subscription, want \"none\"", it.JID)
		}
	}
}

func testRosterReplace(t *testing.T, ctx context.Context, s RosterStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustSetItem(t, ctx, s, "example.org", "alice", storage.RosterItem{JID: "bob@example.org", Name: "Bob", Subscription: "both", Groups: []string{"a", "b"}})
	next := storage.RosterItem{JID: "bob@example.org", Name: "Robert", Subscription: "to", Ask: true, PendingIn: true, Groups: []string{"c"}}
	mustSetItem(t, ctx, s, "example.org", "alice", next)
	wantItems(t, ctx, s, "example.org", "alice", []storage.RosterItem{next})
	// Groups and name can be cleared.
	cleared := storage.RosterItem{JID: "bob@example.org", Subscription: "to"}
	mustSetItem(t, ctx, s, "example.org", "alice", cleared)
	wantItems(t, ctx, s, "example.org", "alice", []storage.RosterItem{cleared})
}

func testRosterDelete(t *testing.T, ctx context.Context, s RosterStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	a := storage.RosterItem{JID: "a@example.org", Subscription: "none"}
	b := storage.RosterItem{JID: "b@example.org", Subscription: "none", Groups: []string{"g"}}
	mustSetItem(t, ctx, s, "example.org", "alice", a)
	v := mustSetItem(t, ctx, s, "example.org", "alice", b)

	_, err := s.DeleteRosterItem(ctx, "example.org", "alice", "c@example.org")
	wantNotFound(t, "DeleteRosterItem of missing item", err)
	// A failed delete does not change the version.
	if _, ver := mustRoster(t, ctx, s, "example.org", "alice"); ver != v {
		t.Fatalf("version after failed delete = %q, want %q", ver, v)
	}

	dv, err := s.DeleteRosterItem(ctx, "example.org", "alice", "a@example.org")
	if err != nil {
		t.Fatalf("DeleteRosterItem: %v", err)
	}
	if version(t, dv) <= version(t, v) {
		t.Fatalf("version after delete %q, not above %q", dv, v)
	}
	if ver := wantItems(t, ctx, s, "example.org", "alice", []storage.RosterItem{b}); ver != dv {
		t.Fatalf("Roster version %q, DeleteRosterItem returned %q", ver, dv)
	}
	_, err = s.DeleteRosterItem(ctx, "example.org", "alice", "a@example.org")
	wantNotFound(t, "second DeleteRosterItem", err)
	if _, err := s.DeleteRosterItem(ctx, "example.org", "alice", "b@example.org"); err != nil {
		t.Fatal(err)
	}
	items, ver := mustRoster(t, ctx, s, "example.org", "alice")
	if len(items) != 0 || version(t, ver) <= version(t, dv) {
		t.Fatalf("after deleting all: %+v version %q", items, ver)
	}
}

func testRosterVersionIncreases(t *testing.T, ctx context.Context, s RosterStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	_, prev := mustRoster(t, ctx, s, "example.org", "alice")
	for i := range 10 {
		it := storage.RosterItem{JID: fmt.Sprintf("c%d@example.org", i%3), Name: strconv.Itoa(i)}
		v := mustSetItem(t, ctx, s, "example.org", "alice", it)
		if version(t, v) <= version(t, prev) {
			t.Fatalf("change %d: version %q not above %q", i, v, prev)
		}
		if _, got := mustRoster(t, ctx, s, "example.org", "alice"); got != v {
			t.Fatalf("change %d: Roster version %q, SetRosterItem returned %q", i, got, v)
		}
		prev = v
	}
}

func testRosterMissingAccount(t *testing.T, ctx context.Context, s RosterStore) {
	_, err := s.SetRosterItem(ctx, "example.org", "nobody", storage.RosterItem{JID: "a@example.org"})
	wantNotFound(t, "SetRosterItem for missing account", err)
	_, err = s.DeleteRosterItem(ctx, "example.org", "nobody", "a@example.org")
	wantNotFound(t, "DeleteRosterItem for missing account", err)
}

func testRosterPerAccount(t *testing.T, ctx context.Context, s RosterStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	mustCreate(t, ctx, s, "example.net", "alice", nil)
	ai := storage.RosterItem{JID: "x@example.org", Name: "from alice", Subscription: "none"}
	bi := storage.RosterItem{JID: "x@example.org", Name: "from bob", Subscription: "none"}
	mustSetItem(t, ctx, s, "example.org", "alice", ai)
	mustSetItem(t, ctx, s, "example.org", "bob", bi)
	wantItems(t, ctx, s, "example.org", "alice", []storage.RosterItem{ai})
	wantItems(t, ctx, s, "example.org", "bob", []storage.RosterItem{bi})
	if ver := wantItems(t, ctx, s, "example.net", "alice", nil); ver != "0" {
		t.Fatalf("untouched roster version %q", ver)
	}
	if _, err := s.DeleteRosterItem(ctx, "example.org", "bob", "x@example.org"); err != nil {
		t.Fatal(err)
	}
	wantItems(t, ctx, s, "example.org", "alice", []storage.RosterItem{ai})
}

func testRosterDeleteAccount(t *testing.T, ctx context.Context, s RosterStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	bi := storage.RosterItem{JID: "alice@example.org", Subscription: "both"}
	mustSetItem(t, ctx, s, "example.org", "alice", storage.RosterItem{JID: "bob@example.org", Subscription: "both"})
	mustSetItem(t, ctx, s, "example.org", "bob", bi)
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	// Re-creating the account starts from an empty roster at version 0:
	// the old items and version went with the account.
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	if ver := wantItems(t, ctx, s, "example.org", "alice", nil); ver != "0" {
		t.Fatalf("roster version of re-created account %q, want \"0\"", ver)
	}
	wantItems(t, ctx, s, "example.org", "bob", []storage.RosterItem{bi})
}

func testRosterUnicode(t *testing.T, ctx context.Context, s RosterStore) {
	mustCreate(t, ctx, s, "exämple.org", "jürgen", nil)
	it := storage.RosterItem{JID: "张伟@例子.测试", Name: "😀 Ǆ", Subscription: "none", Groups: []string{"Друзья", "a\u0301", "\u00e1"}}
	mustSetItem(t, ctx, s, "exämple.org", "jürgen", it)
	wantItems(t, ctx, s, "exämple.org", "jürgen", []storage.RosterItem{it})
	// JIDs are compared as bytes.
	_, err := s.DeleteRosterItem(ctx, "exämple.org", "jürgen", "张伟@例子.测试 ")
	wantNotFound(t, "DeleteRosterItem with a different JID", err)
}

func testRosterConcurrent(t *testing.T, ctx context.Context, s RosterStore) {
	// Several writers change one roster at once: none fails, every change
	// gets its own version, and the final version counts them all.
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	const workers, perWorker = 8, 10
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				v, err := s.SetRosterItem(ctx, "example.org", "alice", storage.RosterItem{JID: fmt.Sprintf("w%d-%d@example.org", w, i)})
				if err != nil {
					t.Errorf("SetRosterItem: %v", err)
					return
				}
				if _, _, err := s.Roster(ctx, "example.org", "alice"); err != nil {
					t.Errorf("Roster: %v", err)
					return
				}
				mu.Lock()
				if seen[v] {
					t.Errorf("version %q returned twice", v)
				}
				seen[v] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	items, ver := mustRoster(t, ctx, s, "example.org", "alice")
	if len(items) != workers*perWorker {
		t.Fatalf("%d items, want %d", len(items), workers*perWorker)
	}
	if version(t, ver) < workers*perWorker {
		t.Fatalf("version %q after %d changes", ver, workers*perWorker)
	}
}
