package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/acme/acmetest"
	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/testutil"
)

// freeAddr finds a free loopback port for a listener that pebble must
// know before the server starts (it validates on fixed ports, as a CA
// does on 80 and 443).
func freeAddr(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
}

// pebbleLeaf dials the direct TLS c2s port, verifying against pebble's
// root for name, until the server hands out pebble's certificate.
func pebbleLeaf(t *testing.T, addr, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"xmpp-client"}})
		if err == nil {
			st := c.ConnectionState()
			c.Close()
			if st.NegotiatedProtocol != "xmpp-client" {
				t.Errorf("ALPN %q, want xmpp-client", st.NegotiatedProtocol)
			}
			return st.PeerCertificates[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate from pebble on %s for %s: %v", addr, name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestACME: xmppd gets certificates from pebble through its own
// listeners, one per host covering its service names, and serves them
// on its c2s port; a reload keeps them; a restart serves the stored ones
// without ordering again.
func TestACME(t *testing.T) {
	for _, tt := range []struct {
		name string
		// listeners returns the extra listeners and [acme] keys given
		// the c2s direct TLS address and a free address, and which of
		// them pebble validates on.
		setup func(c2s, free string) (extra string, httpPort, tlsPort bool)
		// postgres keeps the ACME data in the database (skipped without
		// XMPPD_TEST_POSTGRES_DSN).
		postgres bool
	}{
		{"http-01 on the http listener", func(c2s, free string) (string, bool, bool) {
			return fmt.Sprintf("[[listen]]\ntype = \"http\"\ntls = \"none\"\naddress = %q\n[acme]\nchallenges = [\"http-01\"]\n", free), true, false
		}, false},
		{"http-01 on http_address", func(c2s, free string) (string, bool, bool) {
			return fmt.Sprintf("[acme]\nhttp_address = %q\nchallenges = [\"http-01\"]\n", free), true, false
		}, false},
		{"tls-alpn-01 on the c2s port", func(c2s, free string) (string, bool, bool) {
			return "[acme]\nchallenges = [\"tls-alpn-01\"]\n", false, true
		}, false},
		{"tls-alpn-01, storage in PostgreSQL", func(c2s, free string) (string, bool, bool) {
			return "[acme]\nchallenges = [\"tls-alpn-01\"]\nstorage_backend = \"database\"\n", false, true
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var storage string
			if tt.postgres {
				storage = testutil.PostgresStorage(t, "xmppd_acme_")
			}
			c2sAddr, c2sPort := freeAddr(t)
			free, freePort := freeAddr(t)
			extra, onHTTP, onTLS := tt.setup(c2sAddr, free)
			var o acmetest.Options
			if onHTTP {
				o.HTTPPort = freePort
			}
			if onTLS {
				o.TLSPort = c2sPort
			}
			p := acmetest.Start(t, o)
			dir := t.TempDir()
			// What both runs have before [storage]: two hosts, a c2s
			// listener and a direct-TLS one on direct.
			hosts := func(direct string) string {
				return fmt.Sprintf(`
data_dir = %q
[[host]]
domain = "localhost"
[[host]]
domain = "example.test"
[[listen]]
type = "c2s"
address = "127.0.0.1:0"
[[listen]]
type = "c2s"
tls = "direct"
address = %q
`, dir, direct)
			}
			// [acme] comes last: its keys follow the table header.
			conf := hosts(c2sAddr) + storage + extra + fmt.Sprintf("email = \"admin@example.test\"\ndirectory = %q\nca_file = %q\n", p.Directory, p.CAFile)

			s := testutil.StartIn(t, dir, conf)
			leaf := pebbleLeaf(t, s.DirectTLS, "example.test", p.Issuer)
			for _, name := range []string{"example.test", "conference.example.test", "pubsub.example.test"} {
				if err := leaf.VerifyHostname(name); err != nil {
					t.Errorf("certificate does not cover %s: %v", name, err)
				}
			}
			// The other host has its own, with its own names.
			if other := pebbleLeaf(t, s.DirectTLS, "conference.localhost", p.Issuer); other.VerifyHostname("example.test") == nil {
				t.Error("localhost's certificate covers example.test")
			}
			issued := p.Finalized.Load()
			if issued != 2 {
				t.Errorf("%d certificates issued, want 2 (one per host)", issued)
			}

			// SIGHUP: the hosts' files are read again; the ACME
			// certificates stay.
			cfg, err := config.Parse([]byte(conf), "reload.toml")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Reload(cfg); err != nil {
				t.Fatal(err)
			}
			if got := pebbleLeaf(t, s.DirectTLS, "example.test", p.Issuer); !got.Equal(leaf) {
				t.Error("reload changed the certificate")
			}
			s.Stop(t)

			// Restart on the same data folder: the stored certificate
			// is served from the first handshake on.
			conf2 := hosts("127.0.0.1:0") + storage + fmt.Sprintf(`
[acme]
email = "admin@example.test"
directory = %q
ca_file = %q
challenges = ["tls-alpn-01"]
`, p.Directory, p.CAFile)
			if tt.postgres {
				conf2 += "storage_backend = \"database\"\n"
				// The folder is not where the certificates are.
				if _, err := os.Stat(filepath.Join(dir, "acme")); err == nil {
					t.Error("ACME data written to the data folder with storage_backend = \"database\"")
				}
			}
			s2 := testutil.StartIn(t, dir, conf2)
			c, err := tls.Dial("tcp", s2.DirectTLS, &tls.Config{ServerName: "example.test", RootCAs: p.Issuer})
			if err != nil {
				t.Fatalf("first handshake after a restart: %v", err)
			}
			if got := c.ConnectionState().PeerCertificates[0]; !got.Equal(leaf) {
				t.Error("restart served another certificate than the stored one")
			}
			c.Close()
			if n := p.Finalized.Load(); n != issued {
				t.Errorf("the restart ordered %d more certificates", n-issued)
			}
		})
	}
}
