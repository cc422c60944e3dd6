// Package stanza holds what every layer needs to speak about stanzas:
// stanza errors (RFC 6120 §8.3) and stream errors (RFC 6120 §4.9).
package stanza

import (
	"fmt"

	"github.com/xmppd/xmppd/xml"
)

const (
	NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSStreams = "urn:ietf:params:xml:ns:xmpp-streams"
)

// Stanza error conditions (RFC 6120 §8.3.3).
const (
	BadRequest            = "bad-request"
	Conflict              = "conflict"
	FeatureNotImplemented = "feature-not-implemented"
	Forbidden             = "forbidden"
	Gone                  = "gone"
	InternalServerError   = "internal-server-error"
	ItemNotFound          = "item-not-found"
	JIDMalformed          = "jid-malformed"
	NotAcceptable         = "not-acceptable"
	NotAllowed            = "not-allowed"
	NotAuthorized         = "not-authorized"
	PolicyViolation       = "policy-violation"
	RecipientUnavailable  = "recipient-unavailable"
	Redirect              = "redirect"
	RegistrationRequired  = "registration-required"
	RemoteServerNotFound  = "remote-server-not-found"
	RemoteServerTimeout   = "remote-server-timeout"
	ResourceConstraint    = "resource-constraint"
	ServiceUnavailable    = "service-unavailable"
	SubscriptionRequired  = "subscription-required"
	UndefinedCondition    = "undefined-condition"
	UnexpectedRequest     = "unexpected-request"
)

// defaultType is the error type RFC 6120 §8.3.3 uses in its example for
// each condition.
var defaultType = map[string]string{
	BadRequest:            "modify",
	Conflict:              "cancel",
	FeatureNotImplemented: "cancel",
	Forbidden:             "auth",
	Gone:                  "cancel",
	InternalServerError:   "cancel",
	ItemNotFound:          "cancel",
	JIDMalformed:          "modify",
	NotAcceptable:         "modify",
	NotAllowed:            "cancel",
	NotAuthorized:         "auth",
	PolicyViolation:       "modify",
	RecipientUnavailable:  "wait",
	Redirect:              "modify",
	RegistrationRequired:  "auth",
	RemoteServerNotFound:  "cancel",
	RemoteServerTimeout:   "wait",
	ResourceConstraint:    "wait",
	ServiceUnavailable:    "cancel",
	SubscriptionRequired:  "auth",
	UndefinedCondition:    "cancel",
	UnexpectedRequest:     "wait",
}

// Error is a stanza error. Handlers return it to have the core answer the
// request with it.
type Error struct {
	Type      string // auth, cancel, continue, modify, wait; "" = the condition's default
	Condition string
	Text      string
	// AppCondition is an optional application-specific condition element.
	AppCondition *xml.Element
}

func (e *Error) Error() string {
	if e.Text != "" {
		return fmt.Sprintf("stanza error %s: %s", e.Condition, e.Text)
	}
	return "stanza error " + e.Condition
}

// NewError makes an error of the condition's default type.
func NewError(condition, text string) *Error { return &Error{Condition: condition, Text: text} }

// Element renders the <error/> child.
func (e *Error) Element(by string) *xml.Element {
	return e.build(xml.NewBuilder("error", xml.NSClient), by).Element()
}

func (e *Error) build(b *xml.Builder, by string) *xml.Builder {
	typ := e.Type
	if typ == "" {
		typ = defaultType[e.Condition]
		if typ == "" {
			typ = "cancel"
		}
	}
	b.Attr("type", typ)
	if by != "" {
		b.Attr("by", by)
	}
	b.Start(e.Condition, NSStanzas).End()
	if e.Text != "" {
		b.Start("text", NSStanzas).Attr("xml:lang", "en").Text(e.Text).End()
	}
	if e.AppCondition != nil {
		b.Append(e.AppCondition)
	}
	return b
}

// Reply builds the error response to orig: same name and id, 'to' and 'from'
// swapped, type='error', and (RFC 6120 §8.3.1 allows it) the original
// payload for IQs so the requester can match it. Callers must not answer
// an error stanza with an error (§8.3.1); IsError tells.
func (e *Error) Reply(orig *xml.Element) *xml.Element {
	b := xml.NewBuilder(orig.Name(), xml.NSClient)
	if v := orig.Attr("from"); v != "" {
		b.Attr("to", v)
	}
	if v := orig.Attr("to"); v != "" {
		b.Attr("from", v)
	}
	if v, ok := orig.LookupAttr("id"); ok {
		b.Attr("id", v)
	}
	b.Attr("type", "error")
	if orig.Name() == "iq" {
		if p := orig.FirstChild(); p != nil && p.Name() != "error" {
			b.Append(p)
		}
	}
	b.Start("error", "")
	e.build(b, "")
	b.End()
	return b.Element()
}

// IsError reports whether el is an error stanza, which must never be
// answered with another error.
func IsError(el *xml.Element) bool { return el.Attr("type") == "error" }

// Condition returns the defined condition of an error stanza (RFC 6120
// §8.3.3: the child of <error/> in the stanzas namespace other than
// <text/>), or "" when el is nil, not of type 'error', or names none.
func Condition(el *xml.Element) string {
	if el == nil || !IsError(el) {
		return ""
	}
	e := el.Child("error", "")
	if e == nil {
		return ""
	}
	for c := range e.Children() {
		if c.NS() == NSStanzas && c.Name() != "text" {
			return c.Name()
		}
	}
	return ""
}

// Stream error conditions (RFC 6120 §4.9.3).
const (
	StreamBadFormat              = "bad-format"
	StreamBadNamespacePrefix     = "bad-namespace-prefix"
	StreamConflict               = "conflict"
	StreamConnectionTimeout      = "connection-timeout"
	StreamHostGone               = "host-gone"
	StreamHostUnknown            = "host-unknown"
	StreamImproperAddressing     = "improper-addressing"
	StreamInternalServerError    = "internal-server-error"
	StreamInvalidFrom            = "invalid-from"
	StreamInvalidNamespace       = "invalid-namespace"
	StreamInvalidXML             = "invalid-xml"
	StreamNotAuthorized          = "not-authorized"
	StreamNotWellFormed          = "not-well-formed"
	StreamPolicyViolation        = "policy-violation"
	StreamRemoteConnectionFailed = "remote-connection-failed"
	StreamReset                  = "reset"
	StreamResourceConstraint     = "resource-constraint"
	StreamRestrictedXML          = "restricted-xml"
	StreamSeeOtherHost           = "see-other-host"
	StreamSystemShutdown         = "system-shutdown"
	StreamUndefinedCondition     = "undefined-condition"
	StreamUnsupportedEncoding    = "unsupported-encoding"
	StreamUnsupportedFeature     = "unsupported-feature"
	StreamUnsupportedStanzaType  = "unsupported-stanza-type"
	StreamUnsupportedVersion     = "unsupported-version"
)

// StreamError is a stream-level error: the stream ends after it.
type StreamError struct {
	Condition string
	Text      string
	// App is an application-specific condition (RFC 6120 §4.9.4) as raw
	// XML with its own namespace, written after the text; "" for none.
	App string
}

func (e *StreamError) Error() string {
	if e.Text != "" {
		return "stream error " + e.Condition + ": " + e.Text
	}
	return "stream error " + e.Condition
}

// AppendStreamError writes <stream:error/> (prefix "stream" must be bound,
// as it is in every stream header xmppd writes).
func (e *StreamError) Append(buf []byte) []byte {
	buf = append(buf, "<stream:error><"...)
	buf = append(buf, e.Condition...)
	buf = append(buf, " xmlns='"+NSStreams+"'/>"...)
	if e.Text != "" {
		buf = append(buf, "<text xmlns='"+NSStreams+"' xml:lang='en'>"...)
		buf = xml.EscapeText(buf, e.Text)
		buf = append(buf, "</text>"...)
	}
	buf = append(buf, e.App...)
	return append(buf, "</stream:error>"...)
}
