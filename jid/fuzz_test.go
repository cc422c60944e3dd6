package jid

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"juliet@example.com/foo", "Σ@example.com/foo", "fußball@example.com", "king@example.com/♚",
		"a.example.com/b@example.net", "juliet@[::1]/r", "192.0.2.1", "xn--mnchen-3ya.de.",
		`"juliet"@example.com`, "henry♣@example.com", "@example.com", "juliet@example.com/",
		"ＪＵＬＩＥＴ@ｅｘａｍｐｌｅ．ｃｏｍ．/ｘ", "ا@مثال.شبكة/ب", "e\u0301@example.com/e\u0301",
		"a@ß.de/\u2000x", "a@①.com", "ǅ@ǆ.com/ǅ", "a@a\u200db.com", "İ@İ.com/İ", "a@a.b。/c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Fast path == slow path on the raw input and on each piece.
		checkFastPaths(t, s)
		rest, res, _ := strings.Cut(s, "/")
		local, dom, _ := strings.Cut(rest, "@")
		checkFastPaths(t, res)
		checkFastPaths(t, local)
		checkFastPaths(t, dom)

		j, err := Parse(s)
		if err != nil {
			if !j.IsZero() {
				t.Fatalf("Parse(%q) returned %q with error", s, j)
			}
			return
		}
		str := j.String()
		j2, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) ok = %q, but reparse failed: %v", s, str, err)
		}
		if j2 != j {
			t.Fatalf("Parse(%q) = %#v; reparse of %q = %#v", s, j, str, j2)
		}
		want := j.Domain()
		if j.Local() != "" {
			want = j.Local() + "@" + want
		}
		if j.Resource() != "" {
			want += "/" + j.Resource()
		}
		if want != str {
			t.Fatalf("parts %q %q %q do not rebuild %q", j.Local(), j.Domain(), j.Resource(), str)
		}
		if j.Domain() == "" || j.IsZero() || j.IsFull() == j.IsBare() {
			t.Fatalf("bad JID %#v", j)
		}
		if j3, err := New(j.Local(), j.Domain(), j.Resource()); err != nil || j3 != j {
			t.Fatalf("New(parts of %q) = %#v, %v", str, j3, err)
		}
		if b := j.Bare(); b.Resource() != "" || b.Local() != j.Local() || b.Domain() != j.Domain() || MustParse(b.String()) != b {
			t.Fatalf("Bare of %q = %#v", str, b)
		}
		if d := j.DomainJID(); d.String() != j.Domain() || MustParse(d.String()) != d {
			t.Fatalf("DomainJID of %q = %#v", str, d)
		}
	})
}
