package c2s

import (
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/stanza"
)

// Transport is the kind of listener a client stream came through, for
// per-transport counts.
type Transport uint8

const (
	TransportTCP  Transport = iota // a "c2s" listener (STARTTLS or direct TLS)
	TransportHTTP                  // an "http" listener (WebSocket, RFC 7395)
	NumTransports
)

// String is the listener type of the configuration ("c2s", "http").
func (t Transport) String() string {
	if t == TransportHTTP {
		return "http"
	}
	return "c2s"
}

// StanzaKind is a top-level stanza's element name as a small integer, so
// an observer can keep one pre-resolved counter per kind: the per-stanza
// path then neither looks up labels nor allocates.
type StanzaKind uint8

const (
	KindMessage StanzaKind = iota
	KindPresence
	KindIQ
	NumStanzaKinds
)

func (k StanzaKind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindPresence:
		return "presence"
	}
	return "iq"
}

func stanzaKind(name string) (StanzaKind, bool) {
	switch name {
	case "message":
		return KindMessage, true
	case "presence":
		return KindPresence, true
	case "iq":
		return KindIQ, true
	}
	return 0, false
}

// Observer hears what the c2s server counts. Implementations must be cheap
// and safe for concurrent use: StanzaIn and StanzaOut run once per stanza
// (internal/metrics backs them with atomic counters). c2s depends only on
// this interface, never on a metrics library.
type Observer interface {
	ConnOpened(Transport)
	ConnClosed(Transport)
	// AuthSucceeded and AuthFailed take the SASL mechanism, "" when the
	// client named one we did not offer (its name is not a label to
	// keep: anyone can send any).
	AuthSucceeded(mechanism string)
	AuthFailed(mechanism string)
	// AuthThrottled: a password check or its failure was held back by
	// wait against guessing (throttle.go); refused: the check was refused
	// untested.
	AuthThrottled(wait time.Duration, refused bool)
	StanzaIn(StanzaKind)
	StanzaOut(StanzaKind)
	// QueueOverflow: a session was cut off because its client did not
	// read (outbound queue over its bound).
	QueueOverflow()
	// StreamError: we ended a stream with this RFC 6120 §4.9.3 condition.
	StreamError(condition string)
	TLSHandshakeFailed()
	// StorageError: a storage operation failed under a client stream.
	StorageError()
}

type nopObserver struct{}

func (nopObserver) ConnOpened(Transport)              {}
func (nopObserver) ConnClosed(Transport)              {}
func (nopObserver) AuthSucceeded(string)              {}
func (nopObserver) AuthFailed(string)                 {}
func (nopObserver) AuthThrottled(time.Duration, bool) {}
func (nopObserver) StanzaIn(StanzaKind)               {}
func (nopObserver) StanzaOut(StanzaKind)              {}
func (nopObserver) QueueOverflow()                    {}
func (nopObserver) StreamError(string)                {}
func (nopObserver) TLSHandshakeFailed()               {}
func (nopObserver) StorageError()                     {}

// SessionInfo describes one bound session for operators (admin API).
type SessionInfo struct {
	JID        string    `json:"jid"`
	IP         string    `json:"ip"`
	Since      time.Time `json:"since"`
	Transport  string    `json:"transport"`
	TLSVersion string    `json:"tls_version"` // "none" without TLS
	SM         bool      `json:"sm_enabled"`  // XEP-0198 enabled
}

// Sessions lists the bound sessions with a live transport.
func (s *Server) Sessions() []SessionInfo {
	conns := s.ls.Conns()
	out := make([]SessionInfo, 0, len(conns))
	for _, c := range conns {
		c.wmu.Lock()
		if !c.async || c.closing || c.handedTo != nil || c.since.IsZero() {
			c.wmu.Unlock()
			continue
		}
		out = append(out, SessionInfo{JID: c.jid.String(), IP: c.ip, Since: c.since, Transport: c.transport.String(),
			TLSVersion: c.tlsVersion(), SM: c.sm.enabled})
		c.wmu.Unlock()
	}
	return out
}

// Kick ends the session bound to full with a <policy-violation/> stream
// error carrying text: RFC 6120 §4.9.3.14 is the condition for an entity
// that violated a local service policy, which an operator's decision is
// (<reset/> would tell the client to reconnect at once). It reports whether
// such a session existed.
func (s *Server) Kick(full jid.JID, text string) bool {
	sess := s.cfg.Directory.Session(full)
	if sess == nil {
		return false
	}
	sess.CloseStream(stanza.StreamPolicyViolation, text)
	return true
}
