package xml

import (
	"testing"
)

func TestParseFragments(t *testing.T) {
	a := NewBuilder("a", "urn:x").Attr("k", "v").Text("t<").Element()
	b := NewBuilder("b", "urn:y").Start("c", "").End().Element()
	data := b.Append(a.Append(nil, ""), "")
	els, err := ParseFragments(data)
	if err != nil || len(els) != 2 {
		t.Fatalf("ParseFragments: %v, %d elements", err, len(els))
	}
	if els[0].String() != a.String() || els[1].String() != b.String() {
		t.Errorf("got %s %s, want %s %s", els[0], els[1], a, b)
	}
	if els, err := ParseFragments(nil); err != nil || len(els) != 0 {
		t.Errorf("empty: %v, %d elements", err, len(els))
	}
	if _, err := ParseFragments([]byte("<a xmlns='urn:x'>")); err == nil {
		t.Error("an unclosed element parsed")
	}
}

func TestParseFragment(t *testing.T) {
	a := NewBuilder("a", "urn:x").Attr("k", "v").Text("t<").Element()
	el, err := ParseFragment(a.Append(nil, ""))
	if err != nil || el.String() != a.String() {
		t.Fatalf("ParseFragment: %v, %v", el, err)
	}
	for _, data := range []string{"", "<a xmlns='urn:x'/><b xmlns='urn:x'/>", "<a xmlns='urn:x'>"} {
		if el, err := ParseFragment([]byte(data)); err == nil {
			t.Errorf("ParseFragment(%q) = %s, want an error", data, el)
		}
	}
}
