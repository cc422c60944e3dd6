package c2s

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0484 Fast Authentication Streamlining Tokens, version 0.2.0
// (2024-06-30), with the HT mechanisms of draft-schmaus-kitten-sasl-ht-09
// (auth/ht.go). A client that authenticated in SASL2 asks for a token
// with <request-token/>; next time it authenticates with the token in one
// round trip, and can resume its XEP-0198 session or bind a new one in the
// same request.
//
// Tokens are stored as their SHA-256 only. A token is 82 bytes, longer
// than SHA-256's 64-byte block, and HMAC keyed with such a key is keyed
// with its hash instead (RFC 2104 §2): HMAC(token, m) = HMAC(SHA-256(token),
// m), so the server checks HT proofs without the token itself. The hash is
// still worth as much as the token for an HT login (HT has no verifier
// form, unlike SCRAM's StoredKey); what it keeps out of the database is
// the token's text, which clients also hold and might reuse elsewhere.
//
// Rotation (§3.5, §5.1): each client (<user-agent id/>) has a 'current'
// and a 'new' slot. Every successful FAST login issues a fresh token into
// 'new', and the token used stays valid until that fresh one is used, so a
// client that lost the <success/> still logs in; using the 'new' token
// drops the 'current' one. The draft's "revoke the used token immediately"
// is as close as XEP-0484 allows: one login's worth of overlap.
//
// TLS 0-RTT (§3.4): crypto/tls accepts no early data on a server (only its
// QUIC API does), so <fast/> carries no tls-0rtt attribute and every
// <authenticate/> arrives after the handshake, where TLS already rules out
// replays; a 'count' attribute is accepted and ignored.

const (
	nsFAST = "urn:xmpp:fast:0"
	// fastTokenBytes of randomness: 48 bytes, 64 characters of base64,
	// 82 bytes with the prefix (more than the 64 the hash trick needs,
	// and 384 bits against the draft's 128-bit minimum).
	fastTokenBytes  = 48
	fastTokenPrefix = "secret-token:fast-" // RFC 8959: secret scanners know it
	// maxFastLabel bounds each of <software/> and <device/> kept for
	// listing a client's tokens.
	maxFastLabel = 64
	// DefaultFastTokenLifetime is XEP-0484's "reasonable lifetime": a
	// device offline for three weeks logs in with its password again.
	DefaultFastTokenLifetime = 21 * 24 * time.Hour
)

// fastState is one <authenticate/>'s FAST part.
type fastState struct {
	auth       bool   // <fast/>: the client authenticates with a token
	invalidate bool   // <fast invalidate='true'/> (§3.6)
	requested  string // <request-token mechanism/>, "" when none
	label      string // the client's software and device, for listings
	// candidates are the client's tokens the HT negotiation was given,
	// in its order: TokenIndex picks the one used.
	candidates []storage.FastToken
}

// fastEnabled reports whether this server issues and accepts tokens.
func (c *conn) fastEnabled() bool {
	return c.srv.cfg.FastTokens != nil && c.srv.cfg.FastTokenLifetime > 0
}

// appendFASTFeature offers FAST inside SASL2's <inline/> (§3.1) with the HT
// mechanisms this connection can do, channel-bound first.
func (c *conn) appendFASTFeature(b []byte, cs auth.ConnState) []byte {
	if !c.fastEnabled() {
		return b
	}
	mechs := c.authServer().TokenMechanisms(cs)
	if len(mechs) == 0 {
		return b
	}
	b = append(b, "<fast xmlns='"+nsFAST+"'>"...)
	for _, m := range mechs {
		b = appendElem(b, "mechanism", m)
	}
	return append(b, "</fast>"...)
}

// parseFAST reads the FAST elements of <authenticate/> (§3.2, §3.4)
// into c.fast, which lives as long as the request: a session keeps none
// of it.
func (c *conn) parseFAST(req *xml.Element) {
	c.fast = nil
	if !c.fastEnabled() {
		return
	}
	c.fast = &fastState{}
	if f := req.Child("fast", nsFAST); f != nil {
		c.fast.auth = true
		c.fast.invalidate = xmlBool(f.Attr("invalidate"))
	}
	if rt := req.Child("request-token", nsFAST); rt != nil {
		c.fast.requested = rt.Attr("mechanism")
	}
	if ua := req.Child("user-agent", nsSASL2); ua != nil {
		var parts []string
		for _, name := range []string{"software", "device"} {
			if el := ua.Child(name, nsSASL2); el != nil {
				if s := boundText(strings.TrimSpace(el.Text()), maxFastLabel); s != "" {
					parts = append(parts, s)
				}
			}
		}
		c.fast.label = strings.Join(parts, " on ")
	}
}

// startFAST begins an HT negotiation for a SASL2 request that carried
// <fast/>: the client's tokens pinned to mech are the keys (§3.4: a token
// works with the mechanism it was requested for, no other). Errors are
// *auth.Failure.
func (c *conn) startFAST(ctx context.Context, mech string, cs auth.ConnState) (*auth.Negotiation, error) {
	if !c.sasl2 || c.fast == nil || !c.fast.auth || c.agentID == "" {
		// §4.1: a token is tied to the client's <user-agent id/>; and a
		// token mechanism outside <fast/> is not offered.
		return nil, &auth.Failure{Condition: auth.CondInvalidMechanism, Text: "token mechanisms need <fast/> and <user-agent id/>",
			Err: errors.New("HT mechanism without FAST")}
	}
	keys := func(ctx context.Context, username string) ([][]byte, error) {
		toks, err := c.srv.cfg.FastTokens.FastTokens(ctx, c.domain, username, c.agentID, time.Now())
		if err != nil {
			return nil, err
		}
		toks = slices.DeleteFunc(toks, func(t storage.FastToken) bool { return t.Mechanism != mech })
		c.fast.candidates = toks
		out := make([][]byte, len(toks))
		for i, t := range toks {
			out[i] = t.Hash
		}
		return out, nil
	}
	return c.authServer().StartToken(ctx, mech, cs, keys)
}

// fastSuccess does the token bookkeeping of an authenticated SASL2
// request, before <success/>: a token login records the token's use and
// gets the next token in the same write (rotation), or, asked to,
// revokes the client's tokens (§3.6); a new token is stored when the
// client asked for one. It returns the <token/> for <success/> (nil:
// none), or ok false when the login fails after all (answered: the token
// was revoked meanwhile, or the store failed).
func (c *conn) fastSuccess(neg *auth.Negotiation, bare jid.JID) (tok *xml.Element, ok bool, err error) {
	if c.fast == nil || c.agentID == "" {
		return nil, true, nil
	}
	ctx, store := &c.life, c.srv.cfg.FastTokens
	used := neg.TokenIndex()
	mech := c.fast.requested
	if used >= 0 && mech == "" && !c.fast.invalidate {
		mech = c.fast.candidates[used].Mechanism // rotation: pinned as before
	}
	if mech != "" && !slices.Contains(c.authServer().TokenMechanisms(c.connState()), mech) {
		// §3.2: one of the mechanisms offered; otherwise no token, and
		// the login stands.
		c.logger().Debug("FAST: token requested for a mechanism not offered", "mechanism", mech)
		mech = ""
	}
	var (
		next  *storage.FastToken
		token string
	)
	if mech != "" {
		token, next = c.newFastToken(mech)
	}
	switch {
	case used >= 0 && c.fast.invalidate:
		// §3.6: gone at once; a new one only if asked for (below).
		if _, e := store.RevokeFastTokens(ctx, c.domain, bare.Local(), c.agentID); e != nil {
			c.logger().Error("FAST: revoking tokens", "account", bare.String(), "err", e)
			return nil, false, c.saslFailure(auth.CondTemporaryAuthFailure, "")
		}
	case used >= 0:
		switch e := store.UseFastToken(ctx, c.domain, bare.Local(), c.agentID, c.fast.candidates[used].Hash, next); {
		case errors.Is(e, storage.ErrNotFound):
			// Revoked between the check and now (a password change).
			return nil, false, c.credentialFailure(c.account(bare.Local()), auth.CondCredentialsExpired, "")
		case e != nil:
			c.logger().Error("FAST: recording a token's use", "account", bare.String(), "err", e)
			return nil, false, c.saslFailure(auth.CondTemporaryAuthFailure, "")
		}
		return fastTokenEl(token, next), true, nil
	}
	if next == nil {
		return nil, true, nil
	}
	if e := store.IssueFastToken(ctx, c.domain, bare.Local(), *next); e != nil {
		// The login stands without a token: the client uses its
		// password next time.
		c.logger().Error("FAST: storing a new token", "account", bare.String(), "err", e)
		return nil, true, nil
	}
	return fastTokenEl(token, next), true, nil
}

// newFastToken makes a token for the client, and what the store keeps of
// it for its 'new' slot.
func (c *conn) newFastToken(mech string) (string, *storage.FastToken) {
	raw := make([]byte, fastTokenBytes)
	rand.Read(raw)
	token := fastTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := time.Now().UTC().Truncate(time.Second)
	h := sha256.Sum256([]byte(token))
	return token, &storage.FastToken{
		AgentID: c.agentID, New: true, Mechanism: mech, Hash: h[:], Label: c.fast.label,
		Created: now, Expiry: now.Add(c.srv.cfg.FastTokenLifetime),
	}
}

// fastTokenEl is §3.3's <token/>; nil without a token.
func fastTokenEl(token string, t *storage.FastToken) *xml.Element {
	if t == nil {
		return nil
	}
	return xml.NewBuilder("token", nsFAST).Attr("expiry", t.Expiry.Format(time.RFC3339)).Attr("token", token).Element()
}

// xmlBool is XML Schema's boolean (§3.6: '1' or 'true').
func xmlBool(s string) bool { return s == "1" || s == "true" }

// boundText cuts s to at most n runes.
func boundText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
