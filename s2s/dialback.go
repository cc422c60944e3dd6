package s2s

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// DialbackKey is the XEP-0220 §2.4 key (generated as XEP-0185 §3
// recommends): HMAC-SHA256 keyed with the hex SHA-256 of the secret, over
// "receiving originating streamID", hex encoded. Only the authoritative
// server (us, for our domains) can make it; a receiving server asks us to
// confirm it with <db:verify/>, which we answer by computing it again, so
// no per-stream state is kept.
func DialbackKey(secret []byte, receiving, originating, streamID string) string {
	k := sha256.Sum256(secret)
	mac := hmac.New(sha256.New, []byte(hex.EncodeToString(k[:])))
	mac.Write([]byte(receiving + " " + originating + " " + streamID))
	return hex.EncodeToString(mac.Sum(nil))
}

// checkKey compares a key a peer sent with the one we would make.
func checkKey(secret []byte, receiving, originating, streamID, key string) bool {
	want := DialbackKey(secret, receiving, originating, streamID)
	return hmac.Equal([]byte(want), []byte(key))
}
