package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"
)

type tlsConnState = tls.ConnectionState

// memStore is an in-memory CredentialStore.
type memStore struct {
	mu    sync.Mutex
	creds map[string][]Credential
	err   error
	calls int
}

func newMemStore() *memStore { return &memStore{creds: map[string][]Credential{}} }

func (m *memStore) add(t testing.TB, user, password string) {
	t.Helper()
	cs, err := DeriveCredentials(password, DefaultIterations)
	if err != nil {
		t.Fatalf("DeriveCredentials: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.creds[user] = cs
}

func (m *memStore) Credential(ctx context.Context, username, hash string) (Credential, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.err != nil {
		return Credential{}, false, m.err
	}
	for _, c := range m.creds[username] {
		if c.Hash == hash {
			return c, true, nil
		}
	}
	return Credential{}, false, nil
}

// testCert is a self-signed server certificate.
type testCert struct {
	der []byte
	tls tls.Certificate
}

func newTestCert(t testing.TB, kind string) testCert {
	t.Helper()
	var (
		key  crypto.Signer
		algo x509.SignatureAlgorithm
		err  error
	)
	switch kind {
	case "ecdsa-sha256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		algo = x509.ECDSAWithSHA256
	case "ecdsa-sha384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		algo = x509.ECDSAWithSHA384
	case "rsa-sha512":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		algo = x509.SHA512WithRSA
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
		algo = x509.PureEd25519
	default:
		t.Fatalf("unknown cert kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(1),
		Subject:            pkix.Name{CommonName: "example.org"},
		DNSNames:           []string{"example.org"},
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().Add(time.Hour),
		SignatureAlgorithm: algo,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{der: der, tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// tlsPair runs a real TLS handshake over loopback TCP and returns the
// server's and the client's connection state.
func tlsPair(t testing.TB, cert testCert, version uint16) (server, client *tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		st  tls.ConnectionState
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- res{err: err}
			return
		}
		sc := tls.Server(c, &tls.Config{
			Certificates: []tls.Certificate{cert.tls},
			MinVersion:   version,
			MaxVersion:   version,
		})
		err = sc.Handshake()
		ch <- res{st: sc.ConnectionState(), err: err}
		t.Cleanup(func() { sc.Close() })
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc := tls.Client(c, &tls.Config{
		InsecureSkipVerify: true, // self-signed test certificate
		MinVersion:         version,
		MaxVersion:         version,
	})
	t.Cleanup(func() { cc.Close() })
	if err := cc.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("server handshake: %v", r.err)
	}
	cst := cc.ConnectionState()
	return &r.st, &cst
}

var hashFor = map[string]scram.HashGeneratorFcn{
	SHA1:   scram.SHA1,
	SHA256: scram.SHA256,
	SHA512: scram.SHA512,
}

func xdgClient(t testing.TB, mech, user, pass, authz string) *scram.Client {
	t.Helper()
	m, ok := mechanisms[mech]
	if !ok || m.plain {
		t.Fatalf("not a SCRAM mechanism: %s", mech)
	}
	c, err := hashFor[m.alg.name].NewClient(user, pass, authz)
	if err != nil {
		t.Fatalf("scram client: %v", err)
	}
	return c
}

// exchange drives one SCRAM negotiation between our server and the xdg-go
// client. It returns the negotiation and the first server-side error; a
// client-side error is fatal unless allowClientErr.
func exchange(t testing.TB, srv *Server, mech string, cs ConnState, conv *scram.ClientConversation) (*Negotiation, error) {
	t.Helper()
	ctx := context.Background()
	n, err := srv.Start(ctx, mech, cs)
	if err != nil {
		return nil, err
	}
	c1, err := conv.Step("")
	if err != nil {
		t.Fatalf("client first: %v", err)
	}
	s1, done, err := n.Step(ctx, []byte(c1))
	if err != nil {
		return n, err
	}
	if done {
		t.Fatal("done after client-first")
	}
	c2, err := conv.Step(string(s1))
	if err != nil {
		t.Fatalf("client final: %v", err)
	}
	s2, done, err := n.Step(ctx, []byte(c2))
	if err != nil {
		return n, err
	}
	if !done {
		t.Fatal("not done after client-final")
	}
	if _, err := conv.Step(string(s2)); err != nil {
		t.Fatalf("client rejected server-final %q: %v", s2, err)
	}
	if !conv.Valid() {
		t.Fatal("client conversation not valid")
	}
	return n, nil
}

func condition(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Condition
	}
	if err == nil {
		return ""
	}
	return "not a *Failure: " + err.Error()
}
