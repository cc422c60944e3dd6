package auth

import (
	"crypto/rand"
	"fmt"
)

// XEP-0480 SASL upgrade tasks: an account that lacks the keys of a hash
// (imported with SHA-1 keys only) gets them from its client, which alone
// has the password. The client computes SaltedPassword (RFC 5802 §3) with
// a salt and iteration count the server chose; the server keeps only the
// StoredKey and ServerKey derived from it, as for a password it set itself.

// upgradeTasks maps the task names (XEP-0480 §3: "UPGR-" and the mechanism,
// never -PLUS) to the hashes they add, strongest first. SHA-1 is not
// upgraded to: every account has its keys.
var upgradeTasks = []struct{ task, hash string }{
	{"UPGR-" + MechSCRAMSHA512, SHA512},
	{"UPGR-" + MechSCRAMSHA256, SHA256},
}

// UpgradeTasks lists the XEP-0480 task names the server can run, each
// with the hash it adds, strongest first.
func UpgradeTasks() (tasks, hashes []string) {
	for _, u := range upgradeTasks {
		tasks = append(tasks, u.task)
		hashes = append(hashes, u.hash)
	}
	return tasks, hashes
}

// UpgradeSalt is a fresh random salt for an upgrade task.
func UpgradeSalt() []byte {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails (crypto/rand, Go 1.24+)
	return salt
}

// UpgradeCredential derives the credential for hash from the
// SaltedPassword a client computed with salt and iter. The salted password
// itself is not kept. It fails for a hash no upgrade task adds and for a
// salted password of the wrong length (not Hi()'s output for that hash).
func UpgradeCredential(hash string, salted, salt []byte, iter int) (Credential, error) {
	a := algByName(hash)
	if a == nil || a == algSHA1 {
		return Credential{}, fmt.Errorf("upgrade: no task adds %q keys", hash)
	}
	if len(salted) != a.size {
		return Credential{}, fmt.Errorf("upgrade: %s salted password has %d bytes, want %d", hash, len(salted), a.size)
	}
	if len(salt) == 0 || iter < 1 {
		return Credential{}, fmt.Errorf("upgrade: salt of %d bytes, %d iterations", len(salt), iter)
	}
	return a.keys(salted, salt, iter), nil
}
