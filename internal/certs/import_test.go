package certs

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil/certtest"
)

// caIssued returns a certificate chain (leaf, then a CA) for names, as a
// CA such as Let's Encrypt issues it, and the leaf's key, PEM-encoded.
func caIssued(t *testing.T, names []string, notBefore, notAfter time.Time) (chainPEM, keyPEM []byte) {
	t.Helper()
	iss := certtest.Issue(t, names, notBefore, notAfter)
	return iss.ChainPEM(), iss.KeyPEM
}

// liveFolder writes src/name/fullchain.pem and privkey.pem, as certbot
// lays out /etc/letsencrypt/live.
func liveFolder(t *testing.T, src, name string, chainPEM, keyPEM []byte) {
	t.Helper()
	certtest.WriteLive(t, filepath.Join(src, name), chainPEM, keyPEM)
}

func leafOf(t *testing.T, chainPEM []byte) []byte {
	b, _ := pem.Decode(chainPEM)
	return b.Bytes
}

// TestImport: each host gets the longest-valid certificate that covers
// it, from its own folder or one named otherwise; Load (a restart or
// SIGHUP) then serves it, with its chain, even within the 30 days in
// which a self-signed one would be replaced.
func TestImport(t *testing.T) {
	now := time.Now()
	etc := t.TempDir()
	src := filepath.Join(etc, "live")
	a, aKey := caIssued(t, []string{"a.test", "conference.a.test"}, now.Add(-80*24*time.Hour), now.Add(10*24*time.Hour))
	liveFolder(t, src, "a.test", a, aKey)
	// Newer, in a folder named after another of its names.
	a2, a2Key := caIssued(t, []string{"upload.a.test", "a.test"}, now.Add(-time.Hour), now.Add(20*24*time.Hour))
	liveFolder(t, src, "upload.a.test", a2, a2Key)
	// Expired, and longer "valid": never chosen.
	old, oldKey := caIssued(t, []string{"b.test"}, now.Add(-100*24*time.Hour), now.Add(-24*time.Hour))
	liveFolder(t, src, "b.test", old, oldKey)
	// A key that is not the certificate's.
	c, _ := caIssued(t, []string{"c.test"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	liveFolder(t, src, "c.test", c, aKey)
	os.WriteFile(filepath.Join(src, "README"), []byte("certbot"), 0o644)

	data := t.TempDir()
	// etc, not etc/live: /etc/letsencrypt is accepted as well.
	res, err := Import(data, []string{"a.test", "B.test", "c.test", "d.test"}, etc, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].Err != nil || res[0].From != filepath.Join(src, "upload.a.test") {
		t.Errorf("a.test: from %q, err %v; want the newer certificate of upload.a.test", res[0].From, res[0].Err)
	}
	for i, want := range map[int][]string{1: {"b.test", "expired"}, 2: {"c.test", "private key does not match"}, 3: {"no valid certificate for d.test"}} {
		if res[i].Err == nil {
			t.Errorf("%s: imported %s", res[i].Domain, res[i].From)
			continue
		}
		for _, w := range want {
			if !strings.Contains(res[i].Err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", res[i].Domain, res[i].Err, w)
			}
		}
	}
	if fi, err := os.Stat(filepath.Join(data, "certs", "a.test.key")); err != nil || fi.Mode() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}

	s := mustLoad(t, data, HostCert{Domain: "a.test"})
	got := s.Certificate("a.test")
	if !bytes.Equal(got.Leaf.Raw, leafOf(t, a2)) || len(got.Certificate) != 2 {
		t.Fatalf("Load serves %v (chain of %d), want the imported certificate with its chain", got.Leaf.DNSNames, len(got.Certificate))
	}
}

// TestImportedExpiredIsAnError: an imported certificate that has expired
// is reported at start, naming the file, rather than silently swapped for
// a self-signed one that every client would refuse.
func TestImportedExpiredIsAnError(t *testing.T) {
	now := time.Now()
	src, data := t.TempDir(), t.TempDir()
	a, aKey := caIssued(t, []string{"a.test"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	liveFolder(t, src, "a.test", a, aKey)
	if res, err := Import(data, []string{"a.test"}, src, now); err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	certFile := filepath.Join(data, "certs", "a.test.crt")
	if _, err := selfSigned(filepath.Join(data, "certs"), "a.test", now.Add(48*time.Hour)); err == nil || !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(certFile); !bytes.Equal(b, a) {
		t.Error("the imported certificate was overwritten")
	}
}

func TestImportMissingFolder(t *testing.T) {
	if _, err := Import(t.TempDir(), []string{"a.test"}, filepath.Join(t.TempDir(), "nope"), time.Now()); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v", err)
	}
}
