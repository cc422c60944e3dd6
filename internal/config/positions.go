package config

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml keeps key positions private, and even internally it keys
// them by name without array indices (every [[listen]] shares "listen.tls").
// Errors must point at the right line of the right [[listen]], so this file
// is a small scanner that records where each key of an already-parsed (hence
// syntactically valid) TOML document starts, by its indexed path:
// "limits.max_depth", "listen[1].tls", "host[0]" (the table header).

// position is a 1-based line and column (column in characters).
type position struct{ Line, Col int }

// positions maps indexed key paths to where they appear.
type positions map[string]position

// lookup returns the position of path, or of its nearest recorded ancestor
// (a value left to its default is best reported at its table's header).
func (p positions) lookup(path string) position {
	for path != "" {
		if pos, ok := p[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return position{}
}

type scanner struct {
	src        []byte
	i          int
	lineStarts []int
	pos        positions
	arrays     map[string]int // array-of-tables path -> elements seen so far
}

func scanPositions(src []byte) positions {
	s := &scanner{src: src, pos: positions{}, arrays: map[string]int{}, lineStarts: []int{0}}
	for i, c := range src {
		if c == '\n' {
			s.lineStarts = append(s.lineStarts, i+1)
		}
	}
	s.document()
	return s.pos
}

func (s *scanner) at(off int) position {
	line := sort.Search(len(s.lineStarts), func(i int) bool { return s.lineStarts[i] > off }) - 1
	start := s.lineStarts[line]
	return position{Line: line + 1, Col: utf8.RuneCount(s.src[start:off]) + 1}
}

func (s *scanner) record(path string, off int) {
	if _, ok := s.pos[path]; !ok {
		s.pos[path] = s.at(off)
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.src) {
		return s.src[s.i]
	}
	return 0
}

func (s *scanner) hasPrefix(p string) bool {
	return strings.HasPrefix(string(s.src[s.i:min(len(s.src), s.i+len(p))]), p)
}

// skipSpace skips blanks, and also newlines and comments when multiline.
func (s *scanner) skipSpace(multiline bool) {
	for s.i < len(s.src) {
		switch c := s.src[s.i]; {
		case c == ' ' || c == '\t':
			s.i++
		case multiline && (c == '\n' || c == '\r'):
			s.i++
		case multiline && c == '#':
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

func (s *scanner) document() {
	table := ""
	for {
		s.skipSpace(true)
		if s.i >= len(s.src) {
			return
		}
		start := s.i
		if s.peek() == '[' {
			s.i++
			array := s.peek() == '['
			if array {
				s.i++
			}
			parts := s.key()
			for s.i < len(s.src) && s.src[s.i] != '\n' && s.src[s.i] != '#' {
				s.i++ // the closing "]" or "]]"
			}
			// Resolve each prefix: a header naming an array of tables
			// refers to its latest element.
			path := ""
			for j, part := range parts {
				path = join(path, part)
				if n, ok := s.arrays[path]; ok && (j < len(parts)-1 || !array) {
					path += "[" + strconv.Itoa(n-1) + "]"
				}
			}
			if array {
				n := s.arrays[path]
				s.arrays[path] = n + 1
				s.record(path, start)
				path += "[" + strconv.Itoa(n) + "]"
			}
			s.record(path, start)
			table = path
			continue
		}
		s.keyValue(table)
	}
}

// keyValue reads `key = value` under table, recording the key's position.
func (s *scanner) keyValue(table string) {
	start := s.i
	parts := s.key()
	if len(parts) == 0 { // cannot happen on valid TOML; never loop forever
		s.i++
		return
	}
	path := table
	for _, part := range parts {
		path = join(path, part)
		s.record(path, start)
	}
	s.skipSpace(false)
	if s.peek() == '=' {
		s.i++
	}
	s.skipSpace(false)
	s.value(path)
}

// key reads a dotted key: bare, "basic" or 'literal' parts.
func (s *scanner) key() []string {
	var parts []string
	for {
		s.skipSpace(false)
		switch c := s.peek(); {
		case c == '"' || c == '\'':
			parts = append(parts, s.quotedKey(c))
		case isBare(c):
			j := s.i
			for s.i < len(s.src) && isBare(s.src[s.i]) {
				s.i++
			}
			parts = append(parts, string(s.src[j:s.i]))
		default:
			return parts
		}
		s.skipSpace(false)
		if s.peek() != '.' {
			return parts
		}
		s.i++
	}
}

func (s *scanner) quotedKey(q byte) string {
	j := s.i
	s.i++
	for s.i < len(s.src) && s.src[s.i] != q && s.src[s.i] != '\n' {
		if q == '"' && s.src[s.i] == '\\' {
			s.i++
		}
		s.i++
	}
	s.i++
	raw := string(s.src[j:min(s.i, len(s.src))])
	if q == '\'' {
		return strings.Trim(raw, "'")
	}
	if u, err := strconv.Unquote(raw); err == nil {
		return u
	}
	return strings.Trim(raw, `"`)
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value skips one value, recording the keys inside inline tables.
func (s *scanner) value(path string) {
	switch c := s.peek(); c {
	case '"', '\'':
		s.str(c)
	case '[':
		s.i++
		for n := 0; ; n++ {
			s.skipSpace(true)
			if s.i >= len(s.src) || s.peek() == ']' {
				s.i++
				return
			}
			elem := path + "[" + strconv.Itoa(n) + "]"
			s.record(elem, s.i)
			before := s.i
			s.value(elem)
			s.skipSpace(true)
			if s.peek() == ',' {
				s.i++
			} else if s.i == before {
				s.i++
			}
		}
	case '{':
		s.i++
		for {
			s.skipSpace(true)
			if s.i >= len(s.src) || s.peek() == '}' {
				s.i++
				return
			}
			if s.peek() == ',' {
				s.i++
				continue
			}
			s.keyValue(path)
		}
	default: // number, boolean, date: runs to a delimiter
		for s.i < len(s.src) && !strings.ContainsRune(",]}#\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}

func (s *scanner) str(q byte) {
	triple := strings.Repeat(string(q), 3)
	if s.hasPrefix(triple) {
		s.i += 3
		for s.i < len(s.src) {
			if q == '"' && s.src[s.i] == '\\' {
				s.i += 2
				continue
			}
			if s.hasPrefix(triple) {
				s.i += 3
				// Up to two more quotes belong to the content: """a"""""
				for k := 0; k < 2 && s.peek() == q; k++ {
					s.i++
				}
				return
			}
			s.i++
		}
		return
	}
	s.i++
	for s.i < len(s.src) && s.src[s.i] != q && s.src[s.i] != '\n' {
		if q == '"' && s.src[s.i] == '\\' {
			s.i++
		}
		s.i++
	}
	s.i++
}

func join(table, key string) string {
	if table == "" {
		return key
	}
	return table + "." + key
}
