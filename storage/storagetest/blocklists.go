package storagetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/storage"
)

// BlockListStore is what the block list suite needs: block lists, and
// accounts to own them.
type BlockListStore interface {
	storage.Accounts
	storage.BlockLists
}

// RunBlockLists checks a storage.BlockLists implementation against the
// contract. newStore must return a fresh, empty store on every call.
func RunBlockLists(t *testing.T, newStore func(t *testing.T) BlockListStore) {
	t.Helper()
	run(t, newStore, []testCase[BlockListStore]{
		{"Empty", testBlockEmpty},
		{"BlockSortedAndIdempotent", testBlockSorted},
		{"Unblock", testBlockUnblock},
		{"UnblockAll", testBlockUnblockAll},
		{"AccountsApart", testBlockApart},
		{"MissingAccount", testBlockMissingAccount},
		{"DeleteAccountCascades", testBlockDeleteAccount},
		{"Concurrent", testBlockConcurrent},
	})
}

func wantBlockList(t *testing.T, ctx context.Context, s BlockListStore, domain, user string, want ...string) {
	t.Helper()
	got, err := s.BlockList(ctx, domain, user)
	if err != nil {
		t.Fatalf("BlockList(%q, %q): %v", domain, user, err)
	}
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		t.Fatalf("BlockList(%q, %q) = %q, want %q", domain, user, got, want)
	}
}

func mustBlock(t *testing.T, ctx context.Context, s BlockListStore, domain, user string, jids ...string) {
	t.Helper()
	if err := s.Block(ctx, domain, user, jids); err != nil {
		t.Fatalf("Block(%q, %q, %q): %v", domain, user, jids, err)
	}
}

func testBlockEmpty(t *testing.T, ctx context.Context, s BlockListStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantBlockList(t, ctx, s, "example.org", "alice")
	wantBlockList(t, ctx, s, "example.org", "nobody")
	// Removing from an empty list is not an error.
	if err := s.Unblock(ctx, "example.org", "alice", []string{"x@example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UnblockAll(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.Block(ctx, "example.org", "alice", nil); err != nil {
		t.Fatalf("Block with no JIDs: %v", err)
	}
	wantBlockList(t, ctx, s, "example.org", "alice")
}

func testBlockSorted(t *testing.T, ctx context.Context, s BlockListStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	// The four JID forms of XEP-0191 §7, one non-ASCII, one repeated in
	// the same call; ordering is by bytes ("Z" < "a" < "é").
	mustBlock(t, ctx, s, "example.org", "alice", "romeo@montague.net", "montague.net", "romeo@montague.net", "montague.net/orchard")
	mustBlock(t, ctx, s, "example.org", "alice", "romeo@montague.net/balcony", "élise@example.net", "Zed@example.net")
	// Blocking what is already blocked changes nothing.
	mustBlock(t, ctx, s, "example.org", "alice", "montague.net", "romeo@montague.net")
	wantBlockList(t, ctx, s, "example.org", "alice",
		"Zed@example.net", "montague.net", "montague.net/orchard", "romeo@montague.net", "romeo@montague.net/balcony", "élise@example.net")
}

func testBlockUnblock(t *testing.T, ctx context.Context, s BlockListStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustBlock(t, ctx, s, "example.org", "alice", "a@x", "b@x", "c@x", "x", "x/r")
	// Several at once, one absent; JIDs are exact strings, so removing
	// the domain leaves the domain/resource.
	if err := s.Unblock(ctx, "example.org", "alice", []string{"a@x", "x", "absent@x", "c@x"}); err != nil {
		t.Fatal(err)
	}
	wantBlockList(t, ctx, s, "example.org", "alice", "b@x", "x/r")
	if err := s.Unblock(ctx, "example.org", "alice", nil); err != nil {
		t.Fatalf("Unblock with no JIDs: %v", err)
	}
	wantBlockList(t, ctx, s, "example.org", "alice", "b@x", "x/r")
}

func testBlockUnblockAll(t *testing.T, ctx context.Context, s BlockListStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	mustBlock(t, ctx, s, "example.org", "alice", "a@x", "b@x")
	mustBlock(t, ctx, s, "example.org", "bob", "a@x")
	if err := s.UnblockAll(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	wantBlockList(t, ctx, s, "example.org", "alice")
	wantBlockList(t, ctx, s, "example.org", "bob", "a@x")
	// The list can be refilled afterwards.
	mustBlock(t, ctx, s, "example.org", "alice", "c@x")
	wantBlockList(t, ctx, s, "example.org", "alice", "c@x")
}

func testBlockApart(t *testing.T, ctx context.Context, s BlockListStore) {
	for _, a := range [][2]string{{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"}} {
		mustCreate(t, ctx, s, a[0], a[1], nil)
	}
	mustBlock(t, ctx, s, "example.org", "alice", "1@x")
	mustBlock(t, ctx, s, "example.org", "bob", "2@x")
	mustBlock(t, ctx, s, "example.net", "alice", "3@x")
	wantBlockList(t, ctx, s, "example.org", "alice", "1@x")
	wantBlockList(t, ctx, s, "example.org", "bob", "2@x")
	wantBlockList(t, ctx, s, "example.net", "alice", "3@x")
	if err := s.Unblock(ctx, "example.org", "bob", []string{"1@x", "3@x"}); err != nil {
		t.Fatal(err)
	}
	wantBlockList(t, ctx, s, "example.org", "alice", "1@x")
	wantBlockList(t, ctx, s, "example.net", "alice", "3@x")
}

func testBlockMissingAccount(t *testing.T, ctx context.Context, s BlockListStore) {
	err := s.Block(ctx, "example.org", "nobody", []string{"a@x", "b@x"})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Block for a missing account = %v, want ErrNotFound", err)
	}
	wantBlockList(t, ctx, s, "example.org", "nobody")
}

func testBlockDeleteAccount(t *testing.T, ctx context.Context, s BlockListStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustBlock(t, ctx, s, "example.org", "alice", "a@x", "x")
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	wantBlockList(t, ctx, s, "example.org", "alice")
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantBlockList(t, ctx, s, "example.org", "alice")
}

// testBlockConcurrent blocks overlapping sets from several goroutines at
// once: every call succeeds (a duplicate never fails the transaction) and
// the union is stored.
func testBlockConcurrent(t *testing.T, ctx context.Context, s BlockListStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	jids := []string{"a@x", "b@x", "c@x", "d@x", "e@x", "f@x"}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			set := slices.Clone(jids[g : g+3])
			if g%2 == 1 {
				slices.Reverse(set)
			}
			if err := s.Block(ctx, "example.org", "alice", set); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantBlockList(t, ctx, s, "example.org", "alice", jids...)
}
