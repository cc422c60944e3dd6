package auth

import (
	"context"
	"errors"
	"testing"
)

// TestGate: Server.Gate hears the prepared username before the password or
// proof is tested, for a known and an unknown account alike, and its error
// ends the negotiation untested with temporary-auth-failure.
func TestGate(t *testing.T) {
	store := newMemStore()
	store.add(t, "juliet", "pencil")
	var heard []string
	var refuse error
	srv := &Server{Store: store, FakeSaltKey: []byte("k"), Gate: func(_ context.Context, user string) error {
		heard = append(heard, user)
		return refuse
	}}
	tlsCS := ConnState{TLS: &tlsConnState{Version: 0x0304, HandshakeComplete: true}}
	ctx := context.Background()
	plain := func(in string) (*Negotiation, error) {
		n, err := srv.Start(ctx, MechPLAIN, tlsCS)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = n.Step(ctx, []byte(in))
		return n, err
	}
	scram := func(user, pass string) (*Negotiation, error) {
		return exchange(t, srv, MechSCRAMSHA256, ConnState{}, xdgClient(t, MechSCRAMSHA256, user, pass, "").NewConversation())
	}

	for _, tc := range []struct {
		name string
		run  func() (*Negotiation, error)
		user string
		cond string
	}{
		{"plain ok", func() (*Negotiation, error) { return plain("\x00Juliet\x00pencil") }, "juliet", ""},
		{"plain wrong", func() (*Negotiation, error) { return plain("\x00juliet\x00nope") }, "juliet", CondNotAuthorized},
		{"plain unknown", func() (*Negotiation, error) { return plain("\x00romeo\x00pencil") }, "romeo", CondNotAuthorized},
		{"scram ok", func() (*Negotiation, error) { return scram("juliet", "pencil") }, "juliet", ""},
		{"scram wrong", func() (*Negotiation, error) { return scram("juliet", "nope") }, "juliet", CondNotAuthorized},
		{"scram unknown", func() (*Negotiation, error) { return scram("romeo", "x") }, "romeo", CondNotAuthorized},
	} {
		heard = nil
		n, err := tc.run()
		if got := condition(err); got != tc.cond {
			t.Errorf("%s: %q (%v), want %q", tc.name, got, err, tc.cond)
		}
		if len(heard) != 1 || heard[0] != tc.user || n.Attempted() != tc.user {
			t.Errorf("%s: gate heard %q, Attempted %q, want %q once", tc.name, heard, n.Attempted(), tc.user)
		}
	}

	refuse = errors.New("throttled")
	store.calls = 0
	_, err := plain("\x00juliet\x00pencil")
	var f *Failure
	if !errors.As(err, &f) || f.Condition != CondTemporaryAuthFailure || !errors.Is(err, refuse) {
		t.Fatalf("refused by the gate: %v", err)
	}
	if store.calls != 0 {
		t.Fatal("the password was looked up although the gate refused")
	}
	if _, err := scram("juliet", "pencil"); condition(err) != CondTemporaryAuthFailure {
		t.Fatalf("SCRAM refused by the gate: %v", err)
	}
}
