package auth

import (
	"context"
	"errors"
	"testing"
)

// TestCheckPassword: the password check outside SASL (admin web login)
// accepts the right password under the case-mapped name, fails a wrong
// password and an unknown user alike (wrapping ErrCredentials), passes
// the gate first, and reports a store failure as temporary.
func TestCheckPassword(t *testing.T) {
	store := newMemStore()
	store.add(t, "alice", "correct horse")
	gated := ""
	srv := &Server{Store: store, Gate: func(_ context.Context, u string) error { gated = u; return nil }}
	cases := []struct {
		name, user, pw string
		want           string // prepared user on success
		cond           string // failure condition otherwise
		creds          bool   // failure wraps ErrCredentials
	}{
		{"right", "alice", "correct horse", "alice", "", false},
		{"case-mapped", "Alice", "correct horse", "alice", "", false},
		{"wrong password", "alice", "battery", "", CondNotAuthorized, true},
		{"unknown user", "mallory", "correct horse", "", CondNotAuthorized, true},
	}
	for _, c := range cases {
		gated = ""
		got, err := srv.CheckPassword(context.Background(), c.user, c.pw)
		if c.cond == "" {
			if err != nil || got != c.want {
				t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
			}
		} else {
			var f *Failure
			if !errors.As(err, &f) || f.Condition != c.cond || errors.Is(err, ErrCredentials) != c.creds {
				t.Errorf("%s: %v; want %s (ErrCredentials %v)", c.name, err, c.cond, c.creds)
			}
		}
		if gated == "" {
			t.Errorf("%s: the gate did not run", c.name)
		}
	}

	refused := &Server{Store: store, Gate: func(context.Context, string) error { return errors.New("throttled") }}
	if _, err := refused.CheckPassword(context.Background(), "alice", "correct horse"); err == nil || errors.Is(err, ErrCredentials) {
		t.Errorf("gate refusal: %v, want a failure that tested nothing", err)
	}
	store.err = errors.New("disk on fire")
	var f *Failure
	if _, err := srv.CheckPassword(context.Background(), "alice", "correct horse"); !errors.As(err, &f) || f.Condition != CondTemporaryAuthFailure {
		t.Errorf("store failure: %v, want temporary-auth-failure", err)
	}
}
