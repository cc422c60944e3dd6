// Package acme obtains and renews the hosts' certificates from an ACME CA
// (RFC 8555) such as Let's Encrypt, with certmagic's ACME client, account
// handling, challenge solvers and storage.
//
// certmagic manages one certificate per name; xmppd wants one per host
// covering the host and its service names (conference., upload.,
// pubsub.), so this package keeps the certificates itself: it asks
// certmagic's issuer for a multi-name certificate, stores it in a
// certmagic.Storage, and renews it under that storage's lock, so that
// nodes sharing the storage renew once and the others pick up the result.
package acme

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
)

// Host is one certificate to keep: Domain names it (and is the key in
// storage and for Install), Names are the DNS names it covers, Domain
// first.
type Host struct {
	Domain string
	Names  []string
}

// Config configures a Manager.
type Config struct {
	Email     string
	Directory string         // the CA's ACME directory URL
	Roots     *x509.CertPool // trusted for the directory's HTTPS; nil = system roots
	Hosts     []Host
	// Storage keeps the account, the certificates and their keys, and
	// provides the lock that makes one node of a cluster renew a
	// certificate (certmagic.FileStorage on a shared folder, or any other
	// certmagic.Storage).
	Storage certmagic.Storage

	// HTTPAddress is the host:port of the listener that answers HTTP-01
	// challenges through HTTPHandler (the CA connects to port 80 of each
	// name); "" disables HTTP-01.
	HTTPAddress string
	// TLSALPNAddress is the host:port of a direct TLS listener whose
	// handshakes go to ChallengeCertificate (the CA connects to port 443);
	// "" disables TLS-ALPN-01.
	TLSALPNAddress string
	// DNS01 solves DNS-01 challenges; nil disables them. Any libdns
	// provider fits through &certmagic.DNS01Solver{DNSManager:
	// certmagic.DNSManager{DNSProvider: provider}}; CommandSolver runs a
	// program.
	DNS01 acmez.Solver

	// Install puts a host's new certificate in use.
	Install func(domain string, c *tls.Certificate) error
	Log     *slog.Logger

	// CheckInterval is the most time between two looks at the
	// certificates (default 1h); a certificate due sooner is looked at
	// when it is due. RetryInterval is the first wait after a failure
	// (default 1m), doubled at each failure up to CheckInterval.
	CheckInterval time.Duration
	RetryInterval time.Duration
}

// Manager keeps the hosts' certificates valid.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	now    func() time.Time // tests move time

	mu        sync.Mutex
	installed map[string][]byte // domain -> leaf DER in use

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// New makes a Manager; nothing is fetched until Start.
func New(cfg Config) (*Manager, error) {
	if cfg.Storage == nil {
		return nil, errors.New("acme: no storage")
	}
	if cfg.Install == nil {
		return nil, errors.New("acme: no Install")
	}
	if cfg.HTTPAddress == "" && cfg.TLSALPNAddress == "" && cfg.DNS01 == nil {
		return nil, errors.New("acme: no challenge type can be answered")
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Hour
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: cfg.Log, now: time.Now, installed: map[string][]byte{}}
	zl := zapLogger(cfg.Log)
	// The cache is certmagic's home for managed certificates; none are
	// managed by certmagic here, but its Config needs one (and stops its
	// goroutine in Close).
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		Logger:           zl,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{Storage: cfg.Storage, Logger: zl})
	tmpl := certmagic.ACMEIssuer{
		CA:           cfg.Directory,
		TestCA:       cfg.Directory, // never fall back to Let's Encrypt staging behind the operator's back
		Email:        cfg.Email,
		Agreed:       true, // setting an email in [acme] is the operator's agreement
		TrustedRoots: cfg.Roots,
		DNS01Solver:  cfg.DNS01,
		Logger:       zl,
	}
	var err error
	if tmpl.ListenHost, tmpl.AltHTTPPort, err = hostPort(cfg.HTTPAddress); err != nil {
		return nil, fmt.Errorf("acme: http-01 address: %w", err)
	}
	tmpl.DisableHTTPChallenge = cfg.HTTPAddress == ""
	var tlsHost string
	if tlsHost, tmpl.AltTLSALPNPort, err = hostPort(cfg.TLSALPNAddress); err != nil {
		return nil, fmt.Errorf("acme: tls-alpn-01 address: %w", err)
	}
	tmpl.DisableTLSALPNChallenge = cfg.TLSALPNAddress == ""
	if tmpl.ListenHost == "" {
		tmpl.ListenHost = tlsHost
	}
	// certmagic's solvers first try to listen on ListenHost and the port
	// themselves; our listener holds it, so they find it taken, see that
	// it answers, and leave the challenge to HTTPHandler and
	// ChallengeCertificate (and, through the storage, to whichever node
	// of a cluster the CA reaches).
	m.issuer = certmagic.NewACMEIssuer(m.magic, tmpl)
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// hostPort splits a listener address for certmagic ("" = unset).
func hostPort(addr string) (string, int, error) {
	if addr == "" {
		return "", 0, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = ""
	}
	return host, p, nil
}

// HTTPHandler answers HTTP-01 challenges (/.well-known/acme-challenge/,
// RFC 8555 §8.3) and passes every other request to next.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	return m.issuer.HTTPChallengeHandler(next)
}

// ChallengeCertificate answers a TLS-ALPN-01 validation handshake (RFC
// 8737 §3) with the challenge certificate.
func (m *Manager) ChallengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.magic.GetCertificate(hello)
}

// Start installs the certificates already in storage that are still
// valid (so a restart serves them at once), then keeps every host's
// certificate obtained and renewed in the background until Close.
func (m *Manager) Start(ctx context.Context) {
	for _, h := range m.cfg.Hosts {
		if c, err := m.load(ctx, h); err == nil && m.now().Before(c.Leaf.NotAfter) {
			m.install(h, c)
		}
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.done = make(chan struct{})
	go m.run(ctx)
}

// Close stops the renewals; an order in progress is abandoned.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		if m.cancel != nil {
			m.cancel()
			<-m.done
		}
		m.cache.Stop()
	})
}

func (m *Manager) run(ctx context.Context) {
	defer close(m.done)
	retry := m.cfg.RetryInterval
	for {
		wait, err := m.maintainAll(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait = min(retry, wait)
			m.log.Error("acme: certificate not obtained; will retry", "retry_in", wait, "err", err)
			retry = min(retry*2, m.cfg.CheckInterval)
		} else {
			retry = m.cfg.RetryInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// maintainAll looks at every host's certificate once and returns when to
// look again; the error joins the hosts' failures.
func (m *Manager) maintainAll(ctx context.Context) (time.Duration, error) {
	wait := m.cfg.CheckInterval
	var errs []error
	for _, h := range m.cfg.Hosts {
		c, err := m.maintain(ctx, h)
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", h.Domain, err))
			continue
		}
		if d := renewAt(c.Leaf).Sub(m.now()); d < wait {
			wait = max(d, time.Minute)
		}
	}
	return wait, errors.Join(errs...)
}

// renewAt is when a certificate is renewed: with a third of its lifetime
// left, as Let's Encrypt advises (and certmagic does), which leaves a
// 90-day certificate 30 days of retries.
func renewAt(leaf *x509.Certificate) time.Time {
	return leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
}

// due reports whether c must be replaced: renewal time, or a name of the
// host it does not cover (a service switched on since it was issued).
func (m *Manager) due(h Host, c *tls.Certificate) bool {
	for _, n := range h.Names {
		if c.Leaf.VerifyHostname(n) != nil {
			return true
		}
	}
	return !m.now().Before(renewAt(c.Leaf))
}

// maintain makes sure the host has a certificate that is not due, from
// storage if one is there, else from the CA, and installs it.
func (m *Manager) maintain(ctx context.Context, h Host) (*tls.Certificate, error) {
	if c, err := m.load(ctx, h); err == nil && !m.due(h, c) {
		m.install(h, c)
		return c, nil
	}
	// Only the lock holder orders; a node that waited for the lock looks
	// at the storage again and finds what the holder stored.
	lock := "xmppd_cert_" + h.Domain
	if err := m.cfg.Storage.Lock(ctx, lock); err != nil {
		return nil, fmt.Errorf("storage lock: %w", err)
	}
	defer func() {
		if err := m.cfg.Storage.Unlock(context.WithoutCancel(ctx), lock); err != nil {
			m.log.Error("acme: storage unlock", "lock", lock, "err", err)
		}
	}()
	if c, err := m.load(ctx, h); err == nil && !m.due(h, c) {
		m.install(h, c)
		return c, nil
	}
	c, err := m.obtain(ctx, h)
	if err != nil {
		return nil, err
	}
	m.install(h, c)
	return c, nil
}

// Storage keys. The issuer key (the directory's host and path) keeps
// certificates of different CAs apart: switching from staging to
// production must not reuse the staging certificate.
func (m *Manager) certKey(h Host) string {
	return "xmppd/" + m.issuer.IssuerKey() + "/" + h.Domain + "/fullchain.pem"
}

func (m *Manager) keyKey(h Host) string {
	return "xmppd/" + m.issuer.IssuerKey() + "/" + h.Domain + "/privkey.pem"
}

// load reads the host's stored certificate; fs.ErrNotExist if none.
func (m *Manager) load(ctx context.Context, h Host) (*tls.Certificate, error) {
	certPEM, err := m.cfg.Storage.Load(ctx, m.certKey(h))
	if err != nil {
		return nil, err
	}
	keyPEM, err := m.cfg.Storage.Load(ctx, m.keyKey(h))
	if err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// A renewal stores the key first: a reader between the two
		// writes sees a mismatch; the lock holder's cert follows.
		return nil, fmt.Errorf("stored certificate: %w", err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("stored certificate: %w", err)
		}
	}
	return &c, nil
}

// obtain orders a certificate for the host's names with a new key and
// stores both.
func (m *Manager) obtain(ctx context.Context, h Host) (*tls.Certificate, error) {
	m.log.Info("acme: ordering certificate", "domain", h.Domain, "names", h.Names, "ca", m.cfg.Directory)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: h.Names[0]},
		DNSNames: h.Names,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	// PreCheck gives the issuer the account's email (Issue alone would
	// register an account without contact) and refuses names a public
	// CA never issues for (localhost, *.local) before asking it.
	if err := m.issuer.PreCheck(ctx, h.Names, false); err != nil {
		return nil, err
	}
	issued, err := m.issuer.Issue(ctx, csr)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	c, err := tls.X509KeyPair(issued.Certificate, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("issued certificate: %w", err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("issued certificate: %w", err)
		}
	}
	// Key first (see load). A certificate that cannot be stored is still
	// used: it is valid, and the next check orders again.
	if err := m.cfg.Storage.Store(ctx, m.keyKey(h), keyPEM); err != nil {
		m.log.Error("acme: storing key", "domain", h.Domain, "err", err)
	} else if err := m.cfg.Storage.Store(ctx, m.certKey(h), issued.Certificate); err != nil {
		m.log.Error("acme: storing certificate", "domain", h.Domain, "err", err)
	}
	return &c, nil
}

// install hands a certificate to the server unless it is in use already.
func (m *Manager) install(h Host, c *tls.Certificate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if bytes.Equal(m.installed[h.Domain], c.Leaf.Raw) {
		return
	}
	if err := m.cfg.Install(h.Domain, c); err != nil {
		m.log.Error("acme: installing certificate", "domain", h.Domain, "err", err)
		return
	}
	m.installed[h.Domain] = c.Leaf.Raw
	m.log.Info("acme: certificate in use", "domain", h.Domain, "names", c.Leaf.DNSNames,
		"issuer", c.Leaf.Issuer.CommonName, "expires", c.Leaf.NotAfter.UTC().Format(time.DateOnly),
		"renews", renewAt(c.Leaf).UTC().Format(time.DateOnly))
}
