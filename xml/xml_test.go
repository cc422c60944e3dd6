package xml

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const header = `<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`

func decodeAll(t *testing.T, in string, lim Limits) ([]*Element, error) {
	t.Helper()
	d := NewDecoder(strings.NewReader(in), lim)
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	var out []*Element
	for {
		el, err := d.Next()
		if err != nil {
			return out, err
		}
		out = append(out, el)
	}
}

func TestHeader(t *testing.T) {
	tests := []struct {
		name, in string
		want     Header
		err      error
	}{
		{"client", header, Header{Name: "stream", NS: NSStream, Prefix: "stream", DefaultNS: NSClient,
			Attrs: []Attr{{"to", "example.com"}, {"version", "1.0"}}}, nil},
		{"bom and space", "\xEF\xBB\xBF \n<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' xml:lang='en'>",
			Header{Name: "stream", NS: NSStream, Prefix: "stream", DefaultNS: NSServer, Attrs: []Attr{{"xml:lang", "en"}}}, nil},
		{"other prefix", `<s:stream xmlns:s='http://etherx.jabber.org/streams'>`, Header{Name: "stream", NS: NSStream, Prefix: "s"}, nil},
		{"wrong ns", `<stream:stream xmlns:stream='urn:wrong'>`, Header{Name: "stream", NS: "urn:wrong", Prefix: "stream"}, nil},
		{"undeclared prefix", `<stream:stream xmlns='jabber:client'>`, Header{}, ErrBadPrefix},
		{"doctype", `<?xml version='1.0'?><!DOCTYPE foo><stream:stream>`, Header{}, ErrRestricted},
		{"comment", `<!-- hi --><stream:stream>`, Header{}, ErrRestricted},
		{"pi", `<?php echo ?><stream:stream>`, Header{}, ErrRestricted},
		{"second decl", `<?xml version='1.0'?><?xml version='1.0'?><stream:stream>`, Header{}, ErrRestricted},
		{"utf-16", `<?xml version='1.0' encoding='UTF-16'?><stream:stream>`, Header{}, ErrNotWellFormed},
		{"garbage", `hello`, Header{}, ErrNotWellFormed},
		{"empty stream", `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>`, Header{}, ErrNotWellFormed},
		{"eof", `<stream:stream`, Header{}, io.ErrUnexpectedEOF},
		{"control char", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='a\x01'>", Header{}, ErrNotWellFormed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(iotest.OneByteReader(strings.NewReader(tc.in)), DefaultLimits())
			h, err := d.ReadHeader()
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Name != tc.want.Name || h.NS != tc.want.NS || h.Prefix != tc.want.Prefix || h.DefaultNS != tc.want.DefaultNS || len(h.Attrs) != len(tc.want.Attrs) {
				t.Fatalf("got %+v, want %+v", h, tc.want)
			}
			for i := range h.Attrs {
				if h.Attrs[i] != tc.want.Attrs[i] {
					t.Fatalf("attr %d = %v, want %v", i, h.Attrs[i], tc.want.Attrs[i])
				}
			}
		})
	}
}

func TestStanzas(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // each element re-serialized in the jabber:client scope
		err      error
	}{
		{"message", `<message to='a@b' type='chat' id='1'><body>hi &amp; &lt;bye&gt; &#x263A;&#65;</body></message>`,
			[]string{`<message to='a@b' type='chat' id='1'><body>hi &amp; &lt;bye&gt; ☺A</body></message>`}, ErrStreamEnd},
		{"keepalives", " \n <presence/>\t <presence/>  ", []string{`<presence/>`, `<presence/>`}, io.ErrUnexpectedEOF},
		{"prefixed element", `<iq type='get' id='r'><r:query xmlns:r='jabber:iq:roster'/></iq>`,
			[]string{`<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`}, ErrStreamEnd},
		{"default ns", `<iq type='get' id='r'><query xmlns='jabber:iq:roster'><item jid='x@y'/></query></iq>`,
			[]string{`<iq type='get' id='r'><query xmlns='jabber:iq:roster'><item jid='x@y'/></query></iq>`}, ErrStreamEnd},
		{"stream prefix inside", `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`,
			[]string{`<features xmlns='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></features>`}, ErrStreamEnd},
		{"prefixed attr", `<message xmlns:x='urn:x' x:a='1'/>`, []string{`<message xmlns:x='urn:x' x:a='1'/>`}, ErrStreamEnd},
		{"mixed content kept in order", `<message><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>a <em>b</em> c</p></body></html></message>`,
			[]string{`<message><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>a <em>b</em> c</p></body></html></message>`}, ErrStreamEnd},
		{"cdata", `<message><body><![CDATA[<x> & y]]></body></message>`, []string{`<message><body>&lt;x&gt; &amp; y</body></message>`}, ErrStreamEnd},
		{"attr quotes and whitespace", "<message id=\"a'b\" x='q\"\t\r\nz'/>", []string{`<message id='a&apos;b' x='q&quot;  z'/>`}, ErrStreamEnd},
		{"crlf in text", "<message><body>a\r\nb\rc</body></message>", []string{"<message><body>a\nb\nc</body></message>"}, ErrStreamEnd},
		{"unicode names", `<message><données xmlns='urn:x'>é</données></message>`, []string{`<message><données xmlns='urn:x'>é</données></message>`}, ErrStreamEnd},
		{"comment", `<message><!-- x --></message>`, nil, ErrRestricted},
		{"pi", `<message><?pi x?></message>`, nil, ErrRestricted},
		{"pi at top", `<?pi x?>`, nil, ErrRestricted},
		{"doctype at top", `<!DOCTYPE x>`, nil, ErrRestricted},
		{"entity", `<message><body>&foo;</body></message>`, nil, ErrRestricted},
		{"entity in attr", `<message id='&foo;'/>`, nil, ErrRestricted},
		{"bad charref", `<message><body>&#0;</body></message>`, nil, ErrNotWellFormed},
		{"lone amp", `<message><body>a & b</body></message>`, nil, ErrNotWellFormed},
		{"mismatched", `<message><body></message></body>`, nil, ErrNotWellFormed},
		{"mismatch reported early", `<message><body></message>`, nil, ErrNotWellFormed},
		{"lt in attr", `<message id='<'/>`, nil, ErrNotWellFormed},
		{"dup attr", `<message id='1' id='2'/>`, nil, ErrNotWellFormed},
		{"no value", `<message id/>`, nil, ErrNotWellFormed},
		{"unquoted", `<message id=1/>`, nil, ErrNotWellFormed},
		{"undeclared prefix", `<foo:message/>`, nil, ErrBadPrefix},
		{"undeclared attr prefix", `<message foo:id='x'/>`, nil, ErrBadPrefix},
		{"text at top", `hello`, nil, ErrNotWellFormed},
		{"invalid utf-8", "<message><body>\xff</body></message>", nil, ErrNotWellFormed},
		{"U+FFFE", "<message><body>\xEF\xBF\xBE</body></message>", nil, ErrNotWellFormed},
		{"nul", "<message><body>\x00</body></message>", nil, ErrNotWellFormed},
		{"wrong stream end", `</stream:streamx>`, nil, ErrNotWellFormed},
		{"end with space", `<presence/></stream:stream >`, []string{`<presence/>`}, ErrStreamEnd},
	}
	for _, tc := range tests {
		for _, oneByte := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				in := header + tc.in
				if tc.err == ErrStreamEnd && !strings.Contains(tc.in, "</stream:stream") {
					in += "</stream:stream>"
				}
				var r io.Reader = strings.NewReader(in)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				d := NewDecoder(r, DefaultLimits())
				if _, err := d.ReadHeader(); err != nil {
					t.Fatal(err)
				}
				var got []string
				var err error
				for {
					var el *Element
					el, err = d.Next()
					if err != nil {
						break
					}
					got = append(got, string(el.Append(nil, NSClient)))
				}
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
				// The error sticks.
				if _, err2 := d.Next(); !errors.Is(err2, tc.err) {
					t.Fatalf("second Next: %v", err2)
				}
			})
		}
	}
}

func TestLimits(t *testing.T) {
	lim := Limits{MaxStanzaBytes: 1000, MaxDepth: 5, MaxAttrs: 4}
	tests := []struct {
		name, in string
		err      error
	}{
		{"big", "<message><body>" + strings.Repeat("x", 1000) + "</body></message>", ErrTooLarge},
		{"big unterminated", "<message><body>" + strings.Repeat("x", 5000), ErrTooLarge},
		{"big tag", "<message " + strings.Repeat("a", 2000), ErrTooLarge},
		{"just fits", "<m>" + strings.Repeat("x", 993) + "</m>", io.ErrUnexpectedEOF},
		{"deep", strings.Repeat("<a>", 6) + strings.Repeat("</a>", 6), ErrTooLarge},
		{"deep ok", strings.Repeat("<a>", 5) + strings.Repeat("</a>", 5), io.ErrUnexpectedEOF},
		{"attrs", `<a b='1' c='2' d='3' e='4' f='5'/>`, ErrTooLarge},
		{"attrs incl decls", `<a xmlns:x='u' b='1' c='2' d='3' e='4'/>`, ErrTooLarge},
		{"attrs ok", `<a b='1' c='2' d='3' e='4'/>`, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeAll(t, header+tc.in, lim)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestElementAccessors(t *testing.T) {
	els, err := decodeAll(t, header+`<iq type='get' id='x' xml:lang='en'><query xmlns='http://jabber.org/protocol/disco#info' node='n'/>text<a/>more</iq>`, DefaultLimits())
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(els) != 1 {
		t.Fatal(err, len(els))
	}
	iq := els[0]
	if iq.Name() != "iq" || iq.NS() != NSClient || iq.Attr("xml:lang") != "en" || iq.Attr("missing") != "" {
		t.Fatalf("iq: %s %s %q", iq.Name(), iq.NS(), iq.Attr("xml:lang"))
	}
	if _, ok := iq.LookupAttr("id"); !ok {
		t.Fatal("LookupAttr id")
	}
	if iq.Text() != "textmore" {
		t.Fatalf("Text = %q", iq.Text())
	}
	q := iq.FirstChild()
	if q == nil || q.Name() != "query" || q.NS() != "http://jabber.org/protocol/disco#info" || q.Attr("node") != "n" {
		t.Fatalf("first child %v", q)
	}
	if iq.Child("query", "urn:other") != nil || iq.Child("a", "") == nil || iq.Child("a", NSClient) == nil {
		t.Fatal("Child lookup")
	}
	var names []string
	for c := range iq.Children() {
		names = append(names, c.Name())
	}
	if strings.Join(names, ",") != "query,a" {
		t.Fatalf("children %v", names)
	}
	stamped := iq.WithAttrs(Attr{"from", "a@b/c"}, Attr{"id", "y"}, Attr{"xml:lang", ""})
	if got := string(stamped.Append(nil, NSClient)); got != `<iq type='get' id='y' from='a@b/c'><query xmlns='http://jabber.org/protocol/disco#info' node='n'/>text<a/>more</iq>` {
		t.Fatalf("stamped: %s", got)
	}
	if iq.Attr("id") != "x" || iq.Attr("from") != "" {
		t.Fatal("WithAttrs modified the original")
	}
	if got := iq.String(); !strings.HasPrefix(got, `<iq xmlns='jabber:client' type='get'`) {
		t.Fatalf("String: %s", got)
	}
}

func TestBuilder(t *testing.T) {
	child := NewBuilder("x", "urn:x").Attr("a", "<'&\">").Text("t").Element()
	b := NewBuilder("iq", NSClient).Attr("type", "result").Attr("id", "1")
	b.Start("query", "http://jabber.org/protocol/disco#info").
		Start("identity", "").Attr("category", "server").Attr("type", "im").End().
		Start("feature", "").Attr("var", "urn:xmpp:ping").End().
		End().
		Text("a<b").Text("c").Append(child)
	el := b.Element()
	want := `<iq type='result' id='1'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im'/><feature var='urn:xmpp:ping'/></query>a&lt;bc<x xmlns='urn:x' a='&lt;&apos;&amp;&quot;&gt;'>t</x></iq>`
	if got := string(el.Append(nil, NSClient)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if el.Child("x", "urn:x").Attr("a") != `<'&">` || el.Text() != "a<bc" {
		t.Fatal("accessors on built element")
	}
	// What the builder writes, the decoder reads back identically.
	els, err := decodeAll(t, header+string(el.Append(nil, NSClient)), DefaultLimits())
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(els) != 1 || string(els[0].Append(nil, NSClient)) != want {
		t.Fatalf("round trip: %v %v", err, els)
	}
}

func TestEscape(t *testing.T) {
	if got := string(EscapeText(nil, "a&b<c>d\re\"'")); got != `a&amp;b&lt;c&gt;d&#xD;e"'` {
		t.Fatal(got)
	}
	if got := string(EscapeAttr(nil, "a&b<c>d\"'\n\t")); got != `a&amp;b&lt;c&gt;d&quot;&apos;&#xA;&#x9;` {
		t.Fatal(got)
	}
}

func TestReset(t *testing.T) {
	r1 := strings.NewReader(header + `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>leftover`)
	d := NewDecoder(r1, DefaultLimits())
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if el, err := d.Next(); err != nil || el.Name() != "starttls" {
		t.Fatal(el, err)
	}
	d.Reset(strings.NewReader(header + `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`))
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if el, err := d.Next(); err != nil || el.Name() != "auth" {
		t.Fatal(el, err)
	}
}

// Elements must stay valid after the decoder reuses its buffers.
func TestElementsOwnTheirMemory(t *testing.T) {
	var in strings.Builder
	in.WriteString(header)
	for i := 0; i < 200; i++ {
		in.WriteString(`<message id='m`)
		in.WriteString(strings.Repeat("x", i))
		in.WriteString(`'><body>hello</body></message>`)
	}
	els, _ := decodeAll(t, in.String(), DefaultLimits())
	if len(els) != 200 {
		t.Fatal(len(els))
	}
	for i, el := range els {
		if el.Attr("id") != "m"+strings.Repeat("x", i) || el.Child("body", "").Text() != "hello" {
			t.Fatalf("element %d changed: %s", i, el)
		}
	}
}

func TestAliasDefaultNS(t *testing.T) {
	const nsComp = "jabber:component:accept"
	d := NewDecoder(strings.NewReader(`<stream:stream xmlns='`+nsComp+`' xmlns:stream='`+NSStream+`' to='c.example'>`+
		`<message to='a@example' from='x@c.example'><body>hi</body><x xmlns='urn:other'><y/></x></message>`+
		`<iq xmlns='urn:explicit' type='get'/>`), DefaultLimits())
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	d.AliasDefaultNS(nsComp, NSClient)
	el, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if el.NS() != NSClient || el.Child("body", NSClient) == nil {
		t.Errorf("aliased stanza: ns %q, body %v", el.NS(), el.Child("body", NSClient))
	}
	if x := el.Child("x", "urn:other"); x == nil || x.Child("y", "urn:other") == nil {
		t.Errorf("a child's own namespace changed: %s", el.Append(nil, NSClient))
	}
	// Written back in jabber:client it carries no xmlns: on a component
	// stream it is read in the stream's namespace again.
	if got := string(el.Append(nil, NSClient)); strings.Contains(got, "xmlns='"+NSClient) || strings.Contains(got, nsComp) {
		t.Errorf("serialized: %s", got)
	}
	el, err = d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if el.NS() != "urn:explicit" {
		t.Errorf("explicit namespace: %q", el.NS())
	}
}

// TestInElement: what the reader sees of InElement at each read, with the
// input arriving one byte at a time: false between stanzas (whitespace
// included), true from a stanza's '<' until its last byte.
func TestInElement(t *testing.T) {
	const in = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'> <a><b/></a>\n"
	var d *Decoder
	var seen []bool
	src := strings.NewReader(in)
	d = NewDecoder(readFunc(func(p []byte) (int, error) {
		if d.impl.header {
			seen = append(seen, d.InElement())
		}
		return src.Read(p[:1])
	}), DefaultLimits())
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if d.InElement() {
		t.Fatal("InElement after a complete element")
	}
	// Reads: ' ' (between), '<' (between), then "a><b/></a>" inside.
	want := []bool{false, false}
	for range len("a><b/></a>") {
		want = append(want, true)
	}
	if len(seen) != len(want) {
		t.Fatalf("reads %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("read %d: InElement %v, want %v (all: %v)", i, seen[i], want[i], seen)
		}
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
