package web

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xml"
)

// The server's output is split at element boundaries and each root gets
// its namespace, whatever quotes, '>' in values, empty and nested
// elements it holds; the frames parse back to the elements written.
func TestSplitAndFrame(t *testing.T) {
	els := []*xml.Element{
		xml.NewBuilder("message", xml.NSClient).Attr("to", "a@b/c").Attr("title", `x > y "q" 'a'`).
			Start("body", "").Text("1 > 0 & <tags> stay text").End().
			Start("x", "urn:other").Start("y", "").End().End().Element(),
		xml.NewBuilder("presence", xml.NSClient).Element(),
		xml.NewBuilder("success", "urn:ietf:params:xml:ns:xmpp-sasl").Element(),
		xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", "xmlns=").Element(),
	}
	var out []byte
	for _, el := range els {
		out = el.Append(out, xml.NSClient)
	}
	out = append(out, "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"...)
	out = append(out, "\n "...) // a keepalive between writes
	var frames []string
	for rest := out; len(strings.TrimSpace(string(rest))) > 0; {
		el, tail, err := nextElement(rest)
		if err != nil {
			t.Fatalf("split %q: %v", rest, err)
		}
		frames = append(frames, string(frame(el)))
		rest = tail
	}
	if len(frames) != len(els)+1 {
		t.Fatalf("%d frames, want %d: %q", len(frames), len(els)+1, frames)
	}
	for i, f := range frames {
		el := parseFrame([]byte(f), xml.DefaultLimits())
		if el == nil {
			t.Fatalf("frame %d does not stand alone: %s", i, f)
		}
		if root := f[:strings.IndexByte(f, '>')]; i < len(els) && !strings.Contains(root, " xmlns='") {
			t.Errorf("frame %d declares no namespace on its root: %s", i, f)
		}
		if i < len(els) {
			if el.Name() != els[i].Name() || el.NS() != els[i].NS() || string(el.Append(nil, "")) != string(els[i].Append(nil, "")) {
				t.Errorf("frame %d: %s, want %s", i, el.Append(nil, ""), els[i].Append(nil, ""))
			}
		} else if el.Name() != "features" || el.NS() != xml.NSStream || !strings.HasPrefix(f, "<stream:features xmlns:stream=") {
			t.Errorf("features frame: %s", f)
		}
	}
	if _, _, err := nextElement([]byte("<message><body>cut")); err == nil {
		t.Error("a cut element was framed")
	}
}
