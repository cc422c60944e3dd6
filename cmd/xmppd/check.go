package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/storage"
)

// checker prints one line per check and remembers whether any FAILed.
type checker struct {
	out      io.Writer
	failed   bool
	counts   map[string]int
	resolver *net.Resolver
	now      time.Time
	timeout  time.Duration
}

func (c *checker) line(status, area, msg string) {
	if status == "FAIL" {
		c.failed = true
	}
	c.counts[status]++
	fmt.Fprintf(c.out, "%-4s  %-9s %s\n", status, area, msg)
}
func (c *checker) ok(area, format string, a ...any) { c.line("ok", area, fmt.Sprintf(format, a...)) }
func (c *checker) warn(area, format string, a ...any) {
	c.line("warn", area, fmt.Sprintf(format, a...))
}
func (c *checker) skip(area, format string, a ...any) {
	c.line("skip", area, fmt.Sprintf(format, a...))
}
func (c *checker) fail(area, fix, format string, a ...any) {
	c.line("FAIL", area, fmt.Sprintf(format, a...)+"; fix: "+fix)
}

func checkCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, commands["check"].help) }
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	dnsAddr := fs.String("dns", "", "ask this DNS server (host:port) instead of the system's resolver")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("check: unexpected argument %q", fs.Arg(0))
	}
	c := &checker{out: stdout, counts: map[string]int{}, resolver: net.DefaultResolver, now: time.Now(), timeout: 10 * time.Second}
	if *dnsAddr != "" {
		addr := *dnsAddr
		c.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	}
	c.run(context.Background(), *cfgPath)
	fmt.Fprintf(stdout, "%d ok, %d warn, %d FAIL, %d skip\n", c.counts["ok"], c.counts["warn"], c.counts["FAIL"], c.counts["skip"])
	if c.failed {
		return errChecksFailed
	}
	return nil
}

var errChecksFailed = errors.New("check: some checks FAILed (see the lines above)")

func (c *checker) run(ctx context.Context, cfgPath string) {
	cfg, err := loadConfig(cfgPath)
	name := cfgPath
	if name == "" {
		name = "(no -config: built-in defaults)"
	}
	if err != nil {
		// Every problem, one line each, as "xmppd serve" reports them.
		var errs []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		} else {
			errs = []error{err}
		}
		for _, e := range errs {
			c.fail("config", "correct the file and run xmppd check again", "%v", e)
		}
		c.skip("other", "the remaining checks need a configuration that loads")
		return
	}
	c.ok("config", "%s: %d host(s) %s, %d listener(s)", name, len(cfg.Hosts), strings.Join(cfg.Domains(), ", "), len(cfg.Listen))
	c.checkCerts(cfg)
	c.checkDNS(ctx, cfg)
	reachable := c.checkPorts(cfg)
	c.checkDataDir(cfg)
	c.selfTest(ctx, cfgPath, cfg, reachable)
}

// serviceNames are the names a host's certificate should also cover:
// the subdomains of the services the configuration enables.
func serviceNames(cfg *config.Config, host string) []string {
	return cfg.ServiceNames(host)
}

func (c *checker) checkCerts(cfg *config.Config) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if cfg.S2S.CAFile != "" {
		// Extra trusted certificates, as federation trusts them.
		if b, err := os.ReadFile(cfg.S2S.CAFile); err == nil {
			roots.AppendCertsFromPEM(b)
		}
	}
	for _, h := range cfg.Hosts {
		area := "cert"
		certFile, selfSigned := h.CertFile, h.CertFile == "" && h.KeyFile == ""
		if selfSigned && cfg.ACME.On() {
			// The server orders and renews it itself; what is in the
			// data folder meanwhile is only the stand-in.
			c.ok(area, "%s: managed by [acme] (%s): the server obtains it for %s and renews it; its log says \"acme: certificate in use\"",
				h.Domain, cfg.ACME.Directory, strings.Join(cfg.ACMENames(h.Domain), ", "))
			continue
		}
		if selfSigned {
			certFile = filepath.Join(cfg.DataDir, "certs", h.Domain+".crt")
		}
		b, err := os.ReadFile(certFile)
		if selfSigned && errors.Is(err, os.ErrNotExist) {
			c.warn(area, "%s: no certificate yet: the server makes a self-signed one at its first start, which clients and other servers do not trust; set cert_file and key_file in its [[host]] (docs/deploy.md)", h.Domain)
			continue
		}
		if err != nil {
			c.fail(area, "make the file readable by the server's user, or correct cert_file", "%s: %v", h.Domain, err)
			continue
		}
		var chain []*x509.Certificate
		for rest := b; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			if crt, err := x509.ParseCertificate(blk.Bytes); err == nil {
				chain = append(chain, crt)
			}
		}
		if len(chain) == 0 {
			c.fail(area, "point cert_file at the PEM certificate (fullchain.pem with Let's Encrypt)", "%s: no certificate in %s", h.Domain, certFile)
			continue
		}
		if !selfSigned {
			// The key must match: the server refuses to start otherwise.
			if _, err := loadKeyPair(certFile, h.KeyFile); err != nil {
				c.fail(area, "set key_file to the private key of this certificate (privkey.pem with Let's Encrypt)", "%s: %v", h.Domain, err)
				continue
			}
		}
		leaf := chain[0]
		if selfSigned && !bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
			// Put in the data folder by "xmppd cert import": a CA's.
			selfSigned = false
		}
		switch left := leaf.NotAfter.Sub(c.now); {
		case left <= 0:
			c.fail(area, "renew the certificate (certbot renew), then systemctl reload xmppd", "%s: %s expired on %s", h.Domain, certFile, leaf.NotAfter.UTC().Format(time.DateOnly))
			continue
		case c.now.Before(leaf.NotBefore):
			c.fail(area, "check the machine's clock, or wait until the certificate is valid", "%s: %s is not valid before %s", h.Domain, certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
			continue
		case left < 14*24*time.Hour:
			c.warn(area, "%s: %s expires in %d days (%s): renew it soon (certbot renew), then systemctl reload xmppd", h.Domain, certFile, int(left.Hours()/24), leaf.NotAfter.UTC().Format(time.DateOnly))
		default:
			c.ok(area, "%s: %s valid until %s", h.Domain, certFile, leaf.NotAfter.UTC().Format(time.DateOnly))
		}
		if err := leaf.VerifyHostname(h.Domain); err != nil {
			c.fail(area, "get a certificate that includes "+h.Domain, "%s: the certificate does not cover %s (it covers %s)", h.Domain, h.Domain, strings.Join(leaf.DNSNames, ", "))
			continue
		}
		var missing []string
		for _, n := range serviceNames(cfg, h.Domain) {
			if leaf.VerifyHostname(n) != nil {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			c.warn(area, "%s: the certificate does not cover %s: clients and servers that contact those services over TLS will refuse them; add the names to the certificate (certbot -d %s)", h.Domain, strings.Join(missing, ", "), strings.Join(missing, " -d "))
		} else {
			c.ok(area, "%s: covers the host and its services %s", h.Domain, strings.Join(serviceNames(cfg, h.Domain), ", "))
		}
		if selfSigned {
			c.warn(area, "%s: self-signed: clients ask users to trust it and servers with tls_verify refuse it; set cert_file and key_file to a certificate from a CA (docs/deploy.md)", h.Domain)
			continue
		}
		inter := x509.NewCertPool()
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: c.now}); err != nil {
			c.fail(area, "put the whole chain in cert_file (fullchain.pem, not cert.pem), or use a certificate from a public CA", "%s: the chain does not verify: %v", h.Domain, err)
		} else {
			c.ok(area, "%s: the chain verifies (issuer %s)", h.Domain, leaf.Issuer.CommonName)
		}
	}
}

// srvCheck is one SRV record a host should have.
type srvCheck struct {
	service string
	ports   []int // the listeners' ports it may point at
}

func (c *checker) checkDNS(ctx context.Context, cfg *config.Config) {
	// A resolver that cannot find the root zone's servers has no
	// network (or answers everything with "no such host", as sandboxes
	// do): every answer it gives would be a false alarm.
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := c.resolver.LookupNS(lctx, ".")
	cancel()
	if err != nil {
		c.skip("dns", "DNS checks skipped: no working DNS here (the root zone's servers are not found: %v); run xmppd check where the server can reach the internet", err)
		return
	}
	var client, direct, server []int
	for _, l := range cfg.Listen {
		_, p, _ := net.SplitHostPort(l.Address)
		port, _ := strconv.Atoi(p)
		switch {
		case l.Type == "c2s" && l.DirectTLS():
			direct = append(direct, port)
		case l.Type == "c2s":
			client = append(client, port)
		case l.Type == "s2s":
			server = append(server, port)
		}
	}
	local := localAddrs()
	for _, h := range cfg.Hosts {
		for _, s := range []srvCheck{{"xmpp-client", client}, {"xmpps-client", direct}, {"xmpp-server", server}} {
			name := "_" + s.service + "._tcp." + h.Domain
			if len(s.ports) == 0 {
				c.skip("dns", "%s: no listener for it (no %s listener configured)", name, map[string]string{"xmpp-client": "c2s starttls", "xmpps-client": "c2s direct-TLS", "xmpp-server": "s2s"}[s.service])
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, srvs, err := c.resolver.LookupSRV(lctx, s.service, "tcp", h.Domain)
			cancel()
			var de *net.DNSError
			switch {
			case errors.As(err, &de) && de.IsNotFound, err == nil && len(srvs) == 0:
				c.fail("dns", fmt.Sprintf("add the record %s. 3600 IN SRV 5 0 %d xmpp.%s. (xmpp.%s having A/AAAA records of this machine)", name, s.ports[0], h.Domain, h.Domain), "%s: no SRV record", name)
				continue
			case err != nil:
				c.skip("dns", "%s: the lookup failed (%v): no network? run xmppd check where DNS works", name, err)
				continue
			}
			c.checkTargets(ctx, name, srvs, s, local)
		}
		if len(server) > 0 {
			c.checkServiceDNS(ctx, cfg, h.Domain)
		}
	}
}

// checkServiceDNS: other servers reach a host's services (a room's
// remote occupants, conference.example.org) by their own names, through
// their _xmpp-server SRV record or, failing that, their A/AAAA records
// (RFC 6120 §3.2.2).
func (c *checker) checkServiceDNS(ctx context.Context, cfg *config.Config, host string) {
	for _, n := range serviceNames(cfg, host) {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, srvs, err := c.resolver.LookupSRV(lctx, "xmpp-server", "tcp", n)
		if err == nil && len(srvs) > 0 {
			cancel()
			c.ok("dns", "_xmpp-server._tcp.%s: %s:%d", n, strings.TrimSuffix(srvs[0].Target, "."), srvs[0].Port)
			continue
		}
		ips, err2 := c.resolver.LookupIPAddr(lctx, n)
		cancel()
		var de *net.DNSError
		switch {
		case err2 == nil && len(ips) > 0:
			c.ok("dns", "%s: no _xmpp-server SRV record, other servers use its address %s", n, ips[0].IP)
		case errors.As(err, &de) && de.IsNotFound && errors.As(err2, &de) && de.IsNotFound:
			c.warn("dns", "%s: neither an _xmpp-server._tcp SRV record nor an address: users of other servers cannot reach it; add %s. CNAME xmpp.%s. or an SRV record (docs/deploy.md, DNS records)", n, n, host)
		default:
			c.skip("dns", "%s: the lookup failed (%v): no network?", n, errors.Join(err, err2))
		}
	}
}

// checkTargets checks where one service's SRV records point.
func (c *checker) checkTargets(ctx context.Context, name string, srvs []*net.SRV, s srvCheck, local map[string]bool) {
	var de *net.DNSError
	for _, r := range srvs {
		target := strings.TrimSuffix(r.Target, ".")
		if target == "" {
			c.warn("dns", "%s: the record says the service is not offered (target \".\"); remove it if the listener is meant for use", name)
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, err := c.resolver.LookupIPAddr(lctx, target)
		cancel()
		if errors.As(err, &de) && de.IsNotFound || err == nil && len(ips) == 0 {
			c.fail("dns", fmt.Sprintf("add A (and AAAA) records for %s with this machine's public addresses", target), "%s -> %s:%d: %s has no A/AAAA record", name, target, r.Port, target)
			continue
		}
		if err != nil {
			c.skip("dns", "%s -> %s: the lookup failed (%v): no network?", name, target, err)
			continue
		}
		var addrs []string
		here := false
		for _, ip := range ips {
			addrs = append(addrs, ip.IP.String())
			here = here || local[ip.IP.String()]
		}
		portOK := false
		for _, p := range s.ports {
			portOK = portOK || p == int(r.Port)
		}
		switch {
		case !portOK:
			c.fail("dns", fmt.Sprintf("make the record's port one of the listeners' (%s) or change the listener", joinInts(s.ports)), "%s -> %s:%d: no %s listener on port %d", name, target, r.Port, s.service, r.Port)
		case !here:
			c.warn("dns", "%s -> %s:%d (%s): not an address of this machine; fine behind NAT or a proxy, otherwise correct the A/AAAA records", name, target, r.Port, strings.Join(addrs, ", "))
		default:
			c.ok("dns", "%s -> %s:%d (%s, this machine)", name, target, r.Port, strings.Join(addrs, ", "))
		}
	}
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// localAddrs are the IP addresses of this machine's interfaces.
func localAddrs() map[string]bool {
	out := map[string]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out[n.IP.String()] = true
		}
	}
	return out
}

// dialAddr is where to reach a listener from this machine: a wildcard
// address is reached on loopback.
func dialAddr(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
		h = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			h = "::1"
		}
	}
	return net.JoinHostPort(h, p)
}

func listenerName(l config.Listener) string {
	s := l.Type
	if l.TLS != "" {
		s += " " + l.TLS
	}
	return s + " " + l.Address
}

// checkPorts connects to every listener; it returns which answered.
func (c *checker) checkPorts(cfg *config.Config) map[int]bool {
	up := map[int]bool{}
	for i, l := range cfg.Listen {
		a := dialAddr(l.Address)
		if strings.HasSuffix(a, ":0") {
			c.skip("port", "%s: port 0 (chosen at start) cannot be checked", listenerName(l))
			continue
		}
		conn, err := net.DialTimeout("tcp", a, c.timeout)
		if err != nil {
			c.fail("port", "start the server (systemctl start xmppd) and look at its log (journalctl -u xmppd); is another program on the port?", "%s: nothing answers on %s (%v)", listenerName(l), a, err)
			continue
		}
		conn.Close()
		up[i] = true
		c.ok("port", "%s: answers on %s (from outside: open the port in the firewall)", listenerName(l), a)
	}
	return up
}

func (c *checker) checkDataDir(cfg *config.Config) {
	st, err := os.Stat(cfg.DataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		c.warn("data", "%s does not exist yet: the server makes it at its first start", cfg.DataDir)
		return
	case err != nil:
		c.fail("data", "make it accessible to the server's user (chown xmppd: "+cfg.DataDir+")", "%s: %v", cfg.DataDir, err)
		return
	case !st.IsDir():
		c.fail("data", "point data_dir at a folder", "%s is not a folder", cfg.DataDir)
		return
	}
	if st, ok := st.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		// Files this command makes (SQLite's -wal and -shm, when the
		// server is not running) would belong to the wrong user.
		c.warn("data", "%s belongs to uid %d, this command runs as uid %d: run it as the server's user (sudo -u xmppd xmppd check ...)", cfg.DataDir, st.Uid, os.Getuid())
	}
	f, err := os.CreateTemp(cfg.DataDir, ".xmppd-check-*")
	if err != nil {
		c.fail("data", "chown -R the folder to the user the server runs as (xmppd) and chmod 700 it", "%s is not writable by this user: %v", cfg.DataDir, err)
		return
	}
	f.Close()
	os.Remove(f.Name())
	mode := st.Mode().Perm()
	switch {
	case mode&0o002 != 0:
		c.fail("data", "chmod 700 "+cfg.DataDir, "%s is writable by every user of the machine (mode %v): it holds the database and the private keys", cfg.DataDir, mode)
		return
	case mode&0o005 != 0:
		c.warn("data", "%s is readable by every user of the machine (mode %v); the keys are 0600, but chmod 700 it so that the database is too", cfg.DataDir, mode)
	}
	// The keys and the admin token must be the server's alone.
	secrets, _ := filepath.Glob(filepath.Join(cfg.DataDir, "certs", "*.key"))
	secrets = append(secrets, filepath.Join(cfg.DataDir, "secret.key"))
	if p := cfg.AdminTokenPath(); p != "" {
		secrets = append(secrets, p)
	}
	bad := false
	for _, s := range secrets {
		if st, err := os.Stat(s); err == nil && st.Mode().Perm()&0o077 != 0 {
			c.fail("data", "chmod 600 "+s, "%s is readable by others (mode %v)", s, st.Mode().Perm())
			bad = true
		}
	}
	if !bad {
		c.ok("data", "%s: writable by this user (mode %v), the keys and the admin token 0600", cfg.DataDir, mode)
	}
}

// selfTest makes a temporary account on the first host, logs it in over
// every c2s listener, sends itself a message there, and deletes the
// account afterwards whatever happened.
func (c *checker) selfTest(ctx context.Context, cfgPath string, cfg *config.Config, reachable map[int]bool) {
	var c2s []int
	for i, l := range cfg.Listen {
		switch {
		case l.Type == "c2s" && reachable[i]:
			c2s = append(c2s, i)
		case l.Type == "c2s":
			c.skip("self-test", "%s: not reachable (see the port line above)", listenerName(l))
		case l.Type == "http":
			c.skip("self-test", "%s: WebSocket and BOSH are not self-tested; try a web client", listenerName(l))
		}
	}
	if len(c2s) == 0 {
		return
	}
	_, db, err := openStorage(ctx, cfgPath, false, io.Discard)
	if err != nil {
		c.fail("self-test", "start the server once with this configuration, so that it makes its database", "cannot open the storage: %v", err)
		return
	}
	defer db.Close()
	host := cfg.Hosts[0].Domain
	rnd := make([]byte, 16)
	rand.Read(rnd)
	local := "xmppd-check-" + hex.EncodeToString(rnd[:4])
	pass := hex.EncodeToString(rnd[4:])
	sc, err := storedCredentials(pass)
	if err == nil {
		err = db.CreateAccount(ctx, host, local, sc)
	}
	if err != nil {
		c.fail("self-test", "see the error; is the database writable?", "cannot create the temporary account %s@%s: %v", local, host, err)
		return
	}
	defer func() {
		// Deleted even when a login failed; a failure to delete is one
		// more thing for the operator to do.
		if err := db.DeleteAccount(context.WithoutCancel(ctx), host, local); err != nil && !errors.Is(err, storage.ErrNotFound) {
			c.fail("self-test", "xmppd user del "+local+"@"+host, "the temporary account %s@%s was not deleted: %v", local, host, err)
		}
	}()
	for _, i := range c2s {
		l := cfg.Listen[i]
		cl, mech, err := selfTestLogin(dialAddr(l.Address), host, l.DirectTLS(), local, pass, c.timeout)
		if err != nil {
			c.fail("self-test", "read the server's log (journalctl -u xmppd) for this connection", "%s: %s@%s could not log in: %v", listenerName(l), local, host, err)
			continue
		}
		err = cl.echo("check-" + strconv.Itoa(i))
		cl.close()
		if err != nil {
			c.fail("self-test", "read the server's log (journalctl -u xmppd)", "%s: %v", listenerName(l), err)
			continue
		}
		c.ok("self-test", "%s: %s logged in (%s) and received its own message", listenerName(l), cl.jid, mech)
	}
}

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if keyFile == "" {
		return tls.Certificate{}, errors.New("key_file is not set")
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}
