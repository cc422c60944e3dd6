// Package jid implements XMPP addresses (RFC 7622) as a small comparable
// value type usable as a map key.
//
// CONTRACT: the exported API below is what the rest of xmppd codes against.
// Bodies are to be implemented; signatures stay.
package jid

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// ErrMalformed is wrapped by every parse/validation error (stanza error
// <jid-malformed/>).
var ErrMalformed = errors.New("jid: malformed address")

// maxPart is the maximum length in bytes of each normalized part (RFC 7622 §3.1).
const maxPart = 1023

// JID is a normalized address: localpart (UsernameCaseMapped profile),
// domainpart (IDNA/lowercased, no trailing dot), resourcepart (OpaqueString).
// The zero JID is "no address". Two JIDs for the same entity compare ==.
type JID struct {
	// s is the canonical full form "local@domain/resource" (parts optional).
	s string
	// localLen is the length of the localpart (0: none). When > 0 the
	// domainpart starts at localLen+1 (after the '@').
	localLen int32
	// domEnd is the end offset of the domainpart in s. When domEnd < len(s)
	// the resourcepart starts at domEnd+1 (after the '/').
	domEnd int32
}

// Parse parses and normalizes s per RFC 7622 §3 (with §3.2 domain rules:
// IP literals allowed, trailing dot stripped). Each part at most 1023 bytes
// after normalization; empty localpart/resource after '@'/'/' is an error.
func Parse(s string) (JID, error) {
	rest := s
	var res string
	hasRes := false
	if i := strings.IndexByte(s, '/'); i >= 0 {
		rest, res, hasRes = s[:i], s[i+1:], true
		if res == "" {
			return JID{}, fmt.Errorf("jid: empty resourcepart: %w", ErrMalformed)
		}
	}
	var local string
	dom := rest
	hasLocal := false
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		local, dom, hasLocal = rest[:i], rest[i+1:], true
		if local == "" {
			return JID{}, fmt.Errorf("jid: empty localpart: %w", ErrMalformed)
		}
	}

	nd, err := normDomain(dom)
	if err != nil {
		return JID{}, err
	}
	nl := ""
	if hasLocal {
		if nl, err = normLocal(local); err != nil {
			return JID{}, err
		}
	}
	nr := ""
	if hasRes {
		if nr, err = normResource(res); err != nil {
			return JID{}, err
		}
	}
	// Keep the input itself when it is already canonical: every part came
	// back unchanged (no trailing dot stripped, nothing mapped).
	if nl == local && nd == dom && nr == res {
		return JID{s: s, localLen: int32(len(nl)), domEnd: int32(len(s) - len(res) - b2i(hasRes))}, nil
	}
	return build(nl, nd, nr), nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// build assembles an already-normalized JID.
func build(local, domain, resource string) JID {
	n := len(domain)
	if local != "" {
		n += len(local) + 1
	}
	if resource != "" {
		n += len(resource) + 1
	}
	var b strings.Builder
	b.Grow(n)
	if local != "" {
		b.WriteString(local)
		b.WriteByte('@')
	}
	b.WriteString(domain)
	domEnd := b.Len()
	if resource != "" {
		b.WriteByte('/')
		b.WriteString(resource)
	}
	return JID{s: b.String(), localLen: int32(len(local)), domEnd: int32(domEnd)}
}

// New builds a JID from parts (local and resource may be ""), normalizing each.
func New(local, domain, resource string) (JID, error) {
	nd, err := normDomain(domain)
	if err != nil {
		return JID{}, err
	}
	nl, nr := "", ""
	if local != "" {
		if nl, err = normLocal(local); err != nil {
			return JID{}, err
		}
	}
	if resource != "" {
		if nr, err = normResource(resource); err != nil {
			return JID{}, err
		}
	}
	return build(nl, nd, nr), nil
}

// MustParse panics on error; for tests and constants.
func MustParse(s string) JID {
	j, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return j
}

func (j JID) Local() string { return j.s[:j.localLen] }

func (j JID) Domain() string { return j.s[j.domStart():j.domEnd] }

func (j JID) Resource() string {
	if int(j.domEnd) >= len(j.s) {
		return ""
	}
	return j.s[j.domEnd+1:]
}

func (j JID) domStart() int32 {
	if j.localLen > 0 {
		return j.localLen + 1
	}
	return 0
}

// Bare drops the resource. Domain returns the domain-only JID.
func (j JID) Bare() JID {
	return JID{s: j.s[:j.domEnd], localLen: j.localLen, domEnd: j.domEnd}
}

func (j JID) DomainJID() JID {
	st := j.domStart()
	return JID{s: j.s[st:j.domEnd], domEnd: j.domEnd - st}
}

// WithResource returns j's bare JID with resource r (normalized).
func (j JID) WithResource(r string) (JID, error) {
	if j.IsZero() {
		return JID{}, fmt.Errorf("jid: resource on empty address: %w", ErrMalformed)
	}
	if r == "" {
		return j.Bare(), nil
	}
	nr, err := normResource(r)
	if err != nil {
		return JID{}, err
	}
	b := j.Bare()
	if j.Resource() == nr {
		return j, nil
	}
	return JID{s: b.s + "/" + nr, localLen: b.localLen, domEnd: b.domEnd}, nil
}

func (j JID) IsZero() bool { return j.s == "" }
func (j JID) IsBare() bool { return int(j.domEnd) == len(j.s) } // no resource
func (j JID) IsFull() bool { return int(j.domEnd) < len(j.s) }  // has a resource

// String returns the canonical form "local@domain/resource"; must not
// allocate (precomputed).
func (j JID) String() string { return j.s }

// ---- localpart ----

// localForbidden reports the characters RFC 7622 §3.3.1 forbids in a
// localpart in addition to the UsernameCaseMapped profile.
func localForbidden(c byte) bool {
	switch c {
	case '"', '&', '\'', '/', ':', '<', '>', '@':
		return true
	}
	return false
}

// localFast handles printable-ASCII localparts (0x21-0x7E, none of the
// forbidden characters) without PRECIS: the profile only lowercases them.
// ok is false when the slow path must decide.
func localFast(s string) (out string, ok bool) {
	if s == "" || len(s) > maxPart {
		return "", false
	}
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || localForbidden(c) {
			return "", false
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if !upper {
		return s, true
	}
	return toLowerASCII(s), true
}

// localSlow applies the UsernameCaseMapped profile and the RFC 7622 extras.
func localSlow(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("jid: invalid UTF-8 in localpart: %w", ErrMalformed)
	}
	out, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", fmt.Errorf("jid: invalid localpart (%v): %w", err, ErrMalformed)
	}
	for i := 0; i < len(out); i++ {
		if localForbidden(out[i]) {
			return "", fmt.Errorf("jid: forbidden character %q in localpart: %w", out[i], ErrMalformed)
		}
	}
	if out == "" {
		return "", fmt.Errorf("jid: empty localpart: %w", ErrMalformed)
	}
	if len(out) > maxPart {
		return "", fmt.Errorf("jid: localpart longer than %d bytes: %w", maxPart, ErrMalformed)
	}
	return out, nil
}

func normLocal(s string) (string, error) {
	if out, ok := localFast(s); ok {
		return out, nil
	}
	return localSlow(s)
}

// ---- resourcepart ----

// resourceFast handles printable-ASCII resourceparts (0x20-0x7E), which the
// OpaqueString profile leaves unchanged.
func resourceFast(s string) (out string, ok bool) {
	if s == "" || len(s) > maxPart {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return "", false
		}
	}
	return s, true
}

func resourceSlow(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("jid: invalid UTF-8 in resourcepart: %w", ErrMalformed)
	}
	out, err := precis.OpaqueString.String(s)
	if err != nil {
		return "", fmt.Errorf("jid: invalid resourcepart (%v): %w", err, ErrMalformed)
	}
	if out == "" {
		return "", fmt.Errorf("jid: empty resourcepart: %w", ErrMalformed)
	}
	if len(out) > maxPart {
		return "", fmt.Errorf("jid: resourcepart longer than %d bytes: %w", maxPart, ErrMalformed)
	}
	return out, nil
}

func normResource(s string) (string, error) {
	if out, ok := resourceFast(s); ok {
		return out, nil
	}
	return resourceSlow(s)
}

// ---- domainpart ----

// idnaProfile maps for lookup (lowercasing, UTS #46 mapping) and keeps
// U-labels (ToUnicode). Non-transitional so that e.g. ß is preserved.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
)

// trimTrailingDot strips one final label separator: '.', or one of the
// IDNA2003 full stops U+3002, U+FF0E, U+FF61 (RFC 7622 §3.2).
func trimTrailingDot(s string) string {
	if strings.HasSuffix(s, ".") {
		return s[:len(s)-1]
	}
	for _, sep := range [...]string{"\u3002", "\uff0e", "\uff61"} {
		if strings.HasSuffix(s, sep) {
			return s[:len(s)-len(sep)]
		}
	}
	return s
}

// domainFast handles LDH ASCII domains ([A-Za-z0-9-] labels, none starting
// or ending with '-', no "--" at positions 3-4) without IDNA: these are only
// lowercased. Input must already have its trailing dot stripped and not be
// an IP literal. ok is false when the slow path must decide.
func domainFast(s string) (out string, ok bool) {
	if s == "" || len(s) > maxPart {
		return "", false
	}
	upper := false
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			n := i - start
			if n == 0 || n > 63 || s[start] == '-' || s[i-1] == '-' ||
				(n >= 4 && s[start+2] == '-' && s[start+3] == '-') {
				return "", false
			}
			start = i + 1
			continue
		}
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		case 'A' <= c && c <= 'Z':
			upper = true
		default:
			return "", false
		}
	}
	if !upper {
		return s, true
	}
	return toLowerASCII(s), true
}

// domainSlow converts a (non-IP-literal, trailing-dot-stripped) domain with
// IDNA to lowercase U-label form and validates it.
func domainSlow(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("jid: invalid UTF-8 in domainpart: %w", ErrMalformed)
	}
	if s == "" {
		return "", fmt.Errorf("jid: empty domainpart: %w", ErrMalformed)
	}
	u, err := idnaProfile.ToUnicode(s)
	if err != nil {
		return "", fmt.Errorf("jid: invalid domainpart (%v): %w", err, ErrMalformed)
	}
	if u == "" || len(u) > maxPart {
		return "", fmt.Errorf("jid: domainpart empty or longer than %d bytes: %w", maxPart, ErrMalformed)
	}
	// The mapping may have produced ASCII that does not belong in a
	// domainpart (StrictDomainName is off): allow only letters, digits,
	// '-', '_' and the label separator, and no empty labels.
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c >= 0x80 || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			continue
		}
		if c == '.' && i > 0 && i < len(u)-1 && u[i-1] != '.' {
			continue
		}
		return "", fmt.Errorf("jid: invalid character %q in domainpart: %w", c, ErrMalformed)
	}
	if u[0] == '.' || u[len(u)-1] == '.' {
		return "", fmt.Errorf("jid: empty label in domainpart: %w", ErrMalformed)
	}
	a, err := idnaProfile.ToASCII(u)
	if err != nil {
		return "", fmt.Errorf("jid: invalid domainpart (%v): %w", err, ErrMalformed)
	}
	for label := range strings.SplitSeq(a, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("jid: domain label empty or longer than 63 octets: %w", ErrMalformed)
		}
	}
	return u, nil
}

// normIP returns the canonical form of an IP literal domainpart, ok=false
// if s is not one. "[...]" must hold an IPv6 address; a dotted quad is IPv4.
func normIP(s string) (out string, ok bool, err error) {
	if s != "" && s[0] == '[' {
		if len(s) < 2 || s[len(s)-1] != ']' {
			return "", true, fmt.Errorf("jid: unterminated IP literal: %w", ErrMalformed)
		}
		a, perr := netip.ParseAddr(s[1 : len(s)-1])
		if perr != nil || !a.Is6() || a.Zone() != "" {
			return "", true, fmt.Errorf("jid: invalid IPv6 literal: %w", ErrMalformed)
		}
		c := a.String()
		if len(c) == len(s)-2 && c == s[1:len(s)-1] {
			return s, true, nil
		}
		return "[" + c + "]", true, nil
	}
	if !isDottedQuadShape(s) {
		return "", false, nil
	}
	a, perr := netip.ParseAddr(s)
	if perr != nil || !a.Is4() {
		return "", false, nil // e.g. 1.2.3.256: let the DNS rules decide
	}
	return s, true, nil // ParseAddr accepts only the canonical dotted quad
}

// isDottedQuadShape is a cheap pre-check: only digits and exactly 3 dots.
func isDottedQuadShape(s string) bool {
	dots := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dots++
		case c < '0' || c > '9':
			return false
		}
	}
	return dots == 3
}

func normDomain(s string) (string, error) {
	s = trimTrailingDot(s)
	if s == "" {
		return "", fmt.Errorf("jid: empty domainpart: %w", ErrMalformed)
	}
	if out, ok, err := normIP(s); ok || err != nil {
		return out, err
	}
	if out, ok := domainFast(s); ok {
		return out, nil
	}
	return domainSlow(s)
}

// toLowerASCII lowercases an ASCII string with a single allocation.
func toLowerASCII(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}
