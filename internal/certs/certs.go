// Package certs provides the TLS certificates of the virtual hosts: files
// from the configuration, or the one kept in the data folder (a CA's that
// Import put there, else a self-signed one made on first start), replaced
// by an ACME client's through SetManaged.
//
// CONTRACT: the exported API below is what internal/server codes against.
package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HostCert says where one virtual host's certificate comes from.
type HostCert struct {
	Domain   string
	CertFile string // "" = self-signed under Dir
	KeyFile  string
}

// Store holds one certificate per host and picks by SNI. Reload swaps the
// whole set at once; handshakes read it without a lock.
type Store struct {
	dir string
	set atomic.Pointer[certSet]

	// mu serializes the writers (Reload, SetManaged); managed are the
	// certificates an ACME client installed, which replace a host's file
	// or self-signed one in every set made after.
	mu      sync.Mutex
	managed map[string]*tls.Certificate
	// challenge answers ACME TLS-ALPN-01 handshakes (RFC 8737); set
	// before the listeners start, nil without ACME.
	challenge func(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// acmeTLS1 is the ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737 §6.2).
const acmeTLS1 = "acme-tls/1"

// certSet is one loaded generation of certificates, never changed after
// it is made.
type certSet struct {
	order  []*tls.Certificate          // configuration order; [0] is the fallback
	byName map[string]*tls.Certificate // lowercased domain -> certificate
}

// SelfSignedValidity is how long a generated certificate is valid.
//
// Ten years, not one: a self-signed certificate is only ever trusted by
// pinning it (clients such as Gajim or Conversations ask once and remember
// it), so every renewal re-prompts every user and teaches them to click
// "accept" on changed certificates — the opposite of what pinning is for.
// Short lifetimes protect against key compromise only when revocation and
// automated renewal exist, and neither does for a dev default; anyone who
// needs that should configure a CA-issued certificate (cert_file/key_file).
const SelfSignedValidity = 10 * 365 * 24 * time.Hour

// renewBefore: a self-signed certificate this close to expiry is replaced
// at start, so a server restarted now does not expire while it runs.
const renewBefore = 30 * 24 * time.Hour

// Load loads (or creates, for hosts without files) every host's certificate.
// Self-signed ones are ECDSA P-256, valid for the domain and *.domain,
// written to dir/certs/<domain>.crt and .key (key 0600) and reused on the
// next start.
//
// A self-signed pair that is missing, unreadable as a certificate, expired
// (or within 30 days of it) or not valid for the domain is regenerated;
// dir/certs is ours, so overwriting there is safe. Configured files are
// never modified: a problem with them is an error naming domain and file.
func Load(dir string, hosts []HostCert) (*Store, error) {
	set, err := load(dir, hosts)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir}
	s.set.Store(set)
	return s, nil
}

// Reload loads every host's certificate again, as Load does (files
// renewed in place, say by an ACME client, or other files), and swaps
// them in together: new handshakes get the new certificates, established
// connections keep theirs. On an error nothing changes.
func (s *Store) Reload(hosts []HostCert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := load(s.dir, hosts)
	if err != nil {
		return err
	}
	s.set.Store(set.with(s.managed))
	return nil
}

// SetManaged installs a certificate obtained by ACME for a host: new
// handshakes get it at once, and it stays across Reload (which would
// otherwise bring back the self-signed one) until replaced by the next
// renewal. Unknown domains are ignored.
func (s *Store) SetManaged(domain string, c *tls.Certificate) error {
	if err := ensureLeaf(c); err != nil {
		return fmt.Errorf("host %s: %w", domain, err)
	}
	domain = normalize(domain)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.managed == nil {
		s.managed = map[string]*tls.Certificate{}
	}
	s.managed[domain] = c
	if set := s.set.Load(); set != nil {
		s.set.Store(set.with(s.managed))
	}
	return nil
}

// SetChallengeHandler makes handshakes that offer only ALPN "acme-tls/1"
// (an ACME server validating TLS-ALPN-01) get their certificate from f,
// and TLS configs with ALPN protocols accept "acme-tls/1". Call it before
// TLSConfig.
func (s *Store) SetChallengeHandler(f func(*tls.ClientHelloInfo) (*tls.Certificate, error)) {
	s.challenge = f
}

// with returns a copy of s with the managed certificates in place of the
// loaded ones of the same domains.
func (s *certSet) with(managed map[string]*tls.Certificate) *certSet {
	if len(managed) == 0 {
		return s
	}
	out := &certSet{order: slices.Clone(s.order), byName: make(map[string]*tls.Certificate, len(s.byName))}
	for name, c := range s.byName {
		if m := managed[name]; m != nil {
			for i := range out.order {
				if out.order[i] == c {
					out.order[i] = m
				}
			}
			c = m
		}
		out.byName[name] = c
	}
	return out
}

func load(dir string, hosts []HostCert) (*certSet, error) {
	if len(hosts) == 0 {
		return nil, errors.New("no hosts")
	}
	s := &certSet{byName: make(map[string]*tls.Certificate, len(hosts))}
	for _, h := range hosts {
		domain := normalize(h.Domain)
		if err := checkDomain(domain); err != nil {
			return nil, err
		}
		if _, dup := s.byName[domain]; dup {
			return nil, fmt.Errorf("host %s: listed twice", domain)
		}
		var (
			c   *tls.Certificate
			err error
		)
		if h.CertFile != "" || h.KeyFile != "" {
			c, err = loadFiles(domain, h.CertFile, h.KeyFile)
		} else {
			c, err = selfSigned(filepath.Join(dir, "certs"), domain, time.Now())
		}
		if err != nil {
			return nil, err
		}
		s.order = append(s.order, c)
		s.byName[domain] = c
	}
	return s, nil
}

// TLSConfig returns a server config: TLS 1.2 minimum, GetCertificate by SNI
// (unknown or absent SNI: the first host's certificate), the given ALPN
// protocols (e.g. "xmpp-client" for XEP-0368), session tickets on.
//
// Note that crypto/tls refuses a client that offers ALPN protocols none of
// which is in alpn (RFC 7301 §3.2); clients that offer none are fine.
//
// With a challenge handler (SetChallengeHandler), a config with ALPN
// protocols accepts "acme-tls/1" too: those are the direct TLS listeners,
// which the CA reaches on port 443. STARTTLS configs (no ALPN) stay
// without, since a client offering only "xmpp-client" would otherwise be
// refused there.
func (s *Store) TLSConfig(alpn ...string) *tls.Config {
	protos := slices.Clone(alpn)
	if s.challenge != nil && len(protos) > 0 {
		protos = append(protos, acmeTLS1)
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.getCertificate,
		NextProtos:     protos,
		// Session tickets are on by default in crypto/tls, which also
		// rotates the ticket keys; stated here so nobody "hardens" it
		// away: resumption saves mobile clients a full handshake.
		SessionTicketsDisabled: false,
	}
}

// Certificate returns the certificate for a domain (nil if unknown).
func (s *Store) Certificate(domain string) *tls.Certificate {
	if set := s.set.Load(); set != nil {
		return set.byName[normalize(domain)]
	}
	return nil
}

func (s *Store) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	set := s.set.Load()
	if set == nil { // a zero Store, not from Load
		return nil, errors.New("certs: no certificates")
	}
	// RFC 8737 §3: the validation handshake offers exactly one protocol,
	// acme-tls/1, and must get the challenge certificate.
	if s.challenge != nil && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmeTLS1 {
		return s.challenge(hello)
	}
	return set.getCertificate(hello)
}

func (s *certSet) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalize(hello.ServerName)
	if c := s.byName[name]; c != nil {
		return c, nil
	}
	// A subdomain (conference.example.org) is served by its parent's
	// certificate when that covers it, as the self-signed *.domain does.
	if _, parent, ok := strings.Cut(name, "."); ok {
		if c := s.byName[parent]; c != nil && c.Leaf != nil && c.Leaf.VerifyHostname(name) == nil {
			return c, nil
		}
	}
	// Unknown or no SNI (e.g. a client connecting by IP address): the
	// first host's certificate; the client decides whether it is enough.
	if len(s.order) == 0 { // a zero Store, not from Load
		return nil, errors.New("certs: no certificates")
	}
	return s.order[0], nil
}

func normalize(domain string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
}

// checkDomain refuses names that would escape dir/certs when used as a
// file name; fuller syntax checks are the configuration's job.
func checkDomain(domain string) error {
	if domain == "" {
		return errors.New("host with an empty domain")
	}
	if strings.ContainsAny(domain, `/\`+"\x00") || strings.HasPrefix(domain, ".") {
		return fmt.Errorf("host %q: not a valid domain", domain)
	}
	return nil
}

// loadFiles reads a configured pair. The files are read separately (not
// with tls.LoadX509KeyPair) so that every error says which file is wrong.
func loadFiles(domain, certFile, keyFile string) (*tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("host %s: cert_file and key_file must both be set", domain)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("host %s: certificate: %w", domain, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("host %s: key: %w", domain, err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("host %s: certificate %s with key %s: %w", domain, certFile, keyFile, err)
	}
	if err := ensureLeaf(&c); err != nil {
		return nil, fmt.Errorf("host %s: certificate %s: %w", domain, certFile, err)
	}
	return &c, nil
}

// selfSigned returns the kept certificate for domain from dir, or makes,
// writes and returns a new one.
func selfSigned(dir, domain string, now time.Time) (*tls.Certificate, error) {
	certFile := filepath.Join(dir, domain+".crt")
	keyFile := filepath.Join(dir, domain+".key")
	certPEM, errC := os.ReadFile(certFile)
	keyPEM, errK := os.ReadFile(keyFile)
	for _, err := range []error{errC, errK} {
		// Missing is normal on first start; anything else (permissions)
		// needs a human, not a silent overwrite.
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("host %s: self-signed certificate: %w", domain, err)
		}
	}
	if errC == nil && errK == nil {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err == nil && ensureLeaf(&c) == nil {
			if usable(c.Leaf, domain, now) {
				return &c, nil
			}
			// One put here by Import (a CA's): never silently replaced by
			// a self-signed one, which every client would then refuse.
			if !generated(c.Leaf) && c.Leaf.VerifyHostname(domain) == nil {
				if now.After(c.Leaf.NotAfter) {
					return nil, fmt.Errorf("host %s: imported certificate %s expired on %s: import a new one (xmppd cert import) or delete %s and its .key for a self-signed one",
						domain, certFile, c.Leaf.NotAfter.UTC().Format(time.DateOnly), certFile)
				}
				return &c, nil
			}
		}
	}

	certPEM, keyPEM, err := generate(domain, now, now.Add(SelfSignedValidity))
	if err != nil {
		return nil, fmt.Errorf("host %s: generate self-signed certificate: %w", domain, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("host %s: %w", domain, err)
	}
	// Key first: a crash between the two writes leaves a pair that does not
	// match, which the next start detects and regenerates.
	if err := writeFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("host %s: %w", domain, err)
	}
	if err := writeFile(certFile, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("host %s: %w", domain, err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("host %s: generated certificate: %w", domain, err)
	}
	if err := ensureLeaf(&c); err != nil {
		return nil, fmt.Errorf("host %s: generated certificate: %w", domain, err)
	}
	return &c, nil
}

// selfSignedOrg marks the certificates generate makes.
const selfSignedOrg = "xmppd self-signed"

// generated reports whether leaf is one of ours (generate), as opposed to
// a CA's that Import put in the folder.
func generated(leaf *x509.Certificate) bool {
	return slices.Contains(leaf.Subject.Organization, selfSignedOrg) && bytes.Equal(leaf.RawIssuer, leaf.RawSubject)
}

// usable reports whether a kept certificate may be reused.
func usable(leaf *x509.Certificate, domain string, now time.Time) bool {
	return leaf.VerifyHostname(domain) == nil &&
		!now.Before(leaf.NotBefore) &&
		now.Add(renewBefore).Before(leaf.NotAfter)
}

// generate makes a self-signed ECDSA P-256 certificate and its PKCS #8 key,
// PEM-encoded.
func generate(domain string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: domain, Organization: []string{selfSignedOrg}},
		// An hour back: a client whose clock is a little behind must not
		// see a certificate from the future.
		NotBefore: notBefore.Add(-time.Hour),
		NotAfter:  notAfter,
		KeyUsage:  x509.KeyUsageDigitalSignature,
		// ClientAuth too: server-to-server links present the server's
		// certificate as a client certificate (SASL EXTERNAL, XEP-0178).
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(domain); ip != nil {
		tmpl.IPAddresses = []net.IP{ip} // an IP literal has no subdomains
	} else {
		tmpl.DNSNames = []string{domain, "*." + domain}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// ensureLeaf makes sure c.Leaf is set (crypto/tls does since Go 1.23, but
// SNI matching must not depend on it silently).
func ensureLeaf(c *tls.Certificate) error {
	if c.Leaf != nil {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return err
	}
	c.Leaf = leaf
	return nil
}

// writeFile writes atomically (temporary file, then rename), so a crash
// never leaves a truncated key behind. os.CreateTemp makes the file 0600,
// so a key is never readable by others, not even briefly.
func writeFile(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
