// Package auth implements the server side of SASL (RFC 4422) for XMPP
// (RFC 6120 §6): SCRAM-SHA-1/256/512 with and without -PLUS (RFC 5802,
// RFC 7677, RFC 9266 tls-exporter, RFC 5929 tls-server-end-point), XEP-0474
// downgrade protection, PLAIN (only offered over TLS), and the Hashed Token
// mechanisms of XEP-0484 FAST (ht.go).
//
// CONTRACT: the exported API below is what the stream layer codes against.
//
// Driving a negotiation (RFC 6120 §6.4):
//
//	n, err := srv.Start(ctx, mech, cs)      // *Failure on an unusable mech
//	// <auth/> carried data: pass it (decoded; "=" is []byte{}) to Step.
//	// <auth/> was empty: send an empty <challenge/> and pass the
//	// client's <response/> to Step.
//	out, done, err := n.Step(ctx, in)
//	// !done: send out as <challenge/>, feed the next <response/> to Step.
//	// done:  send <success/> carrying out (SCRAM's "v=", RFC 6120 §6.3.10).
//	// err (a *Failure): send <failure/> with err.Condition and err.Text.
package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Hash names as stored: "SHA-1", "SHA-256", "SHA-512".
const (
	SHA1   = "SHA-1"
	SHA256 = "SHA-256"
	SHA512 = "SHA-512"
)

// Mechanism names (IANA SASL registry).
const (
	MechSCRAMSHA512Plus = "SCRAM-SHA-512-PLUS"
	MechSCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
	MechSCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	MechSCRAMSHA512     = "SCRAM-SHA-512"
	MechSCRAMSHA256     = "SCRAM-SHA-256"
	MechSCRAMSHA1       = "SCRAM-SHA-1"
	MechPLAIN           = "PLAIN"
)

// Channel-binding type names (IANA channel-binding types registry).
const (
	CBTLSExporter       = "tls-exporter"         // RFC 9266
	CBTLSServerEndPoint = "tls-server-end-point" // RFC 5929 §4
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
// iterations == 0 means DefaultIterations.
func DeriveCredentials(password string, iterations int) ([]Credential, error) {
	return deriveCredentials(password, iterations)
}

// CredentialStore is what auth needs from storage. found=false for an unknown
// user (then a fake, deterministic salt is used so the exchange looks alike).
// username is PRECIS UsernameCaseMapped-prepared.
type CredentialStore interface {
	Credential(ctx context.Context, username, hash string) (c Credential, found bool, err error)
}

// Failure is a SASL failure (RFC 6120 §6.5); Condition is e.g. "not-authorized".
// Only Condition and Text go on the wire; Err is the cause, for logs.
type Failure struct {
	Condition string // aborted, account-disabled, credentials-expired, encryption-required, incorrect-encoding, invalid-authzid, invalid-mechanism, malformed-request, mechanism-too-weak, not-authorized, temporary-auth-failure
	Text      string // optional human text
	Err       error  // underlying cause (never sent to the peer); may be nil
}

func (f *Failure) Error() string {
	var b strings.Builder
	b.WriteString("sasl: ")
	b.WriteString(f.Condition)
	if f.Text != "" {
		b.WriteString(": ")
		b.WriteString(f.Text)
	}
	if f.Err != nil {
		b.WriteString(": ")
		b.WriteString(f.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (f *Failure) Unwrap() error { return f.Err }

// SASL failure conditions (RFC 6120 §6.5).
const (
	CondAborted              = "aborted"
	CondEncryptionRequired   = "encryption-required"
	CondIncorrectEncoding    = "incorrect-encoding"
	CondInvalidAuthzID       = "invalid-authzid"
	CondInvalidMechanism     = "invalid-mechanism"
	CondMalformedRequest     = "malformed-request"
	CondMechanismTooWeak     = "mechanism-too-weak"
	CondNotAuthorized        = "not-authorized"
	CondTemporaryAuthFailure = "temporary-auth-failure"
)

// ErrCredentials is wrapped by the failures that tested a password and
// found it wrong (or the account missing): the ones brute-force protection
// counts. Protocol failures (unsupported channel binding, downgrade,
// malformed messages) do not wrap it.
var ErrCredentials = errors.New("auth: wrong credentials")

func fail(cond, text string, err error) *Failure {
	return &Failure{Condition: cond, Text: text, Err: err}
}

// ConnState describes the connection a negotiation runs on.
type ConnState struct {
	TLS *tls.ConnectionState // nil when not encrypted
	// Offered is the exact list of mechanism names advertised on this stream
	// and CBTypes the channel-binding types advertised (XEP-0440); both feed
	// XEP-0474 downgrade protection. When Offered is nil, Start accepts any
	// mechanism Mechanisms would list and no XEP-0474 "h" attribute is sent
	// (a client would compute a different hash and abort). CBTypes nil means
	// XEP-0440 was not used; when set, it must come from ChannelBindingTypes
	// on this connection (or be a part of that), and Mechanisms and
	// TokenMechanisms take it as the usable types instead of deriving them
	// again.
	Offered []string
	CBTypes []string
	// ServerCert is the DER of the leaf certificate this server presented on
	// the TLS connection (tls.Certificate.Certificate[0]). The server side
	// of crypto/tls does not expose it in ConnectionState, and
	// tls-server-end-point (RFC 5929) hashes it: without it that type is
	// not offered.
	ServerCert []byte
}

// Server holds configuration shared by all negotiations.
type Server struct {
	Store CredentialStore
	// FakeSaltKey keys the HMAC that derives fake salts for unknown users.
	// It must be secret and stable (across restarts and cluster nodes), or
	// the salt for an unknown user changes and gives the user away. When
	// empty, a random per-process key is used.
	FakeSaltKey []byte
	// Allowed, when not nil, is the only mechanisms offered (and so
	// accepted): an operator's choice, such as SCRAM-SHA-1 while accounts
	// imported from Prosody have SHA-1 keys only.
	Allowed map[string]bool
	// Gate, when set, is called once per negotiation with the prepared
	// username, after the client's message is parsed and before its
	// password or proof is tested, for an unknown account exactly as for
	// a known one (a caller throttling guesses may wait in it). An error
	// ends the negotiation untested with temporary-auth-failure (RFC 6120
	// §6.5.12), wrapping it.
	Gate func(ctx context.Context, username string) error

	// nonce, when set (tests), replaces the random server nonce part.
	nonce func() string
}

// Mechanisms lists mechanism names to offer on a connection, strongest first.
// -PLUS only with TLS (and a usable channel-binding type); PLAIN only with TLS.
func (s *Server) Mechanisms(cs ConnState) []string {
	var out []string
	if len(usableCBTypes(cs)) > 0 {
		out = append(out, MechSCRAMSHA512Plus, MechSCRAMSHA256Plus, MechSCRAMSHA1Plus)
	}
	out = append(out, MechSCRAMSHA512, MechSCRAMSHA256, MechSCRAMSHA1)
	if cs.TLS != nil {
		out = append(out, MechPLAIN)
	}
	if s.Allowed != nil {
		out = slices.DeleteFunc(out, func(m string) bool { return !s.Allowed[m] })
	}
	return out
}

// ChannelBindingTypes lists the types usable on the connection, for the
// XEP-0440 <sasl-channel-binding/> feature: "tls-exporter" needs TLS 1.3 or
// TLS 1.2 with the extended master secret (RFC 9266 §3);
// "tls-server-end-point" needs ConnState.ServerCert with a signature
// algorithm that names a single hash (RFC 5929 §4.1).
func (s *Server) ChannelBindingTypes(cs ConnState) []string {
	return channelBindingTypes(cs)
}

// Start begins a negotiation of mech. Errors are *Failure: invalid-mechanism
// for a mechanism that is unknown or not offered on this connection,
// encryption-required for PLAIN without TLS (RFC 6120 §6.5.3).
//
// Start takes no data: the client's initial response (RFC 6120 §6.4.2), if
// the <auth/> element carried one, is passed to the first Step call right
// after Start ([]byte{} for an empty "=" response). If <auth/> had no data,
// the stream layer sends an empty <challenge/> and passes the client's
// <response/> to that first Step. All mechanisms here are client-first, so
// the first Step always receives the client's first message.
func (s *Server) Start(ctx context.Context, mech string, cs ConnState) (*Negotiation, error) {
	if err := ctx.Err(); err != nil {
		return nil, fail(CondTemporaryAuthFailure, "", err)
	}
	if mech == MechPLAIN && cs.TLS == nil {
		// RFC 6120 §6.5.3: the mechanism needs an encrypted channel.
		return nil, fail(CondEncryptionRequired, "PLAIN requires TLS", nil)
	}
	m, ok := mechanisms[mech]
	if !ok {
		return nil, fail(CondInvalidMechanism, "", errors.New("unknown mechanism "+quote(mech)))
	}
	offered := cs.Offered
	if offered == nil {
		offered = s.Mechanisms(cs)
	}
	if !slices.Contains(offered, mech) || !slices.Contains(s.Mechanisms(cs), mech) {
		return nil, fail(CondInvalidMechanism, "", errors.New("mechanism "+mech+" not offered on this connection"))
	}
	return &Negotiation{s: s, cs: cs, mech: m}, nil
}

// Negotiation is one SASL exchange. It is not safe for concurrent use.
type Negotiation struct {
	s     *Server
	cs    ConnState
	mech  mechanism
	state int
	err   *Failure // sticky once failed

	username  string // set on success
	authzid   string // set on success
	attempted string // the prepared username tried, once parsed

	scram scramState

	keys  TokenKeys // HT mechanisms only
	token int       // the key that matched (TokenIndex)
}

const (
	stateFirst = iota
	stateFinal
	stateDone
)

// Step consumes the client's message (decoded from base64) and returns the
// server's next challenge, or, when done is true, the additional data to
// send with <success/> (may be nil). A *Failure error ends the exchange;
// later calls return the same failure.
func (n *Negotiation) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	if n.err != nil {
		return nil, false, n.err
	}
	if n.state == stateDone {
		return nil, false, fail(CondMalformedRequest, "", errors.New("negotiation already finished"))
	}
	var f *Failure
	switch {
	case n.mech.plain:
		out, done, f = n.stepPlain(ctx, in)
	case n.mech.ht != "":
		out, done, f = n.stepHT(ctx, in)
	default:
		out, done, f = n.stepSCRAM(ctx, in)
	}
	if f != nil {
		n.err = f
		n.username, n.authzid = "", ""
		return nil, false, f
	}
	if done {
		n.state = stateDone
	}
	return out, done, nil
}

// Username is the authenticated username once done: the authentication
// identity after PRECIS UsernameCaseMapped (RFC 8265 §3.3), so "Alice"
// becomes "alice". "" until the exchange succeeded.
func (n *Negotiation) Username() string { return n.username }

// Attempted is the username the client tried to authenticate as (after
// PRECIS preparation), whether or not it succeeded or exists: for logs and
// throttling. "" until the client's message naming it was parsed.
func (n *Negotiation) Attempted() string { return n.attempted }

// gate runs Server.Gate for the attempted username.
func (n *Negotiation) gate(ctx context.Context) *Failure {
	if n.s.Gate == nil {
		return nil
	}
	if err := n.s.Gate(ctx, n.attempted); err != nil {
		return fail(CondTemporaryAuthFailure, "", fmt.Errorf("auth: gate: %w", err))
	}
	return nil
}

// AuthzID is the requested authorization identity, "" if none. It is as
// the client sent it (SCRAM "=2C"/"=3D" decoded); checking it is up to the
// caller (RFC 6120 §6.4.6).
func (n *Negotiation) AuthzID() string { return n.authzid }

// Mechanism is the mechanism name of the negotiation.
func (n *Negotiation) Mechanism() string { return n.mech.name }

// mechanism describes one supported mechanism.
type mechanism struct {
	name  string
	alg   *hashAlg // nil for PLAIN
	plus  bool
	plain bool
	ht    string // an HT mechanism's channel-binding type, "none" without (ht.go)
}

var mechanisms = map[string]mechanism{
	MechSCRAMSHA512Plus: {name: MechSCRAMSHA512Plus, alg: algSHA512, plus: true},
	MechSCRAMSHA256Plus: {name: MechSCRAMSHA256Plus, alg: algSHA256, plus: true},
	MechSCRAMSHA1Plus:   {name: MechSCRAMSHA1Plus, alg: algSHA1, plus: true},
	MechSCRAMSHA512:     {name: MechSCRAMSHA512, alg: algSHA512},
	MechSCRAMSHA256:     {name: MechSCRAMSHA256, alg: algSHA256},
	MechSCRAMSHA1:       {name: MechSCRAMSHA1, alg: algSHA1},
	MechPLAIN:           {name: MechPLAIN, plain: true},
}

// quote bounds and quotes client-supplied text for error messages.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
