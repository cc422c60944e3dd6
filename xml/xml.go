// Package xml is xmppd's restricted-XML layer (RFC 6120 §11): a pull decoder
// that turns a byte stream into immutable, flat elements, a builder for
// elements the server makes itself, and a serializer.
//
// It is not encoding/xml and does not share its API: no struct mapping and
// no token stream; a decoder yields whole top-level elements, with names as
// (local name, namespace URI) pairs. Elements are immutable, and
// input outside RFC 6120's restricted XML (comments, processing
// instructions, DTDs, entity declarations) is refused, not parsed. xmppd
// uses encoding/xml nowhere on the stanza path (README.md says why).
//
// The exported API in this file is what the rest of xmppd codes against;
// the implementation lives in the other files of the package.
package xml

import (
	"errors"
	"io"
	"iter"
)

// Namespaces the stream layer needs everywhere.
const (
	NSStream = "http://etherx.jabber.org/streams"
	NSClient = "jabber:client"
	NSServer = "jabber:server"
	NSXML    = "http://www.w3.org/XML/1998/namespace"
)

// Errors returned (wrapped) by the Decoder. Callers map them with errors.Is
// to RFC 6120 §4.9.3 stream error conditions.
var (
	ErrNotWellFormed = errors.New("xml: not well-formed")              // <not-well-formed/>
	ErrRestricted    = errors.New("xml: restricted XML construct")     // <restricted-xml/>: DTD, comment, PI, non-predefined entity
	ErrTooLarge      = errors.New("xml: element exceeds a size limit") // <policy-violation/>: bytes, depth, attribute count
	ErrStreamEnd     = errors.New("xml: stream closed by peer")        // </stream:stream> read
	ErrBadPrefix     = errors.New("xml: undeclared namespace prefix")  // <bad-namespace-prefix/>
)

// Limits bound what the Decoder accepts from a peer.
type Limits struct {
	MaxStanzaBytes int // raw bytes of one top-level element (and of the stream header)
	MaxDepth       int // nesting depth below the stream element
	MaxAttrs       int // attributes (including namespace declarations) on one element
}

// DefaultLimits: 256 KiB stanzas, depth 64, 64 attributes.
func DefaultLimits() Limits { return Limits{MaxStanzaBytes: 256 << 10, MaxDepth: 64, MaxAttrs: 64} }

// Attr is one attribute. Name is the qualified name as it must be written
// ("type", "xml:lang"); Value is unescaped.
type Attr struct {
	Name  string
	Value string
}

// Header is the stream's opening tag.
type Header struct {
	Name      string // local name, "stream"
	NS        string // namespace of the element itself (should be NSStream)
	Prefix    string // prefix used for the element ("stream"), "" if none
	DefaultNS string // the default namespace declared (jabber:client / jabber:server), "" if none
	Attrs     []Attr // to, from, id, version, xml:lang … (namespace declarations excluded)
}

// Attr returns the value of the named attribute, "" if absent.
func (h *Header) Attr(name string) string {
	for _, a := range h.Attrs {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// Decoder reads one XMPP stream. It is not safe for concurrent use.
type Decoder struct {
	impl decoderImpl
}

// NewDecoder reads from r with the given limits.
func NewDecoder(r io.Reader, lim Limits) *Decoder { return newDecoder(r, lim) }

// Reset discards all state and buffered input and reads from r: used for the
// stream restarts after STARTTLS and SASL success (RFC 6120 §5.4.3.3, §6.4.6).
func (d *Decoder) Reset(r io.Reader) { d.reset(r) }

// ReadHeader reads an optional XML declaration, then the stream's start tag.
// Leading whitespace is allowed. A DOCTYPE, comment or PI is ErrRestricted.
func (d *Decoder) ReadHeader() (*Header, error) { return d.readHeader() }

// Framed puts a decoder that has read nothing since Reset inside a stream
// whose header its transport delivered as a value rather than as bytes
// (RFC 7395's <open/>, a BOSH session's <body/>): what it reads from now
// on are the stream's top-level elements, in default namespace ns, with
// the "stream" prefix bound to NSStream as a client's header binds it.
// The transport reports the stream's end through its reader's error
// (ErrStreamEnd), not as a closing tag.
func (d *Decoder) Framed(ns string) { d.framed(ns) }

// AliasDefaultNS makes stanzas that inherit the stream header's default
// namespace resolve to to when that namespace is from. Call it after
// ReadHeader. A component stream (XEP-0114) carries the same stanzas as a
// client stream in jabber:component:accept; aliasing it to jabber:client
// lets the rest of the server see one stanza namespace.
func (d *Decoder) AliasDefaultNS(from, to string) { d.aliasDefaultNS(from, to) }

// Next returns the next complete child of the stream element. Whitespace
// between children (keepalives) is skipped. The closing stream tag yields
// ErrStreamEnd; a clean EOF before it yields io.ErrUnexpectedEOF. The returned
// Element stays valid forever (it owns its memory) and is safe to share
// between goroutines.
func (d *Decoder) Next() (*Element, error) { return d.next() }

// ErrPause, returned by the decoder's reader, makes Next return it without
// ending the stream: the input read so far is kept and the next call to
// Next resumes where this one stopped. A server uses it to stop reading an
// idle stream without keeping a goroutine blocked in it.
var ErrPause = errors.New("xml: reading paused")

// ReleaseBuffer gives up the decoder's read buffer if it holds no unread
// input (between stanzas), so an idle stream keeps none; the next read takes
// one from a pool shared by all decoders.
func (d *Decoder) ReleaseBuffer() { d.releaseBuffer() }

// InElement reports whether a top-level element (a stanza, or the stream's
// closing tag) has begun in the input and is not complete yet. A reader
// under the decoder asks it to bound the time a peer may take to finish
// what it started, without a timer per element.
func (d *Decoder) InElement() bool { return d.impl.inElem }

// Stamp makes every element in namespace ns that Next returns from now on
// carry the attribute name with value on its root: replacing the one the
// input had, or removing it if value is "". It is set while parsing, in the
// element's own arrays, so a server that must overwrite what a client
// wrote (RFC 6120 §8.1.2.1: 'from') does not copy each stanza to do it.
// Reset ends it; so does Stamp with ns "".
func (d *Decoder) Stamp(ns, name, value string) { d.setStamp(ns, name, value) }

// Element is an immutable XML element with its subtree.
// Names are local names with namespaces resolved, so a client writing
// <foo:query xmlns:foo='jabber:iq:roster'/> is seen as ("query", "jabber:iq:roster").
type Element struct {
	impl elementImpl
}

// Name is the local name.
func (e *Element) Name() string { return e.name() }

// NS is the resolved namespace URI (inherited from the stream's default
// namespace for stanzas: jabber:client).
func (e *Element) NS() string { return e.ns() }

// Attr returns the unescaped value of the attribute with that qualified name
// ("to", "xml:lang"), "" if absent.
func (e *Element) Attr(name string) string { v, _ := e.lookupAttr(name); return v }

// LookupAttr is Attr that also says whether the attribute is present.
func (e *Element) LookupAttr(name string) (string, bool) { return e.lookupAttr(name) }

// Attrs returns the attributes (not namespace declarations). The slice must
// not be modified.
func (e *Element) Attrs() []Attr { return e.attrs() }

// Text returns the concatenated, unescaped character data that is a direct
// child of e.
func (e *Element) Text() string { return e.text() }

// Children iterates over the child elements in document order.
func (e *Element) Children() iter.Seq[*Element] { return e.children() }

// Child returns the first child with that local name and namespace; ns ""
// matches any namespace. Nil if none.
func (e *Element) Child(name, ns string) *Element { return e.child(name, ns) }

// FirstChild returns the first child element or nil.
func (e *Element) FirstChild() *Element { return e.firstChild() }

// WithAttrs returns a copy of e with each given attribute set (replaced if
// present, appended if not). An Attr with Value "" removes that attribute.
// Used to stamp 'from'/'to' on routed stanzas.
func (e *Element) WithAttrs(attrs ...Attr) *Element { return e.withAttrs(attrs) }

// Append serializes e to buf. parentNS is the default namespace in scope
// where e is written (xml.NSClient inside a client stream): xmlns is written
// only where an element's namespace differs from its parent's. The output is
// well-formed, namespace-correct XML on its own; text and attribute values
// are escaped (text: & < >, attributes: & < > " ').
func (e *Element) Append(buf []byte, parentNS string) []byte { return e.appendTop(buf, parentNS) }

// String serializes e standalone (with its xmlns), for logs and tests.
func (e *Element) String() string { return string(e.Append(nil, "")) }

// Builder constructs elements. Start opens a child of the current element
// (or the root), Attr adds an attribute to the element most recently
// started (only before its first child or text), Text adds character data,
// Append copies a finished element in as a child, End closes the current
// element, Element closes anything left open and returns the root.
// ns "" in Start means "same namespace as the parent".
//
//	b := xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", id)
//	b.Start("query", "http://jabber.org/protocol/disco#info").Start("feature", "").Attr("var", f).End()
//	reply := b.Element()
type Builder struct {
	impl builderImpl
}

func NewBuilder(name, ns string) *Builder           { return newBuilder(name, ns) }
func (b *Builder) Start(name, ns string) *Builder   { b.start(name, ns); return b }
func (b *Builder) Attr(name, value string) *Builder { b.attr(name, value); return b }
func (b *Builder) Text(s string) *Builder           { b.textData(s); return b }
func (b *Builder) Append(child *Element) *Builder   { b.appendChild(child); return b }
func (b *Builder) End() *Builder                    { b.end(); return b }
func (b *Builder) Element() *Element                { return b.build() }

// EscapeText appends s escaped for character data; EscapeAttr for a quoted
// attribute value.
func EscapeText(buf []byte, s string) []byte { return escapeText(buf, s) }
func EscapeAttr(buf []byte, s string) []byte { return escapeAttr(buf, s) }
