package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"sync"

	"golang.org/x/text/secure/precis"
)

// saltLen is the length of stored and fake salts. RFC 5802 §9 asks for a
// random per-user salt; 16 bytes is NIST SP 800-132's minimum.
const saltLen = 16

// hashAlg is one SCRAM hash function (RFC 5802 §2.2 "H").
type hashAlg struct {
	name string
	new  func() hash.Hash
	size int
}

var (
	algSHA1   = &hashAlg{name: SHA1, new: sha1.New, size: sha1.Size}
	algSHA256 = &hashAlg{name: SHA256, new: sha256.New, size: sha256.Size}
	algSHA512 = &hashAlg{name: SHA512, new: sha512.New, size: sha512.Size}
)

func (a *hashAlg) hmac(key, msg []byte) []byte {
	m := hmac.New(a.new, key)
	m.Write(msg)
	return m.Sum(nil)
}

func (a *hashAlg) sum(b []byte) []byte {
	h := a.new()
	h.Write(b)
	return h.Sum(nil)
}

// saltedPassword is Hi(Normalize(password), salt, i) (RFC 5802 §2.2),
// which is PBKDF2 with HMAC-H and dkLen = output size of H.
func (a *hashAlg) saltedPassword(password string, salt []byte, iter int) ([]byte, error) {
	k, err := pbkdf2.Key(a.new, password, salt, iter, a.size)
	if err != nil {
		return nil, fmt.Errorf("pbkdf2 %s: %w", a.name, err)
	}
	return k, nil
}

// credential computes StoredKey and ServerKey (RFC 5802 §3) for an already
// prepared password.
func (a *hashAlg) credential(password string, salt []byte, iter int) (Credential, error) {
	sp, err := a.saltedPassword(password, salt, iter)
	if err != nil {
		return Credential{}, err
	}
	return a.keys(sp, salt, iter), nil
}

// keys derives the stored credential from a SaltedPassword (RFC 5802 §3):
// StoredKey and ServerKey, never the salted password itself.
func (a *hashAlg) keys(salted, salt []byte, iter int) Credential {
	return Credential{
		Hash:       a.name,
		Salt:       salt,
		Iterations: iter,
		StoredKey:  a.sum(a.hmac(salted, []byte("Client Key"))),
		ServerKey:  a.hmac(salted, []byte("Server Key")),
	}
}

// valid reports whether a stored credential can be used with a.
func (a *hashAlg) valid(c Credential) error {
	switch {
	case c.Hash != a.name:
		return fmt.Errorf("credential hash %q, want %q", c.Hash, a.name)
	case len(c.Salt) == 0:
		return errors.New("credential has an empty salt")
	case c.Iterations < 1:
		return fmt.Errorf("credential has %d iterations", c.Iterations)
	case len(c.StoredKey) != a.size || len(c.ServerKey) != a.size:
		return fmt.Errorf("credential keys have %d/%d bytes, want %d", len(c.StoredKey), len(c.ServerKey), a.size)
	}
	return nil
}

func algByName(name string) *hashAlg {
	switch name {
	case SHA1:
		return algSHA1
	case SHA256:
		return algSHA256
	case SHA512:
		return algSHA512
	}
	return nil
}

// preparePassword applies PRECIS OpaqueString (RFC 8265 §4.2), the
// successor of SASLprep for passwords (RFC 7677 §4 still names SASLprep;
// both agree on ASCII and on the usual non-ASCII spaces).
func preparePassword(password string) (string, error) {
	p, err := precis.OpaqueString.String(password)
	if err != nil {
		return "", fmt.Errorf("prepare password: %w", err)
	}
	return p, nil
}

// prepareUsername applies PRECIS UsernameCaseMapped (RFC 8265 §3.3) so the
// authcid matches the stored (case-folded) localpart.
func prepareUsername(username string) (string, error) {
	u, err := precis.UsernameCaseMapped.String(username)
	if err != nil {
		return "", fmt.Errorf("prepare username: %w", err)
	}
	return u, nil
}

func deriveCredentials(password string, iterations int) ([]Credential, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < 1 {
		return nil, fmt.Errorf("derive credentials: invalid iteration count %d", iterations)
	}
	p, err := preparePassword(password)
	if err != nil {
		return nil, fmt.Errorf("derive credentials: %w", err)
	}
	var out []Credential
	for _, a := range []*hashAlg{algSHA1, algSHA256, algSHA512} {
		salt := make([]byte, saltLen)
		rand.Read(salt) // never fails (crypto/rand, Go 1.24+)
		c, err := a.credential(p, salt, iterations)
		if err != nil {
			return nil, fmt.Errorf("derive credentials: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

var (
	processFakeKeyOnce sync.Once
	processFakeKey     []byte
)

func (s *Server) fakeSaltKey() []byte {
	if len(s.FakeSaltKey) > 0 {
		return s.FakeSaltKey
	}
	processFakeKeyOnce.Do(func() {
		processFakeKey = make([]byte, 32)
		rand.Read(processFakeKey) // never fails (crypto/rand, Go 1.24+)
	})
	return processFakeKey
}

// fakeCredential stands in for an unknown user so that the server-first
// message looks like a real one (RFC 5802 §9, RFC 7677 §4 "the server
// SHOULD NOT disclose whether a user exists"): the salt is deterministic
// per (hash, username), so repeated attempts see the same salt, and the
// keys are random so no proof can match.
func (s *Server) fakeCredential(a *hashAlg, username string) Credential {
	mac := hmac.New(sha256.New, s.fakeSaltKey())
	mac.Write([]byte(a.name))
	mac.Write([]byte{0})
	mac.Write([]byte(username))
	salt := mac.Sum(nil)[:saltLen]
	keys := make([]byte, 2*a.size)
	rand.Read(keys) // never fails (crypto/rand, Go 1.24+)
	return Credential{
		Hash:       a.name,
		Salt:       salt,
		Iterations: DefaultIterations,
		StoredKey:  keys[:a.size],
		ServerKey:  keys[a.size:],
	}
}
