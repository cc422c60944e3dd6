package blocking

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// TestCacheBounded: lists of accounts without a session are read from
// storage once and kept only up to the bound, least recently used first
// out; a change while an entry is cached is seen.
func TestCacheBounded(t *testing.T) {
	ctx := t.Context()
	db, err := sqldb.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for i := range 5 {
		u := fmt.Sprintf("u%d", i)
		if err := db.CreateAccount(ctx, "localhost", u, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.Block(ctx, "localhost", u, []string{"x@example.net"}); err != nil {
			t.Fatal(err)
		}
	}
	c := newCache(db, 3)
	for i := range 5 {
		set, err := c.get(ctx, jid.MustParse(fmt.Sprintf("u%d@localhost", i)))
		if err != nil {
			t.Fatal(err)
		}
		if !set.match(jid.MustParse("x@example.net/r")) {
			t.Fatalf("u%d: stored item not matched", i)
		}
	}
	if n := c.size(); n != 3 {
		t.Fatalf("cache holds %d lists, want 3", n)
	}
	// u0 was evicted: a change in storage is read on the next use.
	if err := db.UnblockAll(ctx, "localhost", "u0"); err != nil {
		t.Fatal(err)
	}
	set, err := c.get(ctx, jid.MustParse("u0@localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if set.match(jid.MustParse("x@example.net")) {
		t.Fatal("evicted list served from memory")
	}
}

func TestMatch(t *testing.T) {
	set := newSet([]jid.JID{
		jid.MustParse("full@a.example/res"),
		jid.MustParse("bare@a.example"),
		jid.MustParse("b.example/res"),
		jid.MustParse("c.example"),
	})
	for _, tc := range []struct {
		j    string
		want bool
	}{
		{"full@a.example/res", true},
		{"full@a.example/other", false},
		{"full@a.example", false},
		{"bare@a.example", true},
		{"bare@a.example/any", true},
		{"a.example", false},
		{"b.example/res", true},
		{"b.example/other", false},
		{"b.example", false},
		{"user@b.example/res", false},
		{"c.example", true},
		{"c.example/r", true},
		{"user@c.example", true},
		{"user@c.example/r", true},
		{"sub.c.example", false},
	} {
		if got := set.match(jid.MustParse(tc.j)); got != tc.want {
			t.Errorf("match(%s) = %v, want %v", tc.j, got, tc.want)
		}
	}
}

// TestSessionSet: one session is held without a map (most accounts have
// one; a map per bound account was ~0.25 KiB of an idle session), more
// go into one, and removing the first keeps the others and their marks.
func TestSessionSet(t *testing.T) {
	s1, s2, s3 := &fakeSession{name: "1"}, &fakeSession{name: "2"}, &fakeSession{name: "3"}
	var ss sessionSet
	ss.add(s1)
	if ss.more != nil || ss.len() != 1 {
		t.Fatalf("one session: map %v, len %d", ss.more, ss.len())
	}
	ss.add(s2)
	ss.add(s3)
	ss.mark(s1)
	ss.mark(s3)
	if got := ss.marked(nil); len(got) != 2 {
		t.Fatalf("marked = %v, want 2", got)
	}
	ss.remove(s1)
	if got := ss.marked(nil); ss.len() != 2 || len(got) != 1 || got[0] != s3 {
		t.Fatalf("after removing the first: len %d, marked %v, want [3]", ss.len(), got)
	}
	ss.add(s3) // again: unmarked, as bound does
	if got := ss.marked(nil); len(got) != 0 {
		t.Fatalf("re-added session still marked: %v", got)
	}
	ss.remove(s2)
	ss.remove(s3)
	if ss.len() != 0 || ss.one != nil || ss.more != nil {
		t.Fatalf("emptied set: %+v", ss)
	}
}

// fakeSession is a module.Session for the set's tests: only its identity
// counts.
type fakeSession struct {
	module.Session
	name string
}
