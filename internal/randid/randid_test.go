package randid

import (
	"regexp"
	"testing"
)

func TestHex(t *testing.T) {
	form := regexp.MustCompile(`^[0-9a-f]*$`)
	for _, n := range []int{0, 4, 8, 12, 16, 32} {
		id := Hex(n)
		if len(id) != 2*n || !form.MatchString(id) {
			t.Errorf("Hex(%d) = %q: want %d lowercase hex digits", n, id, 2*n)
		}
	}
	if a, b := Hex(16), Hex(16); a == b {
		t.Error("two 128-bit IDs are equal")
	}
}
