package xml

import (
	"encoding/binary"
	"unicode/utf8"
)

// Byte classes for the scanner. A byte with none of the bits a state cares
// about is skipped in a tight loop.
const (
	cBad    = 1 << iota // a control character XML 1.0 §2.2 excludes
	cHigh               // first or continuation byte of a multi-byte rune
	cLT                 // <
	cGT                 // >
	cQuote              // " or '
	cSlash              // /
	cRBrack             // ]
	cAmp                // &
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		if c != '\t' && c != '\n' && c != '\r' {
			t[c] = cBad
		}
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = cHigh
	}
	t['<'] = cLT
	t['>'] = cGT
	t['"'] = cQuote
	t['\''] = cQuote
	t['/'] = cSlash
	t[']'] = cRBrack
	t['&'] = cAmp
	return t
}()

// ASCII name characters (XML 1.0 §2.3): 1 = may start a name, 2 = may
// continue one.
var nameASCII = func() (t [128]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 3
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = 3
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 2
	}
	t['_'] = 3
	t[':'] = 3
	t['-'] = 2
	t['.'] = 2
	return t
}()

// isNameStartRune and isNameRune are the XML 1.0 (fifth edition) §2.3
// productions NameStartChar and NameChar for runes outside ASCII.
func isNameStartRune(r rune) bool {
	switch {
	case r < 0x80:
		return r < 128 && nameASCII[r]&1 != 0
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

func isNameRune(r rune) bool {
	if r < 0x80 {
		return nameASCII[r]&2 != 0
	}
	return isNameStartRune(r) || r == 0xB7 || (r >= 0x300 && r <= 0x36F) || (r >= 0x203F && r <= 0x2040)
}

// isChar is XML 1.0 §2.2 Char, for character references.
func isChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// validUTF8Chars reports whether b is UTF-8 without the non-characters
// U+FFFE and U+FFFF, which XML excludes (surrogates are not valid UTF-8).
func validUTF8Chars(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0xEF && b[i+1] == 0xBF && (b[i+2] == 0xBE || b[i+2] == 0xBF) {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// skipPlain returns the first index from i on where b holds a byte that is
// not printable ASCII (0x20-0x7F) or equals stop1 or stop2. It tests eight
// bytes at a time (the "has zero byte" and "has less than" word tricks), so
// the common runs of plain text in bodies and attribute values cost about a
// cycle a byte.
func skipPlain(b []byte, i int, stop1, stop2 byte) int {
	s1 := lsb * uint64(stop1)
	s2 := lsb * uint64(stop2)
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		x1 := w ^ s1
		x2 := w ^ s2
		special := w&msb | (w-lsb*0x20)&^w&msb | (x1-lsb)&^x1&msb | (x2-lsb)&^x2&msb
		if special != 0 {
			break
		}
	}
	return i
}

// advance skips bytes whose class has no bit of mask, using skipPlain for
// runs of plain ASCII; stop1 and stop2 must be the ASCII bytes in mask. ws
// reports whether a tab, CR or LF was skipped (the parser then normalizes
// whitespace; without any it need not look).
func advance(b []byte, i int, mask uint8, stop1, stop2 byte) (j int, ws bool) {
	for {
		i = skipPlain(b, i, stop1, stop2)
		end := min(i+8, len(b))
		j := i
		for j < end && byteClass[b[j]]&mask == 0 {
			ws = ws || b[j] < 0x20
			j++
		}
		if j < end || end == len(b) {
			return j, ws
		}
		i = j
	}
}

// nameEnd marks the bytes that end a tag's name.
var nameEnd = func() (t [256]uint8) {
	for _, c := range " \t\r\n/>\"'<=" {
		t[c] = 1
	}
	for c := 0; c < 0x20; c++ {
		t[c] = 1
	}
	return t
}()
