//go:build !race

// Under the race detector sync.Pool drops items at random, so the parser
// pool's misses make allocation counts noisy.

package xml

import "testing"

// The stamp is written into the arrays the parse allocates anyway: a
// stamped element costs no allocation more than an unstamped one, where
// WithAttrs costs two (the element and its attributes).
func TestStampAllocs(t *testing.T) {
	const msg = `<message to='bob@example.com/r' type='chat' id='m1'><body>hello</body></message>`
	count := func(stamp bool) float64 {
		r := &repeatReader{s: header}
		d := NewDecoder(r, Limits{})
		if _, err := d.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		if stamp {
			d.Stamp(NSClient, "from", "alice@example.com/phone")
		}
		r.s, r.off = msg, 0
		return testing.AllocsPerRun(200, func() {
			if _, err := d.Next(); err != nil {
				t.Fatal(err)
			}
		})
	}
	plain, stamped := count(false), count(true)
	if stamped > plain {
		t.Errorf("stamped: %.1f allocations per element, unstamped %.1f", stamped, plain)
	}
}

// repeatReader reads s over and over.
type repeatReader struct {
	s   string
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.s[r.off:])
	r.off = (r.off + n) % len(r.s)
	return n, nil
}
