package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
)

// FastStore is what the FAST token suite needs: the tokens, and accounts
// to own them.
type FastStore interface {
	storage.Accounts
	storage.FastTokens
}

// RunFastTokens checks a storage.FastTokens implementation against the
// contract. newStore must return a fresh, empty store on every call.
func RunFastTokens(t *testing.T, newStore func(t *testing.T) FastStore) {
	t.Helper()
	run(t, newStore, []testCase[FastStore]{
		{"IssueAndRead", testFastIssue},
		{"IssueReplacesUnusedNew", testFastReplaceNew},
		{"UseRotates", testFastUse},
		{"UseWithNext", testFastUseNext},
		{"UseUnknown", testFastUseUnknown},
		{"ExpiredHiddenAndPurged", testFastExpired},
		{"Revoke", testFastRevoke},
		{"MissingAccount", testFastMissingAccount},
		{"DeleteAccountCascades", testFastDeleteAccount},
	})
}

var fastAt = time.UnixMilli(1_700_000_000_123).UTC()

func fastTok(agent string, b byte) storage.FastToken {
	return storage.FastToken{
		AgentID: agent, New: true, Mechanism: "HT-SHA-256-NONE",
		Hash: []byte{b, 1, 2, 3}, Label: "Test client",
		Created: fastAt, Expiry: fastAt.Add(time.Hour),
	}
}

func mustIssue(t *testing.T, ctx context.Context, s FastStore, user string, tok storage.FastToken) {
	t.Helper()
	if err := s.IssueFastToken(ctx, "example.org", user, tok); err != nil {
		t.Fatalf("IssueFastToken(%s, %+v): %v", user, tok, err)
	}
}

// wantFast checks the client's live tokens as (hash first byte, new) pairs.
func wantFast(t *testing.T, ctx context.Context, s FastStore, user, agent string, now time.Time, want ...storage.FastToken) {
	t.Helper()
	got, err := s.FastTokens(ctx, "example.org", user, agent, now)
	if err != nil {
		t.Fatalf("FastTokens(%s, %s): %v", user, agent, err)
	}
	if len(got) != len(want) {
		t.Fatalf("FastTokens(%s, %s) = %+v, want %+v", user, agent, got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if string(g.Hash) != string(w.Hash) || g.New != w.New || g.AgentID != w.AgentID || g.Mechanism != w.Mechanism ||
			g.Label != w.Label || !g.Created.Equal(w.Created) || !g.Expiry.Equal(w.Expiry) {
			t.Fatalf("FastTokens(%s, %s)[%d] = %+v, want %+v", user, agent, i, g, w)
		}
	}
}

func asCurrent(tok storage.FastToken) storage.FastToken {
	tok.New = false
	return tok
}

func testFastIssue(t *testing.T, ctx context.Context, s FastStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	wantFast(t, ctx, s, "alice", "a1", fastAt)
	a := fastTok("a1", 1)
	mustIssue(t, ctx, s, "alice", a)
	wantFast(t, ctx, s, "alice", "a1", fastAt, a)
	wantFast(t, ctx, s, "alice", "a2", fastAt)
	wantFast(t, ctx, s, "bob", "a1", fastAt)
}

func testFastReplaceNew(t *testing.T, ctx context.Context, s FastStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustIssue(t, ctx, s, "alice", fastTok("a1", 1))
	b := fastTok("a1", 2)
	mustIssue(t, ctx, s, "alice", b)
	wantFast(t, ctx, s, "alice", "a1", fastAt, b)
}

func testFastUse(t *testing.T, ctx context.Context, s FastStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	a := fastTok("a1", 1)
	mustIssue(t, ctx, s, "alice", a)
	if err := s.UseFastToken(ctx, "example.org", "alice", "a1", a.Hash, nil); err != nil {
		t.Fatalf("UseFastToken(new): %v", err)
	}
	wantFast(t, ctx, s, "alice", "a1", fastAt, asCurrent(a))
	// A rotation: the next token waits in 'new', the used one stays
	// usable until the next is used (XEP-0484 §3.5).
	b := fastTok("a1", 2)
	mustIssue(t, ctx, s, "alice", b)
	wantFast(t, ctx, s, "alice", "a1", fastAt, b, asCurrent(a))
	if err := s.UseFastToken(ctx, "example.org", "alice", "a1", a.Hash, nil); err != nil {
		t.Fatalf("UseFastToken(current): %v", err)
	}
	wantFast(t, ctx, s, "alice", "a1", fastAt, b, asCurrent(a))
	if err := s.UseFastToken(ctx, "example.org", "alice", "a1", b.Hash, nil); err != nil {
		t.Fatalf("UseFastToken(new over current): %v", err)
	}
	wantFast(t, ctx, s, "alice", "a1", fastAt, asCurrent(b))
}

// A rotation in one call: the used token is recorded and the next one
// issued together.
func testFastUseNext(t *testing.T, ctx context.Context, s FastStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	a, b, c := fastTok("a1", 1), fastTok("a1", 2), fastTok("a1", 3)
	mustIssue(t, ctx, s, "alice", a)
	if err := s.UseFastToken(ctx, "example.org", "alice", "a1", a.Hash, &b); err != nil {
		t.Fatalf("UseFastToken(a, next b): %v", err)
	}
	wantFast(t, ctx, s, "alice", "a1", fastAt, b, asCurrent(a))
	// b never arrived: a again, and c replaces b.
	if err := s.UseFastToken(ctx, "example.org", "alice", "a1", a.Hash, &c); err != nil {
		t.Fatalf("UseFastToken(a, next c): %v", err)
	}
	wantFast(t, ctx, s, "alice", "a1", fastAt, c, asCurrent(a))
	wantNotFound(t, "UseFastToken of the replaced b", s.UseFastToken(ctx, "example.org", "alice", "a1", b.Hash, &b))
	wantFast(t, ctx, s, "alice", "a1", fastAt, c, asCurrent(a))
	if err := s.UseFastToken(ctx, "example.org", "alice", "a1", c.Hash, nil); err != nil {
		t.Fatalf("UseFastToken(c): %v", err)
	}
	wantFast(t, ctx, s, "alice", "a1", fastAt, asCurrent(c))
}

func testFastUseUnknown(t *testing.T, ctx context.Context, s FastStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	a := fastTok("a1", 1)
	mustIssue(t, ctx, s, "alice", a)
	wantNotFound(t, "UseFastToken of another hash", s.UseFastToken(ctx, "example.org", "alice", "a1", []byte{9}, nil))
	wantNotFound(t, "UseFastToken of another client", s.UseFastToken(ctx, "example.org", "alice", "a2", a.Hash, nil))
	wantFast(t, ctx, s, "alice", "a1", fastAt, a)
}

func testFastExpired(t *testing.T, ctx context.Context, s FastStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	a := fastTok("a1", 1)
	mustIssue(t, ctx, s, "alice", a)
	wantFast(t, ctx, s, "alice", "a1", a.Expiry.Add(-time.Millisecond), a)
	wantFast(t, ctx, s, "alice", "a1", a.Expiry)
	// Issuing any token of the account drops the expired ones.
	later := fastTok("a2", 2)
	later.Created, later.Expiry = a.Expiry, a.Expiry.Add(time.Hour)
	mustIssue(t, ctx, s, "alice", later)
	all, err := s.ListFastTokens(ctx, "example.org", "alice")
	if err != nil {
		t.Fatalf("ListFastTokens: %v", err)
	}
	if len(all) != 1 || all[0].AgentID != "a2" {
		t.Fatalf("ListFastTokens after expiry = %+v, want only a2's", all)
	}
}

func testFastRevoke(t *testing.T, ctx context.Context, s FastStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	a1 := fastTok("a1", 1)
	mustIssue(t, ctx, s, "alice", a1)
	if err := s.UseFastToken(ctx, "example.org", "alice", "a1", a1.Hash, nil); err != nil {
		t.Fatal(err)
	}
	mustIssue(t, ctx, s, "alice", fastTok("a1", 2))
	mustIssue(t, ctx, s, "alice", fastTok("a2", 3))
	mustIssue(t, ctx, s, "bob", fastTok("a1", 4))
	all, err := s.ListFastTokens(ctx, "example.org", "alice")
	if err != nil {
		t.Fatalf("ListFastTokens: %v", err)
	}
	if len(all) != 3 || all[0].AgentID != "a1" || !all[0].New || all[1].New || all[2].AgentID != "a2" {
		t.Fatalf("ListFastTokens = %+v, want a1 new, a1 current, a2 new", all)
	}
	if n, err := s.RevokeFastTokens(ctx, "example.org", "alice", "a1"); err != nil || n != 2 {
		t.Fatalf("RevokeFastTokens(a1) = %d, %v; want 2", n, err)
	}
	wantFast(t, ctx, s, "alice", "a1", fastAt)
	wantFast(t, ctx, s, "alice", "a2", fastAt, fastTok("a2", 3))
	if n, err := s.RevokeFastTokens(ctx, "example.org", "alice", ""); err != nil || n != 1 {
		t.Fatalf("RevokeFastTokens(all) = %d, %v; want 1", n, err)
	}
	wantFast(t, ctx, s, "alice", "a2", fastAt)
	wantFast(t, ctx, s, "bob", "a1", fastAt, fastTok("a1", 4))
	if n, err := s.RevokeFastTokens(ctx, "example.org", "nobody", ""); err != nil || n != 0 {
		t.Fatalf("RevokeFastTokens(unknown account) = %d, %v; want 0, nil", n, err)
	}
}

func testFastMissingAccount(t *testing.T, ctx context.Context, s FastStore) {
	wantNotFound(t, "IssueFastToken for a missing account", s.IssueFastToken(ctx, "example.org", "nobody", fastTok("a1", 1)))
}

func testFastDeleteAccount(t *testing.T, ctx context.Context, s FastStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustIssue(t, ctx, s, "alice", fastTok("a1", 1))
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantFast(t, ctx, s, "alice", "a1", fastAt)
}
