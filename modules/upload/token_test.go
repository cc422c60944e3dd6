package upload

import (
	"strings"
	"testing"
	"time"
)

func TestToken(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_700_000_000, 0)
	sl := slot{ID: strings.Repeat("a", 32), Name: "très cool.jpg", Owner: "romeo@montague.tld", Size: 23456, ContentType: "image/jpeg", Expires: now.Add(time.Minute)}
	tok := signToken(key, sl)
	got, err := parseToken(key, sl.ID, sl.Name, tok, now)
	if err != nil || got != sl {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, sl)
	}
	tests := []struct {
		name          string
		key           []byte
		id, file, tok string
		at            time.Time
		want          error
	}{
		{"expired", key, sl.ID, sl.Name, tok, sl.Expires, errTokenExpired},
		{"other key", []byte("another key"), sl.ID, sl.Name, tok, now, errTokenSignature},
		{"other id", key, strings.Repeat("b", 32), sl.Name, tok, now, errTokenSignature},
		{"other name", key, sl.ID, "x.jpg", tok, now, errTokenSignature},
		{"truncated", key, sl.ID, sl.Name, tok[:len(tok)-4], now, errTokenSignature},
		{"short", key, sl.ID, sl.Name, "AAAA", now, errTokenMalformed},
		{"not base64", key, sl.ID, sl.Name, "%%%", now, errTokenMalformed},
		{"empty", key, sl.ID, sl.Name, "", now, errTokenMalformed},
	}
	for _, tc := range tests {
		if _, err := parseToken(tc.key, tc.id, tc.file, tc.tok, tc.at); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	long := strings.Repeat("é", 150) + ".jpeg"
	for _, tc := range []struct{ in, want string }{
		{"très cool.jpg", "très cool.jpg"},
		{"../../etc/passwd", ".._.._etc_passwd"},
		{"a\\b", "a_b"},
		{"..", "file"},
		{".", "file"},
		{"  ", "file"},
		{"a\x00b\nc", "abc"},
		{"bad\xffutf8", "bad_utf8"},
		{long, strings.Repeat("é", 97) + ".jpeg"},
	} {
		if got := sanitizeName(tc.in); got != tc.want {
			t.Errorf("sanitizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzToken: whatever arrives in a PUT URL, parseToken never panics and
// accepts only what signToken made for that id, name and key.
func FuzzToken(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_700_000_000, 0)
	id := strings.Repeat("a", 32)
	f.Add(id, "a.txt", signToken(key, slot{ID: id, Name: "a.txt", Owner: "a@b", Size: 3, ContentType: "text/plain", Expires: now.Add(time.Hour)}))
	f.Add(id, "a.txt", "")
	f.Add("x", "", "AQAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, id, name, tok string) {
		sl, err := parseToken(key, id, name, tok, now)
		if err != nil {
			return
		}
		if sl.ID != id || sl.Name != name || sl.Size < 0 || !now.Before(sl.Expires) {
			t.Fatalf("accepted %+v for %q %q", sl, id, name)
		}
		if again := signToken(key, sl); again != tok {
			t.Fatalf("accepted token %q is not the canonical %q", tok, again)
		}
	})
}
