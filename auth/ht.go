package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// The Hashed Token mechanisms of XEP-0484 (FAST), in the format of
// draft-schmaus-kitten-sasl-ht-09, the version XEP-0484 0.2.0 cites and
// the one clients implement (Conversations, Monal, xmpp.js, Prosody):
//
//	initiator-msg = authcid NUL HMAC(token, "Initiator" || cb-data)
//	responder-msg = HMAC(token, "Responder" || cb-data)
//
// The later draft-ietf-kitten-sasl-ht-01/-02 changed the messages (they
// carry authenticated key/value pairs); a client of that format fails
// here like one with a wrong token.
const (
	MechHTSHA256Expr = "HT-SHA-256-EXPR" // tls-exporter (RFC 9266)
	MechHTSHA256Endp = "HT-SHA-256-ENDP" // tls-server-end-point (RFC 5929)
	MechHTSHA256None = "HT-SHA-256-NONE" // no channel binding
)

// CondCredentialsExpired is RFC 6120 §6.5.2's condition; XEP-0484 §5.2
// answers a token the server no longer trusts with it.
const CondCredentialsExpired = "credentials-expired"

var htMechanisms = map[string]mechanism{
	MechHTSHA256Expr: {name: MechHTSHA256Expr, alg: algSHA256, ht: CBTLSExporter},
	MechHTSHA256Endp: {name: MechHTSHA256Endp, alg: algSHA256, ht: CBTLSServerEndPoint},
	MechHTSHA256None: {name: MechHTSHA256None, alg: algSHA256, ht: "none"},
}

// TokenMechanisms lists the HT mechanisms usable on cs, channel-bound
// first, for XEP-0484's <fast/> feature: none without TLS (the token
// would travel as good as in the clear, XEP-0484 §6), -EXPR and -ENDP
// where ChannelBindingTypes has their type. Server.Allowed filters them
// as the other mechanisms.
func (s *Server) TokenMechanisms(cs ConnState) []string {
	if cs.TLS == nil {
		return nil
	}
	cbs := usableCBTypes(cs)
	var out []string
	for _, m := range []string{MechHTSHA256Expr, MechHTSHA256Endp, MechHTSHA256None} {
		cb := htMechanisms[m].ht
		if (cb == "none" || slices.Contains(cbs, cb)) && (s.Allowed == nil || s.Allowed[m]) {
			out = append(out, m)
		}
	}
	return out
}

// IsTokenMechanism reports whether mech is one of the HT mechanisms.
func IsTokenMechanism(mech string) bool {
	_, ok := htMechanisms[mech]
	return ok
}

// TokenKeys returns the HMAC keys of the tokens username may use in this
// negotiation (the caller knows the client and pins its tokens to the
// mechanism, XEP-0484 §3.4): none for an unknown user.
type TokenKeys func(ctx context.Context, username string) ([][]byte, error)

// StartToken begins an HT negotiation of mech, which must be one of
// TokenMechanisms(cs), against the keys keys returns. It is driven as
// Start's (client-first: one Step); on success TokenIndex says which key
// matched.
func (s *Server) StartToken(ctx context.Context, mech string, cs ConnState, keys TokenKeys) (*Negotiation, error) {
	if err := ctx.Err(); err != nil {
		return nil, fail(CondTemporaryAuthFailure, "", err)
	}
	m, ok := htMechanisms[mech]
	if !ok || !slices.Contains(s.TokenMechanisms(cs), mech) {
		return nil, fail(CondInvalidMechanism, "", errors.New("token mechanism "+quote(mech)+" not offered on this connection"))
	}
	return &Negotiation{s: s, cs: cs, mech: m, keys: keys, token: -1}, nil
}

// TokenIndex is the index, in what TokenKeys returned, of the key that
// authenticated an HT negotiation; -1 before success and for other
// mechanisms.
func (n *Negotiation) TokenIndex() int {
	if n.keys == nil || n.state != stateDone {
		return -1
	}
	return n.token
}

// stepHT checks the single initiator-msg and answers the responder-msg.
func (n *Negotiation) stepHT(ctx context.Context, in []byte) ([]byte, bool, *Failure) {
	a := n.mech.alg
	// authcid NUL proof, the proof exactly one HMAC long. The proof may
	// contain NUL itself, so split at the first one.
	i := slices.Index(in, 0)
	if len(in) > maxMessage || i < 1 || len(in)-i-1 != a.size || !utf8.Valid(in[:i]) {
		return nil, false, fail(CondMalformedRequest, "", errors.New("ht: malformed initiator message"))
	}
	user, err := prepareUsername(string(in[:i]))
	if err != nil {
		return nil, false, fail(CondNotAuthorized, "", fmt.Errorf("ht: %w", err))
	}
	proof := in[i+1:]
	n.attempted = user
	if f := n.gate(ctx); f != nil {
		return nil, false, f
	}
	var cb []byte
	if n.mech.ht != "none" {
		if cb, err = channelBindingData(n.cs, n.mech.ht); err != nil {
			return nil, false, fail(CondNotAuthorized, "", fmt.Errorf("ht: %w", err))
		}
	}
	keys, err := n.keys(ctx, user)
	if err != nil {
		return nil, false, fail(CondTemporaryAuthFailure, "", fmt.Errorf("ht: token lookup: %w", err))
	}
	msg := append([]byte("Initiator"), cb...)
	match := -1
	// Every key is tried, so the time does not tell which slot matched.
	for k, key := range keys {
		if subtle.ConstantTimeCompare(a.hmac(key, msg), proof) == 1 {
			match = k
		}
	}
	if match < 0 {
		// XEP-0484 §4.2: a token we do not (or no longer) trust.
		return nil, false, fail(CondCredentialsExpired, "", fmt.Errorf("ht: no matching token: %w", ErrCredentials))
	}
	n.username, n.token = user, match
	return a.hmac(keys[match], append([]byte("Responder"), cb...)), true, nil
}
