package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxMessage bounds a client SCRAM or PLAIN message. A localpart is at most
// 1023 bytes (RFC 7622 §3.3.1); nothing legitimate comes close to this.
const maxMessage = 4096

// base64Strict rejects non-canonical encodings (RFC 5802 §7 "base64").
var base64Strict = base64.StdEncoding.Strict()

// scramState is the per-exchange SCRAM state (RFC 5802 §3).
type scramState struct {
	gs2Header       string // as sent by the client, echoed in c=
	cbData          []byte // channel-binding data when the flag was "p"
	clientFirstBare string
	serverFirst     string
	nonce           string // combined client+server nonce
	cred            Credential
	found           bool
	username        string // prepared
	authzid         string
}

func (n *Negotiation) stepSCRAM(ctx context.Context, in []byte) ([]byte, bool, *Failure) {
	switch n.state {
	case stateFirst:
		out, f := n.scramFirst(ctx, in)
		if f != nil {
			return nil, false, f
		}
		n.state = stateFinal
		return out, false, nil
	case stateFinal:
		out, f := n.scramFinal(ctx, in)
		if f != nil {
			return nil, false, f
		}
		return out, true, nil
	}
	return nil, false, fail(CondMalformedRequest, "", errors.New("scram: unexpected message"))
}

// scramFirst handles client-first-message and builds server-first-message.
func (n *Negotiation) scramFirst(ctx context.Context, in []byte) ([]byte, *Failure) {
	a := n.mech.alg
	st := &n.scram
	cf, err := parseClientFirst(string(in))
	if err != nil {
		return nil, fail(CondMalformedRequest, "", fmt.Errorf("scram client-first-message: %w", err))
	}

	// Channel-binding negotiation, RFC 5802 §6.
	switch {
	case n.mech.plus && cf.flag != 'p':
		// A -PLUS mechanism is defined as the channel-bound variant.
		return nil, fail(CondMalformedRequest, "channel binding required by "+n.mech.name, nil)
	case !n.mech.plus && cf.flag == 'p':
		return nil, fail(CondMalformedRequest, "channel binding requires a -PLUS mechanism", nil)
	case cf.flag == 'y' && n.serverSupportsCB():
		// The client supports channel binding and did not see it
		// offered, but we offered it: the -PLUS mechanisms were stripped
		// on the way (RFC 5802 §6, "server-does-support-channel-binding").
		return nil, fail(CondNotAuthorized, "channel binding downgrade detected",
			errors.New("scram: gs2 flag y but -PLUS mechanisms were offered"))
	}
	if cf.flag == 'p' {
		if !slices.Contains(n.allowedCBTypes(), cf.cbName) {
			return nil, fail(CondNotAuthorized, "unsupported channel binding type",
				fmt.Errorf("scram: client asked for channel binding %s", quote(cf.cbName)))
		}
		data, err := channelBindingData(n.cs, cf.cbName)
		if err != nil {
			return nil, fail(CondNotAuthorized, "unsupported channel binding type", fmt.Errorf("scram: %w", err))
		}
		st.cbData = data
	}

	user, err := prepareUsername(cf.username)
	if err != nil {
		return nil, fail(CondNotAuthorized, "", fmt.Errorf("scram: %w", err))
	}
	n.attempted = user
	cred, found, f := n.lookup(ctx, a, user)
	if f != nil {
		return nil, f
	}

	st.gs2Header = cf.gs2Header
	st.clientFirstBare = cf.bare
	st.nonce = cf.nonce + n.serverNonce()
	st.cred, st.found = cred, found
	st.username, st.authzid = user, cf.authzid

	// server-first-message = nonce "," salt "," iteration-count ["," extensions]
	var b strings.Builder
	b.WriteString("r=")
	b.WriteString(st.nonce)
	b.WriteString(",s=")
	b.WriteString(base64.StdEncoding.EncodeToString(cred.Salt))
	b.WriteString(",i=")
	b.WriteString(strconv.Itoa(cred.Iterations))
	if n.cs.Offered != nil {
		// XEP-0474 §4.1: "h" is an RFC 5802 §5.1 optional attribute,
		// covered by the AuthMessage and so by both proofs.
		b.WriteString(",h=")
		b.WriteString(ssdpHash(a, n.cs.Offered, n.cs.CBTypes))
	}
	st.serverFirst = b.String()
	return []byte(st.serverFirst), nil
}

// scramFinal verifies client-final-message and builds server-final-message.
func (n *Negotiation) scramFinal(ctx context.Context, in []byte) ([]byte, *Failure) {
	a := n.mech.alg
	st := &n.scram
	cf, err := parseClientFinal(string(in))
	if err != nil {
		return nil, fail(CondMalformedRequest, "", fmt.Errorf("scram client-final-message: %w", err))
	}
	// RFC 5802 §7: c= is base64(gs2-header [cbind-data]); this both
	// checks the channel binding and that the gs2 header was not altered.
	want := append([]byte(st.gs2Header), st.cbData...)
	if !bytes.Equal(cf.cbind, want) {
		return nil, fail(CondNotAuthorized, "channel binding mismatch",
			errors.New("scram: c= does not match gs2 header and channel-binding data"))
	}
	if cf.nonce != st.nonce {
		return nil, fail(CondNotAuthorized, "", errors.New("scram: nonce mismatch"))
	}
	if len(cf.proof) != a.size {
		return nil, fail(CondMalformedRequest, "", fmt.Errorf("scram: proof has %d bytes, want %d", len(cf.proof), a.size))
	}

	// The proof is tested now, for a known or an unknown user alike.
	if f := n.gate(ctx); f != nil {
		return nil, f
	}

	// RFC 5802 §3: AuthMessage, ClientSignature, ClientKey = proof XOR
	// signature; valid iff H(ClientKey) == StoredKey (constant time).
	authMsg := []byte(st.clientFirstBare + "," + st.serverFirst + "," + cf.withoutProof)
	clientKey := a.hmac(st.cred.StoredKey, authMsg)
	subtle.XORBytes(clientKey, clientKey, cf.proof)
	ok := subtle.ConstantTimeCompare(a.sum(clientKey), st.cred.StoredKey) == 1
	if !st.found {
		// Same condition and text as a wrong password: no enumeration.
		return nil, fail(CondNotAuthorized, "", fmt.Errorf("scram: unknown user: %w", ErrCredentials))
	}
	if !ok {
		return nil, fail(CondNotAuthorized, "", fmt.Errorf("scram: invalid proof: %w", ErrCredentials))
	}
	n.username, n.authzid = st.username, st.authzid
	sig := a.hmac(st.cred.ServerKey, authMsg)
	return []byte("v=" + base64.StdEncoding.EncodeToString(sig)), nil
}

func (n *Negotiation) serverNonce() string {
	if n.s.nonce != nil {
		return n.s.nonce()
	}
	// RFC 5802 §5.1: a fresh random printable string; base64 has no ','.
	b := make([]byte, 18)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.StdEncoding.EncodeToString(b)
}

// serverSupportsCB reports whether channel binding was offered on the
// connection, for the "y" flag check of RFC 5802 §6.
func (n *Negotiation) serverSupportsCB() bool {
	if n.cs.Offered != nil {
		for _, m := range n.cs.Offered {
			if strings.HasSuffix(m, "-PLUS") {
				return true
			}
		}
		return false
	}
	return len(channelBindingTypes(n.cs)) > 0
}

// allowedCBTypes are the channel-binding types usable on the connection,
// restricted to the advertised ones when XEP-0440 was used.
func (n *Negotiation) allowedCBTypes() []string {
	types := channelBindingTypes(n.cs)
	if n.cs.CBTypes == nil {
		return types
	}
	return slices.DeleteFunc(types, func(t string) bool { return !slices.Contains(n.cs.CBTypes, t) })
}

// lookup fetches a credential; for an unknown user it returns a fake one
// and found=false. Store errors and unusable stored credentials are
// temporary-auth-failure (RFC 6120 §6.5.9).
func (n *Negotiation) lookup(ctx context.Context, a *hashAlg, user string) (Credential, bool, *Failure) {
	if n.s.Store == nil {
		return Credential{}, false, fail(CondTemporaryAuthFailure, "", errors.New("auth: no credential store"))
	}
	c, found, err := n.s.Store.Credential(ctx, user, a.name)
	if err != nil {
		return Credential{}, false, fail(CondTemporaryAuthFailure, "", fmt.Errorf("credential store: %w", err))
	}
	if !found {
		return n.s.fakeCredential(a, user), false, nil
	}
	if err := a.valid(c); err != nil {
		return Credential{}, false, fail(CondTemporaryAuthFailure, "", fmt.Errorf("stored %s credential of %s: %w", a.name, quote(user), err))
	}
	return c, true, nil
}

// clientFirst is a parsed client-first-message (RFC 5802 §7).
type clientFirst struct {
	flag      byte   // 'n', 'y' or 'p'
	cbName    string // with flag 'p'
	authzid   string // decoded
	username  string // decoded, not yet prepared
	nonce     string
	gs2Header string
	bare      string // client-first-message-bare
}

// parseClientFirst parses
//
//	client-first-message = gs2-header client-first-message-bare
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
func parseClientFirst(msg string) (cf clientFirst, err error) {
	if err := checkMessage(msg); err != nil {
		return cf, err
	}
	rest := msg
	switch {
	case strings.HasPrefix(rest, "n,"), strings.HasPrefix(rest, "y,"):
		cf.flag = rest[0]
		rest = rest[2:]
	case strings.HasPrefix(rest, "p="):
		i := strings.IndexByte(rest, ',')
		if i < 0 {
			return cf, errors.New("unterminated gs2 header")
		}
		cf.flag, cf.cbName = 'p', rest[2:i]
		if !validCBName(cf.cbName) {
			return cf, fmt.Errorf("invalid channel-binding name %s", quote(cf.cbName))
		}
		rest = rest[i+1:]
	default:
		return cf, errors.New("invalid gs2-cbind-flag")
	}
	i := strings.IndexByte(rest, ',')
	if i < 0 {
		return cf, errors.New("unterminated gs2 header")
	}
	if i > 0 {
		a, ok := strings.CutPrefix(rest[:i], "a=")
		if !ok {
			return cf, errors.New("invalid authzid in gs2 header")
		}
		if cf.authzid, err = decodeSASLName(a); err != nil {
			return cf, fmt.Errorf("authzid: %w", err)
		}
	}
	rest = rest[i+1:]
	cf.gs2Header = msg[:len(msg)-len(rest)]
	cf.bare = rest

	fields := strings.Split(rest, ",")
	if strings.HasPrefix(fields[0], "m=") {
		// RFC 5802 §5.1: mandatory extensions we do not know must fail.
		return cf, errors.New("mandatory extension (m=) not supported")
	}
	if len(fields) < 2 {
		return cf, errors.New("missing username or nonce")
	}
	u, ok := strings.CutPrefix(fields[0], "n=")
	if !ok {
		return cf, errors.New("missing username (n=)")
	}
	if cf.username, err = decodeSASLName(u); err != nil {
		return cf, fmt.Errorf("username: %w", err)
	}
	if cf.nonce, ok = strings.CutPrefix(fields[1], "r="); !ok {
		return cf, errors.New("missing nonce (r=)")
	}
	if !validNonce(cf.nonce) {
		return cf, errors.New("nonce is not a non-empty printable string")
	}
	if err := checkExtensions(fields[2:]); err != nil {
		return cf, err
	}
	return cf, nil
}

// clientFinal is a parsed client-final-message (RFC 5802 §7).
type clientFinal struct {
	cbind        []byte
	nonce        string
	proof        []byte
	withoutProof string
}

// parseClientFinal parses
//
//	client-final-message-without-proof = channel-binding "," nonce ["," extensions]
//	client-final-message = client-final-message-without-proof "," proof
func parseClientFinal(msg string) (cf clientFinal, err error) {
	if err := checkMessage(msg); err != nil {
		return cf, err
	}
	fields := strings.Split(msg, ",")
	if len(fields) < 3 {
		return cf, errors.New("missing channel binding, nonce or proof")
	}
	c, ok := strings.CutPrefix(fields[0], "c=")
	if !ok || c == "" {
		return cf, errors.New("missing channel binding (c=)")
	}
	if cf.cbind, err = base64Strict.DecodeString(c); err != nil {
		return cf, fmt.Errorf("channel binding: %w", err)
	}
	if cf.nonce, ok = strings.CutPrefix(fields[1], "r="); !ok || !validNonce(cf.nonce) {
		return cf, errors.New("missing or invalid nonce (r=)")
	}
	last := len(fields) - 1
	p, ok := strings.CutPrefix(fields[last], "p=")
	if !ok || p == "" {
		return cf, errors.New("missing proof (p=) as last attribute")
	}
	if cf.proof, err = base64Strict.DecodeString(p); err != nil {
		return cf, fmt.Errorf("proof: %w", err)
	}
	if err := checkExtensions(fields[2:last]); err != nil {
		return cf, err
	}
	cf.withoutProof = msg[:strings.LastIndexByte(msg, ',')]
	return cf, nil
}

// checkMessage applies the constraints common to all client messages.
func checkMessage(msg string) error {
	switch {
	case msg == "":
		return errors.New("empty message")
	case len(msg) > maxMessage:
		return fmt.Errorf("message longer than %d bytes", maxMessage)
	case !utf8.ValidString(msg):
		return errors.New("message is not UTF-8")
	case strings.IndexByte(msg, 0) >= 0:
		return errors.New("message contains NUL")
	}
	return nil
}

// checkExtensions validates optional attributes: attr-val = ALPHA "=" value,
// value = 1*value-char (RFC 5802 §7). Letters with a meaning in RFC 5802
// are refused so an attribute cannot be given twice.
func checkExtensions(fields []string) error {
	for _, f := range fields {
		if len(f) < 3 || !isAlpha(f[0]) || f[1] != '=' {
			return fmt.Errorf("invalid attribute %s", quote(f))
		}
		if strings.IndexByte("acegimnprsv", f[0]) >= 0 {
			return fmt.Errorf("attribute %c= not allowed here", f[0])
		}
	}
	return nil
}

// decodeSASLName decodes saslname = 1*(value-safe-char / "=2C" / "=3D");
// '=' followed by anything else must fail (RFC 5802 §5.1).
func decodeSASLName(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty name")
	}
	if strings.IndexByte(s, '=') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("'=' not followed by 2C or 3D")
		}
		i += 2
	}
	return b.String(), nil
}

// validNonce: c-nonce = printable = %x21-2B / %x2D-7E (no ',').
func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// validCBName: cb-name = 1*(ALPHA / DIGIT / "." / "-").
func validCBName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && (c < '0' || c > '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
