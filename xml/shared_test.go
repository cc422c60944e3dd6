package xml

import (
	"errors"
	"io"
	"sync"
	"testing"
)

// TestCopiesShareChildren: copies made with WithAttrs write the same
// bytes as a fresh serialization, whichever copy or the original is
// written first, copies of a child included, from parsed and built
// trees, and the children's bytes are kept for the next copy.
func TestCopiesShareChildren(t *testing.T) {
	parsed, err := decodeAll(t, header+`<message type='groupchat' from='r@c/n'><body>a &amp; b &lt;c&gt;</body><x xmlns='urn:x' xmlns:p='urn:p' p:a='1'><y>t</y></x>tail</message>`, DefaultLimits())
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(parsed) != 1 {
		t.Fatal(err, len(parsed))
	}
	built := NewBuilder("message", NSClient).Attr("type", "groupchat").
		Start("body", "").Text("a & b").End().
		Start("stanza-id", "urn:xmpp:sid:0").Attr("id", "1").End().Element()
	fresh := func(e *Element, ns string) string { return string(e.append(nil, ns)) }
	for _, tc := range []struct {
		name string
		el   *Element
	}{{"parsed", parsed[0]}, {"built", built}} {
		t.Run(tc.name, func(t *testing.T) {
			el := tc.el
			var copies []*Element
			for _, to := range []string{"a@b/1", "a@b/2", "c@d/<&'>"} {
				copies = append(copies, el.WithAttrs(Attr{"to", to}))
			}
			child := el.FirstChild().WithAttrs(Attr{"k", "v"})
			for round := range 2 {
				for i, c := range copies {
					for _, ns := range []string{NSClient, ""} {
						if got, want := string(c.Append(nil, ns)), fresh(c, ns); got != want {
							t.Fatalf("round %d copy %d ns %q:\n got %s\nwant %s", round, i, ns, got, want)
						}
					}
				}
				if got, want := el.String(), fresh(el, ""); got != want {
					t.Fatalf("original: got %s want %s", got, want)
				}
				if got, want := string(child.Append(nil, NSClient)), fresh(child, NSClient); got != want {
					t.Fatalf("copy of a child: got %s want %s", got, want)
				}
			}
			if el.impl.t.shared.Load().b == nil {
				t.Fatal("the children's bytes were not kept")
			}
		})
	}
}

// TestCopiesWrittenConcurrently: copies written at once from several
// goroutines (each session's writer) come out whole (go test -race).
func TestCopiesWrittenConcurrently(t *testing.T) {
	el := NewBuilder("message", NSClient).Attr("type", "groupchat").Start("body", "").Text("hi").End().Element()
	want := `<message type='groupchat' to='x@y/z'><body>hi</body></message>`
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 16 {
		c := el.WithAttrs(Attr{"to", "x@y/z"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := string(c.Append(nil, NSClient)); got != want {
				errs <- got
			}
		}()
	}
	wg.Wait()
	close(errs)
	for got := range errs {
		t.Errorf("got %s", got)
	}
}
