package auth

import (
	"bytes"
	"testing"
)

// A client's SaltedPassword gives the keys the server would derive from
// the password itself; anything but Hi()'s output for the hash is refused.
func TestUpgradeCredential(t *testing.T) {
	salt := UpgradeSalt()
	for _, a := range []*hashAlg{algSHA256, algSHA512} {
		want, err := a.credential("pencil", salt, 4096)
		if err != nil {
			t.Fatal(err)
		}
		sp, _ := a.saltedPassword("pencil", salt, 4096)
		got, err := UpgradeCredential(a.name, sp, salt, 4096)
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		if !bytes.Equal(got.StoredKey, want.StoredKey) || !bytes.Equal(got.ServerKey, want.ServerKey) || got.Iterations != 4096 || !bytes.Equal(got.Salt, salt) {
			t.Errorf("%s: got %+v, want %+v", a.name, got, want)
		}
	}
	sp256, _ := algSHA256.saltedPassword("pencil", salt, 4096)
	for _, tc := range []struct {
		name, hash string
		sp, salt   []byte
		iter       int
	}{
		{"sha-1", SHA1, make([]byte, 20), salt, 4096},
		{"unknown hash", "MD5", sp256, salt, 4096},
		{"short", SHA256, sp256[:31], salt, 4096},
		{"sha-256 length for sha-512", SHA512, sp256, salt, 4096},
		{"no salt", SHA256, sp256, nil, 4096},
		{"no iterations", SHA256, sp256, salt, 0},
	} {
		if _, err := UpgradeCredential(tc.hash, tc.sp, tc.salt, tc.iter); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
