// Package server assembles xmppd from its configuration: storage,
// certificates, modules, router and listeners; it starts them in order and
// stops them in reverse.
package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/cluster"
	"github.com/xmppd/xmppd/component"
	"github.com/xmppd/xmppd/internal/admin"
	"github.com/xmppd/xmppd/internal/certs"
	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/logring"
	"github.com/xmppd/xmppd/internal/metrics"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/router"
	"github.com/xmppd/xmppd/s2s"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
	"github.com/xmppd/xmppd/web"
	"github.com/xmppd/xmppd/web/adminweb"
	"github.com/xmppd/xmppd/xml"
)

// Server is a running xmppd.
type Server struct {
	cfg   *config.Config
	log   *slog.Logger
	db    *sqldb.DB
	certs *certs.Store
	reg   *module.Registry
	dir   *router.Local
	// With [cluster]: the cluster's directory (dir is this node's part)
	// and this node's membership; nil on a single server.
	cdir  *cluster.Directory
	node  *cluster.Node
	c2s   *c2s.Server
	comp  *component.Server // nil without [[component]]
	s2s   *s2s.Server       // nil without federation
	web   *web.Server       // nil without an http listener
	compH *module.Handle
	mods  []module.Started
	lns   []net.Listener
	hosts map[string]bool
	// routes are the modules' HTTP routes, served by web on every http
	// listener (module.Services.HTTP).
	routes *http.ServeMux
	admin  *admin.Server // nil without an admin listener
	acme   *acmeState    // nil without [acme]

	// limiters are c2s's and, with federation, s2s's: a reload changes
	// their limits. httpLimiters count the http listeners' connections
	// per address only (max_connections_per_ip).
	limiters     []*c2s.Limiter
	httpLimiters []*c2s.Limiter
	// reloadMu serializes Reload; applied is the configuration whose
	// live settings are in force (cfg stays the one the server started
	// with: modules read it).
	reloadMu sync.Mutex
	applied  *config.Config

	wg       sync.WaitGroup
	stopOnce sync.Once
}

// Version is what the admin API reports; the command sets it.
var Version = "dev"

// OpenStorage opens the configured database (used by the CLI too).
func OpenStorage(ctx context.Context, cfg *config.Config) (*sqldb.DB, error) {
	driver, dsn := cfg.Storage.Driver, cfg.Storage.DSN
	if driver == "" || driver == "sqlite" {
		driver = "sqlite"
		if dsn == "" {
			dsn = filepath.Join(cfg.DataDir, "xmppd.db")
		}
		if err := os.MkdirAll(filepath.Dir(sqlitePath(dsn)), 0o700); err != nil {
			return nil, fmt.Errorf("create data folder: %w", err)
		}
	} else if driver == "postgres" {
		driver = "pgx"
	}
	db, err := sqldb.Open(ctx, driver, dsn)
	if err != nil {
		if driver == "sqlite" {
			// SQLite says only "unable to open database file".
			if f, ferr := os.Open(sqlitePath(dsn)); errors.Is(ferr, fs.ErrPermission) {
				return nil, fmt.Errorf("open database %s: permission denied: xmppd runs as uid %d, which must be able to read and write it (check the file's owner and mode): %w", dsn, os.Geteuid(), err)
			} else if ferr == nil {
				f.Close()
			}
		}
		return nil, fmt.Errorf("open %s storage: %w", cfg.Storage.Driver, err)
	}
	if err := migrateModules(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s storage: %w", cfg.Storage.Driver, err)
	}
	return db, nil
}

// sqlitePath is the file of a SQLite DSN, a path or a file: URI with
// parameters.
func sqlitePath(dsn string) string {
	p, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	return p
}

// New prepares a server: storage opened and migrated, certificates loaded
// or made, modules started, listeners bound. Serve starts accepting.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Server, err error) {
	var recent *logring.Ring
	if cfg.AdminAPI.Web {
		// The admin pages show the last warnings and errors of this
		// server's log.
		recent = logring.New(100, slog.LevelWarn)
		log = slog.New(recent.Handler(log.Handler()))
	}
	s := &Server{cfg: cfg, applied: cfg, log: log, hosts: map[string]bool{}}
	defer func() {
		if err != nil {
			s.close(context.Background())
		}
	}()
	for _, h := range cfg.Hosts {
		s.hosts[h.Domain] = true
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if s.db, err = OpenStorage(ctx, cfg); err != nil {
		return nil, err
	}
	// A database that opens but refuses writes would fail every offline
	// message, archive entry and roster change until someone noticed.
	if err := s.db.CheckWritable(ctx); err != nil {
		return nil, err
	}
	hc := make([]certs.HostCert, 0, len(cfg.Hosts))
	for _, h := range cfg.Hosts {
		hc = append(hc, certs.HostCert{Domain: h.Domain, CertFile: h.CertFile, KeyFile: h.KeyFile})
	}
	if s.certs, err = certs.Load(cfg.DataDir, hc); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	fakeSalt, err := s.serverKey("secret.key")
	if err != nil {
		return nil, err
	}
	s.routes = http.NewServeMux()

	s.reg = module.NewRegistry()
	s.dir = router.NewLocal()
	var dir c2s.Directory = s.dir
	if cfg.Cluster.Enabled() {
		if s.node, s.cdir, err = s.joinCluster(ctx); err != nil {
			return nil, err
		}
		dir = s.cdir
	}
	var store storage.Backend = s.db
	var obs c2s.Observer
	var mx *metrics.Metrics
	if _, ok := cfg.Admin(); ok || cfg.AdminAPI.Web {
		// Counting only when someone can read the counts.
		mx = metrics.New(dir.Count)
		obs = mx
		if s.node != nil {
			mx.Registry().MustRegister(s.node.Collector())
		}
		// Every storage call of the running server goes through here,
		// so every failure is counted, by operation.
		store = storage.CountFailures(s.db, mx.StorageFailed)
	}
	rt := &router.Router{Registry: s.reg, Dir: dir, Accounts: store, Hosts: s.serves, Log: log.With("component", "router")}
	if mx != nil {
		rt.Observer = mx
	}
	var clusterSvc module.Cluster
	if s.node != nil {
		clusterSvc = s.node
	}
	// Every roster write of the modules goes through one watch, so that
	// presence knows when a roster it read is still current.
	svc := module.Services{Cluster: clusterSvc, Router: rt, Directory: dir, Accounts: store, Rosters: storage.WatchRosters(store), Offline: store, Private: store, Blocks: store, LastActivity: store, PubSub: store, Archive: store, MUCRooms: store, Hosts: s.serves, Logger: log, ContactAddresses: cfg.Contact.Fields()}
	moduleConfig(&svc, cfg)
	svc.SQL = s.db.ModuleSQL()
	if mx != nil {
		svc.SQL = countingSQL{SQL: svc.SQL, name: "SQL", failed: mx.StorageFailed}
	}
	svc.Invites = store
	svc.FastTokens = store
	if mx != nil {
		svc.Metrics = mx.Registry()
	}
	svc.Secret = func(purpose string) []byte { return deriveKey(fakeSalt, purpose) }
	if s.hasHTTP() {
		svc.HTTP = moduleHTTP{s}
	}
	if s.mods, err = s.reg.Start(module.Available(), svc); err != nil {
		return nil, err
	}
	if s.node != nil {
		// A stanza from another node whose session has left is routed
		// again among this node's sessions only: never on to a third.
		local := *rt
		local.Dir = s.dir
		s.node.SetDeps(cluster.Deps{LocalRouter: &local, Router: rt, Registry: s.reg})
	}

	lim := cfg.Limits
	c2sLimiter := s.newLimiter(lim)
	var handover c2s.Handover
	if s.node != nil {
		handover = s.node // XEP-0198 sessions move between nodes
	}
	s.c2s = c2s.New(c2s.Config{
		Handover:           handover,
		HandoverWait:       cfg.Cluster.HandoverWait.Duration,
		Host:               s.host,
		DefaultDomain:      cfg.Hosts[0].Domain,
		Limits:             xml.Limits{MaxStanzaBytes: lim.MaxStanzaBytes, MaxDepth: lim.MaxDepth, MaxAttrs: lim.MaxAttrs},
		AuthTimeout:        lim.AuthTimeout.Duration,
		StanzaTimeout:      lim.StanzaTimeout.Duration,
		HandshakeTimeout:   lim.HandshakeTimeout.Duration,
		OutboundQueueBytes: lim.OutboundQueueBytes,
		MaxSessions:        lim.MaxSessions,
		ResumeTimeout:      lim.ResumeTimeout.Duration,
		IdleAfter:          idleAfter(lim.IdleAfter.Duration),
		Accounts:           store,
		FastTokens:         store,
		FastTokenLifetime:  fastLifetime(cfg.Auth.FastTokenLifetime.Duration),
		FakeSaltKey:        fakeSalt,
		Mechanisms:         mechanisms(cfg.Auth.Mechanisms),
		Registry:           s.reg,
		Router:             rt,
		Directory:          dir,
		Limiter:            c2sLimiter,
		Log:                log.With("component", "c2s"),
		Observer:           obs,
	})
	if s.s2s, err = s.newS2S(rt); err != nil {
		return nil, err
	}
	if _, ok := cfg.Admin(); ok && mx != nil {
		var token string
		if path := cfg.AdminTokenPath(); path != "" {
			var created bool
			if token, created, err = admin.LoadToken(path, true); err != nil {
				return nil, err
			}
			if created {
				log.Info("admin token written: requests to the admin listener must carry it (Authorization: Bearer)", "file", path)
			}
		}
		s.admin = admin.New(admin.Config{
			Version: Version, Hosts: cfg.Domains(), Listeners: s.listeners,
			Sessions: s.c2s.Sessions, Connections: s.c2s.Count, Kick: s.c2s.Kick,
			Metrics: mx.Handler(), Log: log.With("component", "admin"), Token: token, Cluster: s.node,
		})
	}
	if len(cfg.Components) > 0 {
		allowed := make([]component.Allowed, 0, len(cfg.Components))
		for _, c := range cfg.Components {
			allowed = append(allowed, component.Allowed{Domain: c.Domain, Secret: c.Secret, Parent: c.Parent, Name: c.Name})
		}
		s.compH = s.reg.NewHandle("component", svc)
		ccfg := component.Config{
			Components:       allowed,
			Limits:           xml.Limits{MaxStanzaBytes: lim.MaxStanzaBytes, MaxDepth: lim.MaxDepth, MaxAttrs: lim.MaxAttrs},
			HandshakeTimeout: lim.AuthTimeout.Duration,
			Log:              log.With("component", "xep0114"),
		}
		if s.node != nil {
			ccfg.Cluster = s.node // a component on one node serves its domain on all
		}
		s.comp = component.New(ccfg, s.compH)
	}
	for _, l := range cfg.Listen {
		if l.Type == "http" && s.web == nil {
			s.web = web.New(web.Config{
				C2S:            s.c2s,
				Certificate:    s.certs.TLSConfig().GetCertificate,
				OriginPatterns: cfg.WebSocket.Origins,
				Limits:         xml.Limits{MaxStanzaBytes: lim.MaxStanzaBytes, MaxDepth: lim.MaxDepth, MaxAttrs: lim.MaxAttrs},
				Log:            log.With("component", "web"),
				Routes:         s.routes,
				Admin:          s.adminWeb(store, mx, recent, fakeSalt, c2sLimiter),
				BodyTimeout:    lim.HTTPBodyTimeout.Duration,
				IdleTimeout:    lim.HTTPIdleTimeout.Duration,
				// Its own count: a WebSocket's XMPP stream is counted by
				// c2s's limiter too, and must not take two places in one.
				Limiter: s.newHTTPLimiter(lim),
				Site:    site(cfg),
			})
		}
	}
	for _, l := range cfg.Listen {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			return nil, fmt.Errorf("listen %s (%s): %w", l.Address, l.Type, err)
		}
		s.lns = append(s.lns, ln)
	}
	if err := s.newACME(); err != nil {
		return nil, err
	}
	return s, nil
}

// adminWeb is the handler of the admin pages, nil unless [admin] web is
// on. Its login throttle is c2s's: guesses through either count for both.
func (s *Server) adminWeb(store storage.Backend, mx *metrics.Metrics, recent *logring.Ring, fakeSalt []byte, lim *c2s.Limiter) http.Handler {
	cfg := s.cfg
	if !cfg.AdminAPI.Web {
		return nil
	}
	admins := map[string][]string{}
	for _, h := range cfg.Hosts {
		admins[h.Domain] = h.Admins
	}
	wc := adminweb.Config{
		Admins: admins, Roles: store, Hosts: cfg.Domains(), Accounts: store, FastTokens: store, Directory: s.dir,
		Sessions: s.c2s.Sessions,
		Kick:     func(full jid.JID) bool { return s.c2s.Kick(full, admin.KickText) },
		Recent:   recent, FakeSaltKey: fakeSalt, Throttle: lim,
		MinPassword: cfg.Registration.MinPasswordLength,
		Log:         s.log.With("component", "web-admin"),
	}
	if mx != nil {
		wc.Metrics = mx.Registry()
	}
	if cfg.ServiceDomain("muc", cfg.Hosts[0].Domain) != "" {
		wc.Rooms = store
		wc.MUCService = func(host string) string { return cfg.ServiceDomain("muc", host) }
	}
	return adminweb.New(wc)
}

// checkDataDir makes the data folder if needed and checks that xmppd can
// list it and write in it, so that a folder of the wrong owner or mode is
// reported as such, naming the folder, and not as the database driver's
// "unable to open database file".
func checkDataDir(dir string) error {
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		_, err = os.ReadDir(dir)
	}
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp(dir, ".write-test-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("data folder %s: permission denied: xmppd runs as uid %d, which must be able to read and write it (check the folder's owner and mode): %w", dir, os.Geteuid(), err)
	}
	if err != nil {
		return fmt.Errorf("data folder %s: %w", dir, err)
	}
	return nil
}

func (s *Server) newHTTPLimiter(lim config.Limits) *c2s.Limiter {
	l := c2s.NewLimiter(lim.MaxConnectionsPerIP, 0, 0, 0, 0)
	s.httpLimiters = append(s.httpLimiters, l)
	return l
}

func (s *Server) newLimiter(lim config.Limits) *c2s.Limiter {
	l := c2s.NewLimiter(lim.MaxConnectionsPerIP, lim.ConnectionRate, lim.ConnectionBurst, lim.AuthFailureDelay.Duration, lim.AuthFailureMaxDelay.Duration)
	s.limiters = append(s.limiters, l)
	return l
}

// Reload applies what can change in a running server from cfg (SIGHUP):
// the certificate files are read again (an ACME client renewed them in
// place; new connections get the new certificates, open ones keep
// theirs) and the connection limits change. The log level and the
// memory limit are the process's, so the command applies those. Every
// other changed setting is logged, one line each, as taking effect at the
// next start. On an error (a certificate that does not load) nothing of
// this reload is applied.
func (s *Server) Reload(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	for _, key := range config.Diff(s.cfg, cfg) {
		if !config.IsLive(key) {
			s.log.Warn("configuration reload: setting changed, takes effect after a restart", "setting", key)
		}
	}
	// The hosts stay those the server started with; a host's certificate
	// files are the new configuration's.
	files := map[string]config.Host{}
	for _, h := range cfg.Hosts {
		files[h.Domain] = h
	}
	hc := make([]certs.HostCert, 0, len(s.cfg.Hosts))
	for _, h := range s.cfg.Hosts {
		if n, ok := files[h.Domain]; ok {
			h = n
		}
		hc = append(hc, certs.HostCert{Domain: h.Domain, CertFile: h.CertFile, KeyFile: h.KeyFile})
	}
	if err := s.certs.Reload(hc); err != nil {
		return fmt.Errorf("certificates: %w (the previous ones stay in use)", err)
	}
	lim := cfg.Limits
	for _, l := range s.limiters {
		l.Set(lim.MaxConnectionsPerIP, lim.ConnectionRate, lim.ConnectionBurst, lim.AuthFailureDelay.Duration, lim.AuthFailureMaxDelay.Duration)
	}
	for _, l := range s.httpLimiters {
		l.Set(lim.MaxConnectionsPerIP, 0, 0, 0, 0)
	}
	var applied []string
	for _, key := range config.Diff(s.applied, cfg) {
		if config.IsLive(key) {
			applied = append(applied, key)
		}
	}
	s.applied = cfg
	s.log.Info("configuration reloaded", "certificates", len(hc), "changed", applied)
	return nil
}

// idleAfter maps the configuration's "0s = never" to c2s's convention
// (negative = never, 0 = its default).
func idleAfter(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func (s *Server) serves(domain string) bool { return s.hosts[domain] }

// host normalizes a stream's 'to' (RFC 7622 domainpart rules).
func (s *Server) host(to string) (string, bool) {
	j, err := jid.Parse(to)
	if err != nil || j.Local() != "" || j.Resource() != "" {
		return "", false
	}
	return j.Domain(), s.hosts[j.Domain()]
}

// Addrs returns the bound listener addresses, in configuration order.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

// listeners describes the bound listeners for the admin API.
func (s *Server) listeners() []admin.Listener {
	out := make([]admin.Listener, len(s.lns))
	for i, ln := range s.lns {
		l := s.cfg.Listen[i]
		out[i] = admin.Listener{Type: l.Type, Address: ln.Addr().String(), TLS: l.TLS}
	}
	return out
}

// fastLifetime maps [auth] fast_token_lifetime to c2s's: "0s" is off there,
// the default in c2s.
func fastLifetime(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// Accounts is the account store (for tests and tools).
func (s *Server) Accounts() storage.Accounts { return s.db }

// Sessions is the number of bound sessions.
func (s *Server) Sessions() int {
	if s.cdir != nil {
		return s.cdir.Count()
	}
	return s.dir.Count()
}

// Serve accepts on every listener and returns when they are all closed.
func (s *Server) Serve() error {
	s.startACME()
	for i, ln := range s.lns {
		l := s.cfg.Listen[i]
		if l.Type == "http" {
			var tc *tls.Config
			if l.TLS == "direct" {
				// HTTP/1.1 only: WebSocket over HTTP/2 (RFC 8441) is not
				// what browsers use for wss:// here.
				tc = s.certs.TLSConfig("http/1.1")
			}
			s.log.Info("listening", "type", l.Type, "tls", l.TLS, "address", ln.Addr().String(), "websocket", web.WebSocketPath)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := s.web.Serve(ln, tc); err != nil {
					s.log.Error("listener failed", "address", ln.Addr().String(), "err", err)
				}
			}()
			continue
		}
		if l.Type == "s2s" {
			opts := s2s.ListenerOptions{TLS: s.certs.TLSConfig(), DirectTLS: l.DirectTLS(), RequireTLS: l.RequiresTLS()}
			if opts.DirectTLS {
				opts.TLS = s.certs.TLSConfig("xmpp-server") // XEP-0368 ALPN
			}
			s.log.Info("listening", "type", l.Type, "tls", l.TLS, "address", ln.Addr().String())
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := s.s2s.Serve(ln, opts); err != nil && !errors.Is(err, s2s.ErrServerClosed) {
					s.log.Error("listener failed", "address", ln.Addr().String(), "err", err)
				}
			}()
			continue
		}
		if l.Type == "admin" {
			s.log.Info("listening", "type", l.Type, "address", ln.Addr().String(), "paths", []string{admin.PathMetrics, "/api/"})
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := s.admin.Serve(ln); err != nil {
					s.log.Error("listener failed", "address", ln.Addr().String(), "err", err)
				}
			}()
			continue
		}
		if l.Type == "component" {
			s.log.Info("listening", "type", l.Type, "address", ln.Addr().String())
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := s.comp.Serve(ln); err != nil && !errors.Is(err, component.ErrServerClosed) {
					s.log.Error("listener failed", "address", ln.Addr().String(), "err", err)
				}
			}()
			continue
		}
		opts := c2s.ListenerOptions{TLS: s.certs.TLSConfig(), DirectTLS: l.DirectTLS(), RequireTLS: l.RequiresTLS()}
		if opts.DirectTLS {
			opts.TLS = s.certs.TLSConfig("xmpp-client")
		}
		s.log.Info("listening", "type", l.Type, "tls", l.TLS, "address", ln.Addr().String())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.c2s.Serve(ln, opts); err != nil && !errors.Is(err, c2s.ErrServerClosed) {
				s.log.Error("listener failed", "address", ln.Addr().String(), "err", err)
			}
		}()
	}
	s.wg.Wait()
	return nil
}

// Shutdown tells every client the server is going away
// (<system-shutdown/>), waits for them until ctx ends, then stops modules
// and closes storage.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		if s.web != nil {
			// No new WebSocket streams; the open ones end with the
			// client streams below.
			go s.web.Shutdown(ctx)
		}
		err = s.c2s.Shutdown(ctx)
		if s.comp != nil {
			err = errors.Join(err, s.comp.Shutdown(ctx))
		}
		if s.s2s != nil {
			err = errors.Join(err, s.s2s.Shutdown(ctx))
		}
		if s.admin != nil {
			// Last to go: it reports on the rest until then.
			s.admin.Close()
		}
		s.stopACME()
		s.wg.Wait()
		s.close(ctx)
	})
	return err
}

// close stops modules (their goroutines given until ctx ends) and closes
// storage. What fails to stop is logged here, at error level: the
// process is going away and nothing else would see it.
func (s *Server) close(ctx context.Context) {
	if s.compH != nil {
		s.compH.Close()
		s.compH = nil
	}
	if err := module.StopAll(ctx, s.mods); err != nil {
		s.log.Error("stopping modules", "err", err)
	}
	s.mods = nil
	s.closeACME()
	if s.node != nil {
		// After c2s: this node's sessions have left the directory.
		if err := s.node.Close(); err != nil {
			s.log.Error("leaving the cluster", "err", err)
		}
		s.node = nil
	}
	for _, ln := range s.lns {
		ln.Close()
	}
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
}

// newS2S makes the federation server when [s2s] is enabled or an s2s
// listener exists; only the former sends remote stanzas out.
func (s *Server) newS2S(rt *router.Router) (*s2s.Server, error) {
	cfg, lim := s.cfg, s.cfg.Limits
	listens := false
	for _, l := range cfg.Listen {
		listens = listens || l.Type == "s2s"
	}
	if !cfg.S2S.Enabled && !listens {
		return nil, nil
	}
	secret, err := s.serverKey("dialback.key")
	if err != nil {
		return nil, fmt.Errorf("s2s: %w", err)
	}
	var roots *x509.CertPool
	if cfg.S2S.CAFile != "" {
		pem, err := os.ReadFile(cfg.S2S.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s2s.ca_file: %w", err)
		}
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s2s.ca_file %s: no PEM certificate in it", cfg.S2S.CAFile)
		}
	}
	routes := map[string]s2s.Route{}
	for _, r := range cfg.S2S.Routes {
		routes[r.Domain] = s2s.Route{Address: r.Address, DirectTLS: r.TLS == "direct"}
	}
	tc := s.certs.TLSConfig()
	srv := s2s.New(s2s.Config{
		Serves: func(d string) bool { return s.hosts[d] || s.reg.Component(d) != nil },
		Certificate: func(d string) *tls.Certificate {
			c, _ := tc.GetCertificate(&tls.ClientHelloInfo{ServerName: d})
			return c
		},
		Secret:           secret,
		TLSVerify:        cfg.S2S.TLSVerify,
		RequireTLS:       cfg.S2S.RequireTLS,
		Roots:            roots,
		Dialback:         cfg.S2S.Dialback,
		Routes:           routes,
		Limits:           xml.Limits{MaxStanzaBytes: lim.MaxStanzaBytes, MaxDepth: lim.MaxDepth, MaxAttrs: lim.MaxAttrs},
		HandshakeTimeout: lim.HandshakeTimeout.Duration,
		AuthTimeout:      lim.AuthTimeout.Duration,
		ConnectTimeout:   cfg.S2S.ConnectTimeout.Duration,
		IdleTimeout:      cfg.S2S.IdleTimeout.Duration,
		QueueStanzas:     cfg.S2S.QueueStanzas,
		Limiter:          s.newLimiter(lim),
		Router:           rt,
		Log:              s.log.With("component", "s2s"),
	})
	if cfg.S2S.Enabled {
		rt.Remote = srv
	}
	return srv, nil
}

// S2S is the federation server (nil without it), for tests that set
// routes at run time.
func (s *Server) S2S() *s2s.Server { return s.s2s }

// secretKey loads or makes the key behind fake SCRAM salts, kept so that an
// unknown user's salt is the same after a restart (no enumeration by
// watching salts change).
func secretKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return b, nil
}

// deriveKey gives each purpose its own key (HMAC-SHA256 of the purpose
// under the secret key), so a module's signatures can never be confused
// with another's or with the fake SCRAM salts.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("xmppd key: " + purpose))
	return m.Sum(nil)
}

func (s *Server) hasHTTP() bool {
	for _, l := range s.cfg.Listen {
		if l.Type == "http" {
			return true
		}
	}
	return false
}

// moduleHTTP is module.HTTP over the server's http listeners.
type moduleHTTP struct{ s *Server }

func (m moduleHTTP) Handle(pattern string, h http.Handler) { m.s.routes.Handle(pattern, h) }

// BaseURL uses the first http listener; its port is the bound one (port 0
// in tests), known once New has bound the listeners.
func (m moduleHTTP) BaseURL(domain string) string {
	for i, l := range m.s.cfg.Listen {
		if l.Type != "http" || i >= len(m.s.lns) {
			continue
		}
		scheme := "https"
		if l.TLS == "none" {
			scheme = "http"
		}
		port := 0
		if a, ok := m.s.lns[i].Addr().(*net.TCPAddr); ok {
			port = a.Port
		}
		return scheme + "://" + net.JoinHostPort(domain, strconv.Itoa(port))
	}
	return ""
}

var _ = time.Second

// mechanisms is [auth] mechanisms as a set; nil (every mechanism) when
// none are listed.
func mechanisms(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool, len(list))
	for _, n := range list {
		m[n] = true
	}
	return m
}

// joinCluster starts this node's part in the cluster ([cluster]): it
// returns once a majority of the nodes is reachable.
func (s *Server) joinCluster(ctx context.Context) (*cluster.Node, *cluster.Directory, error) {
	cl := s.cfg.Cluster
	secret, err := s.clusterSecret()
	if err != nil {
		return nil, nil, err
	}
	var routeTLS *tls.Config
	if cl.TLSCertFile != "" {
		var err error
		if routeTLS, err = cluster.RouteTLS(cl.TLSCertFile, cl.TLSKeyFile, cl.TLSCAFile); err != nil {
			return nil, nil, err
		}
	}
	cdir := cluster.NewDirectory(s.dir)
	node, err := cluster.Start(ctx, cluster.Config{
		Node: cl.Node, Name: cl.Name, Secret: secret,
		Listen: cl.Listen, Routes: cl.Routes, URL: cl.NATSURL, RouteTLS: routeTLS,
		StoreDir:  filepath.Join(s.cfg.DataDir, "cluster"),
		Hosts:     s.cfg.Domains(),
		Replicas:  cl.Replicas,
		Heartbeat: cl.Heartbeat.Duration, DeadAfter: cl.DeadAfter.Duration, JoinTimeout: cl.JoinTimeout.Duration,
		Log: s.log.With("component", "cluster"),
	}, cdir)
	if err != nil {
		return nil, nil, err
	}
	return node, cdir, nil
}

// Node is this server's cluster membership, nil on a single server.
func (s *Server) Node() *cluster.Node { return s.node }

// clusterSecret is [cluster] secret, or what secret_file holds.
func (s *Server) clusterSecret() (string, error) {
	cl := s.cfg.Cluster
	if cl.SecretFile == "" {
		return cl.Secret, nil
	}
	b, err := os.ReadFile(cl.SecretFile)
	if err != nil {
		return "", fmt.Errorf("cluster: secret_file: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if len(secret) < 16 {
		return "", fmt.Errorf("cluster: secret_file %s: the secret must be at least 16 characters", cl.SecretFile)
	}
	return secret, nil
}

// serverKey is the key kept in the data folder under name (made on first
// start). Every node of a cluster must have the same keys: a fake SCRAM
// salt must not tell which node answered (nor that the account does not
// exist), a dialback key made by one node is checked by another (XEP-0185),
// and an upload slot signed by one node is used on another. So a cluster
// node derives them from the cluster secret instead, and keeps no file.
func (s *Server) serverKey(name string) ([]byte, error) {
	if !s.cfg.Cluster.Enabled() {
		return secretKey(filepath.Join(s.cfg.DataDir, name))
	}
	secret, err := s.clusterSecret()
	if err != nil {
		return nil, err
	}
	return deriveKey([]byte(secret), "xmppd cluster key "+name), nil
}

// moduleConfig hands the modules their sections and what they may read
// of the core's configuration.
func moduleConfig(svc *module.Services, cfg *config.Config) {
	svc.Sections = cfg.Modules
	svc.DataDir = cfg.DataDir
	svc.ResumeTimeout = cfg.Limits.ResumeTimeout.Duration
	svc.Registration = module.Registration{MinInterval: cfg.Registration.MinInterval.Duration, MinPasswordLength: cfg.Registration.MinPasswordLength}
	for _, h := range cfg.Hosts {
		svc.VHosts = append(svc.VHosts, module.VHost{Domain: h.Domain, Admins: h.Admins, Registration: h.Registration, DisabledModules: h.DisableModules})
	}
}
