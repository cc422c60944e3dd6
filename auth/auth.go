// Package auth implements the server side of SASL (RFC 4422) for XMPP
// (RFC 6120 §6): SCRAM-SHA-1/256/512 with and without -PLUS (RFC 5802,
// RFC 7677, RFC 9266 tls-exporter, RFC 5929 tls-server-end-point), XEP-0474
// downgrade protection, and PLAIN (only offered over TLS).
//
// CONTRACT: the exported API below is what the stream layer codes against.
package auth

import (
	"context"
	"crypto/tls"
)

// Hash names as stored: "SHA-1", "SHA-256", "SHA-512".
const (
	SHA1   = "SHA-1"
	SHA256 = "SHA-256"
	SHA512 = "SHA-512"
)

// Credential is what the server keeps per account and hash: never the password.
type Credential struct {
	Hash       string
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// DefaultIterations for new credentials (RFC 7677 recommends >= 4096).
const DefaultIterations = 4096

// DeriveCredentials makes one Credential per hash (SHA-1, SHA-256, SHA-512)
// from a password (SASLprep/OpaqueString-prepared), each with its own random salt.
func DeriveCredentials(password string, iterations int) ([]Credential, error)

// CredentialStore is what auth needs from storage. found=false for an unknown
// user (then a fake, deterministic salt is used so the exchange looks alike).
type CredentialStore interface {
	Credential(ctx context.Context, username, hash string) (c Credential, found bool, err error)
}

// Condition is a SASL failure condition (RFC 6120 §6.5), e.g. "not-authorized".
type Failure struct {
	Condition string // aborted, account-disabled, credentials-expired, encryption-required, incorrect-encoding, invalid-authzid, invalid-mechanism, malformed-request, mechanism-too-weak, not-authorized, temporary-auth-failure
	Text      string // optional human text
}

func (f *Failure) Error() string

// ConnState describes the connection a negotiation runs on.
type ConnState struct {
	TLS *tls.ConnectionState // nil when not encrypted
	// Offered is the exact list of mechanism names advertised on this stream
	// and CBTypes the channel-binding types advertised (XEP-0440); both feed
	// XEP-0474 downgrade protection.
	Offered []string
	CBTypes []string
}

// Server holds configuration shared by all negotiations.
type Server struct {
	Store CredentialStore
	// FakeSaltKey keys the HMAC that derives fake salts for unknown users.
	FakeSaltKey []byte
}

// Mechanisms lists mechanism names to offer on a connection, strongest first.
// -PLUS only with TLS; PLAIN only with TLS.
func (s *Server) Mechanisms(cs ConnState) []string

// ChannelBindingTypes lists the types usable on the connection
// ("tls-exporter" needs TLS 1.3 or extended master secret; "tls-server-end-point").
func (s *Server) ChannelBindingTypes(cs ConnState) []string

// Start begins a negotiation of mech. initial is the client's initial
// response (nil if none was sent; []byte{} for an empty "=" response).
// Errors are *Failure.
func (s *Server) Start(ctx context.Context, mech string, cs ConnState) (*Negotiation, error)

// Negotiation is one SASL exchange.
type Negotiation struct {
	// implementation-defined
}

// Step consumes the client's message (decoded from base64) and returns the
// server's next challenge, or, when done is true, the additional data to
// send with <success/> (may be nil). A *Failure error ends the exchange.
func (n *Negotiation) Step(ctx context.Context, in []byte) (out []byte, done bool, err error)

// Username is the authenticated username (localpart, not yet PRECIS-checked
// by auth beyond SASLprep) once done.
func (n *Negotiation) Username() string

// AuthzID is the requested authorization identity, "" if none.
func (n *Negotiation) AuthzID() string
