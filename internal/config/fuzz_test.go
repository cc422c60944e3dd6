package config

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// FuzzParse: whatever the input, Parse must return (no panic, no endless
// loop in the position scanner), and a failed Parse must return no config.
func FuzzParse(f *testing.F) {
	f.Add([]byte("a = 1\n[t]\nb = [1, {c = 2}]\n[[l]]\nd = '''x'''\n"))
	f.Add([]byte("limits.max_depth = 16\nhost = [{domain = \"a.test\"}]\n"))
	f.Add([]byte("s = \"\"\"a\\\"\"\"\"\"\n[[listen]]\ntls = \"direct\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			check(t, data)
		}()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("hang on %q", data)
		}
	})
}

func check(t *testing.T, data []byte) {
	{
		var v any
		if _, err := toml.Decode(string(data), &v); err == nil {
			scanPositions(data)
		}
		c, err := Parse(data, "fuzz.toml")
		if (c == nil) == (err == nil) {
			t.Errorf("config %v with error %v", c, err)
		}
	}
}
