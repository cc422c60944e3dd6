package jid

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		in                      string
		want                    string // canonical String(); "" means same as in
		local, domain, resource string
	}{
		// RFC 7622 §3.5 valid examples.
		{"juliet@example.com", "", "juliet", "example.com", ""},
		{"juliet@example.com/foo", "", "juliet", "example.com", "foo"},
		{"juliet@example.com/foo bar", "", "juliet", "example.com", "foo bar"},
		{"juliet@example.com/foo@bar", "", "juliet", "example.com", "foo@bar"},
		{`foo\20bar@example.com`, "", `foo\20bar`, "example.com", ""},
		{"fussball@example.com", "", "fussball", "example.com", ""},
		{"fußball@example.com", "", "fußball", "example.com", ""},
		{"π@example.com", "", "π", "example.com", ""},
		{"Σ@example.com/foo", "σ@example.com/foo", "σ", "example.com", "foo"},
		{"σ@example.com/foo", "", "σ", "example.com", "foo"},
		{"ς@example.com/foo", "", "ς", "example.com", "foo"},
		{"king@example.com/♚", "", "king", "example.com", "♚"},
		{"example.com", "", "", "example.com", ""},
		{"example.com/foobar", "", "", "example.com", "foobar"},
		{"a.example.com/b@example.net", "", "", "a.example.com", "b@example.net"},

		// Resource is everything after the first '/'.
		{"juliet@example.com/foo/bar@baz", "", "juliet", "example.com", "foo/bar@baz"},
		{"example.com/a@b/c", "", "", "example.com", "a@b/c"},
		{"juliet@example.com/ foo", "", "juliet", "example.com", " foo"},
		{"juliet@example.com/Balcony", "", "juliet", "example.com", "Balcony"}, // resource keeps case

		// Case folding of local and domain.
		{"JULIET@EXAMPLE.COM/Foo", "juliet@example.com/Foo", "juliet", "example.com", "Foo"},
		{"Juliet@Example.Com", "juliet@example.com", "juliet", "example.com", ""},
		{"ÄÖÜ@MÜNCHEN.DE", "äöü@münchen.de", "äöü", "münchen.de", ""},

		// Width mapping (fullwidth → ASCII).
		{"ＪＵＬＩＥＴ@ｅｘａｍｐｌｅ.com", "juliet@example.com", "juliet", "example.com", ""},

		// IDNA: A-labels are stored as U-labels.
		{"xn--mnchen-3ya.de", "münchen.de", "", "münchen.de", ""},
		{"user@XN--MNCHEN-3YA.DE/r", "user@münchen.de/r", "user", "münchen.de", "r"},
		{"user@faß.de", "", "user", "faß.de", ""}, // non-transitional

		// Trailing dot stripped.
		{"juliet@example.com./foo", "juliet@example.com/foo", "juliet", "example.com", "foo"},
		{"example.com.", "example.com", "", "example.com", ""},
		{"münchen.de。", "münchen.de", "", "münchen.de", ""},

		// IP literals.
		{"juliet@[::1]/foo", "", "juliet", "[::1]", "foo"},
		{"[0:0:0:0:0:0:0:1]", "[::1]", "", "[::1]", ""},
		{"[2001:DB8::1]", "[2001:db8::1]", "", "[2001:db8::1]", ""},
		{"juliet@192.0.2.1", "", "juliet", "192.0.2.1", ""},
		{"192.0.2.1./r", "192.0.2.1/r", "", "192.0.2.1", "r"},

		// Misc.
		{"a@b_c.example", "", "a", "b_c.example", ""},
		{"localhost", "", "", "localhost", ""},
		{"a-b.c-d", "", "", "a-b.c-d", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			j, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if got := j.String(); got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			if j.Local() != tt.local || j.Domain() != tt.domain || j.Resource() != tt.resource {
				t.Errorf("parts = %q %q %q, want %q %q %q", j.Local(), j.Domain(), j.Resource(), tt.local, tt.domain, tt.resource)
			}
			j2, err := Parse(j.String())
			if err != nil || j2 != j {
				t.Errorf("reparse of %q = %#v, %v; want %#v", j.String(), j2, err, j)
			}
			j3, err := New(tt.local, tt.domain, tt.resource)
			if err != nil || j3 != j {
				t.Errorf("New(%q, %q, %q) = %#v, %v; want %#v", tt.local, tt.domain, tt.resource, j3, err, j)
			}
			if j.IsFull() != (tt.resource != "") || j.IsBare() == j.IsFull() || j.IsZero() {
				t.Errorf("IsFull=%v IsBare=%v IsZero=%v", j.IsFull(), j.IsBare(), j.IsZero())
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	long := strings.Repeat("a", 1024)
	tests := []string{
		// RFC 7622 §3.5 invalid examples.
		`"juliet"@example.com`,
		"foo bar@example.com",
		"henry♣@example.com",
		"♚@example.com",
		"juliet@",
		"/foobar",
		"@example.com",
		"juliet@example.com/",

		"",
		"@",
		"/",
		"@/",
		"a@/b",
		"example.com/",
		"juliet@example.com@", // '@' in domain
		"a@b@example.com",     // '@' in domain
		"a&b@example.com",     // RFC 7622 §3.3.1 forbidden characters
		"a'b@example.com",
		"a:b@example.com",
		"a<b@example.com",
		"a>b@example.com",
		"ａ＠b@example.com", // fullwidth '@' maps to '@' in the localpart
		"juliet@example..com",
		"juliet@.example.com",
		"juliet@example.com..",
		".",
		"juliet@-example.com",
		"juliet@example-.com",
		"juliet@ab--cd.com",
		"juliet@xn--.com",
		"juliet@xn--zz-z.com",
		"juliet@exa mple.com",
		"juliet@exa!mple.com",
		"juliet@[::1",
		"juliet@[1.2.3.4]",
		"juliet@[fe80::1%eth0]",
		"juliet@[]",
		"juliet@::1",
		"juliet@example.com/\x00",
		"juliet@example.com/a\tb",
		"jul\x00iet@example.com",
		"juliet@exam\x00ple.com",
		"\xff@example.com",
		"juliet@\xff.com",
		"juliet@example.com/\xff",
		strings.Repeat("a", 64) + ".com",
		long + "@example.com",
		"juliet@example.com/" + long,
		"juliet@" + strings.Repeat(strings.Repeat("a", 63)+".", 16) + "com",
		"juliet@" + strings.Repeat("ü", 60) + ".de", // A-label > 63 octets
	}
	for _, in := range tests {
		j, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want error", in, j.String())
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) error %v does not wrap ErrMalformed", in, err)
		}
		if !j.IsZero() {
			t.Errorf("Parse(%q) returned non-zero JID on error", in)
		}
	}
}

func TestLimits(t *testing.T) {
	l1023 := strings.Repeat("a", 1023)
	if _, err := Parse(l1023 + "@example.com/" + l1023); err != nil {
		t.Errorf("1023-byte local and resource: %v", err)
	}
	// 16 labels of 63 octets plus 15 dots = 1023 bytes.
	d1023 := strings.TrimSuffix(strings.Repeat(strings.Repeat("b", 63)+".", 16), ".")
	if len(d1023) != 1023 {
		t.Fatal(len(d1023))
	}
	j, err := Parse("a@" + d1023 + "./r")
	if err != nil {
		t.Fatalf("1023-byte domain: %v", err)
	}
	if j.Domain() != d1023 {
		t.Error("domain mismatch")
	}
	if _, err := Parse("a@" + d1023 + "a"); err == nil {
		t.Error("1024-byte domain accepted")
	}
	if _, err := Parse("a@" + d1023 + ".c"); err == nil {
		t.Error("1025-byte domain accepted")
	}
	// Limits apply after normalization: 1023 bytes of 2-byte runes is 2046.
	if _, err := Parse(strings.Repeat("é", 512) + "@example.com"); err == nil {
		t.Error("1024-byte non-ASCII localpart accepted")
	}
	if _, err := Parse(strings.Repeat("é", 511) + "x@example.com"); err != nil {
		t.Errorf("1023-byte non-ASCII localpart: %v", err)
	}
	if _, err := Parse("x@example.com/" + strings.Repeat("é", 512)); err == nil {
		t.Error("1024-byte non-ASCII resource accepted")
	}
	if _, err := Parse(strings.Repeat("b", 63) + ".com"); err != nil {
		t.Errorf("63-octet label: %v", err)
	}
}

func TestEquality(t *testing.T) {
	groups := [][]string{
		{"juliet@example.com/balcony", "JULIET@EXAMPLE.COM/balcony", "Juliet@example.com./balcony", "ｊｕｌｉｅｔ@example.com/balcony"},
		{"σ@münchen.de", "Σ@MÜNCHEN.DE", "Σ@xn--mnchen-3ya.de."},
		{"[::1]", "[0::1]", "[0:0:0:0:0:0:0:1]."},
	}
	m := map[JID]int{}
	for gi, g := range groups {
		first := MustParse(g[0])
		for _, s := range g[1:] {
			if j := MustParse(s); j != first {
				t.Errorf("%q != %q (%q vs %q)", s, g[0], j, first)
			}
		}
		m[first] = gi
	}
	if len(m) != len(groups) {
		t.Errorf("map has %d keys", len(m))
	}
	if MustParse("juliet@example.com/balcony") == MustParse("juliet@example.com/Balcony") {
		t.Error("resource must be case-sensitive")
	}
	if MustParse("juliet@example.com") == MustParse("juliet@example.com/r") {
		t.Error("bare == full")
	}
	// A JID built by slicing compares equal to a parsed one.
	full := MustParse("juliet@example.com/balcony")
	if full.Bare() != MustParse("juliet@example.com") {
		t.Error("Bare() != parsed bare")
	}
	if full.DomainJID() != MustParse("example.com") {
		t.Error("DomainJID() != parsed domain")
	}
	if MustParse("example.com/x").Bare() != full.DomainJID() {
		t.Error("domain Bare() != DomainJID()")
	}
}

func TestDerived(t *testing.T) {
	j := MustParse("juliet@example.com/balcony")
	b := j.Bare()
	if b.String() != "juliet@example.com" || !b.IsBare() || b.IsFull() || b.Resource() != "" || b.Local() != "juliet" || b.Domain() != "example.com" {
		t.Errorf("Bare() = %q", b)
	}
	d := j.DomainJID()
	if d.String() != "example.com" || d.Local() != "" || d.Domain() != "example.com" || !d.IsBare() {
		t.Errorf("DomainJID() = %q", d)
	}
	if d2 := d.DomainJID(); d2 != d {
		t.Errorf("DomainJID of domain = %q", d2)
	}
	if MustParse("example.com/x").DomainJID() != d {
		t.Error("DomainJID of domain/resource")
	}

	w, err := j.WithResource("Chamber")
	if err != nil || w.String() != "juliet@example.com/Chamber" || w.Resource() != "Chamber" || w != MustParse("juliet@example.com/Chamber") {
		t.Errorf("WithResource = %q, %v", w, err)
	}
	w, err = b.WithResource("ⅸ") // OpaqueString: NFC only, compatibility chars kept
	if err != nil || w != MustParse("juliet@example.com/ⅸ") {
		t.Errorf("WithResource(ⅸ) = %q, %v", w, err)
	}
	if w, err = j.WithResource(""); err != nil || w != b {
		t.Errorf("WithResource(\"\") = %q, %v", w, err)
	}
	if w, err = j.WithResource("balcony"); err != nil || w != j {
		t.Errorf("WithResource(same) = %q, %v", w, err)
	}
	if w, err = d.WithResource("r"); err != nil || w != MustParse("example.com/r") {
		t.Errorf("domain WithResource = %q, %v", w, err)
	}
	if _, err = j.WithResource("a\x00b"); !errors.Is(err, ErrMalformed) {
		t.Errorf("WithResource(NUL) err = %v", err)
	}
	if _, err = (JID{}).WithResource("r"); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero WithResource err = %v", err)
	}
}

func TestZero(t *testing.T) {
	var z JID
	if !z.IsZero() || z.String() != "" || z.Local() != "" || z.Domain() != "" || z.Resource() != "" {
		t.Error("zero JID accessors")
	}
	if !z.Bare().IsZero() || !z.DomainJID().IsZero() {
		t.Error("zero Bare/DomainJID")
	}
	if z.IsFull() {
		t.Error("zero IsFull")
	}
	if MustParse("example.com").IsZero() {
		t.Error("non-zero IsZero")
	}
}

func TestNew(t *testing.T) {
	j, err := New("Juliet", "Example.COM.", "balcony")
	if err != nil || j != MustParse("juliet@example.com/balcony") {
		t.Errorf("New = %q, %v", j, err)
	}
	j, err = New("", "example.com", "")
	if err != nil || j != MustParse("example.com") {
		t.Errorf("New domain = %q, %v", j, err)
	}
	for _, p := range [][3]string{
		{"a", "", ""},
		{"a@b", "example.com", ""},
		{"a/b", "example.com", ""},
		{"a", "example.com/x", ""},
		{"a", "x@example.com", ""},
		{"a b", "example.com", ""},
		{"a", "example.com", "\x00"},
	} {
		if _, err := New(p[0], p[1], p[2]); !errors.Is(err, ErrMalformed) {
			t.Errorf("New%q err = %v", p, err)
		}
	}
	// Resource may contain '/' and '@' via New too.
	j, err = New("a", "example.com", "x/y@z")
	if err != nil || j != MustParse("a@example.com/x/y@z") {
		t.Errorf("New resource with separators = %q, %v", j, err)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	MustParse("@example.com")
}

// fastPathInputs exercise the ASCII fast paths; each must agree with PRECIS
// / IDNA (the slow path).
var fastPathInputs = []string{
	"juliet", "Juliet", "JULIET", "a", "0", "foo\\20bar", "a.b-c_d+e", "!#$%()*+,-.;=?[]^_`{|}~",
	"example.com", "EXAMPLE.COM", "a-b.c", "xn--mnchen-3ya", "ab--cd", "-a", "a-", "a..b", ".a", "a.",
	"foo bar", " foo", "foo ", " ", "a\tb", "a\x7fb", "1.2.3.256", "123", "a_b", "a@b", "a/b", "a:b",
	strings.Repeat("x", 63), strings.Repeat("x", 64), strings.Repeat("x", 1023), strings.Repeat("x", 1024),
}

func TestFastPaths(t *testing.T) {
	for _, s := range fastPathInputs {
		checkFastPaths(t, s)
	}
	// Every single printable ASCII byte and every pair of interesting ones.
	for c := 0x20; c < 0x7f; c++ {
		checkFastPaths(t, string(rune(c)))
		checkFastPaths(t, "a"+string(rune(c))+"B")
	}
	// The fast paths must actually fire for common input.
	if _, ok := localFast("juliet"); !ok {
		t.Error("localFast(juliet) not taken")
	}
	if _, ok := domainFast("example.com"); !ok {
		t.Error("domainFast(example.com) not taken")
	}
	if _, ok := resourceFast("foo bar"); !ok {
		t.Error("resourceFast(foo bar) not taken")
	}
}

// checkFastPaths asserts fast path == slow path wherever the fast path
// claims the input.
func checkFastPaths(t testing.TB, s string) {
	t.Helper()
	if f, ok := localFast(s); ok {
		if sl, err := localSlow(s); err != nil || sl != f {
			t.Errorf("local %q: fast %q, slow %q, %v", s, f, sl, err)
		}
	}
	if f, ok := resourceFast(s); ok {
		if sl, err := resourceSlow(s); err != nil || sl != f {
			t.Errorf("resource %q: fast %q, slow %q, %v", s, f, sl, err)
		}
	}
	if f, ok := domainFast(s); ok {
		if sl, err := domainSlow(s); err != nil || sl != f {
			t.Errorf("domain %q: fast %q, slow %q, %v", s, f, sl, err)
		}
	}
}

func TestAllocs(t *testing.T) {
	j := MustParse("juliet@example.com/balcony")
	var sink string
	if n := testing.AllocsPerRun(100, func() { sink = j.String() }); n != 0 {
		t.Errorf("String() allocs = %v, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		sink = j.Bare().String() + j.DomainJID().String() + j.Local() + j.Domain() + j.Resource()
	}); n > 1 { // the concatenation itself
		t.Errorf("accessors allocs = %v", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = j.Bare(); _ = j.DomainJID() }); n != 0 {
		t.Errorf("Bare/DomainJID allocs = %v, want 0", n)
	}
	in := "juliet@example.com/balcony"
	if n := testing.AllocsPerRun(100, func() { j, _ = Parse(in) }); n != 0 {
		t.Errorf("Parse(canonical ASCII) allocs = %v, want 0", n)
	}
	if j.String() != in {
		t.Error(j.String())
	}
	in = "Juliet@Example.com./balcony"
	if n := testing.AllocsPerRun(100, func() { j, _ = Parse(in) }); n > 3 {
		t.Errorf("Parse(non-canonical ASCII) allocs = %v, want <= 3", n)
	}
	_ = sink
}
