// Package tlsmem gives back the read buffers a crypto/tls connection keeps
// after use. A tls.Conn grows its record buffer (rawInput) and its
// handshake buffer (hand) to the largest record and handshake message it
// has seen — the ClientHello, about 1.8 KB with an X25519MLKEM768 key
// share — and keeps them for the life of the connection
// (golang/go#43563). For an idle XMPP session that is 2.7 KiB of a
// ~18 KiB session, the largest single item (docs/performance.md).
//
// crypto/tls has no API for this, so Release reaches the three unexported
// fields by name. Their layout is checked once with reflect: if a Go
// release renames or retypes them, Release does nothing (and this
// package's test fails, so the loss is noticed rather than silent). It
// only ever replaces an empty buffer with an empty buffer, under the
// connection's own input lock.
package tlsmem

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"sync"
	"unsafe"
)

var layout = func() (l struct {
	ok                  bool
	in, raw, input, hnd uintptr
}) {
	t := reflect.TypeFor[tls.Conn]()
	field := func(name string, typ reflect.Type) (uintptr, bool) {
		f, ok := t.FieldByName(name)
		return f.Offset, ok && f.Type == typ && len(f.Index) == 1
	}
	in, ok := t.FieldByName("in")
	if !ok || len(in.Index) != 1 || in.Type.Kind() != reflect.Struct || in.Type.NumField() == 0 {
		return l
	}
	// halfConn embeds sync.Mutex first: the lock Read holds.
	if mu := in.Type.Field(0); !mu.Anonymous || mu.Offset != 0 || mu.Type != reflect.TypeFor[sync.Mutex]() {
		return l
	}
	l.in = in.Offset
	var ok1, ok2, ok3 bool
	l.raw, ok1 = field("rawInput", reflect.TypeFor[bytes.Buffer]())
	l.input, ok2 = field("input", reflect.TypeFor[bytes.Reader]())
	l.hnd, ok3 = field("hand", reflect.TypeFor[bytes.Buffer]())
	l.ok = ok1 && ok2 && ok3
	return l
}()

// Supported reports whether Release can work with this Go release's
// crypto/tls.
func Supported() bool { return layout.ok }

// Release drops c's input buffers if they hold nothing: no partial record,
// no undelivered plaintext, no partial handshake message. It reports
// whether it did. A Read in progress (which holds the input lock) or
// buffered input make it a no-op; the next Read grows fresh buffers as
// needed. Meant for a connection about to sit idle.
func Release(c *tls.Conn) bool {
	if !layout.ok || c == nil {
		return false
	}
	p := unsafe.Pointer(c)
	mu := (*sync.Mutex)(unsafe.Add(p, layout.in))
	if !mu.TryLock() {
		return false
	}
	defer mu.Unlock()
	raw := (*bytes.Buffer)(unsafe.Add(p, layout.raw))
	input := (*bytes.Reader)(unsafe.Add(p, layout.input))
	hand := (*bytes.Buffer)(unsafe.Add(p, layout.hnd))
	if raw.Len() != 0 || input.Len() != 0 || hand.Len() != 0 {
		return false
	}
	// input still points into rawInput's array: clear it too, or it
	// keeps the array alive.
	*raw, *input, *hand = bytes.Buffer{}, bytes.Reader{}, bytes.Buffer{}
	return true
}

// capacities reports the buffers' capacities, for the test.
func capacities(c *tls.Conn) (raw, hand int) {
	p := unsafe.Pointer(c)
	return (*bytes.Buffer)(unsafe.Add(p, layout.raw)).Cap(), (*bytes.Buffer)(unsafe.Add(p, layout.hnd)).Cap()
}

// Buffered reports whether c holds input that a Read could return without
// waiting for the socket: undelivered plaintext or bytes of a record.
// (A partial record makes that Read wait for the rest; a record that turns
// out not to carry data, for a post-handshake message, too.) ok is false
// if it cannot tell: this Go release's layout is unknown, or a Read holds
// the input lock. Meant for the connection's only reader, between Reads.
func Buffered(c *tls.Conn) (buffered, ok bool) {
	if !layout.ok || c == nil {
		return false, false
	}
	p := unsafe.Pointer(c)
	mu := (*sync.Mutex)(unsafe.Add(p, layout.in))
	if !mu.TryLock() {
		return false, false
	}
	defer mu.Unlock()
	raw := (*bytes.Buffer)(unsafe.Add(p, layout.raw))
	input := (*bytes.Reader)(unsafe.Add(p, layout.input))
	return raw.Len() != 0 || input.Len() != 0, true
}
