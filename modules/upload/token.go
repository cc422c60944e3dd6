package upload

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// A PUT URL is /upload/<id>/<name>?token=<token>: the slot's id and file
// name are in the path (the GET URL is the same path without the query),
// and the token carries, signed with a key derived from the server's
// secret key, everything the HTTP side must check without any state:
// the owner, the declared size and content type and the slot's expiry.
// The MAC covers id and name too, so a token cannot be moved to another
// path. Single use is enforced by the file system (the id's file is
// created exclusively), which survives restarts.
//
// Token layout before base64url (no padding):
//
//	version (1 byte, 1) | expiry (8 bytes, Unix seconds, big endian) |
//	size (8 bytes) | len(owner) (1 byte) | owner | content type |
//	HMAC-SHA256 (32 bytes) over "xmppd-upload" 0 id 0 name 0 and all of
//	the above
const tokenVersion = 1

const macLen = sha256.Size

var (
	errTokenMalformed = errors.New("malformed token")
	errTokenSignature = errors.New("bad token signature")
	errTokenExpired   = errors.New("token expired")
)

// slot is what a token grants: one PUT of Size bytes of ContentType
// ("" = any) to id/name by Owner (a bare JID) until Expires.
type slot struct {
	ID, Name    string
	Owner       string
	Size        int64
	ContentType string
	Expires     time.Time
}

func mac(key []byte, id, name string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("xmppd-upload\x00"))
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

// signToken encodes s; s.Owner must be at most 255 bytes (a bare JID of
// a local account is much shorter: RFC 7622 caps each part at 1023 bytes,
// but we refuse slots for longer owners before signing).
func signToken(key []byte, s slot) string {
	body := make([]byte, 0, 18+len(s.Owner)+len(s.ContentType)+macLen)
	body = append(body, tokenVersion)
	body = binary.BigEndian.AppendUint64(body, uint64(s.Expires.Unix()))
	body = binary.BigEndian.AppendUint64(body, uint64(s.Size))
	body = append(body, byte(len(s.Owner)))
	body = append(body, s.Owner...)
	body = append(body, s.ContentType...)
	body = append(body, mac(key, s.ID, s.Name, body)...)
	return base64.RawURLEncoding.EncodeToString(body)
}

// parseToken verifies tok for the PUT of id/name at now and returns the
// slot it grants. The signature is checked before any field is trusted.
func parseToken(key []byte, id, name, tok string, now time.Time) (slot, error) {
	if len(tok) > 4096 {
		return slot{}, errTokenMalformed
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) < 18+macLen {
		return slot{}, errTokenMalformed
	}
	body, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(sum, mac(key, id, name, body)) {
		return slot{}, errTokenSignature
	}
	if body[0] != tokenVersion {
		return slot{}, errTokenMalformed
	}
	exp := int64(binary.BigEndian.Uint64(body[1:9]))
	size := int64(binary.BigEndian.Uint64(body[9:17]))
	n := int(body[17])
	rest := body[18:]
	if n > len(rest) || size < 0 {
		return slot{}, errTokenMalformed
	}
	s := slot{ID: id, Name: name, Owner: string(rest[:n]), ContentType: string(rest[n:]), Size: size, Expires: time.Unix(exp, 0)}
	if !utf8.ValidString(s.Owner) || strings.ContainsAny(s.ContentType, "\r\n") {
		return slot{}, errTokenMalformed
	}
	if !now.Before(s.Expires) {
		return slot{}, errTokenExpired
	}
	return s, nil
}
