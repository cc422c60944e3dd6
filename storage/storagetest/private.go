package storagetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/storage"
)

// PrivateStore is what the private XML suite needs: private XML, and
// accounts to own it.
type PrivateStore interface {
	storage.Accounts
	storage.PrivateXML
}

// RunPrivate checks a storage.PrivateXML implementation against the
// contract. newStore must return a fresh, empty store on every call.
func RunPrivate(t *testing.T, newStore func(t *testing.T) PrivateStore) {
	t.Helper()
	run(t, newStore, []testCase[PrivateStore]{
		{"Absent", testPrivateAbsent},
		{"RoundTripReplace", testPrivateRoundTrip},
		{"Delete", testPrivateDelete},
		{"EmptyIsNotDelete", testPrivateEmpty},
		{"KeysAndAccountsApart", testPrivateApart},
		{"MissingAccount", testPrivateMissingAccount},
		{"DeleteAccountCascades", testPrivateDeleteAccount},
		{"LargeBinary", testPrivateLarge},
		{"Keys", testPrivateKeys},
	})
}

func wantPrivate(t *testing.T, ctx context.Context, s PrivateStore, domain, user, key, want string) {
	t.Helper()
	got, err := s.GetPrivate(ctx, domain, user, key)
	if err != nil {
		t.Fatalf("GetPrivate(%q, %q, %q): %v", domain, user, key, err)
	}
	if string(got) != want {
		t.Fatalf("GetPrivate(%q, %q, %q) = %q, want %q", domain, user, key, got, want)
	}
}

func wantNoPrivate(t *testing.T, ctx context.Context, s PrivateStore, domain, user, key string) {
	t.Helper()
	got, err := s.GetPrivate(ctx, domain, user, key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetPrivate(%q, %q, %q) = %q, %v; want ErrNotFound", domain, user, key, got, err)
	}
}

func mustSetPrivate(t *testing.T, ctx context.Context, s PrivateStore, domain, user, key string, data []byte) {
	t.Helper()
	if err := s.SetPrivate(ctx, domain, user, key, data); err != nil {
		t.Fatalf("SetPrivate(%q, %q, %q): %v", domain, user, key, err)
	}
}

func testPrivateAbsent(t *testing.T, ctx context.Context, s PrivateStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantNoPrivate(t, ctx, s, "example.org", "alice", "k")
	wantNoPrivate(t, ctx, s, "example.org", "nobody", "k")
	// Deleting an absent key is not an error.
	mustSetPrivate(t, ctx, s, "example.org", "alice", "k", nil)
}

func testPrivateRoundTrip(t *testing.T, ctx context.Context, s PrivateStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustSetPrivate(t, ctx, s, "example.org", "alice", "k", []byte("<a xmlns='x'>é</a>"))
	wantPrivate(t, ctx, s, "example.org", "alice", "k", "<a xmlns='x'>é</a>")
	mustSetPrivate(t, ctx, s, "example.org", "alice", "k", []byte("<b/>"))
	wantPrivate(t, ctx, s, "example.org", "alice", "k", "<b/>")
}

func testPrivateDelete(t *testing.T, ctx context.Context, s PrivateStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustSetPrivate(t, ctx, s, "example.org", "alice", "k", []byte("<a/>"))
	mustSetPrivate(t, ctx, s, "example.org", "alice", "k2", []byte("<b/>"))
	mustSetPrivate(t, ctx, s, "example.org", "alice", "k", nil)
	wantNoPrivate(t, ctx, s, "example.org", "alice", "k")
	wantPrivate(t, ctx, s, "example.org", "alice", "k2", "<b/>")
}

func testPrivateEmpty(t *testing.T, ctx context.Context, s PrivateStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustSetPrivate(t, ctx, s, "example.org", "alice", "k", []byte{})
	got, err := s.GetPrivate(ctx, "example.org", "alice", "k")
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("GetPrivate after storing empty data = %q (nil %v), %v; want empty, non-nil", got, got == nil, err)
	}
}

func testPrivateApart(t *testing.T, ctx context.Context, s PrivateStore) {
	for _, a := range [][2]string{{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"}} {
		mustCreate(t, ctx, s, a[0], a[1], nil)
	}
	mustSetPrivate(t, ctx, s, "example.org", "alice", "k", []byte("1"))
	mustSetPrivate(t, ctx, s, "example.org", "alice", "K", []byte("2"))
	mustSetPrivate(t, ctx, s, "example.org", "bob", "k", []byte("3"))
	mustSetPrivate(t, ctx, s, "example.net", "alice", "k", []byte("4"))
	wantPrivate(t, ctx, s, "example.org", "alice", "k", "1")
	wantPrivate(t, ctx, s, "example.org", "alice", "K", "2")
	wantPrivate(t, ctx, s, "example.org", "bob", "k", "3")
	wantPrivate(t, ctx, s, "example.net", "alice", "k", "4")
	wantNoPrivate(t, ctx, s, "example.net", "alice", "K")
}

func testPrivateMissingAccount(t *testing.T, ctx context.Context, s PrivateStore) {
	err := s.SetPrivate(ctx, "example.org", "nobody", "k", []byte("<a/>"))
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("SetPrivate for a missing account = %v, want ErrNotFound", err)
	}
	wantNoPrivate(t, ctx, s, "example.org", "nobody", "k")
}

func testPrivateDeleteAccount(t *testing.T, ctx context.Context, s PrivateStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustSetPrivate(t, ctx, s, "example.org", "alice", "k", []byte("<a/>"))
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantNoPrivate(t, ctx, s, "example.org", "alice", "k")
}

func testPrivateLarge(t *testing.T, ctx context.Context, s PrivateStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	data := bytes.Repeat([]byte{0, 0xff, 'x', 0x80}, 64<<10/4)
	key := strings.Repeat("ns:", 100) + " local"
	mustSetPrivate(t, ctx, s, "example.org", "alice", key, data)
	got, err := s.GetPrivate(ctx, "example.org", "alice", key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetPrivate of 64 KiB binary: %d bytes, equal %v, %v", len(got), bytes.Equal(got, data), err)
	}
}

func testPrivateKeys(t *testing.T, ctx context.Context, s PrivateStore) {
	mustCreate(t, ctx, s, "example.org", "alice", creds(1, "SHA-256"))
	mustCreate(t, ctx, s, "example.org", "bob", creds(2, "SHA-256"))
	for _, k := range []string{"{urn:b}y", "vcard-temp", "{urn:a}x"} {
		if err := s.SetPrivate(ctx, "example.org", "alice", k, []byte("<x/>")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetPrivate(ctx, "example.org", "bob", "{urn:c}z", []byte("<z/>")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPrivate(ctx, "example.org", "alice", "{urn:b}y", nil); err != nil { // deleted
		t.Fatal(err)
	}
	keys, err := s.PrivateKeys(ctx, "example.org", "alice")
	if err != nil || strings.Join(keys, " ") != "vcard-temp {urn:a}x" {
		t.Fatalf("PrivateKeys(alice) = %q, %v", keys, err)
	}
	if keys, err := s.PrivateKeys(ctx, "example.org", "nobody"); err != nil || len(keys) != 0 {
		t.Fatalf("PrivateKeys(nobody) = %q, %v", keys, err)
	}
}
