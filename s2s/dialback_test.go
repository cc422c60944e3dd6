package s2s

import "testing"

// The example of XEP-0220 §2.1.1 (Example 3).
func TestDialbackKeyVector(t *testing.T) {
	got := DialbackKey([]byte("s3cr3tf0rd14lb4ck"), "montague.example", "capulet.example", "D60000229F")
	const want = "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3"
	if got != want {
		t.Fatalf("key %s, want %s", got, want)
	}
	if !checkKey([]byte("s3cr3tf0rd14lb4ck"), "montague.example", "capulet.example", "D60000229F", want) {
		t.Fatal("checkKey refuses the right key")
	}
	if checkKey([]byte("other"), "montague.example", "capulet.example", "D60000229F", want) {
		t.Fatal("checkKey accepts a key made with another secret")
	}
}
