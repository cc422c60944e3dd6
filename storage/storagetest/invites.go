package storagetest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
)

// InviteStore is what the invites suite needs: the invites, and accounts
// for them to create.
type InviteStore interface {
	storage.Accounts
	storage.Invites
}

// RunInvites checks a storage.Invites implementation against the contract.
// newStore must return a fresh, empty store on every call.
func RunInvites(t *testing.T, newStore func(t *testing.T) InviteStore) {
	t.Helper()
	run(t, newStore, []testCase[InviteStore]{
		{"RoundTrip", testInviteRoundTrip},
		{"Duplicate", testInviteDuplicate},
		{"Expired", testInviteExpired},
		{"RedeemSingleUse", testInviteRedeemOnce},
		{"RedeemTakenNameKeepsUse", testInviteRedeemTaken},
		{"RedeemBadCredentialsKeepsUse", testInviteRedeemBadCreds},
		{"RedeemMultiUse", testInviteRedeemMulti},
		{"UseWithoutAccount", testInviteUse},
		{"AdminRole", testInviteAdmin},
		{"ListAndRevoke", testInviteListRevoke},
		{"DeleteExpired", testInviteDeleteExpired},
		{"ConcurrentRedeem", testInviteConcurrentRedeem},
	})
}

var inviteAt = time.UnixMilli(1_700_000_000_123).UTC()

func newInvite(id string, uses int) storage.Invite {
	return storage.Invite{
		ID: id, TokenHash: []byte("hash-of-" + id + "\x00\xff"), Domain: "example.org",
		Creator: "alice@example.org", UsesLeft: uses,
		Created: inviteAt, Expires: inviteAt.Add(time.Hour),
	}
}

func mustCreateInvite(t *testing.T, ctx context.Context, s InviteStore, inv storage.Invite) {
	t.Helper()
	if err := s.CreateInvite(ctx, inv); err != nil {
		t.Fatalf("CreateInvite(%+v): %v", inv, err)
	}
}

func testInviteRoundTrip(t *testing.T, ctx context.Context, s InviteStore) {
	inv := newInvite("a1", 1)
	inv.Username = "romeo"
	inv.Admin = true
	mustCreateInvite(t, ctx, s, inv)
	got, err := s.Invite(ctx, inv.TokenHash, inviteAt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, inv) {
		t.Fatalf("Invite =\n%+v\nwant\n%+v", got, inv)
	}
	if _, err := s.Invite(ctx, []byte("other"), inviteAt); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown token: err = %v, want ErrNotFound", err)
	}
}

func testInviteDuplicate(t *testing.T, ctx context.Context, s InviteStore) {
	inv := newInvite("a1", 1)
	mustCreateInvite(t, ctx, s, inv)
	sameID := newInvite("a1", 1)
	sameID.TokenHash = []byte("another")
	sameHash := newInvite("a2", 1)
	sameHash.TokenHash = inv.TokenHash
	for _, d := range []storage.Invite{sameID, sameHash} {
		if err := s.CreateInvite(ctx, d); !errors.Is(err, storage.ErrExists) {
			t.Errorf("CreateInvite(%s) again: err = %v, want ErrExists", d.ID, err)
		}
	}
}

func testInviteExpired(t *testing.T, ctx context.Context, s InviteStore) {
	inv := newInvite("a1", 1)
	mustCreateInvite(t, ctx, s, inv)
	if _, err := s.Invite(ctx, inv.TokenHash, inv.Expires.Add(-time.Millisecond)); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	if _, err := s.Invite(ctx, inv.TokenHash, inv.Expires); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("at expiry: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RedeemInvite(ctx, inv.TokenHash, inv.Expires, "bob", nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("redeem at expiry: err = %v, want ErrNotFound", err)
	}
	wantExists(t, ctx, s, "example.org", "bob", false)
}

func testInviteRedeemOnce(t *testing.T, ctx context.Context, s InviteStore) {
	inv := newInvite("a1", 1)
	mustCreateInvite(t, ctx, s, inv)
	creds := []storage.Credential{{Hash: "SHA-256", Salt: []byte{0, 1}, Iterations: 4096, StoredKey: []byte{2}, ServerKey: []byte{3}}}
	got, err := s.RedeemInvite(ctx, inv.TokenHash, inviteAt, "bob", creds)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "a1" || got.UsesLeft != 1 || got.Creator != "alice@example.org" {
		t.Fatalf("RedeemInvite = %+v, want the invite as it was", got)
	}
	wantExists(t, ctx, s, "example.org", "bob", true)
	c, err := s.Credential(ctx, "example.org", "bob", "SHA-256")
	if err != nil || !reflect.DeepEqual(c, creds[0]) {
		t.Fatalf("Credential = %+v, %v; want %+v", c, err, creds[0])
	}
	if _, err := s.Invite(ctx, inv.TokenHash, inviteAt); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("used invite: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RedeemInvite(ctx, inv.TokenHash, inviteAt, "carol", nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second redeem: err = %v, want ErrNotFound", err)
	}
	wantExists(t, ctx, s, "example.org", "carol", false)
	if l, err := s.ListInvites(ctx, "", inviteAt); err != nil || len(l) != 0 {
		t.Fatalf("ListInvites after the last use = %+v, %v; want none", l, err)
	}
}

func testInviteRedeemTaken(t *testing.T, ctx context.Context, s InviteStore) {
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	inv := newInvite("a1", 1)
	mustCreateInvite(t, ctx, s, inv)
	if _, err := s.RedeemInvite(ctx, inv.TokenHash, inviteAt, "bob", nil); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("redeem for a taken name: err = %v, want ErrExists", err)
	}
	if got, err := s.Invite(ctx, inv.TokenHash, inviteAt); err != nil || got.UsesLeft != 1 {
		t.Fatalf("after a failed redeem: %+v, %v; want the use kept", got, err)
	}
}

func testInviteRedeemBadCreds(t *testing.T, ctx context.Context, s InviteStore) {
	inv := newInvite("a1", 1)
	mustCreateInvite(t, ctx, s, inv)
	bad := []storage.Credential{{Hash: "SHA-1", Iterations: 0}}
	if _, err := s.RedeemInvite(ctx, inv.TokenHash, inviteAt, "bob", bad); err == nil {
		t.Fatal("redeem with invalid credentials succeeded")
	}
	wantExists(t, ctx, s, "example.org", "bob", false)
	if _, err := s.Invite(ctx, inv.TokenHash, inviteAt); err != nil {
		t.Fatalf("after a failed redeem: %v; want the invite kept", err)
	}
}

func testInviteRedeemMulti(t *testing.T, ctx context.Context, s InviteStore) {
	inv := newInvite("a1", 2)
	mustCreateInvite(t, ctx, s, inv)
	if got, err := s.RedeemInvite(ctx, inv.TokenHash, inviteAt, "bob", nil); err != nil || got.UsesLeft != 2 {
		t.Fatalf("first redeem = %+v, %v", got, err)
	}
	if got, err := s.Invite(ctx, inv.TokenHash, inviteAt); err != nil || got.UsesLeft != 1 {
		t.Fatalf("after one use: %+v, %v; want 1 use left", got, err)
	}
	if got, err := s.RedeemInvite(ctx, inv.TokenHash, inviteAt, "carol", nil); err != nil || got.UsesLeft != 1 {
		t.Fatalf("second redeem = %+v, %v", got, err)
	}
	if _, err := s.RedeemInvite(ctx, inv.TokenHash, inviteAt, "dave", nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("third redeem: err = %v, want ErrNotFound", err)
	}
	for u, want := range map[string]bool{"bob": true, "carol": true, "dave": false} {
		wantExists(t, ctx, s, "example.org", u, want)
	}
}

func testInviteUse(t *testing.T, ctx context.Context, s InviteStore) {
	inv := newInvite("a1", 2)
	mustCreateInvite(t, ctx, s, inv)
	if got, err := s.UseInvite(ctx, inv.TokenHash, inviteAt); err != nil || got.UsesLeft != 2 || got.ID != "a1" {
		t.Fatalf("first use = %+v, %v", got, err)
	}
	if got, err := s.RedeemInvite(ctx, inv.TokenHash, inviteAt, "bob", nil); err != nil || got.UsesLeft != 1 {
		t.Fatalf("redeem after a use = %+v, %v", got, err)
	}
	if _, err := s.UseInvite(ctx, inv.TokenHash, inviteAt); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("use of a used-up invite: err = %v, want ErrNotFound", err)
	}
	expired := newInvite("a2", 1)
	mustCreateInvite(t, ctx, s, expired)
	if _, err := s.UseInvite(ctx, expired.TokenHash, expired.Expires); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("use at expiry: err = %v, want ErrNotFound", err)
	}
	if users, err := s.ListAccounts(ctx, "example.org"); err != nil || len(users) != 1 {
		t.Fatalf("accounts = %v, %v; want bob only", users, err)
	}
}

func testInviteAdmin(t *testing.T, ctx context.Context, s InviteStore) {
	plain, admin := newInvite("p", 1), newInvite("a", 1)
	admin.Admin = true
	mustCreateInvite(t, ctx, s, plain)
	mustCreateInvite(t, ctx, s, admin)
	if _, err := s.RedeemInvite(ctx, plain.TokenHash, inviteAt, "bob", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemInvite(ctx, admin.TokenHash, inviteAt, "root", nil); err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]bool{"bob": false, "root": true, "nobody": false} {
		if got, err := s.AccountAdmin(ctx, "example.org", u); err != nil || got != want {
			t.Errorf("AccountAdmin(%s) = %v, %v; want %v", u, got, err, want)
		}
	}
	if got, err := s.AccountAdmin(ctx, "other.org", "root"); err != nil || got {
		t.Errorf("AccountAdmin(root@other.org) = %v, %v; want false", got, err)
	}
	// The role goes with the account: a new account of the same name is
	// not an admin.
	if err := s.DeleteAccount(ctx, "example.org", "root"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, ctx, s, "example.org", "root", nil)
	if got, err := s.AccountAdmin(ctx, "example.org", "root"); err != nil || got {
		t.Errorf("AccountAdmin after delete and re-create = %v, %v; want false", got, err)
	}
}

func testInviteListRevoke(t *testing.T, ctx context.Context, s InviteStore) {
	a, b, c := newInvite("a", 1), newInvite("b", 3), newInvite("c", 1)
	b.Created = inviteAt.Add(time.Second)
	c.Domain = "other.org"
	c.Created = inviteAt.Add(-time.Second)
	gone := newInvite("gone", 1)
	gone.Expires = inviteAt
	for _, inv := range []storage.Invite{b, a, c, gone} {
		mustCreateInvite(t, ctx, s, inv)
	}
	ids := func(domain string) []string {
		t.Helper()
		l, err := s.ListInvites(ctx, domain, inviteAt)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, inv := range l {
			out = append(out, inv.ID)
		}
		return out
	}
	if got, want := ids(""), []string{"c", "a", "b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListInvites(all) = %v, want %v (oldest first, expired left out)", got, want)
	}
	if got, want := ids("example.org"), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListInvites(example.org) = %v, want %v", got, want)
	}
	if err := s.RevokeInvite(ctx, "other.org", "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("revoke of another domain's invite: err = %v, want ErrNotFound", err)
	}
	if err := s.RevokeInvite(ctx, "example.org", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeInvite(ctx, "example.org", "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second revoke: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RedeemInvite(ctx, a.TokenHash, inviteAt, "bob", nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("redeem of a revoked invite: err = %v, want ErrNotFound", err)
	}
	if got, want := ids("example.org"), []string{"b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after revoke: %v, want %v", got, want)
	}
}

func testInviteDeleteExpired(t *testing.T, ctx context.Context, s InviteStore) {
	a, b := newInvite("a", 1), newInvite("b", 1)
	b.Expires = inviteAt.Add(2 * time.Hour)
	mustCreateInvite(t, ctx, s, a)
	mustCreateInvite(t, ctx, s, b)
	n, err := s.DeleteExpiredInvites(ctx, a.Expires)
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredInvites = %d, %v; want 1", n, err)
	}
	if l, err := s.ListInvites(ctx, "", inviteAt); err != nil || len(l) != 1 || l[0].ID != "b" {
		t.Fatalf("left: %+v, %v; want b", l, err)
	}
}

// testInviteConcurrentRedeem: a single-use invite redeemed by several
// clients at once creates one account.
func testInviteConcurrentRedeem(t *testing.T, ctx context.Context, s InviteStore) {
	inv := newInvite("a1", 1)
	mustCreateInvite(t, ctx, s, inv)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.RedeemInvite(ctx, inv.TokenHash, inviteAt, "user"+string(rune('a'+i)), nil)
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, storage.ErrNotFound):
			t.Errorf("redeem %d: %v", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d redemptions of a single-use invite succeeded, want 1", ok)
	}
	users, err := s.ListAccounts(ctx, "example.org")
	if err != nil || len(users) != 1 {
		t.Fatalf("accounts = %v, %v; want one", users, err)
	}
}
