// Package randid makes the random identifiers xmppd hands out: stream IDs,
// resources, stanza IDs, session and upload IDs, tokens. They come from
// crypto/rand because some are capabilities (an upload URL, a BOSH sid, a
// XEP-0198 resumption id) and a guessable one would let a stranger in.
package randid

import (
	"crypto/rand"
	"encoding/hex"
)

// Hex returns n random bytes as 2n lowercase hex digits. crypto/rand.Read
// does not fail (since Go 1.24 it crashes the program rather than return
// short), so there is no error to handle.
func Hex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
