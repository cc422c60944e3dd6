// Package config is xmppd's configuration: schema, defaults, TOML loading
// with unknown keys and bad values reported with their line.
//
// The core's sections are declared here; each module declares its own
// (module.RegisterConfig) and Parse decodes those of the modules linked
// into the binary (internal/server links modules/all), into Modules.
//
// CONTRACT: the exported API below is what internal/server codes against.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/xmppd/xmppd/module"
)

// Config is the whole server configuration.
type Config struct {
	DataDir   string     `toml:"data_dir"`   // default "./data"
	LogLevel  string     `toml:"log_level"`  // debug, info, warn, error; default info
	LogFormat string     `toml:"log_format"` // text (default) or json
	Hosts     []Host     `toml:"host"`       // virtual hosts; default one: localhost
	Listen    []Listener `toml:"listen"`     // default: c2s starttls :5222, c2s direct-tls :5223, http direct-tls :5443
	// Components are the external components (XEP-0114) that may connect
	// to a "component" listener; none by default.
	Components []Component `toml:"component"`
	// WebSocket configures XMPP over WebSocket (RFC 7395) on "http"
	// listeners.
	WebSocket WebSocket `toml:"websocket"`
	Limits    Limits    `toml:"limits"`
	Auth      Auth      `toml:"auth"`
	Storage   Storage   `toml:"storage"`
	Contact   Contact   `toml:"contact"`
	// Registration throttles in-band registration (XEP-0077) on the hosts
	// that enable it with Host.Registration.
	Registration Registration `toml:"registration"`
	// S2S is server-to-server federation (RFC 6120, XEP-0220, XEP-0178):
	// inbound streams arrive on "s2s" listeners, outbound ones are made
	// when a stanza is for a domain we do not serve.
	S2S S2S `toml:"s2s"`
	// AdminAPI is the [admin] section: who may use the "admin" listener
	// (Admin() is that listener), and whether the http listeners serve
	// the admin pages.
	AdminAPI AdminAPI `toml:"admin"`
	// HTTP is what "http" listeners serve to people rather than to XMPP
	// clients: the landing page and the web client.
	HTTP HTTP `toml:"http"`
	// ACME gets the hosts' certificates from an ACME CA such as Let's
	// Encrypt (RFC 8555) and renews them while the server runs.
	ACME ACME `toml:"acme"`
	// Cluster makes this server one node of several serving the same
	// hosts (docs/clustering.md); empty Node: a single server.
	Cluster Cluster `toml:"cluster"`

	// Modules are the sections the modules declare (module.ConfigSpec:
	// [muc], [archive], [upload], [[external_service]], ...), decoded
	// into the modules' own types, by section name. Every declared
	// section is here, with its defaults when the file leaves it out.
	Modules map[string]any `toml:"-"`
}

// Section returns the decoded value of a module's section (a pointer of
// the type its ConfigSpec.New returns), or nil when no linked module
// declares it.
func (c *Config) Section(name string) any { return c.Modules[name] }

// serviceLabels are the service subdomains the modules' sections switch
// on, as "section.key" → label, in section order.
func (c *Config) serviceLabels() [][2]string { return c.labels(c.hasListener("http")) }

// ServiceNames are the domains of host's services that the modules'
// sections switch on, whether or not a listener lets clients use them
// (the upload service needs an http one).
func (c *Config) ServiceNames(host string) []string {
	var out []string
	for _, l := range c.labels(true) {
		out = append(out, l[1]+"."+host)
	}
	return out
}

func (c *Config) labels(http bool) [][2]string {
	var out [][2]string
	for _, spec := range module.ConfigSpecs() {
		sl, ok := c.Modules[spec.Section].(module.ServiceLabels)
		if !ok {
			continue
		}
		labels := sl.Labels(http)
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, [2]string{spec.Section + "." + k, labels[k]})
		}
	}
	return out
}

// ServiceDomain is the domain of host's service that section's module
// serves (muc: "conference.example.org"), "" when it serves none.
func (c *Config) ServiceDomain(section, host string) string {
	for _, l := range c.serviceLabels() {
		if strings.HasPrefix(l[0], section+".") {
			return l[1] + "." + host
		}
	}
	return ""
}

// ACME is the [acme] section. It is on when Email is set (unless Enabled
// is false): a contact address is what every public CA asks for, so a
// section without one is a half-made configuration, refused rather than
// guessed at.
type ACME struct {
	// Enabled turns ACME off with false while keeping the section;
	// default: on when email is set.
	Enabled *bool `toml:"enabled"`
	// Email is the account's contact address; the CA writes to it about
	// expiring certificates and policy changes.
	Email string `toml:"email"`
	// Directory is the CA's ACME directory URL. Default Let's Encrypt
	// (production).
	Directory string `toml:"directory"`
	// CAFile is a PEM file of roots to trust for the directory's own
	// HTTPS (a private CA such as step-ca); "" = system roots.
	CAFile string `toml:"ca_file"`
	// Challenges are the challenge types tried (RFC 8555 §8): "http-01",
	// "tls-alpn-01" (RFC 8737), "dns-01". Empty (default): http-01 when
	// http_address or a plain ("none") http listener exists, tls-alpn-01
	// when a direct TLS listener exists, dns-01 when dns_command is set.
	Challenges []string `toml:"challenges"`
	// HTTPAddress is a plain HTTP listener (":80") that answers only
	// HTTP-01 challenges; "" = none (a plain http listener answers them
	// too).
	HTTPAddress string `toml:"http_address"`
	// DNSCommand is run to set and remove the _acme-challenge TXT records
	// for dns-01: DNSCommand present|cleanup <fqdn> <value>.
	DNSCommand string `toml:"dns_command"`
	// Storage is the folder certificates, keys and the account are kept
	// in; "" (default) is DataDir/acme. Nodes of a cluster point it at one
	// shared folder: they then renew each certificate once, under a lock.
	Storage string `toml:"storage"`
	// StorageBackend is "files" (default: the Storage folder) or
	// "database": the [storage] PostgreSQL database, with advisory
	// locks, for a cluster that shares the database and no folder.
	StorageBackend string `toml:"storage_backend"`
}

// On reports whether ACME manages certificates.
func (a ACME) On() bool { return a.Email != "" && (a.Enabled == nil || *a.Enabled) }

func (c *Config) hasListener(typ string) bool {
	for _, l := range c.Listen {
		if l.Type == typ {
			return true
		}
	}
	return false
}

// ACMEChallenges are the challenge types ACME uses: the configured ones,
// or those the listeners can answer.
func (c *Config) ACMEChallenges() []string {
	if len(c.ACME.Challenges) > 0 {
		return c.ACME.Challenges
	}
	var out []string
	if c.ACME.HTTPAddress != "" || c.plainHTTP() {
		out = append(out, "http-01")
	}
	if c.directTLS() {
		out = append(out, "tls-alpn-01")
	}
	if c.ACME.DNSCommand != "" {
		out = append(out, "dns-01")
	}
	return out
}

func (c *Config) plainHTTP() bool {
	for _, l := range c.Listen {
		if l.Type == "http" && l.TLS == "none" {
			return true
		}
	}
	return false
}

func (c *Config) directTLS() bool {
	for _, l := range c.Listen {
		if (l.Type == "c2s" || l.Type == "http") && l.TLS == "direct" {
			return true
		}
	}
	return false
}

// DefaultACMEDirectory is Let's Encrypt's production directory.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// ACMEStorage is the folder ACME keeps its data in.
func (c *Config) ACMEStorage() string {
	if c.ACME.Storage != "" {
		return c.ACME.Storage
	}
	return filepath.Join(c.DataDir, "acme")
}

// ACMENames are the names one host's ACME certificate covers: the host
// and the service subdomains this configuration serves for it.
func (c *Config) ACMENames(domain string) []string {
	names := []string{domain}
	for _, l := range c.serviceLabels() {
		names = append(names, l[1]+"."+domain)
	}
	return names
}

// Cluster is the [cluster] section. The nodes talk over NATS: by default
// each node runs an embedded NATS server (Listen, Routes); NATSURL uses an
// existing NATS cluster instead.
type Cluster struct {
	// Node is this node's name, unique in the cluster; "" means no
	// cluster.
	Node string `toml:"node"`
	// Name is the cluster's name: the NATS cluster name and the prefix of
	// every subject and bucket, so that two clusters can share one NATS.
	Name string `toml:"name"`
	// Secret authenticates the nodes to each other (the NATS route and
	// client password); SecretFile reads it from a file instead.
	Secret     string `toml:"secret"`
	SecretFile string `toml:"secret_file"`
	// Listen is where the embedded NATS server takes routes from the
	// other nodes (host:port); Routes are the other nodes' Listen
	// addresses.
	Listen string   `toml:"listen"`
	Routes []string `toml:"routes"`
	// TLSCertFile, TLSKeyFile and TLSCAFile (PEM) put the embedded
	// server's routes under TLS: each node presents its certificate and
	// accepts only routes from certificates the CA signed; a node's
	// certificate must name the address the others have in routes.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	TLSCAFile   string `toml:"tls_ca_file"`
	// NATSURL is an existing NATS cluster to use instead of the embedded
	// server (nats://user:password@host:4222, several comma-separated).
	NATSURL string `toml:"nats_url"`
	// Replicas is how many copies the cluster's state (session directory)
	// keeps; 0: three, or fewer when there are fewer nodes.
	Replicas int `toml:"replicas"`
	// Heartbeat is how often a node says it is alive; DeadAfter how long
	// without a word before the others take it for dead.
	Heartbeat Duration `toml:"heartbeat"`
	DeadAfter Duration `toml:"dead_after"`
	// JoinTimeout bounds how long start-up waits for the cluster (a
	// majority of the nodes must be up for its state to be written).
	JoinTimeout Duration `toml:"join_timeout"`
	// HandoverWait is how long a node shutting down waits for the clients
	// of its resumable XEP-0198 sessions to resume them on other nodes
	// (docs/clustering.md, "Stream management across nodes"); 0 ends them at once.
	HandoverWait Duration `toml:"handover_wait"`
}

// Enabled reports whether this server is a cluster node.
func (c Cluster) Enabled() bool { return c.Node != "" }

// Auth configures client authentication.
type Auth struct {
	// Mechanisms, when set, are the only SASL mechanisms offered (SASL
	// and SASL2 alike), such as ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1",
	// "PLAIN"] while accounts imported from Prosody have SHA-1 keys only.
	// Empty (default): every mechanism the connection allows, strongest
	// first; -PLUS needs channel binding and PLAIN TLS either way.
	Mechanisms []string `toml:"mechanisms"`
	// FastTokenLifetime is how long a XEP-0484 (FAST) token stays valid
	// after it was issued; a client that logs in with it gets a new one.
	// 0 turns FAST off. Default 504h (three weeks).
	FastTokenLifetime Duration `toml:"fast_token_lifetime"`
}

// S2S configures federation with other XMPP servers.
type S2S struct {
	// Enabled sends stanzas for remote domains to their servers; false
	// answers them with remote-server-not-found, as without federation.
	// Default true.
	Enabled bool `toml:"enabled"`
	// TLSVerify requires a peer's certificate to validate for its domain
	// (system roots plus CAFile). false accepts any certificate and relies
	// on dialback (XEP-0220) for the peer's identity, as RFC 6120 §13.7.2
	// permits; needed for peers with self-signed certificates. Default true.
	TLSVerify bool `toml:"tls_verify"`
	// RequireTLS refuses outbound streams to peers that do not offer
	// STARTTLS (inbound: the listener's require_tls). Default true.
	RequireTLS bool `toml:"require_tls"`
	// CAFile is a PEM file of extra trusted certificates (e.g. a peer's
	// self-signed one) for TLSVerify and SASL EXTERNAL; "" = system roots only.
	CAFile string `toml:"ca_file"`
	// Dialback allows XEP-0220 dialback when SASL EXTERNAL is not possible.
	// Default true.
	Dialback bool `toml:"dialback"`
	// ConnectTimeout bounds DNS, connect, TLS and authentication of one
	// outbound stream; stanzas queued meanwhile bounce with
	// remote-server-timeout when it passes. Default 30s.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// IdleTimeout closes a stream that carried nothing for this long.
	// Default 5m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// QueueStanzas bounds the stanzas queued for one remote domain while
	// its stream is being set up; more bounce with resource-constraint.
	// Default 1000.
	QueueStanzas int `toml:"queue_stanzas"`
	// Routes point remote domains at fixed addresses instead of DNS.
	Routes []S2SRoute `toml:"route"`
}

// S2SRoute is a static route: stanzas for Domain go to Address.
type S2SRoute struct {
	Domain  string `toml:"domain"`
	Address string `toml:"address"` // host:port
	TLS     string `toml:"tls"`     // "starttls" (default) or "direct" (XEP-0368)
}

// Registration bounds in-band account registration (XEP-0077). Whether a
// host accepts it at all is Host.Registration.
type Registration struct {
	// MinInterval is the time one IP address (one /64 for IPv6, which a
	// single host usually has whole) must wait between two new accounts;
	// 0 disables the throttle. Default 5m.
	MinInterval Duration `toml:"min_interval"`
	// MinPasswordLength is the fewest characters (Unicode code points) a
	// password chosen in-band may have, at registration and at a password
	// change. Default 8.
	MinPasswordLength int `toml:"min_password_length"`
}

// Contact lists the service's contact addresses (XEP-0157), published in
// the server's disco#info. Each is a URI: mailto:, xmpp:, http(s):.
type Contact struct {
	Abuse    []string `toml:"abuse"`
	Admin    []string `toml:"admin"`
	Feedback []string `toml:"feedback"`
	Sales    []string `toml:"sales"`
	Security []string `toml:"security"`
	Status   []string `toml:"status"`
	Support  []string `toml:"support"`
}

// Fields returns the XEP-0157 form fields that have addresses, keyed by
// field name ("abuse-addresses", ...).
func (c Contact) Fields() map[string][]string {
	out := map[string][]string{}
	for name, addrs := range map[string][]string{
		"abuse-addresses": c.Abuse, "admin-addresses": c.Admin, "feedback-addresses": c.Feedback,
		"sales-addresses": c.Sales, "security-addresses": c.Security, "status-addresses": c.Status,
		"support-addresses": c.Support,
	} {
		if len(addrs) > 0 {
			out[name] = addrs
		}
	}
	return out
}

// Host is one virtual host (a domain we serve).
type Host struct {
	Domain   string `toml:"domain"`
	CertFile string `toml:"cert_file"` // "" = self-signed, made and kept under DataDir
	KeyFile  string `toml:"key_file"`
	// Registration lets clients create accounts on this host in-band
	// (XEP-0077), before authenticating. Default false.
	Registration bool `toml:"registration"`
	// Admins are the bare JIDs that may administer this host from an
	// XMPP client: the XEP-0133 service administration commands
	// (XEP-0050 ad-hoc commands: add a user, delete one, change a
	// password, end sessions, list and count users, announce). None by
	// default.
	Admins []string `toml:"admins"`
	// DisableModules are modules (by name: "ping", "version", ...) this
	// host does without while the others keep them: their IQs to it are
	// answered with service-unavailable and its disco#info leaves their
	// features out. Only modules that work through IQ handlers alone
	// can be disabled per host (the server refuses to start otherwise).
	// None by default.
	DisableModules []string `toml:"disable_modules"`
}

// Listener is one socket.
type Listener struct {
	Type       string `toml:"type"`        // "c2s" (default), "s2s" (federation, default :5269), "component" (XEP-0114), "http" (WebSocket, BOSH, host-meta, uploads) or "admin" (metrics, admin API)
	Address    string `toml:"address"`     // host:port; port 0 allowed (tests); component default 127.0.0.1:5347
	TLS        string `toml:"tls"`         // c2s: "starttls" (default) or "direct" (XEP-0368); http: "direct" (HTTPS, default) or "none"; unset for components
	RequireTLS *bool  `toml:"require_tls"` // starttls only: require TLS before SASL; default true
	// AllowRemote lets an "admin" listener (metrics and the admin API,
	// plain HTTP) bind a non-loopback address; it needs [admin]
	// token_file. Default false.
	AllowRemote bool `toml:"allow_remote"`
}

// DefaultAdminAddress is where the "admin" listener (Prometheus /metrics,
// the JSON admin API the CLI talks to) listens unless configured: loopback
// only, since it has no authentication.
const DefaultAdminAddress = "127.0.0.1:5290"

// Admin returns the first "admin" listener, if any.
func (c *Config) Admin() (Listener, bool) {
	for _, l := range c.Listen {
		if l.Type == "admin" {
			return l, true
		}
	}
	return Listener{}, false
}

// AdminAPI is the [admin] section.
type AdminAPI struct {
	// TokenFile holds the bearer token every request to the admin
	// listener must then carry (Authorization: Bearer); xmppd writes a
	// random one there (mode 0600) at start-up if the file does not
	// exist, and "xmppd status|session" read it. Relative to data_dir.
	// Required with allow_remote = true; "" (default): no token, the
	// listener stays on loopback.
	TokenFile string `toml:"token_file"`
	// Web serves the admin pages at /admin/ on the http listeners: the
	// hosts' admins (Host.Admins) log in with their XMPP account's
	// password. Default false.
	Web bool `toml:"web"`
}

// AdminTokenPath is where the admin token is kept; "" when none is.
func (c *Config) AdminTokenPath() string {
	if c.AdminAPI.TokenFile == "" || filepath.IsAbs(c.AdminAPI.TokenFile) {
		return c.AdminAPI.TokenFile
	}
	return filepath.Join(c.DataDir, c.AdminAPI.TokenFile)
}

// WebSocket is the [websocket] section.
type WebSocket struct {
	// Origins are the web pages (Origin host patterns such as
	// "chat.example.org" or "*.example.org") whose scripts may connect;
	// empty: any page.
	Origins []string `toml:"origins"`
}

// HTTP is the [http] section.
type HTTP struct {
	// WebClient serves the bundled web client (Converse.js) at /web/ of
	// every http listener, logging in over the listener's own WebSocket,
	// and links it from the hosts' landing pages at /. Default true.
	WebClient bool `toml:"web_client"`
}

// Component is an external component (XEP-0114 "jabber:component:accept")
// allowed to serve Domain once it proves it knows Secret.
type Component struct {
	Domain string `toml:"domain"` // e.g. "gateway.example.org"; not a [[host]]
	Secret string `toml:"secret"` // shared secret of the handshake
	// Parent is the virtual host whose disco#items list the component;
	// default: the host Domain is a subdomain of, if any.
	Parent string `toml:"parent"`
	Name   string `toml:"name"` // its name in those items
}

// Limits are the DoS bounds (RFC 6120 §13.12).
type Limits struct {
	MaxStanzaBytes      int      `toml:"max_stanza_bytes"`       // 262144
	MaxDepth            int      `toml:"max_depth"`              // 64
	MaxAttrs            int      `toml:"max_attrs"`              // 64
	AuthTimeout         Duration `toml:"auth_timeout"`           // 60s: from connect to bound resource
	StanzaTimeout       Duration `toml:"stanza_timeout"`         // 60s: from a stanza's first byte to its last
	HandshakeTimeout    Duration `toml:"handshake_timeout"`      // 10s: TLS handshake
	OutboundQueueBytes  int      `toml:"outbound_queue_bytes"`   // 1 MiB per session, then the session is closed
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip"` // 0 = unlimited; default 100
	ConnectionRate      float64  `toml:"connection_rate"`        // new connections/s per IP; default 20 (0 = no rate limit)
	ConnectionBurst     int      `toml:"connection_burst"`       // default 40
	AuthFailureDelay    Duration `toml:"auth_failure_delay"`     // delay after a first failed auth, doubled per failure from one IP or on one account; 250ms
	AuthFailureMaxDelay Duration `toml:"auth_failure_max_delay"` // the most it grows to; 10s
	MaxSessions         int      `toml:"max_sessions"`           // 0 = unlimited
	// HTTPBodyTimeout is how long a request body on an "http" listener
	// may go without a byte arriving (per read, not for the whole body:
	// slow uploads that keep moving are not cut).
	HTTPBodyTimeout Duration `toml:"http_body_timeout"` // 30s
	// HTTPIdleTimeout is how long a keep-alive HTTP connection may wait
	// for its next request.
	HTTPIdleTimeout Duration `toml:"http_idle_timeout"` // 60s
	// ResumeTimeout is how long a session with XEP-0198 resumption enabled
	// stays bound after its connection broke, waiting for its client to
	// resume it; "0s" offers stream management without resumption.
	ResumeTimeout Duration `toml:"resume_timeout"` // 5m
	// IdleAfter is how long a bound TLS session reads nothing before its
	// reader goroutine is released until the socket has input again
	// (Linux); the first wait after login is at most 2s (c2s loginIdle).
	// "0s" keeps a goroutine per session. Memory, not behaviour.
	IdleAfter Duration `toml:"idle_after"` // 10s
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (debug.SetMemoryLimit, like GOMEMLIMIT); 0 = none. With it the
	// runtime returns the garbage of login bursts to the OS instead of
	// keeping it: docs/performance.md measured 29 → 20 KiB RSS per idle
	// session at 10,000 sessions with 200 MiB.
	MemoryLimit int64 `toml:"memory_limit"`
}

// Storage selects the backend.
type Storage struct {
	Driver string `toml:"driver"` // "sqlite" (default) or "postgres"
	DSN    string `toml:"dsn"`    // sqlite: file path, default DataDir/xmppd.db
}

// Duration is a time.Duration read from a TOML string such as "30s";
// module.Duration, so that modules' sections use the same type.
type Duration = module.Duration

// Defaults not otherwise visible in Default().
const (
	defaultDataDir = "./data"
	defaultDomain  = "localhost"
	dbFileName     = "xmppd.db"
)

// Default returns the configuration used when no file is given.
func Default() *Config {
	c := &Config{
		DataDir:   defaultDataDir,
		LogLevel:  "info",
		LogFormat: "text",
		Hosts:     []Host{{Domain: defaultDomain}},
		Listen:    defaultListeners(),
		Limits:    defaultLimits(),
		Storage:   Storage{Driver: "sqlite"},
		Cluster:   Cluster{Name: "xmppd", Listen: "0.0.0.0:7422", Heartbeat: Duration{Duration: time.Second}, DeadAfter: Duration{Duration: 5 * time.Second}, JoinTimeout: Duration{Duration: 2 * time.Minute}, HandoverWait: Duration{Duration: 8 * time.Second}},
		Registration: Registration{
			MinInterval:       Duration{Duration: 5 * time.Minute},
			MinPasswordLength: 8,
		},
		HTTP: HTTP{WebClient: true},
		Auth: Auth{FastTokenLifetime: Duration{Duration: 21 * 24 * time.Hour}},
		ACME: ACME{Directory: DefaultACMEDirectory, StorageBackend: "files"},
		S2S: S2S{
			Enabled:        true,
			TLSVerify:      true,
			RequireTLS:     true,
			Dialback:       true,
			ConnectTimeout: Duration{Duration: 30 * time.Second},
			IdleTimeout:    Duration{Duration: 5 * time.Minute},
			QueueStanzas:   1000,
		},
	}
	c.Storage.DSN = c.DSN()
	c.Modules = defaultSections()
	return c
}

// defaultSections are the module sections as their modules declare them.
func defaultSections() map[string]any {
	m := map[string]any{}
	for _, spec := range module.ConfigSpecs() {
		m[spec.Section] = spec.New()
	}
	return m
}

func defaultListeners() []Listener {
	return []Listener{
		{Type: "c2s", Address: ":5222", TLS: "starttls", RequireTLS: boolPtr(true)},
		{Type: "c2s", Address: ":5223", TLS: "direct", RequireTLS: boolPtr(true)},
		// HTTPS with the hosts' certificates: XEP-0363 uploads (and
		// WebSocket, host-meta) work without configuration.
		{Type: "http", Address: ":5443", TLS: "direct"},
		{Type: "s2s", Address: ":5269", TLS: "starttls", RequireTLS: boolPtr(true)},
		{Type: "admin", Address: DefaultAdminAddress},
	}
}

func defaultLimits() Limits {
	return Limits{
		MaxStanzaBytes:      262144,
		MaxDepth:            64,
		MaxAttrs:            64,
		AuthTimeout:         Duration{Duration: 60 * time.Second},
		StanzaTimeout:       Duration{Duration: 60 * time.Second},
		HandshakeTimeout:    Duration{Duration: 10 * time.Second},
		OutboundQueueBytes:  1 << 20,
		MaxConnectionsPerIP: 100,
		ConnectionRate:      20,
		ConnectionBurst:     40,
		AuthFailureDelay:    Duration{Duration: 250 * time.Millisecond},
		AuthFailureMaxDelay: Duration{Duration: 10 * time.Second},
		MaxSessions:         0,
		ResumeTimeout:       Duration{Duration: 5 * time.Minute},
		IdleAfter:           Duration{Duration: 10 * time.Second},
		HTTPBodyTimeout:     Duration{Duration: 30 * time.Second},
		HTTPIdleTimeout:     Duration{Duration: 60 * time.Second},
	}
}

func boolPtr(b bool) *bool { return &b }

// Domains returns the served domains, in configuration order.
func (c *Config) Domains() []string {
	out := make([]string, len(c.Hosts))
	for i, h := range c.Hosts {
		out[i] = h.Domain
	}
	return out
}

// DSN returns the storage DSN in effect: the configured one, or for sqlite
// DataDir/xmppd.db.
func (c *Config) DSN() string {
	if c.Storage.DSN != "" || (c.Storage.Driver != "" && c.Storage.Driver != "sqlite") {
		return c.Storage.DSN
	}
	return filepath.Join(c.DataDir, dbFileName)
}

// RequiresTLS reports whether a client must be under TLS before it may
// authenticate: always for direct TLS, and for STARTTLS unless require_tls
// is false.
func (l Listener) RequiresTLS() bool {
	return l.TLS == "direct" || l.RequireTLS == nil || *l.RequireTLS
}

// DirectTLS reports whether the listener speaks TLS from the first byte
// (XEP-0368) rather than offering STARTTLS.
func (l Listener) DirectTLS() bool { return l.TLS == "direct" }

// Load reads and validates a TOML file; defaults fill what is unset.
// Relative paths in it (data_dir, cert_file, ...) are relative to the
// working directory, not to the file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse is Load on bytes; name is used in error messages.
//
// Every problem found is reported (errors.Join), each as an *Error carrying
// the file name, line and column, and the key, e.g.
//
//	xmppd.toml:7:1: limits.max_stanza_bytes: must be between 1024 and 16777216, got 12
func Parse(data []byte, name string) (*Config, error) {
	var root map[string]toml.Primitive
	md, err := toml.Decode(string(data), &root)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	d := &decoder{md: md, name: name, pos: scanPositions(data)}

	// Start from the defaults so that whatever the file leaves out keeps its
	// default, and explicit zeroes (max_connections_per_ip = 0: unlimited)
	// stay distinguishable from "unset". Lists are the exception: a [[host]]
	// in the file replaces the default host rather than adding to it.
	c := Default()
	c.Hosts, c.Listen, c.Storage.DSN = nil, nil, ""
	// The modules' sections decode into their own types, with the same
	// walk and so the same errors as the core's.
	for _, spec := range module.ConfigSpecs() {
		d.sections = append(d.sections, spec.Section)
		prim, ok := root[spec.Section]
		if !ok {
			continue
		}
		delete(root, spec.Section)
		d.field(prim, reflect.ValueOf(c.Modules[spec.Section]).Elem(), spec.Section)
	}
	d.table(root, valueOf(c), "")
	// nil: absent, or not decodable (already reported; the default avoids a
	// second, confusing "at least one" error). An explicit empty array is
	// non-nil and is refused by validate.
	if c.Hosts == nil {
		c.Hosts = []Host{{Domain: defaultDomain}}
	}
	if c.Listen == nil {
		c.Listen = defaultListeners()
	}
	c.fillDefaults()
	errs := append(d.errs, c.validate(name, d.pos)...)
	if len(errs) > 0 {
		// File order reads best; errors without a line (defaults) last.
		sort.SliceStable(errs, func(i, j int) bool {
			a, b := errs[i].(*Error), errs[j].(*Error)
			if (a.Line == 0) != (b.Line == 0) {
				return b.Line == 0
			}
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// fillDefaults completes list entries and values derived from others.
func (c *Config) fillDefaults() {
	for i := range c.Listen {
		l := &c.Listen[i]
		if l.Type == "" {
			l.Type = "c2s"
		}
		if strings.EqualFold(l.Type, "http") {
			if l.TLS == "" {
				l.TLS = "direct"
			}
			if l.Address == "" {
				l.Address = ":5443"
				if strings.EqualFold(l.TLS, "none") {
					l.Address = ":5280"
				}
			}
			continue
		}
		if strings.EqualFold(l.Type, "admin") {
			if l.Address == "" {
				l.Address = DefaultAdminAddress
			}
			continue
		}
		if strings.EqualFold(l.Type, "component") {
			// XEP-0114 streams are plain TCP: no TLS settings apply.
			if l.Address == "" {
				l.Address = "127.0.0.1:5347"
			}
			continue
		}
		if l.TLS == "" {
			l.TLS = "starttls"
		}
		if strings.EqualFold(l.Type, "s2s") && l.Address == "" {
			// RFC 6120 §14.7: 5269 is the registered xmpp-server port;
			// direct TLS has none, 5270 being the common choice.
			l.Address = ":5269"
			if strings.EqualFold(l.TLS, "direct") {
				l.Address = ":5270"
			}
		}
		if l.Address == "" {
			// Anything but "direct" gets 5222, so a bad tls value is
			// reported alone, not also as a missing address.
			l.Address = ":5222"
			if strings.EqualFold(l.TLS, "direct") {
				l.Address = ":5223"
			}
		}
		if l.RequireTLS == nil {
			// Direct TLS is always encrypted; true keeps RequireTLS
			// meaningful for code that reads it without checking TLS.
			l.RequireTLS = boolPtr(true)
		}
	}
	for i := range c.Components {
		cp := &c.Components[i]
		if cp.Parent != "" {
			continue
		}
		for _, h := range c.Hosts {
			if strings.HasSuffix(strings.ToLower(cp.Domain), "."+strings.ToLower(h.Domain)) {
				cp.Parent = strings.ToLower(h.Domain)
				break
			}
		}
	}
	for i := range c.S2S.Routes {
		if c.S2S.Routes[i].TLS == "" {
			c.S2S.Routes[i].TLS = "starttls"
		}
	}
	if c.Storage.Driver == "" {
		c.Storage.Driver = "sqlite"
	}
	if c.Storage.DSN == "" {
		c.Storage.DSN = c.DSN()
	}
}

// UploadPath is the folder XEP-0363 files are stored in: upload.path, or
// DataDir/upload ("" without the upload module).
func (c *Config) UploadPath() string {
	if u, ok := c.Modules["upload"].(interface{ Folder(dataDir string) string }); ok {
		return u.Folder(c.DataDir)
	}
	return ""
}

// Validate checks a configuration built in code (Parse validates already).
// The errors carry no file position.
func (c *Config) Validate() error {
	return errors.Join(c.validate("", nil)...)
}

// Error is one configuration problem.
type Error struct {
	File string // as given to Parse; may be ""
	Line int    // 1-based; 0 when the value is not in the file (a default)
	Col  int    // 1-based; 0 when unknown
	Key  string // e.g. "listen[1].tls"; "" for syntax errors
	Msg  string
}

func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
		if e.Col > 0 {
			s += fmt.Sprintf(":%d", e.Col)
		}
	}
	if s != "" {
		s += ": "
	}
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Msg
}
