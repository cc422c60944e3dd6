package stream

import "io"

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

// WriteClose sends the end of our stream on t (RFC 6120 §4.4).
func WriteClose(t io.Writer) error {
	if f, ok := t.(Framer); ok {
		return f.WriteClose()
	}
	_, err := io.WriteString(t, Closing)
	return err
}
