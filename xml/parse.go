package xml

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// binding is one namespace declaration in scope; prefix "" is the default
// namespace.
type binding struct {
	prefix, uri string
}

// rawAttr is an attribute as written, before namespace processing.
type rawAttr struct {
	qname, value string
}

// open is an element whose end tag is still to come.
type open struct {
	node   int32
	qname  string
	nscope int // len(scope) before this element's declarations
}

// parser turns one complete top-level element into an Element tree. Its
// slices are scratch space kept between elements, so parsing allocates
// only what the result owns.
type parser struct {
	s     string
	i     int
	lim   Limits
	nodes []Element
	attrs []Attr
	raw   []rawAttr
	scope []binding
	stack []open
	text  []string // pending text segments of the current run
	// ws is false when the scanner saw no tab, CR or LF in the element's
	// text and values, so unescaping need not look for them.
	ws bool
}

func (p *parser) errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format+" (at byte %d)", append([]any{kind}, append(args, p.i)...)...)
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// name reads an XML Name (XML 1.0 §2.3).
func (p *parser) name() (string, error) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c < utf8.RuneSelf {
			if nameASCII[c]&2 == 0 || (p.i == start && nameASCII[c]&1 == 0) {
				break
			}
			p.i++
			continue
		}
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if p.i == start && !isNameStartRune(r) || !isNameRune(r) {
			break
		}
		p.i += n
	}
	if p.i == start {
		return "", p.errorf(ErrNotWellFormed, "expected a name")
	}
	return p.s[start:p.i], nil
}

// rawValue reads a quoted attribute value without unescaping it.
func (p *parser) rawValue() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\'') {
		return "", p.errorf(ErrNotWellFormed, "expected a quoted value")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", p.errorf(ErrNotWellFormed, "unterminated value")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

// splitQName splits prefix:local per Namespaces in XML §3.
func splitQName(q string) (prefix, local string, ok bool) {
	i := strings.IndexByte(q, ':')
	if i < 0 {
		return "", q, true
	}
	prefix, local = q[:i], q[i+1:]
	if prefix == "" || local == "" || strings.IndexByte(local, ':') >= 0 {
		return "", "", false
	}
	r, _ := utf8.DecodeRuneInString(local)
	return prefix, local, isNameStartRune(r)
}

func (p *parser) lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return NSXML, true
	}
	for i := len(p.scope) - 1; i >= 0; i-- {
		if p.scope[i].prefix == prefix {
			return p.scope[i].uri, true
		}
	}
	return "", prefix == "" // no default namespace in scope is "no namespace"
}

// startTag reads the tag at p.i (just past '<'): its name, attributes and
// declarations. It returns the qualified name and whether the tag was
// empty ("/>"). Attributes land in p.raw.
func (p *parser) startTag() (qname string, empty bool, err error) {
	qname, err = p.name()
	if err != nil {
		return "", false, err
	}
	p.raw = p.raw[:0]
	for {
		sp := p.i
		p.skipSpace()
		if p.i >= len(p.s) {
			return "", false, p.errorf(ErrNotWellFormed, "unterminated tag")
		}
		switch p.s[p.i] {
		case '>':
			p.i++
			return qname, false, nil
		case '/':
			p.i++
			if !p.eat('>') {
				return "", false, p.errorf(ErrNotWellFormed, "expected '>' after '/'")
			}
			return qname, true, nil
		}
		if p.i == sp {
			return "", false, p.errorf(ErrNotWellFormed, "expected whitespace before an attribute")
		}
		an, err := p.name()
		if err != nil {
			return "", false, err
		}
		p.skipSpace()
		if !p.eat('=') {
			return "", false, p.errorf(ErrNotWellFormed, "attribute %q without a value", an)
		}
		p.skipSpace()
		v, err := p.rawValue()
		if err != nil {
			return "", false, err
		}
		for _, a := range p.raw {
			if a.qname == an {
				return "", false, p.errorf(ErrNotWellFormed, "duplicate attribute %q", an)
			}
		}
		if len(p.raw) >= p.lim.MaxAttrs {
			return "", false, p.errorf(ErrTooLarge, "more than %d attributes", p.lim.MaxAttrs)
		}
		p.raw = append(p.raw, rawAttr{an, v})
	}
}

// declare pushes the xmlns declarations of p.raw onto the scope.
func (p *parser) declare() error {
	for _, a := range p.raw {
		if a.qname == "xmlns" {
			uri, err := unescape(a.value, true)
			if err != nil {
				return err
			}
			p.scope = append(p.scope, binding{"", uri})
		} else if strings.HasPrefix(a.qname, "xmlns:") {
			prefix := a.qname[6:]
			uri, err := unescape(a.value, true)
			if err != nil {
				return err
			}
			if _, _, ok := splitQName(prefix); !ok || prefix == "" || strings.IndexByte(prefix, ':') >= 0 {
				return p.errorf(ErrNotWellFormed, "bad prefix %q", prefix)
			}
			if uri == "" || prefix == "xmlns" || (prefix == "xml") != (uri == NSXML) {
				return p.errorf(ErrBadPrefix, "illegal declaration of prefix %q", prefix)
			}
			p.scope = append(p.scope, binding{prefix, uri})
		}
	}
	return nil
}

// resolve returns the element's local name and namespace.
func (p *parser) resolve(qname string) (local, ns string, err error) {
	prefix, local, ok := splitQName(qname)
	if !ok {
		return "", "", p.errorf(ErrNotWellFormed, "bad qualified name %q", qname)
	}
	ns, ok = p.lookup(prefix)
	if !ok {
		return "", "", p.errorf(ErrBadPrefix, "prefix %q is not declared", prefix)
	}
	if prefix == "xml" {
		return "", "", p.errorf(ErrBadPrefix, "element in the xml namespace")
	}
	return local, ns, nil
}

// addAttrs appends the element's attributes to p.attrs, unescaped, led
// by the declarations their prefixes need when the element is written on
// its own, and returns how many declarations there are.
func (p *parser) addAttrs() (ndecl int, err error) {
	for _, a := range p.raw {
		prefix, _, ok := splitQName(a.qname)
		if !ok {
			return 0, p.errorf(ErrNotWellFormed, "bad attribute name %q", a.qname)
		}
		if prefix == "" || prefix == "xml" || prefix == "xmlns" {
			continue
		}
		uri, ok := p.lookup(prefix)
		if !ok {
			return 0, p.errorf(ErrBadPrefix, "prefix %q is not declared", prefix)
		}
		decl := "xmlns:" + prefix
		seen := false
		for _, d := range p.attrs[len(p.attrs)-ndecl:] {
			seen = seen || d.Name == decl
		}
		if !seen {
			p.attrs = append(p.attrs, Attr{decl, uri})
			ndecl++
		}
	}
	if ndecl > 255 {
		return 0, p.errorf(ErrTooLarge, "too many namespace prefixes")
	}
	for _, a := range p.raw {
		if a.qname == "xmlns" || strings.HasPrefix(a.qname, "xmlns:") {
			continue
		}
		v, err := unescapeWS(a.value, true, p.ws)
		if err != nil {
			return 0, err
		}
		p.attrs = append(p.attrs, Attr{a.qname, v})
	}
	return ndecl, nil
}

// parse parses s, one complete element, in the scope of the stream header.
//
// nodes and attrs are upper bounds from the scanner: the result's arrays
// are allocated once at that size and filled in place, so nothing is
// copied afterwards.
func (p *parser) parse(s string, base []binding, lim Limits, nodes, attrs int, st stamp) (*Element, error) {
	p.s, p.i, p.lim = s, 0, lim
	p.nodes = make([]Element, 0, max(nodes, 1))
	p.attrs = nil
	if st.ns != "" {
		attrs++ // room for the stamp, in the same array
	}
	if attrs > 0 {
		p.attrs = make([]Attr, 0, attrs)
	}
	defer func() { p.nodes, p.attrs = nil, nil }()
	p.scope = append(p.scope[:0], base...)
	p.stack = p.stack[:0]
	// Attribute offsets are recorded while p.attrs may still grow; the
	// slices are cut from the final array at the end.
	type span struct{ lo, hi int32 }
	var spansBuf [32]span
	spans := spansBuf[:0]

	for {
		if p.i >= len(p.s) {
			return nil, p.errorf(ErrNotWellFormed, "unexpected end of element")
		}
		if p.s[p.i] != '<' {
			// Character data (only inside an element: the scanner starts
			// s at '<' and ends it at the root's '>').
			j := strings.IndexByte(p.s[p.i:], '<')
			if j < 0 {
				return nil, p.errorf(ErrNotWellFormed, "unexpected end of element")
			}
			raw := p.s[p.i : p.i+j]
			if strings.IndexByte(raw, ']') >= 0 && strings.Contains(raw, "]]>") {
				return nil, p.errorf(ErrNotWellFormed, "']]>' in character data") // XML 1.0 §2.4
			}
			seg, err := unescapeWS(raw, false, p.ws)
			if err != nil {
				return nil, err
			}
			p.i += j
			p.text = append(p.text, seg)
			continue
		}
		if strings.HasPrefix(p.s[p.i:], "<![CDATA[") {
			if len(p.stack) == 0 {
				return nil, p.errorf(ErrNotWellFormed, "CDATA outside an element")
			}
			p.i += 9
			j := strings.Index(p.s[p.i:], "]]>")
			if j < 0 {
				return nil, p.errorf(ErrNotWellFormed, "unterminated CDATA section")
			}
			seg := p.s[p.i : p.i+j]
			if strings.IndexByte(seg, '\r') >= 0 {
				seg = normalizeSpace(seg, false)
			}
			p.text = append(p.text, seg)
			p.i += j + 3
			continue
		}
		p.flushText()
		p.i++
		if p.i < len(p.s) && p.s[p.i] == '/' {
			p.i++
			qname, err := p.name()
			if err != nil {
				return nil, err
			}
			p.skipSpace()
			if !p.eat('>') {
				return nil, p.errorf(ErrNotWellFormed, "expected '>' in end tag")
			}
			top := p.stack[len(p.stack)-1]
			if qname != top.qname {
				return nil, p.errorf(ErrNotWellFormed, "end tag </%s> does not match <%s>", qname, top.qname)
			}
			p.stack = p.stack[:len(p.stack)-1]
			p.scope = p.scope[:top.nscope]
			if len(p.stack) == 0 {
				break
			}
			continue
		}
		if p.i < len(p.s) && (p.s[p.i] == '!' || p.s[p.i] == '?') {
			return nil, p.errorf(ErrRestricted, "comment, DTD or processing instruction")
		}
		qname, empty, err := p.startTag()
		if err != nil {
			return nil, err
		}
		nscope := len(p.scope)
		if err := p.declare(); err != nil {
			return nil, err
		}
		local, ns, err := p.resolve(qname)
		if err != nil {
			return nil, err
		}
		lo := int32(len(p.attrs))
		ndecl, err := p.addAttrs()
		if err != nil {
			return nil, err
		}
		idx := p.addNode(Element{impl: elementImpl{name: local, space: ns, ndecl: uint8(ndecl)}})
		spans = append(spans, span{lo, int32(len(p.attrs))})
		if empty {
			p.scope = p.scope[:nscope]
			if len(p.stack) == 0 {
				break
			}
			continue
		}
		p.stack = append(p.stack, open{node: idx, qname: qname, nscope: nscope})
	}
	if p.i != len(p.s) {
		return nil, p.errorf(ErrNotWellFormed, "content after the end of the element")
	}

	if st.ns != "" && p.nodes[0].impl.space == st.ns {
		if d := p.applyStamp(st.attr, spans[0].lo+int32(p.nodes[0].impl.ndecl), spans[0].hi); d != 0 {
			spans[0].hi += d
			for k := 1; k < len(spans); k++ {
				spans[k].lo += d
				spans[k].hi += d
			}
		}
	}

	// One tree, one node array and one attribute array per element.
	t := &tree{nodes: p.nodes}
	all := p.attrs
	k := 0
	for i := range t.nodes {
		n := &t.nodes[i].impl
		n.t = t
		if n.kind == kindElement {
			sp := spans[k]
			k++
			if sp.hi > sp.lo {
				n.attrs = all[sp.lo:sp.hi:sp.hi]
			}
		}
	}
	clear(p.text)
	p.text = p.text[:0]
	return &t.nodes[0], nil
}

// stamp is an attribute Decoder.Stamp sets on the root of elements in ns
// ("" for none).
type stamp struct {
	ns   string
	attr Attr
}

// applyStamp sets a on the root, whose attributes are p.attrs[lo:hi]:
// replaced in place, removed (an empty value) or inserted at hi, shifting
// the descendants' attributes by one within the array's spare slot. It
// returns the change in the root's number of attributes.
func (p *parser) applyStamp(a Attr, lo, hi int32) int32 {
	for i := lo; i < hi; i++ {
		if p.attrs[i].Name != a.Name {
			continue
		}
		if a.Value != "" {
			p.attrs[i].Value = a.Value
			return 0
		}
		p.attrs = append(p.attrs[:i], p.attrs[i+1:]...)
		return -1
	}
	if a.Value == "" {
		return 0
	}
	p.attrs = append(p.attrs, Attr{})
	copy(p.attrs[hi+1:], p.attrs[hi:])
	p.attrs[hi] = a
	return 1
}

// addNode appends n as the next child of the open element (or as the
// root) and returns its index.
func (p *parser) addNode(n Element) int32 {
	idx := int32(len(p.nodes))
	n.impl.first, n.impl.last, n.impl.next = -1, -1, -1
	p.nodes = append(p.nodes, n)
	if len(p.stack) > 0 {
		parent := &p.nodes[p.stack[len(p.stack)-1].node].impl
		if parent.last >= 0 {
			p.nodes[parent.last].impl.next = idx
		} else {
			parent.first = idx
		}
		parent.last = idx
	}
	return idx
}

// flushText turns the pending text segments into one text node.
func (p *parser) flushText() {
	if len(p.text) == 0 {
		return
	}
	var s string
	if len(p.text) == 1 {
		s = p.text[0]
	} else {
		s = strings.Join(p.text, "")
	}
	clear(p.text)
	p.text = p.text[:0]
	if s != "" && len(p.stack) > 0 {
		p.addNode(Element{impl: elementImpl{kind: kindText, name: s}})
	}
}

// unescape resolves the predefined entities and character references in
// s (XML 1.0 §4.6, §4.1) and normalizes line ends; in attribute values,
// literal whitespace becomes a space (§3.3.3). Any other entity is
// restricted XML (RFC 6120 §11.1).
func unescape(s string, attr bool) (string, error) { return unescapeWS(s, attr, true) }

// unescapeWS is unescape where mayWS false promises s holds no tab, CR or
// LF.
func unescapeWS(s string, attr, mayWS bool) (string, error) {
	// IndexByte is vectorized: a few scans beat one byte loop.
	ws := mayWS && (strings.IndexByte(s, '\r') >= 0 ||
		attr && (strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\t') >= 0))
	amp := strings.IndexByte(s, '&')
	if amp < 0 && !ws {
		return s, nil
	}
	if ws {
		// Literal whitespace is normalized before references are
		// resolved, so that &#10; stays a line feed.
		s = normalizeSpace(s, attr)
		amp = strings.IndexByte(s, '&')
		if amp < 0 {
			return s, nil
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	for amp >= 0 {
		b.WriteString(s[:amp])
		s = s[amp:]
		j := strings.IndexByte(s, ';')
		if j < 0 {
			return "", fmt.Errorf("%w: '&' without ';'", ErrNotWellFormed)
		}
		if err := writeEntity(&b, s[1:j]); err != nil {
			return "", err
		}
		s = s[j+1:]
		amp = strings.IndexByte(s, '&')
	}
	b.WriteString(s)
	return b.String(), nil
}

func writeEntity(b *strings.Builder, ent string) error {
	switch ent {
	case "lt":
		b.WriteByte('<')
	case "gt":
		b.WriteByte('>')
	case "amp":
		b.WriteByte('&')
	case "quot":
		b.WriteByte('"')
	case "apos":
		b.WriteByte('\'')
	default:
		if len(ent) > 1 && ent[0] == '#' {
			var n uint64
			var err error
			if ent[1] == 'x' {
				n, err = parseDigits(ent[2:], 16)
			} else {
				n, err = parseDigits(ent[1:], 10)
			}
			if err != nil || n > utf8.MaxRune || !isChar(rune(n)) {
				return fmt.Errorf("%w: bad character reference &%s;", ErrNotWellFormed, ent)
			}
			b.WriteRune(rune(n))
			return nil
		}
		if _, _, ok := splitQName(ent); ent == "" || !ok || !isNameStartRune([]rune(ent)[0]) {
			return fmt.Errorf("%w: bad entity reference", ErrNotWellFormed)
		}
		return fmt.Errorf("%w: entity &%s;", ErrRestricted, ent)
	}
	return nil
}

// normalizeSpace applies XML 1.0 §2.11 (CR LF and lone CR become LF) and,
// for attribute values, §3.3.3 (each whitespace character becomes a space).
func normalizeSpace(s string, attr bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			c = '\n'
		}
		if attr && (c == '\n' || c == '\t') {
			c = ' '
		}
		b.WriteByte(c)
	}
	return b.String()
}

func parseDigits(s string, base int) (uint64, error) {
	if s == "" || s[0] == '+' || s[0] == '-' || strings.IndexByte(s, '_') >= 0 {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, base, 32)
}

// parseHeader parses the stream's start tag and records the namespace
// scope it establishes for the stanzas.
func (x *decoderImpl) parseHeader(s string) (*Header, error) {
	p := parserPool.Get().(*parser)
	defer func() { p.release(); parserPool.Put(p) }()
	p.s, p.i, p.lim = s, 1, x.lim
	p.scope = p.scope[:0]
	qname, empty, err := p.startTag()
	if err != nil {
		return nil, err
	}
	if empty {
		return nil, p.errorf(ErrNotWellFormed, "empty stream element")
	}
	if err := p.declare(); err != nil {
		return nil, err
	}
	prefix, local, ok := splitQName(qname)
	if !ok {
		return nil, p.errorf(ErrNotWellFormed, "bad qualified name %q", qname)
	}
	ns, ok := p.lookup(prefix)
	if !ok {
		return nil, p.errorf(ErrBadPrefix, "prefix %q is not declared", prefix)
	}
	h := &Header{Name: local, NS: ns, Prefix: prefix}
	h.DefaultNS, _ = p.lookup("")
	for _, a := range p.raw {
		if a.qname == "xmlns" || strings.HasPrefix(a.qname, "xmlns:") {
			continue
		}
		v, err := unescape(a.value, true)
		if err != nil {
			return nil, err
		}
		h.Attrs = append(h.Attrs, Attr{a.qname, v})
	}
	// The decoder keeps the namespace scope for the whole stream: copy
	// its strings out of the header text, which can then be freed (an idle
	// session should not pin its peer's header).
	x.base = make([]binding, len(p.scope))
	for i, b := range p.scope {
		x.base[i] = binding{prefix: intern(b.prefix), uri: intern(b.uri)}
	}
	x.endTag = "</" + qname
	return h, nil
}

// intern returns s without a reference to the text it came from: the
// common stream namespaces as constants, anything else copied.
func intern(s string) string {
	switch s {
	case "":
		return ""
	case "stream":
		return "stream"
	case NSStream:
		return NSStream
	case NSClient:
		return NSClient
	case NSServer:
		return NSServer
	case "jabber:component:accept":
		return "jabber:component:accept"
	}
	return strings.Clone(s)
}

// release drops the parser's references into the last element, so a
// pooled parser does not keep a stanza alive.
func (p *parser) release() {
	p.s = ""
	clear(p.raw)
	p.raw = p.raw[:0]
	clear(p.scope)
	p.scope = p.scope[:0]
	clear(p.stack)
	p.stack = p.stack[:0]
	clear(p.text)
	p.text = p.text[:0]
	p.nodes, p.attrs = nil, nil
}
