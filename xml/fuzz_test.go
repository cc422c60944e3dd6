package xml

import (
	"bytes"
	stdxml "encoding/xml"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	`<message to='a@b' type='chat' id='1'><body>hi &amp; &lt;bye&gt; &#x263A;</body></message>`,
	`<iq type='get' id='r'><r:query xmlns:r='jabber:iq:roster'/></iq> <presence/>`,
	`<message><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>a <em>b</em> c</p></body></html></message>`,
	`<message><body><![CDATA[<x> & y]]></body></message>`,
	"<message id=\"a'b\" x='q\"\t\r\nz' xml:lang='en'/>",
	`<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`,
	`<message xmlns:x='urn:x' x:a='1'><données xmlns='urn:y'>é</données></message>`,
	`<message><!-- c --></message>`,
	`<message><body>&foo;</body></message>`,
	`</stream:stream>`,
}

// elements decodes a stream body with our decoder, delivering the input in
// chunks of the given sizes.
func elements(body []byte, chunks []byte) ([]string, error) {
	var r io.Reader = bytes.NewReader(append([]byte(header), body...))
	if len(chunks) > 0 {
		r = &chunkReader{data: append([]byte(header), body...), sizes: chunks}
	}
	d := NewDecoder(r, Limits{MaxStanzaBytes: 4096, MaxDepth: 32, MaxAttrs: 16})
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	var out []string
	for {
		el, err := d.Next()
		if err != nil {
			return out, err
		}
		out = append(out, string(el.Append(nil, NSClient)))
	}
}

type chunkReader struct {
	data  []byte
	sizes []byte
	n     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	size := int(c.sizes[c.n%len(c.sizes)])%16 + 1
	c.n++
	size = min(size, len(p), len(c.data))
	copy(p, c.data[:size])
	c.data = c.data[size:]
	return size, nil
}

func errClass(err error) error {
	for _, e := range []error{ErrStreamEnd, ErrNotWellFormed, ErrRestricted, ErrTooLarge, ErrBadPrefix, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return e
		}
	}
	return err
}

// FuzzDecoderSplit checks that how the input is split across reads never
// changes the result, and that every element we emit reads back the same.
func FuzzDecoderSplit(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), []byte{1})
		f.Add([]byte(s), []byte{3, 7, 0, 15})
	}
	f.Fuzz(func(t *testing.T, body, chunks []byte) {
		if len(chunks) == 0 {
			chunks = []byte{0}
		}
		whole, err1 := elements(body, nil)
		split, err2 := elements(body, chunks)
		if errClass(err1) != errClass(err2) {
			t.Fatalf("error differs: whole %v, split %v", err1, err2)
		}
		if strings.Join(whole, "\x00") != strings.Join(split, "\x00") {
			t.Fatalf("elements differ:\n%q\n%q", whole, split)
		}
		for _, s := range whole {
			again, err := elements([]byte(s), nil)
			if len(again) != 1 || again[0] != s || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("round trip of %q: %q, %v", s, again, err)
			}
		}
		// Decoder.Stamp gives what WithAttrs gives on the unstamped
		// parse, for elements of its namespace, and leaves the others.
		plain, err1 := stampedElements(body, "")
		stamped, err2 := stampedElements(body, "a@b.example/r&'<")
		if errClass(err1) != errClass(err2) || len(plain) != len(stamped) {
			t.Fatalf("stamping changed the parse: %v %v, %d and %d elements", err1, err2, len(plain), len(stamped))
		}
		for i, p := range plain {
			want := p
			if p.NS() == NSClient {
				want = p.WithAttrs(Attr{"from", "a@b.example/r&'<"})
			}
			if got, w := string(stamped[i].Append(nil, NSClient)), string(want.Append(nil, NSClient)); got != w {
				t.Fatalf("stamped\n%s\nwant\n%s", got, w)
			}
		}
	})
}

// stampedElements decodes body with the 'from' stamp value ("" for none).
func stampedElements(body []byte, value string) ([]*Element, error) {
	d := NewDecoder(bytes.NewReader(append([]byte(header), body...)), Limits{MaxStanzaBytes: 4096, MaxDepth: 32, MaxAttrs: 16})
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	if value != "" {
		d.Stamp(NSClient, "from", value)
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

// canon is a namespace-resolved rendering that both decoders can produce.
type canon struct {
	b strings.Builder
}

func normAttr(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, v)
}

func canonOurs(e *Element) string {
	var c canon
	c.ours(e)
	return c.b.String()
}

func (c *canon) ours(e *Element) {
	c.b.WriteString("<{" + normAttr(e.NS()) + "}" + e.Name())
	var attrs []string
	for _, a := range e.Attrs() {
		prefix, local, _ := splitQName(a.Name)
		ns := ""
		switch prefix {
		case "":
		case "xml":
			ns = NSXML
		default:
			for _, d := range e.impl.decls() {
				if d.Name == "xmlns:"+prefix {
					ns = d.Value
				}
			}
		}
		attrs = append(attrs, "{"+normAttr(ns)+"}"+local+"="+normAttr(a.Value))
	}
	sort.Strings(attrs)
	c.b.WriteString(" " + strings.Join(attrs, " ") + ">")
	for i := e.impl.first; i >= 0; i = e.node(i).impl.next {
		n := e.node(i)
		if n.impl.kind == kindText {
			c.b.WriteString("T(" + n.impl.name + ")")
		} else {
			c.ours(n)
		}
	}
	c.b.WriteString("</>")
}

// canonStd renders the top-level elements encoding/xml finds.
func canonStd(data []byte) ([]string, error) {
	d := stdxml.NewDecoder(bytes.NewReader(data))
	var out []string
	var c canon
	depth := 0
	text := ""
	for {
		tok, err := d.Token()
		if err != nil {
			return out, err
		}
		switch t := tok.(type) {
		case stdxml.StartElement:
			if depth > 0 {
				if text != "" && depth > 1 {
					c.b.WriteString("T(" + text + ")")
				}
				text = ""
			}
			depth++
			if depth == 1 {
				continue // the stream element
			}
			c.b.WriteString("<{" + normAttr(t.Name.Space) + "}" + t.Name.Local)
			var attrs []string
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				attrs = append(attrs, "{"+normAttr(a.Name.Space)+"}"+a.Name.Local+"="+normAttr(a.Value))
			}
			sort.Strings(attrs)
			c.b.WriteString(" " + strings.Join(attrs, " ") + ">")
		case stdxml.EndElement:
			if text != "" && depth > 1 {
				c.b.WriteString("T(" + text + ")")
			}
			text = ""
			depth--
			if depth == 0 {
				return out, io.EOF
			}
			c.b.WriteString("</>")
			if depth == 1 {
				out = append(out, c.b.String())
				c.b.Reset()
			}
		case stdxml.CharData:
			text += string(t)
		}
	}
}

// FuzzDifferential compares what we accept with encoding/xml: every element
// we return must be one encoding/xml reads identically (we are stricter:
// restricted XML, undeclared prefixes and duplicate attributes are refused
// only by us).
func FuzzDifferential(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		data := append([]byte(header), body...)
		d := NewDecoder(bytes.NewReader(data), Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 1000, MaxAttrs: 1000})
		if _, err := d.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		var ours []string
		for {
			el, err := d.Next()
			if err != nil {
				break
			}
			ours = append(ours, canonOurs(el))
		}
		std, err := canonStd(data)
		if len(std) < len(ours) {
			if bytes.ContainsFunc(body, func(r rune) bool { return r >= 0x80 }) {
				return // encoding/xml uses the older XML 1.0 name tables
			}
			t.Fatalf("we accepted %d elements, encoding/xml %d (%v):\n%q", len(ours), len(std), err, ours)
		}
		for i := range ours {
			if ours[i] != std[i] {
				t.Fatalf("element %d differs:\nours %q\nstd  %q", i, ours[i], std[i])
			}
		}
	})
}
