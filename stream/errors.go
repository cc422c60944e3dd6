package stream

import (
	"errors"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// Closing is the tag that ends a stream (RFC 6120 §4.4).
const Closing = "</stream:stream>"

// DecodeError maps an error of the restricted-XML decoder to the stream
// error RFC 6120 §4.9.3 names for it. The peer's closing tag
// (xml.ErrStreamEnd) and I/O errors are returned as they are, since no
// stream error is to be sent for them.
func DecodeError(err error) error {
	var cond string
	switch {
	case errors.Is(err, xml.ErrRestricted):
		cond = stanza.StreamRestrictedXML // §4.9.3.18, §11.1
	case errors.Is(err, xml.ErrTooLarge):
		cond = stanza.StreamPolicyViolation // §4.9.3.14: a local limit
	case errors.Is(err, xml.ErrBadPrefix):
		cond = stanza.StreamBadNamespacePrefix // §4.9.3.2
	case errors.Is(err, xml.ErrNotWellFormed):
		cond = stanza.StreamNotWellFormed // §4.9.3.13
	default:
		return err
	}
	return &stanza.StreamError{Condition: cond, Text: err.Error()}
}

// AppendEnd writes what ends a stream: the stream error for condition
// (none when ""), then the closing tag.
func AppendEnd(b []byte, condition, text string) []byte {
	if condition != "" {
		b = (&stanza.StreamError{Condition: condition, Text: text}).Append(b)
	}
	return append(b, Closing...)
}
