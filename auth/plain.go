package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode/utf8"
)

// plainOrder is the order in which stored credentials are tried for PLAIN:
// any one of them verifies the password; SHA-256 is the cheapest strong one.
var plainOrder = []*hashAlg{algSHA256, algSHA512, algSHA1}

// stepPlain handles the single PLAIN message (RFC 4616 §2):
//
//	message = [authzid] UTF8NUL authcid UTF8NUL passwd
//
// The password is checked against the stored SCRAM credential: recompute
// SaltedPassword with the stored salt and iteration count and compare
// H(HMAC(SaltedPassword, "Client Key")) with StoredKey in constant time.
func (n *Negotiation) stepPlain(ctx context.Context, in []byte) ([]byte, bool, *Failure) {
	authzid, authcid, passwd, err := parsePlain(in)
	if err != nil {
		return nil, false, fail(CondMalformedRequest, "", fmt.Errorf("plain: %w", err))
	}
	user, err := prepareUsername(authcid)
	if err != nil {
		return nil, false, fail(CondNotAuthorized, "", fmt.Errorf("plain: %w", err))
	}
	pw, err := preparePassword(passwd)
	if err != nil {
		return nil, false, fail(CondNotAuthorized, "", fmt.Errorf("plain: %w", err))
	}
	n.attempted = user
	if f := n.verify(ctx, user, pw); f != nil {
		return nil, false, f
	}
	n.username, n.authzid = user, authzid
	return nil, true, nil
}

// verify runs the gate and tests the prepared password of the prepared
// username against the stored keys, for an unknown user exactly as for a
// known one.
func (n *Negotiation) verify(ctx context.Context, user, pw string) *Failure {
	if f := n.gate(ctx); f != nil {
		return f
	}
	for _, a := range plainOrder {
		c, found, f := n.lookup(ctx, a, user)
		if f != nil {
			return f
		}
		if !found {
			continue
		}
		ok, err := checkPassword(a, c, pw)
		if err != nil {
			return fail(CondTemporaryAuthFailure, "", fmt.Errorf("plain: %w", err))
		}
		if !ok {
			return fail(CondNotAuthorized, "", fmt.Errorf("plain: wrong password: %w", ErrCredentials))
		}
		return nil
	}
	// Unknown user: spend the same PBKDF2 work as for a real account so
	// timing does not tell them apart, then fail like a wrong password.
	fake := n.s.fakeCredential(plainOrder[0], user)
	checkPassword(plainOrder[0], fake, pw)
	return fail(CondNotAuthorized, "", fmt.Errorf("plain: unknown user: %w", ErrCredentials))
}

// CheckPassword tests a password against the stored keys as PLAIN does
// (Gate first, the same work and the same failure for an unknown user as
// for a wrong password), for logins outside SASL such as the admin web
// pages. It returns the prepared username (PRECIS UsernameCaseMapped);
// errors are *Failure, wrapping ErrCredentials when the password was
// tested and found wrong (a username or password PRECIS refuses is not
// tested, as with PLAIN).
func (s *Server) CheckPassword(ctx context.Context, username, password string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fail(CondTemporaryAuthFailure, "", err)
	}
	user, err := prepareUsername(username)
	if err != nil {
		return "", fail(CondNotAuthorized, "", fmt.Errorf("check password: %w", err))
	}
	pw, err := preparePassword(password)
	if err != nil {
		return "", fail(CondNotAuthorized, "", fmt.Errorf("check password: %w", err))
	}
	n := &Negotiation{s: s, mech: mechanisms[MechPLAIN], attempted: user}
	if f := n.verify(ctx, user, pw); f != nil {
		return "", f
	}
	return user, nil
}

func checkPassword(a *hashAlg, c Credential, password string) (bool, error) {
	sp, err := a.saltedPassword(password, c.Salt, c.Iterations)
	if err != nil {
		return false, err
	}
	storedKey := a.sum(a.hmac(sp, []byte("Client Key")))
	return subtle.ConstantTimeCompare(storedKey, c.StoredKey) == 1, nil
}

// parsePlain splits a PLAIN message. RFC 4616 §2 requires accepting up to
// 255 octets per field; we accept up to maxMessage in total.
func parsePlain(in []byte) (authzid, authcid, passwd string, err error) {
	switch {
	case len(in) == 0:
		return "", "", "", errors.New("empty message")
	case len(in) > maxMessage:
		return "", "", "", fmt.Errorf("message longer than %d bytes", maxMessage)
	case !utf8.Valid(in):
		return "", "", "", errors.New("message is not UTF-8")
	}
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("want 3 NUL-separated fields, got %d", len(parts))
	}
	if len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", "", errors.New("empty authcid or password")
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}
