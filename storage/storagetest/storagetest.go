// Package storagetest is the conformance suite every storage backend runs.
// A backend's test calls one RunX per interface it implements with a
// factory that returns a fresh, empty store for each subtest:
//
//	func TestAccounts(t *testing.T) {
//		storagetest.RunAccounts(t, func(t *testing.T) storage.Accounts { return newDB(t) })
//	}
//
// The suite is about behaviour a caller may rely on (the contract in
// package storage), so it runs against the real database, never a mock.
// Later concerns (roster, offline, archive) add RunRoster etc. in the same
// shape: a table of named cases over the run helper below.
package storagetest

import (
	"context"
	"testing"
	"time"
)

// testCase is one named check against a fresh store of type S.
type testCase[S any] struct {
	name string
	fn   func(t *testing.T, ctx context.Context, s S)
}

// caseTimeout bounds one case, so a deadlocked backend fails the case
// instead of hanging the whole test binary until go test's timeout.
const caseTimeout = 60 * time.Second

// run runs each case as a subtest with its own store from newStore.
func run[S any](t *testing.T, newStore func(t *testing.T) S, cases []testCase[S]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
			defer cancel()
			tc.fn(t, ctx, newStore(t))
		})
	}
}
