package storage

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
)

// NewArchiveID returns an archive id (XEP-0359 stanza-id, XEP-0313 UID):
// 8 characters of the time in milliseconds in an alphabet that sorts like
// the numbers it encodes, then 96 random bits in URL-safe base64 (16
// characters).
//
// The random part is what XEP-0313 §4.1.2 asks for ("MUST be unpredictable
// and unique"): nobody can guess another message's id. The time prefix
// tells a peer only what the message's <delay/> stamp or arrival already
// does, and it makes ids made close together sort close together, so the
// database's unique index on them grows at one end instead of touching a
// random page per message (with random ids, index pages missing from the
// page cache were read and written back for most inserts).
func NewArchiveID(now time.Time) string {
	var b [24]byte
	ms := uint64(now.UnixMilli())
	// 8 digits of 6 bits: 48 bits of milliseconds, until the year 10889.
	for i := 7; i >= 0; i-- {
		b[i] = sortable[ms&63]
		ms >>= 6
	}
	var r [12]byte
	rand.Read(r[:])
	base64.RawURLEncoding.Encode(b[8:], r[:])
	return string(b[:])
}

// sortable is 64 characters valid in archive ids, in ASCII order.
const sortable = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

// ArchiveIDTime returns the time (to the millisecond) an id made by
// NewArchiveID begins with, and false for an id of another shape: ids
// compare by it (XEP-0490 markers name the last message displayed).
func ArchiveIDTime(id string) (time.Time, bool) {
	if len(id) != 24 {
		return time.Time{}, false
	}
	var ms int64
	for i := range 8 {
		d := strings.IndexByte(sortable, id[i])
		if d < 0 {
			return time.Time{}, false
		}
		ms = ms<<6 | int64(d)
	}
	return time.UnixMilli(ms), true
}
