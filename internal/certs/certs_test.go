package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, dir string, hosts ...HostCert) *Store {
	t.Helper()
	s, err := Load(dir, hosts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func TestSelfSignedCreated(t *testing.T) {
	dir := t.TempDir()
	s := mustLoad(t, dir, HostCert{Domain: "Example.Test"})
	c := s.Certificate("example.test")
	if c == nil || c.Leaf == nil {
		t.Fatal("no certificate for example.test")
	}
	leaf := c.Leaf
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.Subject.CommonName != "example.test" {
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	}
	for _, name := range []string{"example.test", "conference.example.test"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("not valid for %s: %v", name, err)
		}
	}
	if got := time.Until(leaf.NotAfter); got < SelfSignedValidity-time.Hour || got > SelfSignedValidity+time.Hour {
		t.Errorf("valid for %v, want about %v", got, SelfSignedValidity)
	}
	if s.Certificate("EXAMPLE.test.") != c {
		t.Error("Certificate lookup is not case-insensitive")
	}
	if s.Certificate("other.test") != nil {
		t.Error("Certificate(unknown) != nil")
	}

	certDir := filepath.Join(dir, "certs")
	for name, want := range map[string]os.FileMode{
		certDir: 0o700 | os.ModeDir,
		filepath.Join(certDir, "example.test.key"): 0o600,
		filepath.Join(certDir, "example.test.crt"): 0o644,
	} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(certDir)
	if len(ents) != 2 {
		t.Errorf("certs dir has %d entries, want 2", len(ents))
	}
}

func TestSelfSignedReused(t *testing.T) {
	dir := t.TempDir()
	a := mustLoad(t, dir, HostCert{Domain: "example.test"}).Certificate("example.test")
	b := mustLoad(t, dir, HostCert{Domain: "example.test"}).Certificate("example.test")
	if !bytes.Equal(a.Leaf.Raw, b.Leaf.Raw) {
		t.Error("second Load made a new certificate instead of reusing the kept one")
	}
}

func TestSelfSignedRegenerated(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		certFor  string
		from, to time.Time
		keyFile  string // replaces the key file content when set
	}{
		{name: "expired", certFor: "example.test", from: now.Add(-400 * 24 * time.Hour), to: now.Add(-time.Hour)},
		{name: "expiring soon", certFor: "example.test", from: now.Add(-time.Hour), to: now.Add(24 * time.Hour)},
		{name: "other domain", certFor: "other.test", from: now.Add(-time.Hour), to: now.Add(SelfSignedValidity)},
		{name: "garbage key", certFor: "example.test", from: now.Add(-time.Hour), to: now.Add(SelfSignedValidity), keyFile: "not a key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certPEM, keyPEM, err := generate(tt.certFor, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if tt.keyFile != "" {
				keyPEM = []byte(tt.keyFile)
			}
			certDir := filepath.Join(dir, "certs")
			os.MkdirAll(certDir, 0o700)
			os.WriteFile(filepath.Join(certDir, "example.test.crt"), certPEM, 0o644)
			os.WriteFile(filepath.Join(certDir, "example.test.key"), keyPEM, 0o600)

			c := mustLoad(t, dir, HostCert{Domain: "example.test"}).Certificate("example.test")
			if old, _ := pem.Decode(certPEM); bytes.Equal(old.Bytes, c.Leaf.Raw) {
				t.Fatal("unusable certificate was reused")
			}
			if !usable(c.Leaf, "example.test", now) {
				t.Fatal("regenerated certificate is not usable")
			}
			// And the replacement is what is kept now.
			c2 := mustLoad(t, dir, HostCert{Domain: "example.test"}).Certificate("example.test")
			if !bytes.Equal(c.Leaf.Raw, c2.Leaf.Raw) {
				t.Error("regenerated certificate was not persisted")
			}
		})
	}
}

// handshake runs a real TLS handshake over loopback against the store's
// config and returns the client's view.
func handshake(t *testing.T, s *Store, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		srvErr <- tls.Server(c, s.TLSConfig("xmpp-client")).Handshake()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(nc, client)
	err = tc.Handshake()
	if err != nil {
		nc.Close()
		<-srvErr
		return tls.ConnectionState{}, err
	}
	if err := <-srvErr; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return tc.ConnectionState(), nil
}

func TestSNI(t *testing.T) {
	s := mustLoad(t, t.TempDir(), HostCert{Domain: "a.test"}, HostCert{Domain: "b.test"})
	a, b := s.Certificate("a.test"), s.Certificate("b.test")
	roots := x509.NewCertPool()
	roots.AddCert(a.Leaf)
	roots.AddCert(b.Leaf)

	tests := []struct {
		sni    string
		verify bool // verify the chain against the two self-signed roots
		want   *tls.Certificate
	}{
		{sni: "a.test", verify: true, want: a},
		{sni: "b.test", verify: true, want: b},
		{sni: "B.Test", verify: true, want: b},
		{sni: "conference.b.test", verify: true, want: b},
		{sni: "unknown.test", want: a},
		{sni: "", want: a}, // no SNI extension at all
	}
	for _, tt := range tests {
		t.Run("sni="+tt.sni, func(t *testing.T) {
			cfg := &tls.Config{ServerName: tt.sni, RootCAs: roots, NextProtos: []string{"xmpp-client"}, InsecureSkipVerify: !tt.verify}
			st, err := handshake(t, s, cfg)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if got := st.PeerCertificates[0]; !bytes.Equal(got.Raw, tt.want.Leaf.Raw) {
				t.Errorf("got certificate for %v, want %v", got.DNSNames, tt.want.Leaf.DNSNames)
			}
			if st.NegotiatedProtocol != "xmpp-client" {
				t.Errorf("ALPN = %q, want xmpp-client", st.NegotiatedProtocol)
			}
			if st.Version < tls.VersionTLS12 {
				t.Errorf("version %x", st.Version)
			}
		})
	}
}

func TestOldTLSRefused(t *testing.T) {
	s := mustLoad(t, t.TempDir(), HostCert{Domain: "a.test"})
	cfg := &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	_, err := handshake(t, s, cfg)
	if err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	// Refused for its version, not for some incidental reason.
	if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("handshake failed with %v, want a protocol version alert", err)
	}
}

func TestTLSConfig(t *testing.T) {
	s := mustLoad(t, t.TempDir(), HostCert{Domain: "a.test"})
	alpn := []string{"xmpp-client"}
	cfg := s.TLSConfig(alpn...)
	alpn[0] = "changed"
	if cfg.MinVersion != tls.VersionTLS12 || cfg.SessionTicketsDisabled || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "xmpp-client" {
		t.Errorf("config: min %x, tickets disabled %v, ALPN %q", cfg.MinVersion, cfg.SessionTicketsDisabled, cfg.NextProtos)
	}
	if s.TLSConfig().NextProtos != nil {
		t.Error("ALPN set without protocols")
	}
}

// writePair writes a certificate and key for domain to dir and returns
// their paths.
func writePair(t *testing.T, dir, domain string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := generate(domain, time.Now(), time.Now().Add(time.Hour*24*90))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, domain+".pem"), filepath.Join(dir, domain+"-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestFilesLoaded(t *testing.T) {
	files, data := t.TempDir(), t.TempDir()
	certFile, keyFile := writePair(t, files, "files.test")
	s := mustLoad(t, data, HostCert{Domain: "files.test", CertFile: certFile, KeyFile: keyFile}, HostCert{Domain: "self.test"})
	certPEM, _ := os.ReadFile(certFile)
	want, _ := pem.Decode(certPEM)
	if got := s.Certificate("files.test"); got == nil || !bytes.Equal(got.Leaf.Raw, want.Bytes) {
		t.Fatal("files.test certificate is not the one from its file")
	}
	if _, err := os.Stat(filepath.Join(data, "certs", "files.test.crt")); err == nil {
		t.Error("a self-signed certificate was made for a host with files")
	}
	if s.Certificate("self.test") == nil {
		t.Error("self.test has no certificate")
	}
}

func TestLoadErrors(t *testing.T) {
	files := t.TempDir()
	certFile, keyFile := writePair(t, files, "files.test")
	_, otherKey := writePair(t, files, "other.test")
	garbage := filepath.Join(files, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM"), 0o600)
	missing := filepath.Join(files, "missing.pem")

	tests := []struct {
		name  string
		hosts []HostCert
		want  []string // substrings of the error
	}{
		{"no hosts", nil, []string{"no hosts"}},
		{"empty domain", []HostCert{{Domain: ""}}, []string{"empty domain"}},
		{"path in domain", []HostCert{{Domain: "../etc"}}, []string{`"../etc"`}},
		{"duplicate", []HostCert{{Domain: "a.test"}, {Domain: "A.test"}}, []string{"a.test", "twice"}},
		{"missing cert", []HostCert{{Domain: "files.test", CertFile: missing, KeyFile: keyFile}}, []string{"files.test", missing}},
		{"missing key", []HostCert{{Domain: "files.test", CertFile: certFile, KeyFile: missing}}, []string{"files.test", missing}},
		{"garbage cert", []HostCert{{Domain: "files.test", CertFile: garbage, KeyFile: keyFile}}, []string{"files.test", garbage}},
		{"mismatched key", []HostCert{{Domain: "files.test", CertFile: certFile, KeyFile: otherKey}}, []string{"files.test", certFile, otherKey}},
		{"only cert", []HostCert{{Domain: "files.test", CertFile: certFile}}, []string{"files.test", "both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(t.TempDir(), tt.hosts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestUnreadableKeptFileIsAnError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads anything")
	}
	dir := t.TempDir()
	mustLoad(t, dir, HostCert{Domain: "a.test"})
	key := filepath.Join(dir, "certs", "a.test.key")
	os.Chmod(key, 0)
	if _, err := Load(dir, []HostCert{{Domain: "a.test"}}); err == nil || !strings.Contains(err.Error(), key) {
		t.Fatalf("err = %v, want one naming %s", err, key)
	}
}

// TestReload: renewed files are picked up; a broken renewal leaves the
// certificates in use as they were.
func TestReload(t *testing.T) {
	files, data := t.TempDir(), t.TempDir()
	certFile, keyFile := writePair(t, files, "files.test")
	hosts := []HostCert{{Domain: "files.test", CertFile: certFile, KeyFile: keyFile}, {Domain: "self.test"}}
	s := mustLoad(t, data, hosts...)
	first := s.Certificate("files.test")
	self := s.Certificate("self.test")
	get := s.TLSConfig().GetCertificate // taken before the reload, as listeners do

	if err := os.Rename(certFile, certFile+".old"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(hosts); err == nil {
		t.Fatal("reload without the certificate file succeeded")
	}
	if s.Certificate("files.test") != first {
		t.Fatal("a failed reload changed the certificate")
	}

	writePair(t, files, "files.test")
	if err := s.Reload(hosts); err != nil {
		t.Fatal(err)
	}
	renewed := s.Certificate("files.test")
	if bytes.Equal(renewed.Leaf.Raw, first.Leaf.Raw) {
		t.Fatal("reload kept the old certificate")
	}
	if got, _ := get(&tls.ClientHelloInfo{ServerName: "files.test"}); got != renewed {
		t.Fatal("a TLS config from before the reload does not hand out the new certificate")
	}
	if !bytes.Equal(s.Certificate("self.test").Leaf.Raw, self.Leaf.Raw) {
		t.Error("the kept self-signed certificate changed")
	}
}

// TestManagedSurvivesReload: an ACME certificate set with SetManaged
// replaces the self-signed one and stays through a reload (SIGHUP), which
// would otherwise bring the self-signed one back.
func TestManagedSurvivesReload(t *testing.T) {
	files, data := t.TempDir(), t.TempDir()
	hosts := []HostCert{{Domain: "a.test"}, {Domain: "b.test"}}
	s := mustLoad(t, data, hosts...)
	self := s.Certificate("a.test")
	certFile, keyFile := writePair(t, files, "a.test")
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetManaged("A.test", &c); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"set", "reloaded"} {
		if got := s.Certificate("a.test"); got != &c {
			t.Fatalf("%s: a.test has %v, want the managed certificate", step, got.Leaf.Subject)
		}
		// The fallback for unknown SNI is the first host's: the managed one.
		if st, err := handshake(t, s, &tls.Config{ServerName: "unknown.test", InsecureSkipVerify: true, NextProtos: []string{"xmpp-client"}}); err != nil || !bytes.Equal(st.PeerCertificates[0].Raw, c.Leaf.Raw) {
			t.Fatalf("%s: fallback handshake: %v", step, err)
		}
		if err := s.Reload(hosts); err != nil {
			t.Fatal(err)
		}
	}
	if s.Certificate("a.test") == self || s.Certificate("b.test") == nil {
		t.Error("hosts mixed up")
	}
}

// TestChallengeHandler: with a handler, direct TLS configs accept
// acme-tls/1 and such handshakes get the handler's certificate; STARTTLS
// configs (no ALPN) stay without it.
func TestChallengeHandler(t *testing.T) {
	s := mustLoad(t, t.TempDir(), HostCert{Domain: "a.test"})
	if got := s.TLSConfig("xmpp-client").NextProtos; len(got) != 1 {
		t.Fatalf("ALPN without a handler: %q", got)
	}
	certPEM, keyPEM, err := generate("a.test", time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	chal, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	s.SetChallengeHandler(func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return &chal, nil })
	if got := s.TLSConfig("xmpp-client").NextProtos; len(got) != 2 || got[1] != "acme-tls/1" {
		t.Fatalf("ALPN with a handler: %q", got)
	}
	if got := s.TLSConfig().NextProtos; got != nil {
		t.Fatalf("STARTTLS ALPN: %q", got)
	}
	st, err := handshake(t, s, &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, NextProtos: []string{"acme-tls/1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.PeerCertificates[0].Raw, chal.Certificate[0]) || st.NegotiatedProtocol != "acme-tls/1" {
		t.Error("validation handshake did not get the challenge certificate")
	}
	st, err = handshake(t, s, &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, NextProtos: []string{"xmpp-client", "acme-tls/1"}})
	if err != nil || bytes.Equal(st.PeerCertificates[0].Raw, chal.Certificate[0]) {
		t.Errorf("a client offering more than acme-tls/1 got the challenge certificate (%v)", err)
	}
}
