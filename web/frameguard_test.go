package web

import (
	"bytes"
	"errors"
	"testing"

	"github.com/coder/websocket"
)

// clientFrame builds a masked client frame with a payload of n bytes.
func clientFrame(n int) []byte {
	b := []byte{0x81}
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	b = append(b, 1, 2, 3, 4)
	return append(b, bytes.Repeat([]byte{'x'}, n)...)
}

// The guard follows frame boundaries however the bytes are cut up: every
// split of a stream of frames of the three length forms passes, and a
// frame over the limit is refused wherever its header is cut.
func TestFrameGuardSplits(t *testing.T) {
	var stream []byte
	for _, n := range []int{0, 5, 125, 126, 300, 1 << 16, 70000} {
		stream = append(stream, clientFrame(n)...)
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		status websocket.StatusCode // 0: accepted
	}{
		{"frames", stream, 0},
		{"too big", append(append([]byte{}, stream...), clientFrame(100001)...), websocket.StatusMessageTooBig},
		{"unmasked", append(append([]byte{}, stream...), 0x81, 0x01, 'x'), websocket.StatusProtocolError},
	} {
		for _, cut := range []int{1, 2, 3, 7, 13, 4096} {
			g := &guardConn{limit: 100000}
			var err error
			for i := 0; i < len(tc.data) && err == nil; i += cut {
				err = g.scan(tc.data[i:min(i+cut, len(tc.data))])
			}
			var fe *frameError
			switch {
			case tc.status == 0 && err != nil:
				t.Errorf("%s, cut %d: %v", tc.name, cut, err)
			case tc.status != 0 && (!errors.As(err, &fe) || fe.status != tc.status):
				t.Errorf("%s, cut %d: got %v, want status %d", tc.name, cut, err, tc.status)
			case tc.status == 0 && (g.payload != 0 || g.hn != 0):
				t.Errorf("%s, cut %d: ends mid-frame (payload %d, header %d)", tc.name, cut, g.payload, g.hn)
			}
		}
	}
}

// BenchmarkFrameGuard: the cost the guard adds to reading client frames
// (stanza-sized, read in 4 KiB pieces as the library's bufio does).
func BenchmarkFrameGuard(b *testing.B) {
	var stream []byte
	for range 64 {
		stream = append(stream, clientFrame(400)...)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		g := guardConn{limit: 1 << 20}
		for i := 0; i < len(stream); i += 4096 {
			if err := g.scan(stream[i:min(i+4096, len(stream))]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
