package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/module"
)

// validator collects every problem instead of stopping at the first: a
// config with three mistakes should take one edit-run cycle, not three.
type validator struct {
	name string
	pos  positions
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	p := v.pos.lookup(key)
	v.errs = append(v.errs, &Error{File: v.name, Line: p.Line, Col: p.Col, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) oneOf(key, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	v.fail(key, "must be one of %s, got %q", strings.Join(allowed, ", "), got)
}

func (v *validator) intRange(key string, got, lo, hi int) {
	if got < lo || got > hi {
		v.fail(key, "must be between %d and %d, got %d", lo, hi, got)
	}
}

func (v *validator) durRange(key string, got Duration, lo, hi time.Duration) {
	if got.Duration < lo || got.Duration > hi {
		v.fail(key, "must be between %s and %s, got %s", lo, hi, got.Duration)
	}
}

// normalize puts case-insensitive values in their canonical form, so the
// rest of the server can compare with ==.
func (c *Config) normalize() {
	c.LogLevel = strings.ToLower(strings.TrimSpace(c.LogLevel))
	c.LogFormat = strings.ToLower(strings.TrimSpace(c.LogFormat))
	for i := range c.Hosts {
		// RFC 7622 §3.2: a trailing dot is not part of the domainpart, and
		// domains compare case-insensitively.
		c.Hosts[i].Domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(c.Hosts[i].Domain)), ".")
		if len(c.Hosts[i].Admins) == 0 {
			c.Hosts[i].Admins = nil
		}
		for k, j := range c.Hosts[i].Admins {
			c.Hosts[i].Admins[k] = strings.ToLower(strings.TrimSpace(j))
		}
		if len(c.Hosts[i].DisableModules) == 0 {
			c.Hosts[i].DisableModules = nil
		}
	}
	for i := range c.Listen {
		c.Listen[i].Type = strings.ToLower(c.Listen[i].Type)
		c.Listen[i].TLS = strings.ToLower(c.Listen[i].TLS)
	}
	for i := range c.Components {
		c.Components[i].Domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(c.Components[i].Domain), "."))
		c.Components[i].Parent = strings.ToLower(c.Components[i].Parent)
	}
	for i := range c.S2S.Routes {
		r := &c.S2S.Routes[i]
		r.Domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(r.Domain)), ".")
		r.TLS = strings.ToLower(r.TLS)
	}
	if len(c.Auth.Mechanisms) == 0 {
		c.Auth.Mechanisms = nil
	}
	for i, m := range c.Auth.Mechanisms {
		c.Auth.Mechanisms[i] = strings.ToUpper(strings.TrimSpace(m))
	}
	c.Storage.Driver = strings.ToLower(c.Storage.Driver)
	c.ACME.Email = strings.TrimSpace(c.ACME.Email)
	c.ACME.StorageBackend = strings.ToLower(strings.TrimSpace(c.ACME.StorageBackend))
	if len(c.ACME.Challenges) == 0 {
		c.ACME.Challenges = nil
	}
	for i, ch := range c.ACME.Challenges {
		c.ACME.Challenges[i] = strings.ToLower(strings.TrimSpace(ch))
	}
	if len(c.WebSocket.Origins) == 0 {
		c.WebSocket.Origins = nil
	}
	for i, o := range c.WebSocket.Origins {
		c.WebSocket.Origins[i] = strings.ToLower(strings.TrimSpace(o))
	}
	// "abuse = []" and no key at all mean the same.
	for _, l := range []*[]string{&c.Contact.Abuse, &c.Contact.Admin, &c.Contact.Feedback, &c.Contact.Sales,
		&c.Contact.Security, &c.Contact.Status, &c.Contact.Support} {
		if len(*l) == 0 {
			*l = nil
		}
	}
}

func (c *Config) validate(name string, pos positions) []error {
	c.normalize()
	v := &validator{name: name, pos: pos}

	if strings.TrimSpace(c.DataDir) == "" {
		v.fail("data_dir", "must not be empty")
	}
	v.oneOf("log_level", c.LogLevel, "debug", "info", "warn", "error")
	for name, addrs := range c.Contact.Fields() {
		key := "contact." + strings.TrimSuffix(name, "-addresses")
		for _, a := range addrs {
			u, err := url.Parse(a)
			if err != nil || (u.Scheme != "mailto" && u.Scheme != "xmpp" && u.Scheme != "http" && u.Scheme != "https") || (u.Opaque == "" && u.Host == "") {
				v.fail(key, "%q is not a mailto:, xmpp: or http(s): URI", a)
			}
		}
	}
	v.oneOf("log_format", c.LogFormat, "text", "json")

	if len(c.Hosts) == 0 {
		v.fail("host", "at least one [[host]] is required")
	}
	seen := map[string]int{}
	for i, h := range c.Hosts {
		key := fmt.Sprintf("host[%d]", i)
		for _, j := range h.Admins {
			if msg := module.CheckBareJID(j); msg != "" {
				v.fail(key+".admins", "%s", msg)
			}
		}
		for k, name := range h.DisableModules {
			if !slices.Contains(module.Available(), name) {
				v.fail(fmt.Sprintf("%s.disable_modules[%d]", key, k), "%q is not a module (modules: %s)", name, strings.Join(module.Available(), ", "))
			}
		}
		if msg := checkDomain(h.Domain); msg != "" {
			v.fail(key+".domain", "%s", msg)
		} else if j, dup := seen[h.Domain]; dup {
			v.fail(key+".domain", "%q is already host[%d]", h.Domain, j)
		} else {
			seen[h.Domain] = i
		}
		switch {
		case h.CertFile != "" && h.KeyFile == "":
			v.fail(key+".cert_file", "key_file must be set too (both or neither; neither = self-signed)")
		case h.CertFile == "" && h.KeyFile != "":
			v.fail(key+".key_file", "cert_file must be set too (both or neither; neither = self-signed)")
		}
	}

	if len(c.Listen) == 0 {
		v.fail("listen", "at least one [[listen]] is required")
	}
	addrs := map[string]int{}
	for i, l := range c.Listen {
		key := fmt.Sprintf("listen[%d]", i)
		v.oneOf(key+".type", l.Type, "c2s", "s2s", "component", "http", "admin")
		if l.AllowRemote && l.Type != "admin" {
			v.fail(key+".allow_remote", "applies to admin listeners only")
		}
		if l.Type == "admin" {
			if l.TLS != "" && l.TLS != "none" {
				v.fail(key+".tls", "admin listeners are plain HTTP: leave tls unset (put a TLS proxy in front if it must be reached remotely)")
			}
			if l.RequireTLS != nil {
				v.fail(key+".require_tls", "applies to c2s listeners only")
			}
			// The admin API can end sessions: reachable from loopback
			// only unless the operator says so, and then only with a
			// token.
			if host, _, err := net.SplitHostPort(l.Address); err == nil && !l.AllowRemote && !isLoopback(host) {
				v.fail(key+".address", "%q is not a loopback address: bind the admin listener to 127.0.0.1 or [::1], or set allow_remote = true and [admin] token_file", l.Address)
			}
			if l.AllowRemote && c.AdminAPI.TokenFile == "" {
				v.fail(key+".allow_remote", "needs [admin] token_file: without a token anyone who reaches the listener could end sessions (xmppd writes a random token there at start-up)")
			}
		} else if l.Type == "http" {
			v.oneOf(key+".tls", l.TLS, "direct", "none")
			if l.RequireTLS != nil && !*l.RequireTLS {
				v.fail(key+".require_tls", "applies to c2s listeners only")
			}
		} else if l.Type == "component" {
			if l.TLS != "" {
				v.fail(key+".tls", "component listeners (XEP-0114) are plain TCP: leave tls unset and bind them to a private address")
			}
			if len(c.Components) == 0 {
				v.fail(key+".type", "a component listener needs at least one [[component]] with domain and secret")
			}
		} else {
			v.oneOf(key+".tls", l.TLS, "starttls", "direct")
		}
		if l.TLS == "direct" && l.RequireTLS != nil && !*l.RequireTLS {
			v.fail(key+".require_tls", `false is only possible with tls = "starttls" (direct TLS is always encrypted)`)
		}
		if msg := checkAddress(l.Address); msg != "" {
			v.fail(key+".address", "%s", msg)
		} else if _, port, _ := net.SplitHostPort(l.Address); port != "0" {
			if j, dup := addrs[l.Address]; dup {
				v.fail(key+".address", "%q is already used by listen[%d]", l.Address, j)
			}
			addrs[l.Address] = i
		}
	}

	if c.AdminAPI.Web {
		hasHTTP, hasAdmins := false, false
		for _, l := range c.Listen {
			hasHTTP = hasHTTP || l.Type == "http"
		}
		for _, h := range c.Hosts {
			hasAdmins = hasAdmins || len(h.Admins) > 0
		}
		if !hasHTTP {
			v.fail("admin.web", "the admin pages are served on an http listener: add a [[listen]] with type = \"http\"")
		}
		if !hasAdmins {
			v.fail("admin.web", "no [[host]] lists admins: nobody could log in (set admins = [\"you@example.org\"] under the host)")
		}
	}

	comps := map[string]int{}
	for i, cp := range c.Components {
		key := fmt.Sprintf("component[%d]", i)
		if msg := checkDomain(cp.Domain); msg != "" {
			v.fail(key+".domain", "%s", msg)
		} else if j, dup := comps[cp.Domain]; dup {
			v.fail(key+".domain", "%q is already component[%d]", cp.Domain, j)
		} else if j, host := seen[cp.Domain]; host {
			v.fail(key+".domain", "%q is host[%d]: a component needs a domain of its own", cp.Domain, j)
		} else {
			comps[cp.Domain] = i
		}
		if len(cp.Secret) < 8 {
			v.fail(key+".secret", "must be at least 8 characters (the handshake's only protection)")
		}
		if _, ok := seen[cp.Parent]; cp.Parent != "" && !ok {
			v.fail(key+".parent", "%q is not a [[host]]", cp.Parent)
		}
	}

	c.validateS2S(v, seen)

	lim, lk := c.Limits, func(k string) string { return "limits." + k }
	v.intRange(lk("max_stanza_bytes"), lim.MaxStanzaBytes, 1024, 16<<20)
	// A stream header alone is depth 1 with ~6 attributes, and a stanza
	// with a payload needs several levels: below 8 nothing useful works.
	v.intRange(lk("max_depth"), lim.MaxDepth, 8, 1024)
	v.intRange(lk("max_attrs"), lim.MaxAttrs, 8, 1024)
	v.durRange(lk("auth_timeout"), lim.AuthTimeout, 100*time.Millisecond, time.Hour)
	v.durRange(lk("handshake_timeout"), lim.HandshakeTimeout, 100*time.Millisecond, 5*time.Minute)
	v.durRange(lk("stanza_timeout"), lim.StanzaTimeout, 100*time.Millisecond, time.Hour)
	// The queue must hold at least one maximal stanza, or a session that
	// receives one is closed even though its client is keeping up.
	if lim.OutboundQueueBytes < lim.MaxStanzaBytes || lim.OutboundQueueBytes > 1<<30 {
		v.fail(lk("outbound_queue_bytes"), "must be between max_stanza_bytes (%d) and %d, got %d", lim.MaxStanzaBytes, 1<<30, lim.OutboundQueueBytes)
	}
	if lim.MaxConnectionsPerIP < 0 {
		v.fail(lk("max_connections_per_ip"), "must be 0 (unlimited) or more, got %d", lim.MaxConnectionsPerIP)
	}
	if r := lim.ConnectionRate; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		v.fail(lk("connection_rate"), "must be 0 (no rate limit) or a positive number, got %v", r)
	}
	if lim.ConnectionBurst < 0 || (lim.ConnectionRate > 0 && lim.ConnectionBurst < 1) {
		v.fail(lk("connection_burst"), "must be at least 1 when connection_rate is set, got %d", lim.ConnectionBurst)
	}
	v.durRange(lk("auth_failure_delay"), lim.AuthFailureDelay, 0, time.Minute)
	v.durRange(lk("auth_failure_max_delay"), lim.AuthFailureMaxDelay, 0, time.Hour)
	if lim.MemoryLimit != 0 && (lim.MemoryLimit < 16<<20 || lim.MemoryLimit > 1<<50) {
		v.fail(lk("memory_limit"), "must be 0 (none) or between 16777216 (16 MiB) and 2^50 bytes, got %d", lim.MemoryLimit)
	}
	v.durRange(lk("resume_timeout"), lim.ResumeTimeout, 0, 24*time.Hour)
	v.durRange(lk("idle_after"), lim.IdleAfter, 0, 24*time.Hour)
	v.durRange(lk("http_body_timeout"), lim.HTTPBodyTimeout, 100*time.Millisecond, time.Hour)
	v.durRange(lk("http_idle_timeout"), lim.HTTPIdleTimeout, 100*time.Millisecond, time.Hour)
	if lim.MaxSessions < 0 {
		v.fail(lk("max_sessions"), "must be 0 (unlimited) or more, got %d", lim.MaxSessions)
	}

	v.durRange("registration.min_interval", c.Registration.MinInterval, 0, 7*24*time.Hour)
	v.intRange("registration.min_password_length", c.Registration.MinPasswordLength, 1, 1024)

	c.validateSections(v)
	c.validateACME(v)
	known := []string{"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
		"HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-NONE"}
	for _, m := range c.Auth.Mechanisms {
		v.oneOf("auth.mechanisms", m, known...)
	}
	if c.Auth.FastTokenLifetime.Duration != 0 {
		v.durRange("auth.fast_token_lifetime", c.Auth.FastTokenLifetime, time.Hour, 366*24*time.Hour)
	}

	v.oneOf("storage.driver", c.Storage.Driver, "sqlite", "postgres")
	if c.Storage.Driver == "postgres" && c.Storage.DSN == "" {
		v.fail("storage.dsn", `must be set for driver "postgres" (e.g. "postgres://xmppd@localhost/xmppd")`)
	}
	c.validateCluster(v)
	return v.errs
}

var nodeName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// validateCluster checks [cluster] (docs/clustering.md).
func (c *Config) validateCluster(v *validator) {
	cl := c.Cluster
	if !cl.Enabled() {
		return
	}
	if !nodeName.MatchString(cl.Node) {
		v.fail("cluster.node", "must be 1 to 32 letters, digits, '-' or '_', got %q", cl.Node)
	}
	if !nodeName.MatchString(cl.Name) {
		v.fail("cluster.name", "must be 1 to 32 letters, digits, '-' or '_', got %q", cl.Name)
	}
	if c.Storage.Driver != "postgres" {
		v.fail("storage.driver", `must be "postgres" on a cluster node: the nodes share one database, and SQLite is one node's file`)
	}
	switch {
	case cl.Secret != "" && cl.SecretFile != "":
		v.fail("cluster.secret", "set secret or secret_file, not both")
	case cl.Secret == "" && cl.SecretFile == "" && cl.NATSURL == "":
		v.fail("cluster.secret", "must be set (or secret_file): the nodes authenticate each other with it, and nothing unauthenticated may join")
	case cl.Secret != "" && len(cl.Secret) < 16:
		v.fail("cluster.secret", "must be at least 16 characters")
	}
	if cl.NATSURL != "" && len(cl.Routes) > 0 {
		v.fail("cluster.routes", "routes are for the embedded NATS server; with nats_url the NATS cluster routes itself")
	}
	tlsFiles := map[string]string{"cluster.tls_cert_file": cl.TLSCertFile, "cluster.tls_key_file": cl.TLSKeyFile, "cluster.tls_ca_file": cl.TLSCAFile}
	if cl.TLSCertFile != "" || cl.TLSKeyFile != "" || cl.TLSCAFile != "" {
		switch {
		case cl.NATSURL != "":
			v.fail("cluster.tls_cert_file", "route TLS is for the embedded NATS server; with nats_url use a tls:// URL")
		case cl.TLSCertFile == "" || cl.TLSKeyFile == "" || cl.TLSCAFile == "":
			v.fail("cluster.tls_cert_file", "set tls_cert_file, tls_key_file and tls_ca_file together")
		default:
			for _, key := range []string{"cluster.tls_cert_file", "cluster.tls_key_file", "cluster.tls_ca_file"} {
				if _, err := os.Stat(tlsFiles[key]); err != nil {
					v.fail(key, "cannot be read: %v", err)
				}
			}
		}
	}
	if cl.NATSURL == "" {
		if _, _, err := net.SplitHostPort(cl.Listen); err != nil {
			v.fail("cluster.listen", "must be host:port, got %q", cl.Listen)
		}
		for i, r := range cl.Routes {
			if _, _, err := net.SplitHostPort(r); err != nil {
				v.fail(fmt.Sprintf("cluster.routes[%d]", i), "must be host:port, got %q", r)
			}
		}
	}
	v.intRange("cluster.replicas", cl.Replicas, 0, 5)
	v.durRange("cluster.heartbeat", cl.Heartbeat, 100*time.Millisecond, time.Minute)
	if cl.DeadAfter.Duration < 2*cl.Heartbeat.Duration {
		v.fail("cluster.dead_after", "must be at least twice cluster.heartbeat (%s), got %s", cl.Heartbeat.Duration, cl.DeadAfter.Duration)
	}
	v.durRange("cluster.join_timeout", cl.JoinTimeout, time.Second, time.Hour)
	v.durRange("cluster.handover_wait", cl.HandoverWait, 0, 10*time.Minute)
}

// validateS2S checks the [s2s] table; hosts maps served domains to their
// [[host]] index.
func (c *Config) validateS2S(v *validator, hosts map[string]int) {
	s := c.S2S
	v.durRange("s2s.connect_timeout", s.ConnectTimeout, 100*time.Millisecond, 10*time.Minute)
	v.durRange("s2s.idle_timeout", s.IdleTimeout, time.Second, 24*time.Hour)
	v.intRange("s2s.queue_stanzas", s.QueueStanzas, 1, 1000000)
	if !s.TLSVerify && !s.Dialback {
		v.fail("s2s.dialback", "must be true when tls_verify = false: without verified certificates dialback is the only proof of a peer's domain")
	}
	if s.CAFile != "" {
		if _, err := os.Stat(s.CAFile); err != nil {
			v.fail("s2s.ca_file", "cannot be read: %v", err)
		}
	}
	routes := map[string]int{}
	for i, r := range s.Routes {
		key := fmt.Sprintf("s2s.route[%d]", i)
		if msg := checkDomain(r.Domain); msg != "" {
			v.fail(key+".domain", "%s", msg)
		} else if j, dup := routes[r.Domain]; dup {
			v.fail(key+".domain", "%q is already s2s.route[%d]", r.Domain, j)
		} else if j, host := hosts[r.Domain]; host {
			v.fail(key+".domain", "%q is host[%d]: routes are for remote domains", r.Domain, j)
		} else {
			routes[r.Domain] = i
		}
		if msg := checkAddress(r.Address); msg != "" {
			v.fail(key+".address", "%s", msg)
		} else if _, port, _ := net.SplitHostPort(r.Address); port == "0" {
			v.fail(key+".address", "port must not be 0, got %q", r.Address)
		}
		v.oneOf(key+".tls", r.TLS, "starttls", "direct")
	}
}

// checkDomain is module.CheckDomain: modules check the domains in their
// sections the same way.
func checkDomain(d string) string { return module.CheckDomain(d) }

// isLoopback reports whether host (of a listen address) binds loopback
// only; "" binds every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkAddress returns what is wrong with a listen address, or "".
func checkAddress(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Sprintf("must be host:port (e.g. \":5222\" or \"127.0.0.1:5222\"), got %q", a)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("port must be a number from 0 to 65535, got %q", port)
	}
	if strings.ContainsAny(host, " /@") {
		return fmt.Sprintf("invalid host %q", host)
	}
	return ""
}

// validateACME checks the [acme] table; only when ACME is on, so that a
// section switched off with enabled = false may stay half-filled.
func (c *Config) validateACME(v *validator) {
	a, ak := c.ACME, func(k string) string { return "acme." + k }
	if a.Enabled != nil && *a.Enabled && a.Email == "" {
		v.fail(ak("email"), "must be set when enabled = true (the CA's contact for the account)")
	}
	if !a.On() {
		return
	}
	if at := strings.IndexByte(a.Email, '@'); at <= 0 || at == len(a.Email)-1 || strings.ContainsAny(a.Email, " \t<>,;:") {
		v.fail(ak("email"), "%q is not an email address (admin@example.org)", a.Email)
	}
	if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		// RFC 8555 §6.1: ACME is HTTPS only.
		v.fail(ak("directory"), "must be an https:// URL such as %q, got %q", DefaultACMEDirectory, a.Directory)
	}
	if a.HTTPAddress != "" {
		if msg := checkAddress(a.HTTPAddress); msg != "" {
			v.fail(ak("http_address"), "%s", msg)
		}
		for i, l := range c.Listen {
			if l.Address == a.HTTPAddress {
				v.fail(ak("http_address"), "%q is already used by listen[%d]", a.HTTPAddress, i)
			}
		}
	}
	for _, ch := range a.Challenges {
		switch ch {
		case "http-01":
			if a.HTTPAddress == "" && !c.plainHTTP() {
				v.fail(ak("challenges"), `http-01 needs http_address (such as ":80") or an http listener with tls = "none" that port 80 reaches`)
			}
		case "tls-alpn-01":
			if !c.directTLS() {
				v.fail(ak("challenges"), `tls-alpn-01 needs a c2s or http listener with tls = "direct" that port 443 reaches`)
			}
		case "dns-01":
			if a.DNSCommand == "" {
				v.fail(ak("challenges"), "dns-01 needs dns_command (the program that sets the _acme-challenge TXT record)")
			}
		default:
			v.fail(ak("challenges"), `must be "http-01", "tls-alpn-01" or "dns-01", got %q`, ch)
		}
	}
	v.oneOf(ak("storage_backend"), a.StorageBackend, "files", "database")
	if a.StorageBackend == "database" {
		if c.Storage.Driver != "postgres" {
			v.fail(ak("storage_backend"), `"database" needs [storage] driver = "postgres" (an SQLite file is one node's: use "files")`)
		}
		if a.Storage != "" {
			v.fail(ak("storage"), `is the folder of storage_backend = "files"; leave it unset with "database"`)
		}
	}
	if len(c.ACMEChallenges()) == 0 {
		v.fail(ak("challenges"), `no challenge can be answered: set http_address (such as ":80"), add a direct TLS listener reached on port 443, or set dns_command`)
	}
	managed := 0
	for i, h := range c.Hosts {
		if h.CertFile != "" {
			continue
		}
		managed++
		if publicCA(a.Directory) && !publicName(h.Domain) {
			v.fail(fmt.Sprintf("host[%d].domain", i), "%q cannot get a certificate from %s (public CAs issue only for public DNS names): give this host cert_file/key_file, or use a private CA's directory", h.Domain, a.Directory)
		}
	}
	if managed == 0 {
		v.fail(ak("email"), "every [[host]] has cert_file: ACME would manage no certificate (remove [acme] or a host's cert_file)")
	}
}

// publicCA reports whether an ACME directory is a public CA's (the list
// certmagic keeps for the same check).
func publicCA(directory string) bool {
	for _, ca := range []string{"api.letsencrypt.org", "acme.zerossl.com", "api.pki.goog", "api.buypass.com", "acme.ssl.com"} {
		if strings.Contains(directory, ca) {
			return true
		}
	}
	return false
}

// publicName reports whether a public CA could issue for domain: a DNS
// name with a dot, not an IP address, not under a special-use or
// private top-level domain (RFC 6761, RFC 6762, RFC 8375).
func publicName(domain string) bool {
	if !strings.Contains(domain, ".") || net.ParseIP(domain) != nil {
		return false
	}
	for _, tld := range []string{".localhost", ".local", ".internal", ".home.arpa", ".test", ".example", ".invalid", ".lan"} {
		if strings.HasSuffix(domain, tld) {
			return false
		}
	}
	return true
}

// validateSections checks the modules' sections with their own checks,
// each problem at its line, and that no two services claim one
// subdomain.
func (c *Config) validateSections(v *validator) {
	if c.Modules == nil {
		c.Modules = map[string]any{}
	}
	for _, spec := range module.ConfigSpecs() {
		val := c.Modules[spec.Section]
		if val == nil {
			val = spec.New()
			c.Modules[spec.Section] = val
		}
		if spec.Check == nil {
			continue
		}
		section := spec.Section
		spec.Check(val, module.NewConfigCheck(c.Domains(), func(key, msg string) {
			switch {
			case key == "":
				key = section
			case strings.HasPrefix(key, "["):
				key = section + key
			default:
				key = section + "." + key
			}
			v.fail(key, "%s", msg)
		}))
	}
	// Each service needs a domain of its own.
	seen := map[string]string{}
	for _, l := range c.serviceLabels() {
		if k, dup := seen[l[1]]; dup {
			v.fail(l[0], "%q is %s already: each service needs a domain of its own", l[1], k)
			continue
		}
		seen[l[1]] = l[0]
	}
}
