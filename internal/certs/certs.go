// Package certs provides the TLS certificates of the virtual hosts: files
// from the configuration, or a self-signed certificate made on first start
// and kept in the data folder.
//
// CONTRACT: the exported API below is what internal/server codes against.
package certs

import "crypto/tls"

// HostCert says where one virtual host's certificate comes from.
type HostCert struct {
	Domain   string
	CertFile string // "" = self-signed under Dir
	KeyFile  string
}

// Store holds one certificate per host and picks by SNI.
type Store struct {
	// implementation-defined
}

// Load loads (or creates, for hosts without files) every host's certificate.
// Self-signed ones are ECDSA P-256, valid for the domain and *.domain,
// written to dir/certs/<domain>.crt and .key (key 0600) and reused on the
// next start.
func Load(dir string, hosts []HostCert) (*Store, error)

// TLSConfig returns a server config: TLS 1.2 minimum, GetCertificate by SNI
// (unknown or absent SNI: the first host's certificate), the given ALPN
// protocols (e.g. "xmpp-client" for XEP-0368), session tickets on.
func (s *Store) TLSConfig(alpn ...string) *tls.Config

// Certificate returns the certificate for a domain (nil if unknown).
func (s *Store) Certificate(domain string) *tls.Certificate
