package xml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Reading works in two passes over each top-level element. A resumable
// scanner walks the bytes as they arrive, finds where the element ends and
// enforces the limits and the character rules; only then does the parser
// run over the complete element, so it never has to stop and resume, and a
// peer trickling a stanza in one byte at a time costs linear work.

const (
	minBuf     = 512  // idle sessions keep only this much
	maxIdleBuf = 4096 // a larger buffer is dropped once drained
)

// scanner states
const (
	stText      = iota // character data (depth > 0) or between stanzas (depth 0)
	stLT               // after '<'
	stStartName        // in the name of a start tag
	stStartTag         // in a start tag, outside attribute values
	stSlash            // after '/' in a start tag: '>' must follow
	stAttrValue        // in a quoted attribute value
	stEndTag           // in an end tag
	stBang             // after "<!", matching "[CDATA["
	stCDATA            // in a CDATA section
	stStreamEnd        // in the end tag of the stream element
)

type decoderImpl struct {
	r   io.Reader
	lim Limits
	buf []byte
	rd  int // start of unconsumed input
	wr  int // end of valid input

	// scanner state, kept across reads
	scan     int // next byte to scan
	state    int
	depth    int
	start    int // offset of the current element's '<'
	inElem   bool
	quote    byte
	match    int // progress through "[CDATA[" or count of ']' in CDATA
	nonASCII bool
	err      error
	// names of the open elements, as offsets from start, so that a wrong
	// end tag is refused when it arrives rather than at the end
	names  [][2]int32
	endOff int // offset from start of the name in the end tag being read
	// counts for sizing the parser's arrays exactly (upper bounds)
	nElems, nTexts, nValues int
	textRun                 bool
	ws                      bool // a tab, CR or LF in text or an attribute value

	header   bool      // the stream header has been read
	endTag   string    // "</" + the stream element's qualified name
	base     []binding // namespace scope from the stream header
	sawInput bool

	// stampKey and stampVal are the attribute set on the root of every
	// element in stampKey.ns (Stamp); nil for none. The (ns, name) pair is
	// interned so that a decoder, kept by every session, grows by 24
	// bytes rather than 48 (which crossed a size class).
	stampKey *stampKey
	stampVal string
}

// stampKey is an interned (namespace, attribute name) of a stamp.
type stampKey struct{ ns, name string }

var stampKeys sync.Map // ns + "\x00" + name → *stampKey

func internStampKey(ns, name string) *stampKey {
	k := ns + "\x00" + name
	if v, ok := stampKeys.Load(k); ok {
		return v.(*stampKey)
	}
	v, _ := stampKeys.LoadOrStore(k, &stampKey{ns, name})
	return v.(*stampKey)
}

var parserPool = sync.Pool{New: func() any { return new(parser) }}

func newDecoder(r io.Reader, lim Limits) *Decoder {
	d := &Decoder{}
	d.impl.r = r
	d.impl.lim = lim.withDefaults()
	return d
}

func (l Limits) withDefaults() Limits {
	def := DefaultLimits()
	if l.MaxStanzaBytes <= 0 {
		l.MaxStanzaBytes = def.MaxStanzaBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = def.MaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = def.MaxAttrs
	}
	return l
}

func (d *Decoder) reset(r io.Reader) {
	lim := d.impl.lim
	d.impl = decoderImpl{r: r, lim: lim}
}

// fill reads more input, compacting or growing the buffer as needed.
func (x *decoderImpl) fill() error {
	if x.rd == x.wr && x.rd > 0 {
		x.scan -= x.rd
		x.start -= x.rd
		x.rd, x.wr = 0, 0
	}
	if x.wr == len(x.buf) {
		if x.rd > 0 {
			n := copy(x.buf, x.buf[x.rd:x.wr])
			x.scan -= x.rd
			x.start -= x.rd
			x.rd, x.wr = 0, n
		}
		if x.wr == len(x.buf) {
			size := 2 * len(x.buf)
			if size < minBuf {
				size = minBuf
			}
			// Enough for one maximal element and what follows it in the
			// same read; the scanner fails before the buffer grows further.
			if max := x.lim.MaxStanzaBytes + minBuf; size > max {
				size = max
			}
			if size <= len(x.buf) {
				return fmt.Errorf("%w: element larger than %d bytes", ErrTooLarge, x.lim.MaxStanzaBytes)
			}
			var nb []byte
			if size == minBuf {
				nb = (*smallBufs.Get().(*[minBuf]byte))[:]
			} else {
				nb = make([]byte, size)
			}
			copy(nb, x.buf[:x.wr])
			x.buf = nb
		}
	}
	for tries := 0; tries < 100; tries++ {
		n, err := x.r.Read(x.buf[x.wr:])
		x.wr += n
		if n > 0 {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return io.ErrNoProgress
}

// release drops a large buffer once everything in it is consumed, so an
// idle session holds little memory after a burst of big stanzas.
func (x *decoderImpl) release() {
	if x.rd == x.wr {
		x.scan, x.start, x.rd, x.wr = 0, 0, 0, 0
		if len(x.buf) > maxIdleBuf {
			x.buf = nil
		}
	}
}

// smallBufs holds the minimum-size read buffers of decoders that gave
// theirs up while their stream was idle (Decoder.ReleaseBuffer).
var smallBufs = sync.Pool{New: func() any { return new([minBuf]byte) }}

func (d *Decoder) setStamp(ns, name, value string) {
	if ns == "" {
		d.impl.stampKey, d.impl.stampVal = nil, ""
		return
	}
	d.impl.stampKey, d.impl.stampVal = internStampKey(ns, name), value
}

func (d *Decoder) releaseBuffer() {
	x := &d.impl
	if x.rd != x.wr || x.inElem || x.depth != 0 {
		return
	}
	x.scan, x.start, x.rd, x.wr = 0, 0, 0, 0
	if len(x.buf) == minBuf {
		smallBufs.Put((*[minBuf]byte)(x.buf))
	}
	x.buf = nil
}

func (d *Decoder) aliasDefaultNS(from, to string) {
	x := &d.impl
	for i := range x.base {
		if x.base[i].prefix == "" && x.base[i].uri == from {
			x.base[i].uri = to
		}
	}
}

func (d *Decoder) readHeader() (*Header, error) {
	x := &d.impl
	if x.err != nil {
		return nil, x.err
	}
	h, err := x.readHeader()
	if err != nil {
		x.err = err
		return nil, err
	}
	return h, nil
}

func (d *Decoder) framed(ns string) {
	x := &d.impl
	x.sawInput, x.header = true, true
	x.base = []binding{{prefix: "", uri: intern(ns)}, {prefix: "stream", uri: NSStream}}
	x.endTag = "</stream:stream"
}

// readHeader consumes [BOM] [S] [XMLDecl] [S] '<' start tag '>'.
func (x *decoderImpl) readHeader() (*Header, error) {
	// Gather input until the end of the start tag; restricted constructs
	// are rejected as soon as they are recognisable.
	pos := 0 // offset from x.rd
	declDone := false
	for {
		b := x.buf[x.rd:x.wr]
		if !x.sawInput {
			// A UTF-8 byte order mark may precede the document.
			const bom = "\xEF\xBB\xBF"
			n := min(len(b), 3)
			switch {
			case string(b[:n]) != bom[:n]:
				x.sawInput = true
			case n == 3:
				x.rd += 3
				x.sawInput = true
				continue
			case n > 0:
				if err := x.fill(); err != nil {
					return nil, err
				}
				continue
			}
		}
		for pos < len(b) && isSpace(b[pos]) {
			pos++
		}
		if pos < len(b) {
			if b[pos] != '<' {
				return nil, fmt.Errorf("%w: expected '<' to open the stream", ErrNotWellFormed)
			}
			rest := b[pos:]
			switch {
			case len(rest) < 2:
			case rest[1] == '?':
				if len(rest) < 6 {
					break
				}
				if declDone || string(rest[:6]) != "<?xml " && string(rest[:6]) != "<?xml\t" && string(rest[:6]) != "<?xml\n" && string(rest[:6]) != "<?xml\r" {
					return nil, fmt.Errorf("%w: processing instruction", ErrRestricted)
				}
				end := bytes.Index(rest, []byte("?>"))
				if end < 0 {
					break
				}
				if err := checkXMLDecl(rest[5:end]); err != nil {
					return nil, err
				}
				declDone = true
				pos += end + 2
				continue
			case rest[1] == '!':
				return nil, fmt.Errorf("%w: DTD or comment before the stream", ErrRestricted)
			default:
				end := tagEnd(rest)
				if end == -2 {
					return nil, fmt.Errorf("%w: '<' inside the stream header", ErrNotWellFormed)
				}
				if end > 0 {
					if err := x.validateRaw(rest[:end+1]); err != nil {
						return nil, err
					}
					h, err := x.parseHeader(string(rest[:end+1]))
					if err != nil {
						return nil, err
					}
					x.rd += pos + end + 1
					x.scan = x.rd
					x.header = true
					x.release()
					return h, nil
				}
			}
		}
		if x.wr-x.rd > x.lim.MaxStanzaBytes {
			return nil, fmt.Errorf("%w: stream header longer than %d bytes", ErrTooLarge, x.lim.MaxStanzaBytes)
		}
		if err := x.fill(); err != nil {
			return nil, err
		}
	}
}

// tagEnd returns the index of the '>' closing the tag that starts b, -1 if
// b ends first, -2 if a '<' appears outside a quoted value.
func tagEnd(b []byte) int {
	var q byte
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			} else if c == '<' {
				return -2
			}
		case c == '"' || c == '\'':
			q = c
		case c == '<':
			return -2
		case c == '>':
			return i
		}
	}
	return -1
}

// validateRaw applies the character rules the scanner applies to stanzas.
func (x *decoderImpl) validateRaw(b []byte) error {
	high := false
	for _, c := range b {
		switch byteClass[c] {
		case cBad:
			return fmt.Errorf("%w: control character 0x%02x", ErrNotWellFormed, c)
		case cHigh:
			high = true
		}
	}
	if high && !validUTF8Chars(b) {
		return fmt.Errorf("%w: invalid UTF-8", ErrNotWellFormed)
	}
	return nil
}

// checkXMLDecl accepts version 1.x and encoding UTF-8 (RFC 6120 §11.6).
func checkXMLDecl(b []byte) error {
	s := string(b)
	var p parser
	p.s = s
	for {
		p.skipSpace()
		if p.i >= len(s) {
			return nil
		}
		name, err := p.name()
		if err != nil {
			return err
		}
		p.skipSpace()
		if !p.eat('=') {
			return fmt.Errorf("%w: XML declaration", ErrNotWellFormed)
		}
		p.skipSpace()
		v, err := p.rawValue()
		if err != nil {
			return err
		}
		switch name {
		case "version":
			if len(v) < 3 || v[:2] != "1." {
				return fmt.Errorf("%w: XML version %q", ErrNotWellFormed, v)
			}
		case "encoding":
			if v != "UTF-8" && v != "utf-8" && v != "UTF8" && v != "utf8" {
				return fmt.Errorf("%w: encoding %q, XMPP requires UTF-8", ErrNotWellFormed, v)
			}
		case "standalone":
		default:
			return fmt.Errorf("%w: XML declaration attribute %q", ErrNotWellFormed, name)
		}
	}
}

func (d *Decoder) next() (*Element, error) {
	x := &d.impl
	if x.err != nil {
		return nil, x.err
	}
	if !x.header {
		x.err = errors.New("xml: Next before ReadHeader")
		return nil, x.err
	}
	for {
		end, err := x.scanElement()
		if err != nil {
			x.err = err
			return nil, err
		}
		if end < 0 {
			if err := x.fill(); err != nil {
				if err == ErrPause {
					// Not an end: the scanner's state is kept and the
					// next call goes on where this one stopped.
					return nil, err
				}
				x.err = err
				return nil, err
			}
			continue
		}
		raw := string(x.buf[x.start:end])
		x.rd = end
		x.inElem = false
		x.nonASCII = false
		x.release()
		// Parsers are shared by all decoders: a session holds no parse
		// scratch while it waits for its next stanza.
		p := parserPool.Get().(*parser)
		p.ws = x.ws
		var st stamp
		if k := x.stampKey; k != nil {
			st = stamp{k.ns, Attr{k.name, x.stampVal}}
		}
		el, err := p.parse(raw, x.base, x.lim, x.nElems+x.nTexts, x.nValues, st)
		p.release()
		parserPool.Put(p)
		if err != nil {
			x.err = err
			return nil, err
		}
		return el, nil
	}
}

// scanElement advances the scanner over buffered input. It returns the
// offset just past a complete top-level element, or -1 if more input is
// needed. Whitespace between elements is consumed.
func (x *decoderImpl) scanElement() (int, error) {
	i, end, err := x.scanFrom(x.buf[:x.wr], x.scan)
	x.scan = i
	return end, err
}

// scanFrom is scanElement's loop; it returns where it stopped. (A deferred
// closure updating x.scan would keep i in memory through the hot loops.)
func (x *decoderImpl) scanFrom(b []byte, i int) (int, int, error) {
	for i < len(b) {
		switch x.state {
		case stText:
			if x.depth == 0 {
				// Between stanzas: whitespace keepalives only.
				for i < len(b) && isSpace(b[i]) {
					i++
				}
				x.rd = i
				if i == len(b) {
					continue
				}
				if b[i] != '<' {
					return i, 0, fmt.Errorf("%w: text outside a stanza", ErrNotWellFormed)
				}
				x.start = i
				x.inElem = true
				x.nElems, x.nTexts, x.nValues, x.textRun, x.ws = 0, 0, 0, false, false
				x.state = stLT
				i++
				continue
			}
			j, ws := advance(b, i, cBad|cHigh|cLT, '<', '<')
			x.ws = x.ws || ws
			x.textRun = x.textRun || j > i
			i = j
			if i == len(b) {
				break
			}
			switch c := b[i]; {
			case c == '<':
				x.state = stLT
				if x.textRun {
					x.nTexts++
					x.textRun = false
				}
			case c >= 0x80:
				x.nonASCII = true
			default:
				return i, 0, fmt.Errorf("%w: control character 0x%02x", ErrNotWellFormed, c)
			}
			i++
		case stLT:
			c := b[i]
			switch {
			case c == '/':
				if x.depth == 0 {
					x.state = stStreamEnd
				} else {
					x.state = stEndTag
					x.endOff = i + 1 - x.start
				}
			case c == '!':
				if x.depth == 0 {
					return i, 0, fmt.Errorf("%w: comment or DTD", ErrRestricted)
				}
				x.state = stBang
				x.match = 0
			case c == '?':
				return i, 0, fmt.Errorf("%w: processing instruction", ErrRestricted)
			case c >= 0x80 || nameASCII[c]&1 != 0:
				x.depth++
				if x.depth > x.lim.MaxDepth {
					return i, 0, fmt.Errorf("%w: nesting deeper than %d", ErrTooLarge, x.lim.MaxDepth)
				}
				x.state = stStartName
				x.nElems++
				x.endOff = i - x.start
				continue // the byte is part of the name
			default:
				return i, 0, fmt.Errorf("%w: '<' not followed by a name", ErrNotWellFormed)
			}
			i++
		case stStartName:
			for i < len(b) && nameEnd[b[i]] == 0 {
				if b[i] >= 0x80 {
					x.nonASCII = true
				}
				i++
			}
			if i == len(b) {
				break
			}
			if x.depth == 1 {
				x.names = x.names[:0]
			}
			x.names = append(x.names, [2]int32{int32(x.endOff), int32(i - x.start)})
			x.state = stStartTag
		case stStartTag:
			for i < len(b) && byteClass[b[i]]&(cBad|cHigh|cLT|cGT|cQuote|cSlash) == 0 {
				i++
			}
			if i == len(b) {
				break
			}
			switch c := b[i]; {
			case c == '>':
				x.state = stText
			case c == '"' || c == '\'':
				x.state = stAttrValue
				x.nValues++
				x.quote = c
			case c == '/':
				x.state = stSlash
			case c >= 0x80:
				x.nonASCII = true
			case c == '<':
				return i, 0, fmt.Errorf("%w: '<' in a tag", ErrNotWellFormed)
			default:
				return i, 0, fmt.Errorf("%w: control character 0x%02x", ErrNotWellFormed, c)
			}
			i++
		case stSlash:
			if b[i] != '>' {
				return i, 0, fmt.Errorf("%w: '/' in a tag not followed by '>'", ErrNotWellFormed)
			}
			i++
			x.state = stText
			x.depth--
			x.names = x.names[:len(x.names)-1]
			if x.depth == 0 {
				end, err := x.finish(i)
				return i, end, err
			}
		case stAttrValue:
			var ws bool
			i, ws = advance(b, i, cBad|cHigh|cLT|cQuote, '<', x.quote)
			x.ws = x.ws || ws
			if i == len(b) {
				break
			}
			switch c := b[i]; {
			case c == x.quote:
				x.state = stStartTag
			case c == '"' || c == '\'':
			case c >= 0x80:
				x.nonASCII = true
			case c == '<':
				return i, 0, fmt.Errorf("%w: '<' in an attribute value", ErrNotWellFormed)
			default:
				return i, 0, fmt.Errorf("%w: control character 0x%02x", ErrNotWellFormed, c)
			}
			i++
		case stEndTag:
			for i < len(b) && byteClass[b[i]]&(cBad|cHigh|cLT|cGT) == 0 {
				i++
			}
			if i == len(b) {
				break
			}
			switch c := b[i]; {
			case c == '>':
				top := x.names[len(x.names)-1]
				x.names = x.names[:len(x.names)-1]
				name := bytes.TrimRight(b[x.start+x.endOff:i], " \t\r\n")
				if !bytes.Equal(name, b[x.start+int(top[0]):x.start+int(top[1])]) {
					return i, 0, fmt.Errorf("%w: end tag </%s> does not match <%s>", ErrNotWellFormed, name, b[x.start+int(top[0]):x.start+int(top[1])])
				}
				i++
				x.state = stText
				x.depth--
				if x.depth == 0 {
					end, err := x.finish(i)
					return i, end, err
				}
				continue
			case c >= 0x80:
				x.nonASCII = true
			case c == '<':
				return i, 0, fmt.Errorf("%w: '<' in an end tag", ErrNotWellFormed)
			default:
				return i, 0, fmt.Errorf("%w: control character 0x%02x", ErrNotWellFormed, c)
			}
			i++
		case stBang:
			const cdata = "[CDATA["
			c := b[i]
			if x.match == 0 && c == '-' {
				return i, 0, fmt.Errorf("%w: comment", ErrRestricted)
			}
			if x.match == 0 && c == 'D' {
				return i, 0, fmt.Errorf("%w: DTD", ErrRestricted)
			}
			if c != cdata[x.match] {
				return i, 0, fmt.Errorf("%w: '<!' not starting a CDATA section", ErrNotWellFormed)
			}
			x.match++
			i++
			if x.match == len(cdata) {
				x.nTexts++
				x.state = stCDATA
				x.match = 0
			}
		case stCDATA:
			c := b[i]
			switch {
			case c == ']':
				x.match++
			case c == '>' && x.match >= 2:
				x.state = stText
				x.match = 0
			default:
				x.match = 0
				switch byteClass[c] {
				case cBad:
					return i, 0, fmt.Errorf("%w: control character 0x%02x", ErrNotWellFormed, c)
				case cHigh:
					x.nonASCII = true
				}
			}
			i++
		case stStreamEnd:
			e := bytes.IndexByte(b[i:], '>')
			if e < 0 {
				if len(b)-x.start > 256 {
					return i, 0, fmt.Errorf("%w: bad end tag", ErrNotWellFormed)
				}
				i = len(b)
				break
			}
			i += e + 1
			tag := bytes.TrimRight(b[x.start:i-1], " \t\r\n")
			if string(tag) != x.endTag {
				return i, 0, fmt.Errorf("%w: end tag %q does not close the stream", ErrNotWellFormed, tag)
			}
			x.rd = i
			return i, 0, ErrStreamEnd
		}
	}
	if x.inElem && i-x.start > x.lim.MaxStanzaBytes {
		return i, 0, fmt.Errorf("%w: stanza larger than %d bytes", ErrTooLarge, x.lim.MaxStanzaBytes)
	}
	return i, -1, nil
}

// finish checks the complete element at buf[start:end] for limits and
// encoding, which the byte loop only flagged.
func (x *decoderImpl) finish(end int) (int, error) {
	if end-x.start > x.lim.MaxStanzaBytes {
		return 0, fmt.Errorf("%w: stanza larger than %d bytes", ErrTooLarge, x.lim.MaxStanzaBytes)
	}
	if x.nonASCII && !validUTF8Chars(x.buf[x.start:end]) {
		return 0, fmt.Errorf("%w: invalid UTF-8", ErrNotWellFormed)
	}
	return end, nil
}
