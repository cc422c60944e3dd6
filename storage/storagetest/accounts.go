package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/storage"
)

// RunAccounts checks a storage.Accounts implementation against the
// contract. newStore must return a fresh, empty store on every call.
func RunAccounts(t *testing.T, newStore func(t *testing.T) storage.Accounts) {
	t.Helper()
	run(t, newStore, []testCase[storage.Accounts]{
		{"CreateExistsDuplicate", testCreateExistsDuplicate},
		{"CredentialsRoundTrip", testCredentialsRoundTrip},
		{"EmptyAndZeroBytes", testEmptyAndZeroBytes},
		{"SetCredentialsReplacesAll", testSetCredentialsReplacesAll},
		{"NotFound", testNotFound},
		{"DeleteCascades", testDeleteCascades},
		{"ListSorted", testListSorted},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ConcurrentSameAccount", testConcurrentSameAccount},
		{"UnicodeUsernames", testUnicodeUsernames},
		{"CanceledContext", testCanceledContext},
	})
}

// creds returns one credential per hash with distinct, deterministic
// bytes, including 0x00 and 0xff so that text-mangling backends fail.
func creds(seed uint64, hashes ...string) []storage.Credential {
	r := rand.New(rand.NewPCG(seed, 0x786d707064))
	bs := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		b[0], b[n-1] = 0x00, 0xff
		return b
	}
	sizes := map[string]int{"SHA-1": 20, "SHA-256": 32, "SHA-512": 64}
	out := make([]storage.Credential, 0, len(hashes))
	for i, h := range hashes {
		n := sizes[h]
		if n == 0 {
			n = 32
		}
		out = append(out, storage.Credential{
			Hash:       h,
			Salt:       bs(16 + i),
			Iterations: 4096 + i*1000 + int(seed%7),
			StoredKey:  bs(n),
			ServerKey:  bs(n),
		})
	}
	return out
}

var allHashes = []string{"SHA-1", "SHA-256", "SHA-512"}

func mustCreate(t *testing.T, ctx context.Context, s storage.Accounts, domain, user string, cs []storage.Credential) {
	t.Helper()
	if err := s.CreateAccount(ctx, domain, user, cs); err != nil {
		t.Fatalf("CreateAccount(%q, %q): %v", domain, user, err)
	}
}

func wantExists(t *testing.T, ctx context.Context, s storage.Accounts, domain, user string, want bool) {
	t.Helper()
	got, err := s.AccountExists(ctx, domain, user)
	if err != nil {
		t.Fatalf("AccountExists(%q, %q): %v", domain, user, err)
	}
	if got != want {
		t.Fatalf("AccountExists(%q, %q) = %v, want %v", domain, user, got, want)
	}
}

// wantCred checks that the stored credential equals want byte for byte.
func wantCred(t *testing.T, ctx context.Context, s storage.Accounts, domain, user string, want storage.Credential) {
	t.Helper()
	got, err := s.Credential(ctx, domain, user, want.Hash)
	if err != nil {
		t.Fatalf("Credential(%q, %q, %q): %v", domain, user, want.Hash, err)
	}
	if got.Hash != want.Hash || got.Iterations != want.Iterations ||
		!bytes.Equal(got.Salt, want.Salt) || !bytes.Equal(got.StoredKey, want.StoredKey) ||
		!bytes.Equal(got.ServerKey, want.ServerKey) {
		t.Fatalf("Credential(%q, %q, %q)\n got %+v\nwant %+v", domain, user, want.Hash, got, want)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func wantList(t *testing.T, ctx context.Context, s storage.Accounts, domain string, want []string) {
	t.Helper()
	got, err := s.ListAccounts(ctx, domain)
	if err != nil {
		t.Fatalf("ListAccounts(%q): %v", domain, err)
	}
	// nil and empty are the same answer.
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		t.Fatalf("ListAccounts(%q)\n got %q\nwant %q", domain, got, want)
	}
}

func testCreateExistsDuplicate(t *testing.T, ctx context.Context, s storage.Accounts) {
	wantExists(t, ctx, s, "example.org", "alice", false)
	first := creds(1, "SHA-256")
	mustCreate(t, ctx, s, "example.org", "alice", first)
	wantExists(t, ctx, s, "example.org", "alice", true)

	// A duplicate fails with ErrExists and leaves the first credentials.
	err := s.CreateAccount(ctx, "example.org", "alice", creds(2, "SHA-256"))
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("duplicate CreateAccount: err = %v, want ErrExists", err)
	}
	wantCred(t, ctx, s, "example.org", "alice", first[0])

	// Same username in another domain, and another user in the same
	// domain, are different accounts. Keys are exact: no case folding
	// (normalisation is the caller's job).
	mustCreate(t, ctx, s, "example.net", "alice", nil)
	mustCreate(t, ctx, s, "example.org", "bob", nil)
	mustCreate(t, ctx, s, "example.org", "Alice", nil)
	wantExists(t, ctx, s, "example.net", "alice", true)
	wantExists(t, ctx, s, "example.com", "alice", false)
	wantExists(t, ctx, s, "example.org", "carol", false)

	// An account without credentials exists but has none.
	_, err = s.Credential(ctx, "example.net", "alice", "SHA-256")
	wantNotFound(t, "Credential of account created without credentials", err)
}

func testCredentialsRoundTrip(t *testing.T, ctx context.Context, s storage.Accounts) {
	cs := creds(3, allHashes...)
	mustCreate(t, ctx, s, "example.org", "alice", cs)
	for _, c := range cs {
		wantCred(t, ctx, s, "example.org", "alice", c)
	}
	// The returned slices must be the caller's to keep: reading again
	// after mutating one result gives the stored bytes.
	got, err := s.Credential(ctx, "example.org", "alice", "SHA-1")
	if err != nil {
		t.Fatal(err)
	}
	got.StoredKey[0] ^= 0xff
	wantCred(t, ctx, s, "example.org", "alice", cs[0])
}

func testEmptyAndZeroBytes(t *testing.T, ctx context.Context, s storage.Accounts) {
	// Empty salt and all-zero keys survive as they are (not NULL, not
	// trimmed at the first NUL).
	c := storage.Credential{
		Hash:       "SHA-256",
		Salt:       []byte{},
		Iterations: 1,
		StoredKey:  make([]byte, 32),
		ServerKey:  []byte{0, 0, 0, 'a', 0},
	}
	mustCreate(t, ctx, s, "example.org", "zero", []storage.Credential{c})
	got, err := s.Credential(ctx, "example.org", "zero", "SHA-256")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Salt) != 0 || !bytes.Equal(got.StoredKey, c.StoredKey) || !bytes.Equal(got.ServerKey, c.ServerKey) || got.Iterations != 1 {
		t.Fatalf("got %+v, want %+v", got, c)
	}
}

func testSetCredentialsReplacesAll(t *testing.T, ctx context.Context, s storage.Accounts) {
	mustCreate(t, ctx, s, "example.org", "alice", creds(4, "SHA-1", "SHA-256"))
	mustCreate(t, ctx, s, "example.org", "bob", creds(5, "SHA-1", "SHA-256"))

	// Replace two hashes by one: the old ones are gone.
	next := creds(6, "SHA-512")
	if err := s.SetCredentials(ctx, "example.org", "alice", next); err != nil {
		t.Fatalf("SetCredentials: %v", err)
	}
	wantCred(t, ctx, s, "example.org", "alice", next[0])
	for _, h := range []string{"SHA-1", "SHA-256"} {
		_, err := s.Credential(ctx, "example.org", "alice", h)
		wantNotFound(t, "old "+h+" after SetCredentials", err)
	}

	// Replace with new values for the same hashes.
	again := creds(7, allHashes...)
	if err := s.SetCredentials(ctx, "example.org", "alice", again); err != nil {
		t.Fatalf("SetCredentials: %v", err)
	}
	for _, c := range again {
		wantCred(t, ctx, s, "example.org", "alice", c)
	}

	// Another account is untouched.
	for _, c := range creds(5, "SHA-1", "SHA-256") {
		wantCred(t, ctx, s, "example.org", "bob", c)
	}

	// An empty set removes all credentials but keeps the account.
	if err := s.SetCredentials(ctx, "example.org", "alice", nil); err != nil {
		t.Fatalf("SetCredentials(nil): %v", err)
	}
	wantExists(t, ctx, s, "example.org", "alice", true)
	for _, h := range allHashes {
		_, err := s.Credential(ctx, "example.org", "alice", h)
		wantNotFound(t, h+" after SetCredentials(nil)", err)
	}
}

func testNotFound(t *testing.T, ctx context.Context, s storage.Accounts) {
	mustCreate(t, ctx, s, "example.org", "alice", creds(8, "SHA-256"))

	_, err := s.Credential(ctx, "example.org", "nobody", "SHA-256")
	wantNotFound(t, "Credential of missing account", err)
	_, err = s.Credential(ctx, "example.net", "alice", "SHA-256")
	wantNotFound(t, "Credential in other domain", err)
	_, err = s.Credential(ctx, "example.org", "alice", "SHA-1")
	wantNotFound(t, "Credential of missing hash", err)
	_, err = s.Credential(ctx, "example.org", "alice", "sha-256")
	wantNotFound(t, "Credential with hash name in other case", err)

	err = s.SetCredentials(ctx, "example.org", "nobody", creds(9, "SHA-256"))
	wantNotFound(t, "SetCredentials of missing account", err)
	wantExists(t, ctx, s, "example.org", "nobody", false)

	err = s.DeleteAccount(ctx, "example.org", "nobody")
	wantNotFound(t, "DeleteAccount of missing account", err)
	err = s.DeleteAccount(ctx, "example.org", "alice")
	if err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	err = s.DeleteAccount(ctx, "example.org", "alice")
	wantNotFound(t, "second DeleteAccount", err)
}

func testDeleteCascades(t *testing.T, ctx context.Context, s storage.Accounts) {
	mustCreate(t, ctx, s, "example.org", "alice", creds(10, allHashes...))
	keep := creds(11, allHashes...)
	mustCreate(t, ctx, s, "example.org", "bob", keep)

	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	wantExists(t, ctx, s, "example.org", "alice", false)
	for _, h := range allHashes {
		_, err := s.Credential(ctx, "example.org", "alice", h)
		wantNotFound(t, h+" after DeleteAccount", err)
	}
	// Re-creating the account without credentials must not resurrect
	// the old ones: they were deleted, not merely hidden.
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	for _, h := range allHashes {
		_, err := s.Credential(ctx, "example.org", "alice", h)
		wantNotFound(t, h+" after re-create", err)
	}
	for _, c := range keep {
		wantCred(t, ctx, s, "example.org", "bob", c)
	}
}

func testListSorted(t *testing.T, ctx context.Context, s storage.Accounts) {
	wantList(t, ctx, s, "", nil)
	wantList(t, ctx, s, "example.org", nil)

	// Names chosen where byte order, locale order and case-insensitive
	// order disagree.
	org := []string{"zed", "alice", "Bob", "a.b", "a", "a-b", "bob", "ä", "z", "_x", "0", "alice2"}
	net := []string{"mallory", "alice", "Zoe"}
	type acct struct{ domain, user string }
	var all []acct
	for _, u := range org {
		all = append(all, acct{"example.org", u})
	}
	for _, u := range net {
		all = append(all, acct{"example.net", u})
	}
	rand.New(rand.NewPCG(12, 12)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, a := range all {
		mustCreate(t, ctx, s, a.domain, a.user, nil)
	}

	wantOrg := slices.Sorted(slices.Values(org))
	wantList(t, ctx, s, "example.org", wantOrg)
	wantList(t, ctx, s, "example.net", slices.Sorted(slices.Values(net)))
	wantList(t, ctx, s, "example.com", nil)

	var wantAll []string
	for _, a := range all {
		wantAll = append(wantAll, a.user+"@"+a.domain)
	}
	slices.Sort(wantAll)
	wantList(t, ctx, s, "", wantAll)

	// Deleted accounts leave the list.
	if err := s.DeleteAccount(ctx, "example.org", "a"); err != nil {
		t.Fatal(err)
	}
	wantList(t, ctx, s, "example.org", slices.DeleteFunc(wantOrg, func(u string) bool { return u == "a" }))
}

func testConcurrentCreates(t *testing.T, ctx context.Context, s storage.Accounts) {
	// Several goroutines create, read and change their own accounts at
	// once. On SQLite this is where SQLITE_BUSY would surface.
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				user := fmt.Sprintf("w%d-u%02d", w, i)
				cs := creds(uint64(w*1000+i), "SHA-1", "SHA-256")
				if err := s.CreateAccount(ctx, "example.org", user, cs); err != nil {
					errs <- fmt.Errorf("CreateAccount %s: %w", user, err)
					return
				}
				if _, err := s.Credential(ctx, "example.org", user, "SHA-256"); err != nil {
					errs <- fmt.Errorf("credential of %s: %w", user, err)
					return
				}
				if i%5 == 0 {
					if err := s.SetCredentials(ctx, "example.org", user, creds(uint64(w*1000+i), allHashes...)); err != nil {
						errs <- fmt.Errorf("SetCredentials %s: %w", user, err)
						return
					}
				}
				if i%7 == 0 {
					if _, err := s.ListAccounts(ctx, "example.org"); err != nil {
						errs <- fmt.Errorf("ListAccounts: %w", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	got, err := s.ListAccounts(ctx, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != workers*perWorker {
		t.Fatalf("ListAccounts: %d accounts, want %d", len(got), workers*perWorker)
	}
	for w := range workers {
		for i := range perWorker {
			user := fmt.Sprintf("w%d-u%02d", w, i)
			want := creds(uint64(w*1000+i), "SHA-1", "SHA-256")
			if i%5 == 0 {
				want = creds(uint64(w*1000+i), allHashes...)
			}
			for _, c := range want {
				wantCred(t, ctx, s, "example.org", user, c)
			}
		}
	}
}

func testConcurrentSameAccount(t *testing.T, ctx context.Context, s storage.Accounts) {
	// Racing registrations of one name: exactly one wins, the others get
	// ErrExists (not a driver error), and the winner's credentials are
	// stored whole.
	const racers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int
		errs    []error
	)
	for r := range racers {
		wg.Go(func() {
			err := s.CreateAccount(ctx, "example.org", "popular", creds(uint64(100+r), allHashes...))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, r)
			case !errors.Is(err, storage.ErrExists):
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("racing CreateAccount: %v, want nil or ErrExists", err)
	}
	if len(winners) != 1 {
		t.Fatalf("%d racing CreateAccount calls succeeded, want 1", len(winners))
	}
	for _, c := range creds(uint64(100+winners[0]), allHashes...) {
		wantCred(t, ctx, s, "example.org", "popular", c)
	}

	// Racing password changes of one account: all succeed, and the
	// result is one writer's complete set, never a mix.
	for r := range racers {
		wg.Go(func() {
			if err := s.SetCredentials(ctx, "example.org", "popular", creds(uint64(200+r), allHashes...)); err != nil {
				t.Errorf("racing SetCredentials: %v", err)
			}
		})
	}
	wg.Wait()
	first, err := s.Credential(ctx, "example.org", "popular", "SHA-1")
	if err != nil {
		t.Fatal(err)
	}
	for r := range racers {
		cs := creds(uint64(200+r), allHashes...)
		if bytes.Equal(cs[0].StoredKey, first.StoredKey) {
			for _, c := range cs {
				wantCred(t, ctx, s, "example.org", "popular", c)
			}
			return
		}
	}
	t.Fatalf("SHA-1 credential after racing SetCredentials matches no writer: %+v", first)
}

func testUnicodeUsernames(t *testing.T, ctx context.Context, s storage.Accounts) {
	users := []string{"ødegaard", "müller", "张伟", "пётр", "😀", "josé", "ǆ", "a\u0301"}
	for i, u := range users {
		mustCreate(t, ctx, s, "exämple.org", u, creds(uint64(300+i), "SHA-256"))
	}
	for i, u := range users {
		wantExists(t, ctx, s, "exämple.org", u, true)
		wantCred(t, ctx, s, "exämple.org", u, creds(uint64(300+i), "SHA-256")[0])
	}
	// Canonically equivalent but differently encoded names are distinct:
	// the store compares bytes, normalisation happens before it.
	wantExists(t, ctx, s, "exämple.org", "\u00e1", false)
	wantList(t, ctx, s, "exämple.org", slices.Sorted(slices.Values(users)))
	if err := s.DeleteAccount(ctx, "exämple.org", "😀"); err != nil {
		t.Fatal(err)
	}
	wantExists(t, ctx, s, "exämple.org", "😀", false)
}

func testCanceledContext(t *testing.T, ctx context.Context, s storage.Accounts) {
	mustCreate(t, ctx, s, "example.org", "alice", creds(13, "SHA-256"))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.CreateAccount(canceled, "example.org", "bob", nil); err == nil {
		t.Error("CreateAccount with canceled context succeeded")
	}
	if _, err := s.Credential(canceled, "example.org", "alice", "SHA-256"); err == nil {
		t.Error("Credential with canceled context succeeded")
	}
	// The store still works afterwards (no connection left in a bad state).
	wantExists(t, ctx, s, "example.org", "bob", false)
	wantCred(t, ctx, s, "example.org", "alice", creds(13, "SHA-256")[0])
}
