// Package stream is what the three kinds of XML stream xmppd accepts
// (client, server, component) have in common: the stream header we write
// and the checks of the one we read (RFC 6120 §4.7, §4.8), stream errors
// and the decoder's mapping to them (§4.9), the features element (§4.3.2),
// the accept loop with its per-address limits and a shutdown that waits on
// a channel, the wait for a writer to flush before a close, and the small
// Transport interface by which a stream writes its header, its elements
// and its end to TCP, a WebSocket (RFC 7395) or BOSH (XEP-0206).
package stream

import (
	"strconv"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// Header is a stream header (RFC 6120 §4.7): ours, written with empty
// fields left out, or the peer's as read (Peer, HeaderReader), whatever
// transport carried it.
type Header struct {
	// NS is the content namespace: jabber:client, jabber:server or
	// jabber:component:accept (XEP-0114).
	NS string
	// Decls are further namespace declarations written as they are,
	// each starting with a space (s2s: " xmlns:db='jabber:server:dialback'").
	Decls   string
	From    string // §4.7.1
	To      string // §4.7.2
	ID      string // §4.7.3
	Version string // §4.7.5; "" for a pre-1.0 stream (a component's)
	Lang    string // §4.7.4
}

// Append writes the XML declaration and the opening tag, with the
// customary "stream" prefix every peer expects.
func (h *Header) Append(b []byte) []byte {
	b = append(b, "<?xml version='1.0'?>"...)
	return h.AppendTag(b)
}

// AppendTag writes the opening tag alone (a transport that frames the
// stream itself, BOSH, carries the header's attributes in its own).
func (h *Header) AppendTag(b []byte) []byte {
	b = append(b, "<stream:stream xmlns='"...)
	b = xml.EscapeAttr(b, h.NS)
	b = append(b, "' xmlns:stream='"+xml.NSStream+"'"...)
	b = append(b, h.Decls...)
	b = appendAttr(b, "from", h.From)
	b = appendAttr(b, "to", h.To)
	b = appendAttr(b, "id", h.ID)
	b = appendAttr(b, "version", h.Version)
	b = appendAttr(b, "xml:lang", h.Lang)
	return append(b, '>')
}

// Attrs lists the header's attributes in the order Append writes them,
// for transports that carry them on an element of their own (RFC 7395
// <open/>).
func (h *Header) Attrs() []xml.Attr {
	var as []xml.Attr
	for _, a := range [...]xml.Attr{{Name: "from", Value: h.From}, {Name: "to", Value: h.To}, {Name: "id", Value: h.ID},
		{Name: "version", Value: h.Version}, {Name: "xml:lang", Value: h.Lang}} {
		if a.Value != "" {
			as = append(as, a)
		}
	}
	return as
}

func appendAttr(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, "='"...)
	b = xml.EscapeAttr(b, v)
	return append(b, '\'')
}

// readHeader reads the peer's stream header from bytes, mapping what the
// decoder refuses to its stream error (DecodeError).
func readHeader(d *xml.Decoder) (*xml.Header, error) {
	h, err := d.ReadHeader()
	if err != nil {
		return nil, DecodeError(err)
	}
	return h, nil
}

// Peer is the header a peer read from a byte stream: its attributes, and
// as NS the content namespace it declared; NS is "" when the element is
// not <stream:stream> in the streams namespace (§4.8.1), which
// CheckPeerNamespace then refuses like a wrong content namespace.
func Peer(h *xml.Header) *Header {
	p := &Header{From: h.Attr("from"), To: h.Attr("to"), ID: h.Attr("id"), Version: h.Attr("version"), Lang: h.Attr("xml:lang")}
	if h.Name == "stream" && h.NS == xml.NSStream {
		p.NS = h.DefaultNS
	}
	return p
}

// CheckPeerNamespace returns <invalid-namespace/> for a peer header whose
// content namespace is not ns (§4.8.1, §4.8.2, §4.9.3.10), nil for one
// whose is. A transport that frames the stream itself checked its own
// element (RFC 7395 <open/>, XEP-0124 <body/>) and implies the namespace.
func CheckPeerNamespace(h *Header, ns string) error {
	if h.NS != ns {
		return &stanza.StreamError{Condition: stanza.StreamInvalidNamespace, Text: "expected <stream:stream> in " + xml.NSStream + " with content namespace " + ns}
	}
	return nil
}

// CheckPeerVersion returns <unsupported-version/> unless the peer's
// header announces XMPP 1.x: the check of a stream that has no pre-1.0
// form (c2s; s2s and components use PeerVersion).
func CheckPeerVersion(h *Header) error {
	if v, err := PeerVersion(h); err != nil || v != 1 {
		return &stanza.StreamError{Condition: stanza.StreamUnsupportedVersion, Text: "only XMPP 1.0 streams are supported"}
	}
	return nil
}

// PeerVersion is the major version of XMPP a peer's header announces
// (§4.7.5): 1 for XMPP 1.x, 0 for a peer that predates it (a header
// without version is "0.9": dialback-only servers, XEP-0220, and XEP-0114
// components send none). A major version above ours, or a version that is
// not a number, is <unsupported-version/> (§4.9.3.25).
func PeerVersion(h *Header) (int, error) {
	switch v := MajorVersion(h.Version); v {
	case 0, 1:
		return v, nil
	}
	return 0, &stanza.StreamError{Condition: stanza.StreamUnsupportedVersion, Text: "version " + strconv.Quote(h.Version) + " is not supported: this server speaks XMPP 1.0"}
}

// MajorVersion is the major number of a version attribute: 0 when
// absent, -1 when not a number.
func MajorVersion(v string) int {
	if v == "" {
		return 0
	}
	maj := v
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			maj = v[:i]
			break
		}
	}
	n, err := strconv.Atoi(maj)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
