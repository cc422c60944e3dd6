package xml

import (
	"iter"
	"strings"
	"sync/atomic"
)

const (
	kindElement uint8 = iota
	kindText
)

// tree owns the nodes of one element and its subtree. Elements point into
// t.nodes, so walking children allocates nothing, and all the names and
// values are substrings of the one string the element was parsed from.
type tree struct {
	nodes []Element
	// shared is nil until WithAttrs copies an element of the tree, then
	// &copiedOnce, then after a second copy &copiedMore, and once a
	// copy has been serialized, that copy's children as bytes: a room's
	// groupchat message goes out as one copy per occupant that differ
	// only in 'to', and writing the shared children once instead of per
	// copy is most of the serialization (docs/performance.md, "MUC
	// delivery CPU"). An element that is never copied, or copied once,
	// pays nothing but the pointer.
	shared atomic.Pointer[innerBytes]
}

// innerBytes is the serialized content (children and text) of the node
// whose first child is first, written inside an element of namespace ns.
// Nodes never change once built, so the bytes stay right for any element
// of the tree with the same first child and namespace.
type innerBytes struct {
	first int32
	ns    string
	b     []byte
}

// Markers for tree.shared before it holds bytes. Never written to.
var copiedOnce, copiedMore innerBytes

type elementImpl struct {
	t     *tree
	name  string // the text, for text nodes
	space string
	// attrs holds first the ndecl xmlns:p declarations that prefixed
	// attributes need when the element is written on its own, then the
	// attributes.
	attrs []Attr
	first int32 // first child node, -1 if none
	last  int32
	next  int32 // next sibling, -1 if none
	ndecl uint8
	kind  uint8
}

func (e *Element) name() string      { return e.impl.name }
func (e *Element) ns() string        { return e.impl.space }
func (e *Element) attrs() []Attr     { return e.impl.attrs[e.impl.ndecl:] }
func (x *elementImpl) decls() []Attr { return x.attrs[:x.ndecl] }

func (e *Element) lookupAttr(name string) (string, bool) {
	for _, a := range e.attrs() {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

func (e *Element) node(i int32) *Element { return &e.impl.t.nodes[i] }

func (e *Element) text() string {
	var one string
	n := 0
	for i := e.impl.first; i >= 0; {
		c := e.node(i)
		if c.impl.kind == kindText {
			one = c.impl.name
			n++
		}
		i = c.impl.next
	}
	if n <= 1 {
		return one
	}
	var b strings.Builder
	for i := e.impl.first; i >= 0; {
		c := e.node(i)
		if c.impl.kind == kindText {
			b.WriteString(c.impl.name)
		}
		i = c.impl.next
	}
	return b.String()
}

func (e *Element) children() iter.Seq[*Element] {
	return func(yield func(*Element) bool) {
		for i := e.impl.first; i >= 0; {
			c := e.node(i)
			if c.impl.kind == kindElement && !yield(c) {
				return
			}
			i = c.impl.next
		}
	}
}

func (e *Element) child(name, ns string) *Element {
	for i := e.impl.first; i >= 0; {
		c := e.node(i)
		if c.impl.kind == kindElement && c.impl.name == name && (ns == "" || c.impl.space == ns) {
			return c
		}
		i = c.impl.next
	}
	return nil
}

func (e *Element) firstChild() *Element {
	for i := e.impl.first; i >= 0; {
		c := e.node(i)
		if c.impl.kind == kindElement {
			return c
		}
		i = c.impl.next
	}
	return nil
}

// newWithAttrs allocates a copy's element and its attribute array (length
// n, capacity max) together when they are few: a copy per recipient (a
// room's groupchat to each occupant, presence to each contact) is then
// one allocation instead of two.
func newWithAttrs(n, max int) (*Element, []Attr) {
	switch {
	case max <= 4:
		p := new(struct {
			el Element
			a  [4]Attr
		})
		return &p.el, p.a[:n:max]
	case max <= 6:
		p := new(struct {
			el Element
			a  [6]Attr
		})
		return &p.el, p.a[:n:max]
	}
	return new(Element), make([]Attr, n, max)
}

func (e *Element) withAttrs(set []Attr) *Element {
	if t := e.impl.t; t != nil && e.impl.first >= 0 {
		switch t.shared.Load() {
		case nil:
			t.shared.CompareAndSwap(nil, &copiedOnce)
		case &copiedOnce:
			t.shared.CompareAndSwap(&copiedOnce, &copiedMore)
		}
	}
	out, attrs := newWithAttrs(len(e.impl.attrs), len(e.impl.attrs)+len(set))
	out.impl = e.impl
	out.impl.next = -1
	copy(attrs, e.impl.attrs)
	nd := int(e.impl.ndecl)
	for _, a := range set {
		found := false
		for i := nd; i < len(attrs); i++ {
			if attrs[i].Name == a.Name {
				found = true
				if a.Value == "" {
					attrs = append(attrs[:i], attrs[i+1:]...)
				} else {
					attrs[i].Value = a.Value
				}
				break
			}
		}
		if !found && a.Value != "" {
			attrs = append(attrs, a)
		}
	}
	out.impl.attrs = attrs
	return out
}

// appendTop is Append: the element's children come from the tree's
// shared bytes when a copy of the element was written before.
func (e *Element) appendTop(buf []byte, parentNS string) []byte {
	t := e.impl.t
	if t == nil || e.impl.first < 0 {
		return e.append(buf, parentNS)
	}
	sh := t.shared.Load()
	if sh == nil || sh == &copiedOnce {
		return e.append(buf, parentNS)
	}
	if sh != &copiedMore && (sh.first != e.impl.first || sh.ns != e.impl.space) {
		// Bytes of another node of the tree (a copy of a child).
		return e.append(buf, parentNS)
	}
	buf = append(e.appendOpen(buf, parentNS), '>')
	if sh != &copiedMore {
		buf = append(buf, sh.b...)
	} else {
		start := len(buf)
		buf = e.appendChildren(buf)
		// Concurrent writers may both get here: the bytes are the same.
		in := &innerBytes{first: e.impl.first, ns: e.impl.space, b: append([]byte(nil), buf[start:]...)}
		t.shared.CompareAndSwap(&copiedMore, in)
	}
	return e.appendEnd(buf)
}

func (e *Element) append(buf []byte, parentNS string) []byte {
	buf = e.appendOpen(buf, parentNS)
	if e.impl.first < 0 {
		return append(buf, "/>"...)
	}
	buf = e.appendChildren(append(buf, '>'))
	return e.appendEnd(buf)
}

// appendOpen writes the start tag but its closing '>' or "/>".
func (e *Element) appendOpen(buf []byte, parentNS string) []byte {
	buf = append(buf, '<')
	buf = append(buf, e.impl.name...)
	if e.impl.space != parentNS {
		buf = append(buf, " xmlns='"...)
		buf = escapeAttr(buf, e.impl.space)
		buf = append(buf, '\'')
	}
	for _, a := range e.impl.attrs {
		buf = appendAttr(buf, a)
	}
	return buf
}

func (e *Element) appendChildren(buf []byte) []byte {
	for i := e.impl.first; i >= 0; {
		c := e.node(i)
		if c.impl.kind == kindText {
			buf = escapeText(buf, c.impl.name)
		} else {
			buf = c.append(buf, e.impl.space)
		}
		i = c.impl.next
	}
	return buf
}

func (e *Element) appendEnd(buf []byte) []byte {
	buf = append(buf, "</"...)
	buf = append(buf, e.impl.name...)
	return append(buf, '>')
}

func appendAttr(buf []byte, a Attr) []byte {
	buf = append(buf, ' ')
	buf = append(buf, a.Name...)
	buf = append(buf, "='"...)
	buf = escapeAttr(buf, a.Value)
	return append(buf, '\'')
}

// textEscapes: what character data cannot hold literally. '>' is escaped
// so that "]]>" never appears; CR so that it survives the reader's
// line-end normalization.
var textEscapes = [256]string{'&': "&amp;", '<': "&lt;", '>': "&gt;", '\r': "&#xD;"}

// attrEscapes: for a value in either kind of quotes; whitespace other than
// space is escaped so that attribute-value normalization keeps it.
var attrEscapes = [256]string{'&': "&amp;", '<': "&lt;", '>': "&gt;", '"': "&quot;", '\'': "&apos;",
	'\n': "&#xA;", '\r': "&#xD;", '\t': "&#x9;"}

func escapeText(buf []byte, s string) []byte { return escape(buf, s, &textEscapes) }
func escapeAttr(buf []byte, s string) []byte { return escape(buf, s, &attrEscapes) }

// escape appends s with each byte that has an entry in esc replaced by it,
// copying the runs in between whole.
func escape(buf []byte, s string, esc *[256]string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		if e := esc[s[i]]; e != "" {
			buf = append(buf, s[last:i]...)
			buf = append(buf, e...)
			last = i + 1
		}
	}
	return append(buf, s[last:]...)
}

// builderImpl collects nodes in document order; Element links them into a
// tree of their own.
type builderImpl struct {
	nodes []Element
	stack []int32
}

func newBuilder(name, ns string) *Builder {
	b := &Builder{}
	b.impl.nodes = make([]Element, 0, 4)
	b.impl.add(Element{impl: elementImpl{name: name, space: ns}})
	return b
}

func (b *builderImpl) add(n Element) int32 {
	idx := int32(len(b.nodes))
	n.impl.first, n.impl.last, n.impl.next = -1, -1, -1
	b.nodes = append(b.nodes, n)
	if len(b.stack) > 0 {
		parent := &b.nodes[b.stack[len(b.stack)-1]].impl
		if parent.last >= 0 {
			b.nodes[parent.last].impl.next = idx
		} else {
			parent.first = idx
		}
		parent.last = idx
	}
	if n.impl.kind == kindElement {
		b.stack = append(b.stack, idx)
	}
	return idx
}

func (b *Builder) start(name, ns string) {
	x := &b.impl
	if len(x.stack) == 0 {
		panic("xml: Builder.Start after the root element was closed")
	}
	if ns == "" {
		ns = x.nodes[x.stack[len(x.stack)-1]].impl.space
	}
	x.add(Element{impl: elementImpl{name: name, space: ns}})
}

func (b *Builder) attr(name, value string) {
	x := &b.impl
	if len(x.stack) == 0 {
		panic("xml: Builder.Attr after the root element was closed")
	}
	n := &x.nodes[x.stack[len(x.stack)-1]].impl
	for i := range n.attrs {
		if n.attrs[i].Name == name {
			n.attrs[i].Value = value
			return
		}
	}
	n.attrs = append(n.attrs, Attr{name, value})
}

func (b *Builder) textData(s string) {
	x := &b.impl
	if len(x.stack) == 0 {
		panic("xml: Builder.Text after the root element was closed")
	}
	if s == "" {
		return
	}
	parent := &x.nodes[x.stack[len(x.stack)-1]].impl
	if parent.last >= 0 && x.nodes[parent.last].impl.kind == kindText {
		x.nodes[parent.last].impl.name += s
		return
	}
	x.add(Element{impl: elementImpl{kind: kindText, name: s}})
}

func (b *Builder) appendChild(c *Element) {
	x := &b.impl
	if c == nil {
		return
	}
	if len(x.stack) == 0 {
		panic("xml: Builder.Append after the root element was closed")
	}
	x.copyIn(c)
}

// copyIn copies c's subtree in as a child of the open element.
func (b *builderImpl) copyIn(c *Element) {
	n := c.impl
	n.t = nil
	b.add(Element{impl: n})
	if n.kind != kindElement {
		return
	}
	for i := c.impl.first; i >= 0; {
		cc := c.node(i)
		b.copyIn(cc)
		i = cc.impl.next
	}
	b.stack = b.stack[:len(b.stack)-1]
}

func (b *Builder) end() {
	x := &b.impl
	if len(x.stack) > 0 {
		x.stack = x.stack[:len(x.stack)-1]
	}
}

func (b *Builder) build() *Element {
	x := &b.impl
	t := &tree{nodes: x.nodes}
	for i := range t.nodes {
		t.nodes[i].impl.t = t
	}
	// The builder is finished: further calls must not modify the result.
	x.nodes = nil
	x.stack = nil
	return &t.nodes[0]
}
