package server

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/xmppd/xmppd/internal/acme"
)

// acmeState is [acme] in a running server: the manager and, with
// http_address, the plain HTTP listener that answers HTTP-01 only.
type acmeState struct {
	m    *acme.Manager
	ln   net.Listener // nil without http_address
	http *http.Server
	db   *sql.DB // the database storage's own pool; nil with files
}

// newACME sets ACME up once the listeners are bound (the challenges are
// answered on them, and in tests their ports are known only then).
// Hosts with cert_file keep their files.
func (s *Server) newACME() (err error) {
	cfg := s.cfg
	if !cfg.ACME.On() {
		return nil
	}
	a := &acmeState{}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	mc := acme.Config{
		Email:     cfg.ACME.Email,
		Directory: cfg.ACME.Directory,
		Install:   s.certs.SetManaged,
		Log:       s.log.With("component", "acme"),
	}
	for _, h := range cfg.Hosts {
		if h.CertFile == "" {
			mc.Hosts = append(mc.Hosts, acme.Host{Domain: h.Domain, Names: cfg.ACMENames(h.Domain)})
		}
	}
	if cfg.ACME.CAFile != "" {
		pem, err := os.ReadFile(cfg.ACME.CAFile)
		if err != nil {
			return fmt.Errorf("acme.ca_file: %w", err)
		}
		mc.Roots = x509.NewCertPool()
		if !mc.Roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("acme.ca_file %s: no PEM certificate in it", cfg.ACME.CAFile)
		}
	}
	if cfg.ACME.StorageBackend == "database" {
		// A pool of its own: a lock holds a connection for a whole
		// order, which must not take one from the stanzas' pool.
		db, err := sql.Open("pgx", cfg.Storage.DSN)
		if err != nil {
			return fmt.Errorf("acme storage: %w", err)
		}
		db.SetMaxOpenConns(4)
		a.db = db
		mc.Storage = &acme.PostgresStorage{DB: db}
	} else {
		mc.Storage = &certmagic.FileStorage{Path: cfg.ACMEStorage()}
	}
	challenges := cfg.ACMEChallenges()
	if slices.Contains(challenges, "http-01") {
		if cfg.ACME.HTTPAddress != "" {
			ln, err := net.Listen("tcp", cfg.ACME.HTTPAddress)
			if err != nil {
				return fmt.Errorf("acme.http_address %s: %w", cfg.ACME.HTTPAddress, err)
			}
			a.ln = ln
			mc.HTTPAddress = ln.Addr().String()
		} else {
			mc.HTTPAddress = s.listenerAddr(func(typ, tls string) bool { return typ == "http" && tls == "none" })
		}
	}
	if slices.Contains(challenges, "tls-alpn-01") {
		mc.TLSALPNAddress = s.listenerAddr(func(typ, tls string) bool { return (typ == "c2s" || typ == "http") && tls == "direct" })
	}
	if slices.Contains(challenges, "dns-01") {
		mc.DNS01 = acme.CommandSolver{Command: cfg.ACME.DNSCommand}
	}
	m, err := acme.New(mc)
	if err != nil {
		return err
	}
	// The CA connects to ports 80 and 443 whatever we listen on: say
	// where the challenges are answered, so a missing forward is found.
	mc.Log.Info("acme: on", "directory", cfg.ACME.Directory, "hosts", len(mc.Hosts),
		"http-01", orNone(mc.HTTPAddress, "CA connects to port 80"),
		"tls-alpn-01", orNone(mc.TLSALPNAddress, "CA connects to port 443"),
		"dns-01", orNone(cfg.ACME.DNSCommand, ""))
	a.m = m
	s.acme = a
	s.certs.SetChallengeHandler(m.ChallengeCertificate)
	// On every http listener: one with tls = "none" may be what port 80
	// reaches; on an https one the path is simply never asked for.
	s.routes.Handle("/.well-known/acme-challenge/", m.HTTPHandler(http.NotFoundHandler()))
	if a.ln != nil {
		a.http = &http.Server{
			Handler:           m.HTTPHandler(http.NotFoundHandler()),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
		}
	}
	return nil
}

// close releases what newACME opened, the manager aside.
func (a *acmeState) close() {
	if a.ln != nil {
		a.ln.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

// orNone describes one challenge's answerer for the log.
func orNone(v, note string) string {
	switch {
	case v == "":
		return "off"
	case note != "":
		return v + " (" + note + ")"
	}
	return v
}

// listenerAddr is the bound address of the first listener that matches.
func (s *Server) listenerAddr(match func(typ, tls string) bool) string {
	for i, l := range s.cfg.Listen {
		if match(l.Type, l.TLS) && i < len(s.lns) {
			return s.lns[i].Addr().String()
		}
	}
	return ""
}

// startACME installs the stored certificates and starts the renewals;
// Serve calls it before accepting, so the first handshakes already get
// a stored ACME certificate.
func (s *Server) startACME() {
	a := s.acme
	if a == nil {
		return
	}
	a.m.Start(context.Background())
	if a.http != nil {
		s.log.Info("listening", "type", "acme-http-01", "address", a.ln.Addr().String())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := a.http.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("listener failed", "address", a.ln.Addr().String(), "err", err)
			}
		}()
	}
}

// stopACME stops the HTTP-01 listener (Shutdown, so Serve returns).
func (s *Server) stopACME() {
	if a := s.acme; a != nil && a.http != nil {
		a.http.Close()
	}
}

// closeACME stops the renewals and closes a listener Serve never took.
func (s *Server) closeACME() {
	a := s.acme
	if a == nil {
		return
	}
	a.m.Close()
	a.close()
}
