package xml

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// endReader gives its text, then err: a framing transport reporting the
// peer's end of the stream (RFC 7395 <close/>) through its reader.
type endReader struct {
	r   io.Reader
	err error
}

func (e *endReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

// A decoder put inside a stream whose header came as a value reads its
// elements in the given default namespace, with the stream prefix bound,
// and ends with the reader's ErrStreamEnd.
func TestFramed(t *testing.T) {
	d := NewDecoder(&endReader{r: strings.NewReader(" <message to='a@b'><body>x</body></message><stream:error><x/></stream:error>"), err: ErrStreamEnd}, DefaultLimits())
	d.Framed(NSClient)
	for _, want := range []struct{ name, ns string }{{"message", NSClient}, {"error", NSStream}} {
		el, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if el.Name() != want.name || el.NS() != want.ns {
			t.Fatalf("got {%s}%s, want {%s}%s", el.NS(), el.Name(), want.ns, want.name)
		}
	}
	if _, err := d.Next(); !errors.Is(err, ErrStreamEnd) {
		t.Fatalf("after the elements: %v, want ErrStreamEnd", err)
	}
}
