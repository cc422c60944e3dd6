// Package certtest makes certificates for tests: a leaf for some names,
// signed by a throwaway CA, as a CA such as Let's Encrypt issues it.
//
// It imports nothing of xmppd, so that packages internal/testutil imports
// (internal/certs) can use it in their own tests.
package certtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Issued is a leaf certificate and its CA.
type Issued struct {
	Leaf    []byte // the leaf's DER
	CertPEM []byte // the leaf
	KeyPEM  []byte // the leaf's key, PKCS #8
	CAPEM   []byte // the CA's certificate
}

// ChainPEM is the leaf then the CA, as fullchain.pem holds them.
func (i Issued) ChainPEM() []byte {
	return append(append([]byte(nil), i.CertPEM...), i.CAPEM...)
}

// Issue returns a server certificate for names (the first is also its
// common name) valid from notBefore to notAfter, signed by a new CA valid
// an hour longer on either side.
func Issue(t testing.TB, names []string, notBefore, notAfter time.Time) Issued {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: serial(t), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: notBefore.Add(-time.Hour), NotAfter: notAfter.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial(t),
		Subject: pkix.Name{CommonName: names[0]}, DNSNames: names, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Issued{
		Leaf:    der,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CAPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
}

// serial is a random serial number: certificates from several calls must
// not collide in a verifier's eyes.
func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// WriteLive writes dir/fullchain.pem and dir/privkey.pem, as certbot lays
// out a folder of /etc/letsencrypt/live.
func WriteLive(t testing.TB, dir string, chainPEM, keyPEM []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"fullchain.pem": chainPEM, "privkey.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
