package stream

import (
	"io"

	"github.com/xmppd/xmppd/xml"
)

// Framer is a transport that frames the stream itself, so that our
// header and closing tag are events rather than bytes: a WebSocket sends
// RFC 7395's <open/> and <close/>, BOSH (XEP-0206) carries the header's
// attributes on its session's <body/> and ends with type='terminate'.
// Everything else a stream writes, through io.Writer's Write, is whole
// top-level elements.
//
// A transport that is not a Framer (TCP, TLS) is a byte stream: the
// functions WriteHeader and WriteClose give it the header and the closing
// tag as bytes. So a stream writes through one small interface - Write
// for elements, WriteHeader, WriteClose, Close - whatever carries it.
type Framer interface {
	WriteHeader(h *Header) error
	WriteClose() error
}

// WriteHeader sends our stream header on t: as bytes with the XML
// declaration, or as t's own framing.
func WriteHeader(t io.Writer, h *Header) error {
	if f, ok := t.(Framer); ok {
		return f.WriteHeader(h)
	}
	_, err := t.Write(h.Append(make([]byte, 0, 256)))
	return err
}

// WriteHeaderWith sends our stream header on t followed by b, whole
// top-level elements (the features that answer a client's header, RFC 6120
// §4.3.2). On a byte stream that is one Write: one TLS record and one
// write(2) instead of two, three times per client login. A Framer gets its
// header and then b, as WriteHeader and Write would give them.
func WriteHeaderWith(t io.Writer, h *Header, b []byte) error {
	if f, ok := t.(Framer); ok {
		if err := f.WriteHeader(h); err != nil {
			return err
		}
		if len(b) == 0 {
			return nil
		}
		_, err := t.Write(b)
		return err
	}
	buf := h.Append(make([]byte, 0, 256+len(b)))
	_, err := t.Write(append(buf, b...))
	return err
}

// WriteClose sends the end of our stream on t (RFC 6120 §4.4).
func WriteClose(t io.Writer) error {
	if f, ok := t.(Framer); ok {
		return f.WriteClose()
	}
	_, err := io.WriteString(t, Closing)
	return err
}

// HeaderReader is Framer's inbound side: a transport that frames the
// peer's stream hands over the peer's header as a value, so that the
// stream code checks one Header whatever carried it and no transport
// writes stream-header text for the decoder to parse again. RFC 7395's
// <open/> and a BOSH session's creation or restart body (XEP-0206 §3, §5)
// are such headers.
//
// ReadHeader waits for the peer's next header: at the stream's start and
// at each restart (RFC 6120 §4.3.3), when nothing else is due. NS is the
// content namespace the framing implies. Between headers, Read returns
// the bytes of the stream's top-level elements for a decoder put inside
// the stream with xml.Decoder.Framed; the peer's end of the stream
// (<close/>, type='terminate') is Read's error xml.ErrStreamEnd, and a
// header where an element was due is a *stanza.StreamError.
type HeaderReader interface {
	ReadHeader() (*Header, error)
}

// ReadPeerHeader reads the peer's next stream header: from t if it is a
// HeaderReader (then d, reset onto t's reader beforehand, is put inside
// the stream in the header's content namespace), otherwise from the bytes
// d reads. Errors are the stream errors RFC 6120 §4.9.3 names for them,
// or the transport's.
func ReadPeerHeader(t io.Reader, d *xml.Decoder) (*Header, error) {
	if hr, ok := t.(HeaderReader); ok {
		h, err := hr.ReadHeader()
		if err != nil {
			return nil, err
		}
		d.Framed(h.NS)
		return h, nil
	}
	xh, err := readHeader(d)
	if err != nil {
		return nil, err
	}
	return Peer(xh), nil
}
