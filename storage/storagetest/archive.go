package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/xmppd/xmppd/storage"
)

// ArchiveStore is what the archive suite needs: archives, and accounts to
// check that deleting one deletes its archive.
type ArchiveStore interface {
	storage.Accounts
	storage.Archive
}

// RunArchive checks a storage.Archive implementation against the
// contract. newStore must return a fresh, empty store on every call.
func RunArchive(t *testing.T, newStore func(t *testing.T) ArchiveStore) {
	t.Helper()
	run(t, newStore, []testCase[ArchiveStore]{
		{"Empty", testArchiveEmpty},
		{"RoundTripInOrder", testArchiveRoundTrip},
		{"CallerIDs", testArchiveCallerIDs},
		{"AppendBatch", testArchiveAppendBatch},
		{"BatchCounts", testArchiveBatchCounts},
		{"WithCounts", testArchiveWithCounts},
		{"Filters", testArchiveFilters},
		{"PageForward", testArchivePageForward},
		{"PageBackward", testArchivePageBackward},
		{"PageWithFilter", testArchivePageWithFilter},
		{"FilterBounds", testArchiveFilterBounds},
		{"UnknownCursor", testArchiveUnknownCursor},
		{"CountOnly", testArchiveCountOnly},
		{"PerArchive", testArchivePerArchive},
		{"Replace", testArchiveReplace},
		{"Delete", testArchiveDelete},
		{"Prune", testArchivePrune},
		{"Trim", testArchiveTrim},
		{"Prefs", testArchivePrefs},
		{"DeleteAccountDeletesArchive", testArchiveDeleteAccount},
	})
}

// archiveT0 is a fixed time with sub-millisecond noise the store drops.
var archiveT0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))

func appendN(t *testing.T, ctx context.Context, s ArchiveStore, archive string, n int, with func(i int) string, at func(i int) time.Time) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		m := storage.ArchivedMessage{
			With:   with(i),
			Time:   at(i),
			Stanza: fmt.Appendf(nil, "<message><body>%d</body></message>", i),
		}
		id, err := s.Append(ctx, archive, m)
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		ids[i] = id
	}
	return ids
}

func byMinute(i int) time.Time { return archiveT0.Add(time.Duration(i) * time.Minute) }
func withBob(int) string       { return "bob@example.org" }

func mustQuery(t *testing.T, ctx context.Context, s ArchiveStore, archive string, q storage.ArchiveQuery) storage.ArchivePage {
	t.Helper()
	p, err := s.QueryArchive(ctx, archive, q)
	if err != nil {
		t.Fatalf("QueryArchive(%q, %+v): %v", archive, q, err)
	}
	return p
}

func pageIDs(p storage.ArchivePage) []string {
	out := []string{}
	for _, m := range p.Items {
		out = append(out, m.ID)
	}
	return out
}

func wantPage(t *testing.T, p storage.ArchivePage, ids []string, count int, complete bool) {
	t.Helper()
	if got := pageIDs(p); !reflect.DeepEqual(got, append([]string{}, ids...)) {
		t.Errorf("page items = %v, want %v", got, ids)
	}
	if p.Count != count {
		t.Errorf("page count = %d, want %d", p.Count, count)
	}
	if p.Complete != complete {
		t.Errorf("page complete = %v, want %v", p.Complete, complete)
	}
}

func testArchiveEmpty(t *testing.T, ctx context.Context, s ArchiveStore) {
	for _, q := range []storage.ArchiveQuery{{Max: 10}, {Max: 10, Last: true}, {Max: 0}} {
		wantPage(t, mustQuery(t, ctx, s, "nobody@example.org", q), nil, 0, true)
	}
}

func testArchiveRoundTrip(t *testing.T, ctx context.Context, s ArchiveStore) {
	const a = "alice@example.org"
	// Appended out of time order, and two in the same millisecond: the
	// archive is ordered by time, then by insertion.
	times := []time.Time{byMinute(2), byMinute(0), byMinute(1), byMinute(1)}
	ids := appendN(t, ctx, s, a, len(times), func(i int) string { return fmt.Sprintf("c%d@example.org", i) },
		func(i int) time.Time { return times[i] })
	seen := map[string]bool{}
	for _, id := range ids {
		if !validID(id) || seen[id] {
			t.Fatalf("generated id %q is not URL-safe or repeats (ids %v)", id, ids)
		}
		seen[id] = true
	}
	p := mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 10})
	wantPage(t, p, []string{ids[1], ids[2], ids[3], ids[0]}, 4, true)
	m := p.Items[3]
	if m.With != "c0@example.org" || string(m.Stanza) != "<message><body>0</body></message>" {
		t.Errorf("item = %+v", m)
	}
	if want := byMinute(2).Truncate(time.Millisecond).UTC(); !m.Time.Equal(want) || m.Time.Location() != time.UTC {
		t.Errorf("item time = %v, want %v (UTC, milliseconds)", m.Time, want)
	}
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func testArchiveCallerIDs(t *testing.T, ctx context.Context, s ArchiveStore) {
	m := storage.ArchivedMessage{ID: "room-msg_1", With: "room@muc.example.org/nick", Time: archiveT0, Stanza: []byte("<message/>")}
	id, err := s.Append(ctx, "room@muc.example.org", m)
	if err != nil || id != m.ID {
		t.Fatalf("Append with ID = %q, %v; want %q", id, err, m.ID)
	}
	// IDs are unique in the whole store, not only in one archive.
	if _, err := s.Append(ctx, "other@muc.example.org", m); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("Append with a duplicate ID: err = %v, want ErrExists", err)
	}
	for _, bad := range []string{"has space", "slash/", "é", string(make([]byte, 65))} {
		m.ID = bad
		if _, err := s.Append(ctx, "room@muc.example.org", m); err == nil {
			t.Errorf("Append with ID %q succeeded", bad)
		}
	}
	wantPage(t, mustQuery(t, ctx, s, "room@muc.example.org", storage.ArchiveQuery{Max: 10}), []string{"room-msg_1"}, 1, true)
}

func testArchiveFilters(t *testing.T, ctx context.Context, s ArchiveStore) {
	const a = "alice@example.org"
	peers := []string{"bob@example.org", "carol@example.org"}
	ids := appendN(t, ctx, s, a, 6, func(i int) string { return peers[i%2] }, byMinute)
	for _, c := range []struct {
		name string
		q    storage.ArchiveQuery
		want []string
	}{
		{"with", storage.ArchiveQuery{With: "carol@example.org"}, []string{ids[1], ids[3], ids[5]}},
		{"with nobody", storage.ArchiveQuery{With: "dave@example.org"}, nil},
		// Start and End are inclusive, and compared at millisecond precision.
		{"start", storage.ArchiveQuery{Start: byMinute(4)}, []string{ids[4], ids[5]}},
		{"end", storage.ArchiveQuery{End: byMinute(1)}, []string{ids[0], ids[1]}},
		{"start end", storage.ArchiveQuery{Start: byMinute(1), End: byMinute(3)}, []string{ids[1], ids[2], ids[3]}},
		{"start end with", storage.ArchiveQuery{Start: byMinute(1), End: byMinute(3), With: "bob@example.org"}, []string{ids[2]}},
		{"ids", storage.ArchiveQuery{IDs: []string{ids[4], "unknown", ids[1]}}, []string{ids[1], ids[4]}},
		{"ids with", storage.ArchiveQuery{IDs: []string{ids[4], ids[1]}, With: "bob@example.org"}, []string{ids[4]}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.q.Max = 10
			wantPage(t, mustQuery(t, ctx, s, a, c.q), c.want, len(c.want), true)
		})
	}
}

func testArchivePageForward(t *testing.T, ctx context.Context, s ArchiveStore) {
	const a = "alice@example.org"
	ids := appendN(t, ctx, s, a, 5, withBob, byMinute)
	p := mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2})
	wantPage(t, p, ids[0:2], 5, false)
	p = mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2, AfterID: ids[1]})
	wantPage(t, p, ids[2:4], 5, false)
	p = mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2, AfterID: ids[3]})
	wantPage(t, p, ids[4:5], 5, true)
	// Exactly max left: complete, since the extra row is not there.
	p = mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2, AfterID: ids[2]})
	wantPage(t, p, ids[3:5], 5, true)
	p = mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2, AfterID: ids[4]})
	wantPage(t, p, nil, 5, true)
	// After and before together: the messages strictly between.
	p = mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 10, AfterID: ids[0], BeforeID: ids[3]})
	wantPage(t, p, ids[1:3], 5, true)
}

func testArchivePageBackward(t *testing.T, ctx context.Context, s ArchiveStore) {
	const a = "alice@example.org"
	ids := appendN(t, ctx, s, a, 5, withBob, byMinute)
	// The last page (RSM empty <before/>), items still oldest first.
	p := mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2, Last: true})
	wantPage(t, p, ids[3:5], 5, false)
	p = mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2, Last: true, BeforeID: ids[3]})
	wantPage(t, p, ids[1:3], 5, false)
	p = mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2, Last: true, BeforeID: ids[1]})
	wantPage(t, p, ids[0:1], 5, true)
	p = mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2, Last: true, BeforeID: ids[0]})
	wantPage(t, p, nil, 5, true)
	// Without Last, BeforeID bounds a forward page.
	p = mustQuery(t, ctx, s, a, storage.ArchiveQuery{Max: 2, BeforeID: ids[4]})
	wantPage(t, p, ids[0:2], 5, false)
}

func testArchivePageWithFilter(t *testing.T, ctx context.Context, s ArchiveStore) {
	const a = "alice@example.org"
	peers := []string{"bob@example.org", "carol@example.org"}
	ids := appendN(t, ctx, s, a, 8, func(i int) string { return peers[i%2] }, byMinute)
	// Carol's: 1 3 5 7. The count is the filter's, not the archive's.
	q := storage.ArchiveQuery{With: "carol@example.org", Max: 2}
	wantPage(t, mustQuery(t, ctx, s, a, q), []string{ids[1], ids[3]}, 4, false)
	q.AfterID = ids[3]
	wantPage(t, mustQuery(t, ctx, s, a, q), []string{ids[5], ids[7]}, 4, true)
	// A cursor that does not match the filter still positions the page.
	q.AfterID = ids[4]
	wantPage(t, mustQuery(t, ctx, s, a, q), []string{ids[5], ids[7]}, 4, true)
	q = storage.ArchiveQuery{Start: byMinute(2), End: byMinute(6), Max: 2, Last: true}
	wantPage(t, mustQuery(t, ctx, s, a, q), []string{ids[5], ids[6]}, 5, false)
}

func testArchiveUnknownCursor(t *testing.T, ctx context.Context, s ArchiveStore) {
	ids := appendN(t, ctx, s, "alice@example.org", 2, withBob, byMinute)
	other := appendN(t, ctx, s, "bob@example.org", 1, withBob, byMinute)
	for _, q := range []storage.ArchiveQuery{
		{Max: 5, AfterID: "unknown"},
		{Max: 5, BeforeID: "unknown"},
		{Max: 5, BeforeID: "unknown", Last: true},
		// Another archive's ID is unknown here.
		{Max: 5, AfterID: other[0]},
		{Max: 0, AfterID: "unknown"},
	} {
		if _, err := s.QueryArchive(ctx, "alice@example.org", q); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("QueryArchive(%+v): err = %v, want ErrNotFound", q, err)
		}
	}
	wantPage(t, mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{Max: 5, AfterID: ids[0]}), ids[1:], 2, true)
}

func testArchiveCountOnly(t *testing.T, ctx context.Context, s ArchiveStore) {
	ids := appendN(t, ctx, s, "alice@example.org", 3, withBob, byMinute)
	wantPage(t, mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{}), nil, 3, false)
	wantPage(t, mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{AfterID: ids[2]}), nil, 3, true)
}

func testArchivePerArchive(t *testing.T, ctx context.Context, s ArchiveStore) {
	a := appendN(t, ctx, s, "alice@example.org", 2, withBob, byMinute)
	b := appendN(t, ctx, s, "room@muc.example.org", 3, withBob, byMinute)
	wantPage(t, mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{Max: 10}), a, 2, true)
	wantPage(t, mustQuery(t, ctx, s, "room@muc.example.org", storage.ArchiveQuery{Max: 10}), b, 3, true)
	// IDs of another archive are not found through the ids filter either.
	wantPage(t, mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{Max: 10, IDs: b}), nil, 0, true)
}

func testArchiveReplace(t *testing.T, ctx context.Context, s ArchiveStore) {
	ids := appendN(t, ctx, s, "room@muc.example.org", 3, withBob, byMinute)
	other := appendN(t, ctx, s, "alice@example.org", 1, withBob, byMinute)
	tomb := []byte("<message><retracted xmlns='urn:xmpp:message-retract:1'/></message>")
	if err := s.ReplaceArchived(ctx, "room@muc.example.org", ids[1], tomb); err != nil {
		t.Fatal(err)
	}
	before := mustQuery(t, ctx, s, "room@muc.example.org", storage.ArchiveQuery{Max: 10})
	wantPage(t, before, ids, 3, true)
	if got := string(before.Items[1].Stanza); got != string(tomb) {
		t.Errorf("replaced stanza = %q", got)
	}
	if it := before.Items[1]; it.With != "bob@example.org" || !it.Time.Equal(byMinute(1).Truncate(time.Millisecond)) {
		t.Errorf("replace changed With or Time: %+v", it)
	}
	if got := string(before.Items[0].Stanza); got != "<message><body>0</body></message>" {
		t.Errorf("neighbour changed: %q", got)
	}
	// Unknown ids, and an id of another archive, are not found.
	for _, c := range []struct{ archive, id string }{
		{"room@muc.example.org", "no-such-id"},
		{"room@muc.example.org", other[0]},
		{"nobody@example.org", ids[0]},
	} {
		if err := s.ReplaceArchived(ctx, c.archive, c.id, tomb); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("ReplaceArchived(%s, %s): err = %v, want ErrNotFound", c.archive, c.id, err)
		}
	}
	if p := mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{Max: 10}); string(p.Items[0].Stanza) != "<message><body>0</body></message>" {
		t.Errorf("another archive's message changed: %q", p.Items[0].Stanza)
	}
}

func testArchiveDelete(t *testing.T, ctx context.Context, s ArchiveStore) {
	appendN(t, ctx, s, "alice@example.org", 3, withBob, byMinute)
	keep := appendN(t, ctx, s, "bob@example.org", 1, withBob, byMinute)
	if err := s.SetArchivePrefs(ctx, "alice@example.org", storage.ArchivePrefs{Default: storage.ArchiveNever}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteArchive(ctx, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	wantPage(t, mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{Max: 10}), nil, 0, true)
	if _, err := s.ArchivePrefs(ctx, "alice@example.org"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("prefs after DeleteArchive: err = %v, want ErrNotFound", err)
	}
	wantPage(t, mustQuery(t, ctx, s, "bob@example.org", storage.ArchiveQuery{Max: 10}), keep, 1, true)
	if err := s.DeleteArchive(ctx, "nobody@example.org"); err != nil {
		t.Errorf("DeleteArchive of an unknown archive: %v", err)
	}
}

func testArchivePrune(t *testing.T, ctx context.Context, s ArchiveStore) {
	a := appendN(t, ctx, s, "alice@example.org", 4, withBob, byMinute)                                       // minutes 0-3
	b := appendN(t, ctx, s, "bob@example.org", 4, withBob, func(i int) time.Time { return byMinute(i + 1) }) // 1-4
	// Older than minute 3: alice 0 1 2, bob 1 2 (five), two at a time.
	total := 0
	for {
		n, err := s.PruneArchives(ctx, byMinute(3), 2)
		if err != nil {
			t.Fatal(err)
		}
		if n > 2 {
			t.Fatalf("PruneArchives deleted %d, limit 2", n)
		}
		total += n
		if n < 2 {
			break
		}
	}
	if total != 5 {
		t.Fatalf("pruned %d messages, want 5", total)
	}
	wantPage(t, mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{Max: 10}), a[3:], 1, true)
	wantPage(t, mustQuery(t, ctx, s, "bob@example.org", storage.ArchiveQuery{Max: 10}), b[2:], 2, true)
}

func testArchiveTrim(t *testing.T, ctx context.Context, s ArchiveStore) {
	a := appendN(t, ctx, s, "alice@example.org", 5, withBob, byMinute)
	b := appendN(t, ctx, s, "bob@example.org", 2, withBob, byMinute)
	for _, c := range []struct {
		keep, deleted int
		left          []string
	}{
		{10, 0, a},
		{5, 0, a},
		{3, 2, a[2:]},
		{0, 3, nil},
	} {
		n, err := s.TrimArchive(ctx, "alice@example.org", c.keep)
		if err != nil {
			t.Fatal(err)
		}
		if n != c.deleted {
			t.Errorf("TrimArchive(keep %d) deleted %d, want %d", c.keep, n, c.deleted)
		}
		wantPage(t, mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{Max: 10}), c.left, len(c.left), true)
	}
	wantPage(t, mustQuery(t, ctx, s, "bob@example.org", storage.ArchiveQuery{Max: 10}), b, 2, true)
}

func testArchivePrefs(t *testing.T, ctx context.Context, s ArchiveStore) {
	const a = "alice@example.org"
	if _, err := s.ArchivePrefs(ctx, a); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("prefs never set: err = %v, want ErrNotFound", err)
	}
	set := func(p storage.ArchivePrefs) {
		t.Helper()
		if err := s.SetArchivePrefs(ctx, a, p); err != nil {
			t.Fatalf("SetArchivePrefs(%+v): %v", p, err)
		}
	}
	get := func(want storage.ArchivePrefs) {
		t.Helper()
		got, err := s.ArchivePrefs(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ArchivePrefs = %+v, want %+v", got, want)
		}
	}
	set(storage.ArchivePrefs{Default: storage.ArchiveRoster,
		Always: []string{"zed@example.org", "bob@example.org", "bob@example.org"},
		Never:  []string{"eve@example.org"}})
	get(storage.ArchivePrefs{Default: storage.ArchiveRoster,
		Always: []string{"bob@example.org", "zed@example.org"},
		Never:  []string{"eve@example.org"}})
	// Replaced whole; a JID in both lists is never archived.
	set(storage.ArchivePrefs{Default: storage.ArchiveAlways, Always: []string{"eve@example.org"}, Never: []string{"eve@example.org"}})
	get(storage.ArchivePrefs{Default: storage.ArchiveAlways, Never: []string{"eve@example.org"}})
	set(storage.ArchivePrefs{Default: storage.ArchiveNever})
	get(storage.ArchivePrefs{Default: storage.ArchiveNever})
	if err := s.SetArchivePrefs(ctx, a, storage.ArchivePrefs{Default: "sometimes"}); err == nil {
		t.Error("SetArchivePrefs with an invalid default succeeded")
	}
	get(storage.ArchivePrefs{Default: storage.ArchiveNever})
	// Prefs are per archive.
	if _, err := s.ArchivePrefs(ctx, "bob@example.org"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("other archive's prefs: err = %v, want ErrNotFound", err)
	}
}

func testArchiveDeleteAccount(t *testing.T, ctx context.Context, s ArchiveStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	appendN(t, ctx, s, "alice@example.org", 2, withBob, byMinute)
	keep := appendN(t, ctx, s, "alice@other.example", 1, withBob, byMinute)
	if err := s.SetArchivePrefs(ctx, "alice@example.org", storage.ArchivePrefs{Default: storage.ArchiveNever}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	wantPage(t, mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{Max: 10}), nil, 0, true)
	if _, err := s.ArchivePrefs(ctx, "alice@example.org"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("prefs after DeleteAccount: err = %v, want ErrNotFound", err)
	}
	wantPage(t, mustQuery(t, ctx, s, "alice@other.example", storage.ArchiveQuery{Max: 10}), keep, 1, true)
}

func testArchiveFilterBounds(t *testing.T, ctx context.Context, s ArchiveStore) {
	const a = "alice@example.org"
	ids := appendN(t, ctx, s, a, 6, withBob, byMinute)
	// The selection is 1..4 (strictly between 0 and 5) and counted so.
	q := storage.ArchiveQuery{FilterAfterID: ids[0], FilterBeforeID: ids[5], Max: 2}
	wantPage(t, mustQuery(t, ctx, s, a, q), ids[1:3], 4, false)
	// Cursors page inside the selection.
	q.AfterID = ids[2]
	wantPage(t, mustQuery(t, ctx, s, a, q), ids[3:5], 4, true)
	q.AfterID, q.Last = "", true
	wantPage(t, mustQuery(t, ctx, s, a, q), ids[3:5], 4, false)
	q.BeforeID = ids[3]
	wantPage(t, mustQuery(t, ctx, s, a, q), ids[1:3], 4, true)
	// A cursor before the selection's bound: the bound wins.
	q = storage.ArchiveQuery{FilterAfterID: ids[2], AfterID: ids[0], Max: 10}
	wantPage(t, mustQuery(t, ctx, s, a, q), ids[3:], 3, true)
	for _, q := range []storage.ArchiveQuery{{FilterAfterID: "nope", Max: 1}, {FilterBeforeID: "nope", Max: 1}} {
		if _, err := s.QueryArchive(ctx, a, q); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("QueryArchive(%+v): err = %v, want ErrNotFound", q, err)
		}
	}
}

func testArchiveAppendBatch(t *testing.T, ctx context.Context, s ArchiveStore) {
	entries := []storage.ArchiveEntry{
		{Archive: "alice@example.org", Message: storage.ArchivedMessage{With: "bob@example.org", Time: byMinute(0), Stanza: []byte("<message>0</message>")}},
		{Archive: "bob@example.org", Message: storage.ArchivedMessage{ID: "given-id", With: "alice@example.org", Time: byMinute(0), Stanza: []byte("<message>1</message>")}},
		{Archive: "alice@example.org", Message: storage.ArchivedMessage{With: "carol@example.org", Time: byMinute(0), Stanza: []byte("<message>2</message>")}},
	}
	if err := s.AppendBatch(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if entries[1].Message.ID != "given-id" || !validID(entries[0].Message.ID) || !validID(entries[2].Message.ID) ||
		entries[0].Message.ID == entries[2].Message.ID {
		t.Fatalf("ids after AppendBatch: %q %q %q", entries[0].Message.ID, entries[1].Message.ID, entries[2].Message.ID)
	}
	// Same millisecond: slice order is archive order.
	p := mustQuery(t, ctx, s, "alice@example.org", storage.ArchiveQuery{Max: 10})
	wantPage(t, p, []string{entries[0].Message.ID, entries[2].Message.ID}, 2, true)
	if string(p.Items[1].Stanza) != "<message>2</message>" || p.Items[1].With != "carol@example.org" {
		t.Errorf("item %+v", p.Items[1])
	}
	wantPage(t, mustQuery(t, ctx, s, "bob@example.org", storage.ArchiveQuery{Max: 10}), []string{"given-id"}, 1, true)

	// All or nothing: a duplicate id fails the batch and stores nothing.
	bad := []storage.ArchiveEntry{
		{Archive: "carol@example.org", Message: storage.ArchivedMessage{Time: byMinute(1), Stanza: []byte("<message/>")}},
		{Archive: "carol@example.org", Message: storage.ArchivedMessage{ID: "given-id", Time: byMinute(1), Stanza: []byte("<message/>")}},
	}
	if err := s.AppendBatch(ctx, bad); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("AppendBatch with a duplicate id: err = %v, want ErrExists", err)
	}
	wantPage(t, mustQuery(t, ctx, s, "carol@example.org", storage.ArchiveQuery{Max: 10}), nil, 0, true)
	// The same when the duplicate comes late in a large batch (backends
	// may have written part of it in earlier statements), and the store
	// takes the next batch.
	bad = nil
	for i := range 250 {
		bad = append(bad, storage.ArchiveEntry{Archive: []string{"carol@example.org", "erin@example.org"}[i%2],
			Message: storage.ArchivedMessage{With: "x@example.org", Time: byMinute(1), Stanza: []byte("<message/>")}})
	}
	bad[230].Message.ID = "given-id"
	if err := s.AppendBatch(ctx, bad); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("AppendBatch of 250 with a duplicate id at 230: err = %v, want ErrExists", err)
	}
	wantPage(t, mustQuery(t, ctx, s, "carol@example.org", storage.ArchiveQuery{Max: 10}), nil, 0, true)
	wantPage(t, mustQuery(t, ctx, s, "erin@example.org", storage.ArchiveQuery{Max: 10}), nil, 0, true)
	for i := range bad {
		bad[i].Message.ID = "" // new ones
	}
	if err := s.AppendBatch(ctx, bad); err != nil {
		t.Fatalf("AppendBatch after a failed one: %v", err)
	}
	if p := mustQuery(t, ctx, s, "erin@example.org", storage.ArchiveQuery{Max: 1}); p.Count != 125 {
		t.Fatalf("after the retried batch: count %d, want 125", p.Count)
	}
	if err := s.AppendBatch(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}

	// A large batch (backends may split it into several statements) in
	// one millisecond keeps slice order too.
	big := make([]storage.ArchiveEntry, 250)
	for i := range big {
		big[i] = storage.ArchiveEntry{Archive: "dave@example.org", Message: storage.ArchivedMessage{
			With: "bob@example.org", Time: byMinute(2), Stanza: fmt.Appendf(nil, "<message>%d</message>", i)}}
	}
	if err := s.AppendBatch(ctx, big); err != nil {
		t.Fatal(err)
	}
	p = mustQuery(t, ctx, s, "dave@example.org", storage.ArchiveQuery{Max: 300})
	if len(p.Items) != len(big) || p.Count != len(big) {
		t.Fatalf("large batch: %d items, count %d", len(p.Items), p.Count)
	}
	for i, it := range p.Items {
		if it.ID != big[i].Message.ID || string(it.Stanza) != fmt.Sprintf("<message>%d</message>", i) {
			t.Fatalf("large batch item %d: %s (%s), want %s", i, it.ID, it.Stanza, big[i].Message.ID)
		}
	}
}

// testArchiveBatchCounts: the whole-archive count (kept apart from the
// rows by some backends) follows batches that mix archives, single
// appends, a failed batch, trimming and deletion.
func testArchiveBatchCounts(t *testing.T, ctx context.Context, s ArchiveStore) {
	count := func(a string) int {
		t.Helper()
		return mustQuery(t, ctx, s, a, storage.ArchiveQuery{}).Count
	}
	msg := func(a string, min int) storage.ArchiveEntry {
		return storage.ArchiveEntry{Archive: a, Message: storage.ArchivedMessage{With: "x@example.org", Time: byMinute(min), Stanza: []byte("<message/>")}}
	}
	var batch []storage.ArchiveEntry
	for i := range 30 {
		batch = append(batch, msg([]string{"a@example.org", "b@example.org", "c@example.org"}[i%3], i))
	}
	batch = append(batch, msg("a@example.org", 40))
	if err := s.AppendBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "b@example.org", msg("b@example.org", 41).Message); err != nil {
		t.Fatal(err)
	}
	// A failed batch counts nothing.
	dup := []storage.ArchiveEntry{msg("a@example.org", 42), msg("c@example.org", 42)}
	dup[1].Message.ID = batch[0].Message.ID
	if err := s.AppendBatch(ctx, dup); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("AppendBatch with a duplicate id: err = %v, want ErrExists", err)
	}
	if a, b, c := count("a@example.org"), count("b@example.org"), count("c@example.org"); a != 11 || b != 11 || c != 10 {
		t.Fatalf("counts %d %d %d, want 11 11 10", a, b, c)
	}
	if _, err := s.TrimArchive(ctx, "a@example.org", 4); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteArchive(ctx, "c@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendBatch(ctx, []storage.ArchiveEntry{msg("a@example.org", 50), msg("c@example.org", 50)}); err != nil {
		t.Fatal(err)
	}
	if a, b, c := count("a@example.org"), count("b@example.org"), count("c@example.org"); a != 5 || b != 11 || c != 1 {
		t.Fatalf("after trim and delete: counts %d %d %d, want 5 11 1", a, b, c)
	}
	// More archives in one batch than one count statement takes (a
	// server's interval under load), some of them twice: each count
	// right.
	batch = nil
	for i := range 2 * 227 {
		batch = append(batch, msg(fmt.Sprintf("n%d@example.org", i%227), 60))
	}
	batch = append(batch, msg("n5@example.org", 61), msg("a@example.org", 61))
	if err := s.AppendBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for i := range 227 {
		want := 2
		if i == 5 {
			want = 3
		}
		if n := count(fmt.Sprintf("n%d@example.org", i)); n != want {
			t.Fatalf("n%d: count %d after a batch over 227 archives, want %d", i, n, want)
		}
	}
	if a := count("a@example.org"); a != 6 {
		t.Fatalf("a: count %d, want 6", a)
	}
}

// testArchiveWithCounts: the count of a 'with' filter alone (kept apart
// from the rows by some backends) follows batches that mix archives and
// peers, single appends, a failed batch, trimming, pruning and deletion,
// and agrees with the count of the same filter with a start bound (which
// backends count from the rows).
func testArchiveWithCounts(t *testing.T, ctx context.Context, s ArchiveStore) {
	count := func(a, with string) int {
		t.Helper()
		n := mustQuery(t, ctx, s, a, storage.ArchiveQuery{With: with}).Count
		if m := mustQuery(t, ctx, s, a, storage.ArchiveQuery{With: with, Start: byMinute(-1)}).Count; m != n {
			t.Fatalf("%s with %s: count %d, with a start bound %d", a, with, n, m)
		}
		return n
	}
	msg := func(a, with string, min int) storage.ArchiveEntry {
		return storage.ArchiveEntry{Archive: a, Message: storage.ArchivedMessage{With: with, Time: byMinute(min), Stanza: []byte("<message/>")}}
	}
	const a, b = "a@example.org", "b@example.org"
	peers := []string{"x@example.org", "y@example.org", "z@example.org/r"}
	var batch []storage.ArchiveEntry
	for i := range 30 {
		batch = append(batch, msg([]string{a, b}[i%2], peers[i%3], i))
	}
	if err := s.AppendBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, a, msg(a, peers[0], 31).Message); err != nil {
		t.Fatal(err)
	}
	dup := []storage.ArchiveEntry{msg(a, peers[0], 32), msg(b, peers[1], 32)}
	dup[1].Message.ID = batch[0].Message.ID
	if err := s.AppendBatch(ctx, dup); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("AppendBatch with a duplicate id: err = %v, want ErrExists", err)
	}
	// a got i = 0, 2, ... 28: peers x at i%3 == 0 (0, 6, 12, 18, 24) and
	// the single append, y at 4, 10, 16, 22, 28, z at 2, 8, 14, 20, 26.
	if x, y, z, none := count(a, peers[0]), count(a, peers[1]), count(a, peers[2]), count(a, "z@example.org"); x != 6 || y != 5 || z != 5 || none != 0 {
		t.Fatalf("a: with counts %d %d %d %d, want 6 5 5 0", x, y, z, none)
	}
	if x := count(b, peers[0]); x != 5 {
		t.Fatalf("b: with count %d, want 5", x)
	}
	// Keep a's last 4 (i = 24, 26, 28, 31): x twice, y once, z once.
	if _, err := s.TrimArchive(ctx, a, 4); err != nil {
		t.Fatal(err)
	}
	if x, y, z := count(a, peers[0]), count(a, peers[1]), count(a, peers[2]); x != 2 || y != 1 || z != 1 {
		t.Fatalf("a after trim: with counts %d %d %d, want 2 1 1", x, y, z)
	}
	// Prune everything before minute 20: b keeps i = 21, 23, 25, 27, 29
	// (x at 21 and 27, y at 25, z at 23 and 29).
	if _, err := s.PruneArchives(ctx, byMinute(20), 1000); err != nil {
		t.Fatal(err)
	}
	if x, y, z := count(b, peers[0]), count(b, peers[1]), count(b, peers[2]); x != 2 || y != 1 || z != 2 {
		t.Fatalf("b after prune: with counts %d %d %d, want 2 1 2", x, y, z)
	}
	if err := s.DeleteArchive(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendBatch(ctx, []storage.ArchiveEntry{msg(b, peers[0], 50)}); err != nil {
		t.Fatal(err)
	}
	if x, y := count(b, peers[0]), count(b, peers[1]); x != 1 || y != 0 {
		t.Fatalf("b after delete: with counts %d %d, want 1 0", x, y)
	}
	if x := count(a, peers[0]); x != 2 {
		t.Fatalf("a after b's delete: with count %d, want 2", x)
	}
}
