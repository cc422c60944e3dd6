package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeRouteCerts makes a CA and a node certificate for 127.0.0.1 signed
// by it, as PEM files in dir.
func writeRouteCerts(t *testing.T, dir string) (cert, key, ca string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "xmppd cluster CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	nodeKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nodeTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	nodeDER, err := x509.CreateCertificate(rand.Reader, nodeTmpl, caCert, &nodeKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(nodeKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("node.crt", "CERTIFICATE", nodeDER), write("node.key", "EC PRIVATE KEY", keyDER), write("ca.crt", "CERTIFICATE", caDER)
}

// TestRouteTLS: with route TLS the nodes form their cluster over TLS, and
// a NATS server that knows the secret but speaks no TLS gets no route.
func TestRouteTLS(t *testing.T) {
	certFile, keyFile, caFile := writeRouteCerts(t, t.TempDir())
	tlsCfg, err := RouteTLS(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RouteTLS(certFile, keyFile, certFile+".missing"); err == nil {
		t.Error("a missing CA file was accepted")
	}

	nodes := startNodes(t, 3, func(c *Config) {
		c.RouteTLS = tlsCfg
		c.Log = slog.New(slog.DiscardHandler)
	})
	for _, n := range nodes {
		waitUntil(t, n.Name()+" seeing both peers", func() bool { return len(n.PeerNames()) == 2 })
	}

	plain := startOutsider(t, "plain", nodes[0].RouteAddr(), testSecret)
	// Its routes open and are closed by the node, which wants TLS.
	waitUntil(t, "the plaintext routes closed", func() bool { return plain.log.count("Router connection closed") >= 2 })
	if r := plain.ns.NumRoutes(); r != 0 {
		t.Errorf("the plaintext server has %d routes", r)
	}
	if m := plain.msgs.Load(); m != 0 {
		t.Errorf("the plaintext server's client received %d cluster messages", m)
	}
}
