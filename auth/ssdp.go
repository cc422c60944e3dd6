package auth

import (
	"encoding/base64"
	"slices"
	"strings"
)

// ssdpHash computes the XEP-0474 (SASL SCRAM Downgrade Protection, v0.5.0
// §4.1) hash the server sends as the "h" attribute of its
// server-first-message:
//
//  1. S = sorted advertised mechanisms joined by %x1E
//  2. if channel-binding types were advertised (XEP-0440): S += %x1F +
//     sorted types joined by %x1E
//  3. base64(H(S)), H being the hash of the SCRAM mechanism in use.
//
// Sorting is "i;octet" (RFC 4790 §9.3), i.e. bytewise, which is what Go's
// string ordering is.
func ssdpHash(a *hashAlg, mechs, cbTypes []string) string {
	var b strings.Builder
	b.WriteString(strings.Join(slices.Sorted(slices.Values(mechs)), "\x1e"))
	if len(cbTypes) > 0 {
		b.WriteByte(0x1f)
		b.WriteString(strings.Join(slices.Sorted(slices.Values(cbTypes)), "\x1e"))
	}
	return base64.StdEncoding.EncodeToString(a.sum([]byte(b.String())))
}
