package xml

import (
	"bytes"
	stdxml "encoding/xml"
	"runtime"
	"strings"
	"testing"
)

// stanza1K is a typical chat message of about 1 KB: a body, chat state,
// receipt request, origin id and a little XHTML.
var stanza1K = func() string {
	s := `<message to='juliet@capulet.example/balcony' type='chat' id='8f2a0c1e-5b3d-4c7a-9e61-2d8b4f0a7c35' xml:lang='en'>` +
		`<body>` + strings.Repeat("Wherefore art thou, Romeo? Deny thy father &amp; refuse thy name. ", 10) + `</body>` +
		`<active xmlns='http://jabber.org/protocol/chatstates'/>` +
		`<request xmlns='urn:xmpp:receipts'/>` +
		`<origin-id xmlns='urn:xmpp:sid:0' id='de8f2a0c-1e5b-3d4c-7a9e-612d8b4f0a7c'/>` +
		`<markable xmlns='urn:xmpp:chat-markers:0'/>` +
		`</message>`
	return s
}()

// loopReader serves the same stanza forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// BenchmarkDecode1K: tokenizing one ~1 KB stanza into an Element, reading
// from a stream the way a session does.
func BenchmarkDecode1K(b *testing.B) {
	d := NewDecoder(strings.NewReader(header), DefaultLimits())
	if _, err := d.ReadHeader(); err != nil {
		b.Fatal(err)
	}
	d.impl.r = &loopReader{data: []byte(stanza1K)}
	b.SetBytes(int64(len(stanza1K)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild1K: building the same stanza with the Builder and
// serializing it.
func BenchmarkBuild1K(b *testing.B) {
	body := strings.Repeat("Wherefore art thou, Romeo? Deny thy father & refuse thy name. ", 10)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		el := NewBuilder("message", NSClient).
			Attr("to", "juliet@capulet.example/balcony").Attr("type", "chat").
			Attr("id", "8f2a0c1e-5b3d-4c7a-9e61-2d8b4f0a7c35").Attr("xml:lang", "en").
			Start("body", "").Text(body).End().
			Start("active", "http://jabber.org/protocol/chatstates").End().
			Start("request", "urn:xmpp:receipts").End().
			Start("origin-id", "urn:xmpp:sid:0").Attr("id", "de8f2a0c-1e5b-3d4c-7a9e-612d8b4f0a7c").End().
			Start("markable", "urn:xmpp:chat-markers:0").End().
			Element()
		buf = el.Append(buf[:0], NSClient)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkStampAndWrite1K: the per-stanza routing work after decoding:
// stamping 'from' and serializing.
func BenchmarkStampAndWrite1K(b *testing.B) {
	d := NewDecoder(strings.NewReader(header+stanza1K), DefaultLimits())
	if _, err := d.ReadHeader(); err != nil {
		b.Fatal(err)
	}
	el, err := d.Next()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		out := el.WithAttrs(Attr{"from", "romeo@montague.example/orchard"})
		buf = out.Append(buf[:0], NSClient)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkStdlibDecode1K is the same stanza through encoding/xml's token
// API, for comparison.
func BenchmarkStdlibDecode1K(b *testing.B) {
	data := []byte(stanza1K)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d := stdxml.NewDecoder(bytes.NewReader(data))
		for {
			if _, err := d.Token(); err != nil {
				break
			}
		}
	}
}

// BenchmarkDecode1KServerHeap is BenchmarkDecode1K with 128 MiB of live,
// pointer-free memory held meanwhile: about what a server with 10,000
// sessions holds. The collector then runs at the pace it has in the
// server (a cycle per ~128 MiB allocated) rather than every 4 MiB as in a
// benchmark whose heap is nearly empty; the per-stanza work is the same.
func BenchmarkDecode1KServerHeap(b *testing.B) {
	ballast := make([]byte, 128<<20)
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1 // touch the pages so they are really held
	}
	BenchmarkDecode1K(b)
	runtime.KeepAlive(ballast)
}
