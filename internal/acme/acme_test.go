package acme

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/libdns/libdns"
	acmeproto "github.com/mholt/acmez/v3/acme"
	"github.com/xmppd/xmppd/internal/acme/acmetest"
	"github.com/xmppd/xmppd/internal/certs"
)

// wait bounds how long a test waits for pebble to issue: long enough for
// a loaded machine, and only reached when something is broken.
const wait = 2 * time.Minute

var _ = wait

func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("XMPPD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// listen binds a loopback port; port returns it.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// serveHTTP answers HTTP-01 on ln through m (404 for the rest), as the
// server's plain http listener does.
func serveHTTP(t *testing.T, ln net.Listener, m *Manager) {
	srv := &http.Server{Handler: m.HTTPHandler(http.NotFoundHandler()), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// installs collects what a Manager installs.
type installs chan *tls.Certificate

func (ch installs) install(domain string, c *tls.Certificate) error {
	ch <- c
	return nil
}

func (ch installs) next(t *testing.T) *tls.Certificate {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(wait):
		t.Fatal("no certificate installed")
		return nil
	}
}

var host = Host{Domain: "example.test", Names: []string{"example.test", "conference.example.test", "pubsub.example.test"}}

// issuedByPebble checks that c is a certificate pebble issued for every
// name of host.
func issuedByPebble(t *testing.T, p *acmetest.Pebble, leaf *x509.Certificate, inter []*x509.Certificate) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range inter {
		pool.AddCert(c)
	}
	for _, n := range host.Names {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: p.Issuer, Intermediates: pool}); err != nil {
			t.Errorf("certificate does not verify for %s with pebble's root: %v", n, err)
		}
	}
}

func chain(t *testing.T, c *tls.Certificate) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, der := range c.Certificate[1:] {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func newManager(t *testing.T, p *acmetest.Pebble, storage string, cfg Config) *Manager {
	t.Helper()
	return newManagerOn(t, p, &certmagic.FileStorage{Path: storage}, cfg)
}

func newManagerOn(t *testing.T, p *acmetest.Pebble, storage certmagic.Storage, cfg Config) *Manager {
	t.Helper()
	cfg.Email = "admin@example.test"
	cfg.Directory = p.Directory
	cfg.Roots = p.Roots
	cfg.Hosts = []Host{host}
	cfg.Storage = storage
	cfg.Log = testLog(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// TestHTTP01ObtainRenewRestart: a certificate for the host and its
// service names through HTTP-01; renewed when due without a restart; a
// restarted manager serves the stored one at once and orders nothing.
func TestHTTP01ObtainRenewRestart(t *testing.T) {
	ln := listen(t)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: port(ln)})
	storage := t.TempDir()
	got := make(installs, 4)
	m := newManager(t, p, storage, Config{HTTPAddress: ln.Addr().String(), Install: got.install})
	serveHTTP(t, ln, m)
	m.Start(context.Background())

	first := got.next(t)
	issuedByPebble(t, p, first.Leaf, chain(t, first))
	// The account was registered with the contact address.
	var account bool
	filepath.WalkDir(storage, func(path string, d fs.DirEntry, err error) error {
		account = account || (err == nil && d.IsDir() && d.Name() == "admin@example.test")
		return nil
	})
	if !account {
		t.Error("no ACME account stored for admin@example.test")
	}
	if n := p.Finalized.Load(); n != 1 {
		t.Errorf("%d certificates issued, want 1", n)
	}

	m.Close()

	// Renewal in the background: a manager whose clock is at the
	// renewal time installs the stored certificate at Start, then
	// renews it without being asked.
	got = make(installs, 4)
	m = newManager(t, p, storage, Config{HTTPAddress: ln.Addr().String(), Install: got.install})
	m.now = func() time.Time { return renewAt(first.Leaf).Add(time.Second) }
	// The listener still answers through the first manager: the
	// challenge is found in the shared storage, as on another node.
	m.Start(context.Background())
	if c := got.next(t); !bytes.Equal(c.Leaf.Raw, first.Leaf.Raw) {
		t.Fatal("Start did not install the stored certificate first")
	}
	renewed := got.next(t)
	if bytes.Equal(renewed.Leaf.Raw, first.Leaf.Raw) {
		t.Fatal("renewal installed the same certificate")
	}
	issuedByPebble(t, p, renewed.Leaf, chain(t, renewed))
	if n := p.Finalized.Load(); n != 2 {
		t.Errorf("%d certificates issued, want 2", n)
	}
	m.Close()

	// A restart: the stored certificate is installed by Start itself,
	// before any order.
	again := make(installs, 4)
	m2 := newManager(t, p, storage, Config{HTTPAddress: ln.Addr().String(), Install: again.install})
	m2.Start(context.Background())
	select {
	case c := <-again:
		if !bytes.Equal(c.Leaf.Raw, renewed.Leaf.Raw) {
			t.Error("restart installed another certificate than the stored one")
		}
	default:
		t.Fatal("Start did not install the stored certificate")
	}
	m2.Close()
	if n := p.Finalized.Load(); n != 2 {
		t.Errorf("%d certificates issued after the restart, want still 2", n)
	}
}

// TestTLSALPN01ThroughCertsStore: the challenge is answered by a direct
// TLS listener serving internal/certs' config (ALPN xmpp-client plus
// acme-tls/1), and the certificate lands in that store: the next
// handshake there gets pebble's certificate instead of the self-signed
// one.
func TestTLSALPN01ThroughCertsStore(t *testing.T) {
	ln := listen(t)
	p := acmetest.Start(t, acmetest.Options{TLSPort: port(ln)})
	store, err := certs.Load(t.TempDir(), []certs.HostCert{{Domain: "example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(installs, 4)
	m := newManager(t, p, t.TempDir(), Config{TLSALPNAddress: ln.Addr().String(), Install: func(d string, c *tls.Certificate) error {
		if err := store.SetManaged(d, c); err != nil {
			return err
		}
		return got.install(d, c)
	}})
	store.SetChallengeHandler(m.ChallengeCertificate)
	tlsLn := tls.NewListener(ln, store.TLSConfig("xmpp-client"))
	go func() {
		for {
			c, err := tlsLn.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.(*tls.Conn).Handshake()
			}()
		}
	}()
	m.Start(context.Background())
	got.next(t)

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "conference.example.test", RootCAs: p.Issuer, NextProtos: []string{"xmpp-client"}})
	if err != nil {
		t.Fatalf("handshake verified against pebble's root: %v", err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	issuedByPebble(t, p, st.PeerCertificates[0], st.PeerCertificates[1:])
	if st.NegotiatedProtocol != "xmpp-client" {
		t.Errorf("ALPN %q", st.NegotiatedProtocol)
	}
}

// TestClusterRenewsOnce: two nodes sharing the storage folder, started
// together, end up with one certificate, ordered once. The CA reaches
// only node A's listener; whichever node orders, the challenge is in the
// shared storage, where A finds it.
func TestClusterRenewsOnce(t *testing.T) {
	ln := listen(t)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: port(ln)})
	storage := t.TempDir()
	gotA, gotB := make(installs, 4), make(installs, 4)
	a := newManager(t, p, storage, Config{HTTPAddress: ln.Addr().String(), Install: gotA.install})
	b := newManager(t, p, storage, Config{HTTPAddress: ln.Addr().String(), Install: gotB.install})
	serveHTTP(t, ln, a)
	a.Start(context.Background())
	b.Start(context.Background())
	ca, cb := gotA.next(t), gotB.next(t)
	if !bytes.Equal(ca.Leaf.Raw, cb.Leaf.Raw) {
		t.Error("the two nodes use different certificates")
	}
	if n := p.Finalized.Load(); n != 1 {
		t.Errorf("%d certificates issued, want 1", n)
	}
}

// TestDNS01Command: the TXT record is set by the configured program.
func TestDNS01Command(t *testing.T) {
	txt := t.TempDir()
	p := acmetest.Start(t, acmetest.Options{TXTDir: txt})
	script := filepath.Join(t.TempDir(), "dns-hook")
	// present NAME VALUE writes the record, cleanup removes it.
	body := "#!/bin/sh\nset -e\ncase \"$1\" in\npresent) printf '%s' \"$3\" > " + strconv.Quote(txt) + "/\"$2\" ;;\ncleanup) rm -f " + strconv.Quote(txt) + "/\"$2\" ;;\n*) exit 2 ;;\nesac\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	got := make(installs, 4)
	m := newManager(t, p, t.TempDir(), Config{DNS01: CommandSolver{Command: script}, Install: got.install})
	m.Start(context.Background())
	c := got.next(t)
	issuedByPebble(t, p, c.Leaf, chain(t, c))
	left, _ := os.ReadDir(txt)
	if len(left) != 0 {
		t.Errorf("records not cleaned up: %v", left)
	}
}

// TestDNSCommandError: a failing hook's output is in the error.
func TestDNSCommandError(t *testing.T) {
	script := filepath.Join(t.TempDir(), "dns-hook")
	os.WriteFile(script, []byte("#!/bin/sh\necho 'zone example.test: permission denied' >&2\nexit 1\n"), 0o755)
	err := CommandSolver{Command: script}.run(context.Background(), "present", acmeChallenge("example.test"))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("permission denied")) || !bytes.Contains([]byte(err.Error()), []byte("_acme-challenge.example.test.")) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	st := &certmagic.FileStorage{Path: t.TempDir()}
	inst := func(string, *tls.Certificate) error { return nil }
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"no storage", Config{Install: inst, HTTPAddress: ":80"}},
		{"no install", Config{Storage: st, HTTPAddress: ":80"}},
		{"no challenge", Config{Storage: st, Install: inst}},
		{"bad address", Config{Storage: st, Install: inst, HTTPAddress: "80"}},
	} {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if !slices.Equal(host.Names[:1], []string{host.Domain}) {
		t.Fatal("test host")
	}
}

func acmeChallenge(name string) acmeproto.Challenge {
	return acmeproto.Challenge{Type: "dns-01", Identifier: acmeproto.Identifier{Type: "dns", Value: name}, KeyAuthorization: "token.thumbprint"}
}

// zoneProvider is a libdns provider (certmagic.DNSProvider) for the
// test DNS server: what a provider module (Cloudflare, RFC 2136, ...)
// does against a real zone.
type zoneProvider struct{ p *acmetest.Pebble }

func (z zoneProvider) AppendRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		rr := r.RR()
		z.p.SetTXT(libdns.AbsoluteName(rr.Name, zone), rr.Data)
	}
	return recs, nil
}

func (z zoneProvider) DeleteRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		z.p.SetTXT(libdns.AbsoluteName(r.RR().Name, zone))
	}
	return recs, nil
}

// TestDNS01Libdns: the plumbing for libdns providers: certmagic's
// DNS01Solver as Config.DNS01, finding the zone and setting the record
// through the provider.
func TestDNS01Libdns(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	solver := &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
		DNSProvider: zoneProvider{p},
		Resolvers:   []string{p.DNSAddr},
		// The test server is the zone's only server: nothing to wait for.
		PropagationTimeout: -1,
	}}
	got := make(installs, 4)
	m := newManager(t, p, t.TempDir(), Config{DNS01: solver, Install: got.install})
	m.Start(context.Background())
	c := got.next(t)
	issuedByPebble(t, p, c.Leaf, chain(t, c))
}

// TestPublicCARefusesLocalNames: names no public CA issues for are
// refused before anything is sent to Let's Encrypt.
func TestPublicCARefusesLocalNames(t *testing.T) {
	m, err := New(Config{
		Email: "admin@example.org", Directory: "https://acme-v02.api.letsencrypt.org/directory",
		Hosts:   []Host{{Domain: "localhost", Names: []string{"localhost", "conference.localhost"}}},
		Storage: &certmagic.FileStorage{Path: t.TempDir()}, HTTPAddress: "127.0.0.1:80",
		Install: func(string, *tls.Certificate) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.obtain(t.Context(), m.cfg.Hosts[0]); err == nil || !strings.Contains(err.Error(), "does not qualify for a public certificate") {
		t.Fatalf("err = %v", err)
	}
}
