package storage

import (
	"sort"
	"testing"
	"time"
)

func TestNewArchiveID(t *testing.T) {
	if len(sortable) != 64 || !sort.StringsAreSorted(splitChars(sortable)) {
		t.Fatalf("alphabet not 64 characters in ASCII order: %q", sortable)
	}
	base := time.UnixMilli(1_764_000_000_000)
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		// Times a millisecond to a day apart: ids sort by their time.
		at := base.Add(time.Duration(i*i) * time.Millisecond)
		id := NewArchiveID(at)
		if len(id) != 24 {
			t.Fatalf("id %q: length %d", id, len(id))
		}
		for _, c := range id {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("id %q: character %q", id, c)
			}
		}
		if id[:8] <= prev && i > 0 {
			t.Fatalf("id %q at %v does not sort after %q", id, at, prev)
		}
		prev = id[:8]
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	// Same millisecond: same prefix, different random part.
	a, b := NewArchiveID(base), NewArchiveID(base)
	if a[:8] != b[:8] || a == b {
		t.Errorf("same millisecond: %q and %q", a, b)
	}
}

func splitChars(s string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i : i+1]
	}
	return out
}

func TestArchiveIDTime(t *testing.T) {
	at := time.UnixMilli(1_764_000_123_456)
	for _, tc := range []struct {
		id   string
		want time.Time
		ok   bool
	}{
		{NewArchiveID(at), at, true},
		{"0f710f2b-52ed-4d52-b928-784dad74a52b", time.Time{}, false}, // a UUID (another server's)
		{"short", time.Time{}, false},
		{"!!!!!!!!0123456789abcdef", time.Time{}, false}, // not the alphabet
	} {
		got, ok := ArchiveIDTime(tc.id)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("ArchiveIDTime(%q) = %v, %v; want %v, %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}
}
