package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/modules/extdisco"
	"github.com/xmppd/xmppd/modules/push"
	uploadmod "github.com/xmppd/xmppd/modules/upload"
)

// upload is the [upload] section, modules/upload's own.
func upload(c *Config) *uploadmod.Config { return c.Section("upload").(*uploadmod.Config) }

func TestDefaults(t *testing.T) {
	c, err := Parse(nil, "empty.toml")
	if err != nil {
		t.Fatalf("empty file: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("empty file gives\n%+v\nwant Default()\n%+v", c, Default())
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default() does not validate: %v", err)
	}

	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, "./data"},
		{"log_level", c.LogLevel, "info"},
		{"log_format", c.LogFormat, "text"},
		{"domains", c.Domains(), []string{"localhost"}},
		{"listeners", len(c.Listen), 5},
		{"listen[2]", [3]string{c.Listen[2].Type, c.Listen[2].Address, c.Listen[2].TLS}, [3]string{"http", ":5443", "direct"}},
		{"upload.max_file_size", upload(c).MaxFileSize, int64(50 << 20)},
		{"upload.quota", upload(c).Quota, int64(1 << 30)},
		{"upload.expire_after", upload(c).ExpireAfter.Duration, 7 * 24 * time.Hour},
		{"UploadPath()", c.UploadPath(), filepath.Join("data", "upload")},
		{"push", *c.Section("push").(*push.Config), push.Config{Enabled: true, MaxRegistrations: 10}},
		{"http.web_client", c.HTTP.WebClient, true},
		{"listen[3]", [3]string{c.Listen[3].Type, c.Listen[3].Address, c.Listen[3].TLS}, [3]string{"s2s", ":5269", "starttls"}},
		{"s2s", [4]bool{c.S2S.Enabled, c.S2S.TLSVerify, c.S2S.RequireTLS, c.S2S.Dialback}, [4]bool{true, true, true, true}},
		{"listen[4]", [2]string{c.Listen[4].Type, c.Listen[4].Address}, [2]string{"admin", "127.0.0.1:5290"}},
		{"listen[0]", [3]string{c.Listen[0].Type, c.Listen[0].Address, c.Listen[0].TLS}, [3]string{"c2s", ":5222", "starttls"}},
		{"listen[1]", [3]string{c.Listen[1].Type, c.Listen[1].Address, c.Listen[1].TLS}, [3]string{"c2s", ":5223", "direct"}},
		{"listen[0].require_tls", *c.Listen[0].RequireTLS, true},
		{"listen[0].RequiresTLS", c.Listen[0].RequiresTLS(), true},
		{"listen[1].RequiresTLS", c.Listen[1].RequiresTLS(), true},
		{"listen[1].DirectTLS", c.Listen[1].DirectTLS(), true},
		{"max_stanza_bytes", c.Limits.MaxStanzaBytes, 262144},
		{"max_depth", c.Limits.MaxDepth, 64},
		{"max_attrs", c.Limits.MaxAttrs, 64},
		{"auth_timeout", c.Limits.AuthTimeout.Duration, 60 * time.Second},
		{"handshake_timeout", c.Limits.HandshakeTimeout.Duration, 10 * time.Second},
		{"stanza_timeout", c.Limits.StanzaTimeout.Duration, 60 * time.Second},
		{"outbound_queue_bytes", c.Limits.OutboundQueueBytes, 1 << 20},
		{"max_connections_per_ip", c.Limits.MaxConnectionsPerIP, 100},
		{"connection_rate", c.Limits.ConnectionRate, 20.0},
		{"connection_burst", c.Limits.ConnectionBurst, 40},
		{"memory_limit", c.Limits.MemoryLimit, int64(0)},
		{"auth_failure_delay", c.Limits.AuthFailureDelay.Duration, 250 * time.Millisecond},
		{"auth_failure_max_delay", c.Limits.AuthFailureMaxDelay.Duration, 10 * time.Second},
		{"max_sessions", c.Limits.MaxSessions, 0},
		{"registration.min_interval", c.Registration.MinInterval.Duration, 5 * time.Minute},
		{"registration.min_password_length", c.Registration.MinPasswordLength, 8},
		{"host[0].registration", c.Hosts[0].Registration, false},
		{"storage.driver", c.Storage.Driver, "sqlite"},
		{"storage.dsn", c.Storage.DSN, filepath.Join("data", "xmppd.db")},
		{"DSN()", c.DSN(), filepath.Join("data", "xmppd.db")},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestPartialFilesKeepOtherDefaults(t *testing.T) {
	tests := []struct {
		name  string
		toml  string
		check func(*Config) bool
	}{
		{"dsn follows data_dir", `data_dir = "/var/lib/xmppd"`,
			func(c *Config) bool { return c.Storage.DSN == "/var/lib/xmppd/xmppd.db" }},
		{"one limit set, others default", "[limits]\nmax_depth = 32",
			func(c *Config) bool {
				return c.Limits.MaxDepth == 32 && c.Limits.MaxAttrs == 64 && c.Limits.ConnectionBurst == 40
			}},
		{"explicit zero is kept (unlimited)", "[limits]\nmax_connections_per_ip = 0\nconnection_rate = 0",
			func(c *Config) bool { return c.Limits.MaxConnectionsPerIP == 0 && c.Limits.ConnectionRate == 0 }},
		{"hosts replace the default", "[[host]]\ndomain = \"Example.ORG.\"",
			func(c *Config) bool { return reflect.DeepEqual(c.Domains(), []string{"example.org"}) }},
		{"listener defaults", "[[listen]]\ntls = \"direct\"\n[[listen]]\naddress = \"127.0.0.1:0\"",
			func(c *Config) bool {
				return len(c.Listen) == 2 && c.Listen[0] == Listener{"c2s", ":5223", "direct", c.Listen[0].RequireTLS, false} &&
					c.Listen[1].TLS == "starttls" && c.Listen[1].Type == "c2s" && *c.Listen[1].RequireTLS
			}},
		{"require_tls false", "[[listen]]\nrequire_tls = false",
			func(c *Config) bool { return !*c.Listen[0].RequireTLS && !c.Listen[0].RequiresTLS() }},
		{"keywords are case-insensitive", "log_level = \"DEBUG\"\nlog_format = \"JSON\"\n[[listen]]\ntls = \"Direct\"",
			func(c *Config) bool {
				return c.LogLevel == "debug" && c.LogFormat == "json" && c.Listen[0].TLS == "direct"
			}},
		{"postgres", "[storage]\ndriver = \"postgres\"\ndsn = \"postgres://x@y/z\"",
			func(c *Config) bool { return c.DSN() == "postgres://x@y/z" }},
		{"inline tables and dotted keys", "limits.max_depth = 16\nhost = [{domain = \"a.test\"}, {domain = \"b.test\"}]",
			func(c *Config) bool {
				return c.Limits.MaxDepth == 16 && len(c.Hosts) == 2 && c.Hosts[1].Domain == "b.test"
			}},
		{"registration per host", "[[host]]\ndomain = \"a.test\"\nregistration = true\n[[host]]\ndomain = \"b.test\"\n[registration]\nmin_interval = \"0s\"",
			func(c *Config) bool {
				return c.Hosts[0].Registration && !c.Hosts[1].Registration && c.Registration.MinInterval.Duration == 0 &&
					c.Registration.MinPasswordLength == 8
			}},
		{"external services", "[[external_service]]\ntype = \"TURN\"\nhost = \"Turn.Example.ORG.\"\nport = 3478\ntransport = \"UDP\"\nsecret = \"s\"\n[[external_service]]\ntype = \"stun\"\nhost = \"2001:db8::1\"",
			func(c *Config) bool {
				e := *c.Section("external_service").(*extdisco.Config)
				return len(e) == 2 && e[0].Type == "turn" && e[0].Host == "turn.example.org" && e[0].Transport == "udp" &&
					e[0].TTL.Duration == 24*time.Hour && e[1].Host == "2001:db8::1" && e[1].TTL.Duration == 0
			}},
		{"durations", "[limits]\nauth_timeout = \"2m\"\nauth_failure_delay = \"0s\"",
			func(c *Config) bool {
				return c.Limits.AuthTimeout.Duration == 2*time.Minute && c.Limits.AuthFailureDelay.Duration == 0
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "x.toml")
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config: %+v", c)
			}
		})
	}
}

// TestErrors checks that every error names the file, the line (and, where
// given, the column) and the key. want is "line:col key: message part";
// col 0 means "just check the line".
func TestErrors(t *testing.T) {
	const pg = "[storage]\ndriver = \"postgres\"\ndsn = \"postgres://x@db/xmppd\"\n"
	tests := []struct {
		name string
		toml string
		want []string // each "LINE KEY: SUBSTRING"
	}{
		// Unknown keys.
		{"unknown top-level key", "data_dir = \"x\"\nlog_levle = \"info\"", []string{"2 log_levle: unknown key"}},
		{"unknown key is case-sensitive", "Data_Dir = \"x\"", []string{"1 Data_Dir: unknown key"}},
		{"unknown table", "\n[limit]\nmax_depth = 3", []string{"2 limit: unknown key"}},
		{"unknown nested key", "[limits]\nmax_depth = 16\nmax_dept = 3", []string{"3 limits.max_dept: unknown key"}},
		{"unknown key in second listener", "[[listen]]\ntls = \"direct\"\n\n[[listen]]\nport = 5222", []string{"5 listen[1].port: unknown key"}},
		{"unknown key in host", "[[host]]\ndomain = \"a.test\"\ncert = \"x\"", []string{"3 host[0].cert: unknown key"}},
		{"unknown key in inline table", "[[host]]\ndomain = \"a.test\"\n[[listen]]\nopts = { a = 1 }", []string{"4 listen[0].opts: unknown key"}},
		{"unknown dotted key", "storage.drvier = \"sqlite\"", []string{"1 storage.drvier: unknown key"}},

		// [upload]
		{"upload subdomain with a dot", "[upload]\nsubdomain = \"a.b\"", []string{"2 upload.subdomain: must be one DNS label"}},
		{"upload subdomain is muc's", "[upload]\nsubdomain = \"conference\"", []string{"2 upload.subdomain: \"conference\" is muc.subdomain already"}},
		{"upload max_file_size zero", "[upload]\nmax_file_size = 0", []string{"2 upload.max_file_size: must be between 1 and"}},
		{"upload quota below max_file_size", "[upload]\nmax_file_size = 1000\nquota = 999", []string{"3 upload.quota: must be 0 (unlimited) or at least max_file_size (1000)"}},
		{"upload negative quota", "[upload]\nquota = -1", []string{"2 upload.quota: must be 0 (unlimited) or more"}},
		{"upload expire_after too short", "[upload]\nexpire_after = \"10ms\"\nslot_timeout = \"1s\"", []string{"2 upload.expire_after: must be 0 (keep forever) or at least 1s"}},
		{"upload expire_after below slot_timeout", "[upload]\nexpire_after = \"1m\"", []string{"2 upload.expire_after: must be 0 or at least slot_timeout (5m0s)"}},
		{"upload slot_timeout zero", "[upload]\nslot_timeout = \"0s\"", []string{"2 upload.slot_timeout: must be between 1s and 24h0m0s"}},
		{"upload url not absolute", "[upload]\nurl = \"/upload\"", []string{"2 upload.url: must be an absolute URL"}},
		{"upload url ftp", "[upload]\nurl = \"ftp://x.example\"", []string{"2 upload.url: must be an https:// URL"}},
		{"invites url ftp", "[invites]\nurl = \"ftp://x.example\"", []string{"2 invites.url: must be an https:// URL"}},
		{"invites url relative", "[invites]\nurl = \"/invite\"", []string{"2 invites.url: must be an absolute URL"}},
		{"invites expire_after short", "[invites]\nexpire_after = \"10s\"", []string{"2 invites.expire_after: must be between 1m0s and 8760h0m0s"}},
		{"push max_registrations zero", "[push]\nmax_registrations = 0", []string{"2 push.max_registrations: must be between 1 and 1000, got 0"}},
		{"host admin not a bare JID", "[[host]]\ndomain = \"a.test\"\nadmins = [\"alice\"]", []string{"3 host[0].admins: \"alice\" is not a bare JID"}},
		{"unknown mechanism", "[auth]\nmechanisms = [\"SCRAM-MD5\"]", []string{"2 auth.mechanisms: must be one of"}},
		{"fast token lifetime too short", "[auth]\nfast_token_lifetime = \"1m\"", []string{"2 auth.fast_token_lifetime: must be between 1h0m0s and 8784h0m0s, got 1m0s"}},
		// [cluster] (issue 17): a node that could not work with the
		// others stops at start-up.
		{"cluster on SQLite", "[storage]\ndriver = \"sqlite\"\n[cluster]\nnode = \"n1\"\nsecret = \"0123456789abcdef\"", []string{"2 storage.driver: must be \"postgres\" on a cluster node: the nodes share one database, and SQLite is one node's file"}},
		{"cluster without a secret", pg + "[cluster]\nnode = \"n1\"", []string{"4 cluster.secret: must be set (or secret_file): the nodes authenticate each other with it, and nothing unauthenticated may join"}},
		{"cluster secret too short", pg + "[cluster]\nnode = \"n1\"\nsecret = \"short\"", []string{"6 cluster.secret: must be at least 16 characters"}},
		{"cluster secret twice", pg + "[cluster]\nnode = \"n1\"\nsecret = \"0123456789abcdef\"\nsecret_file = \"/x\"", []string{"6 cluster.secret: set secret or secret_file, not both"}},
		{"cluster node name", pg + "[cluster]\nnode = \"n 1\"\nsecret = \"0123456789abcdef\"", []string{"5 cluster.node: must be 1 to 32 letters, digits, '-' or '_', got \"n 1\""}},
		{"cluster routes with nats_url", pg + "[cluster]\nnode = \"n1\"\nnats_url = \"nats://a:4222\"\nroutes = [\"b:7422\"]", []string{"7 cluster.routes: routes are for the embedded NATS server"}},
		{"cluster dead_after", pg + "[cluster]\nnode = \"n1\"\nsecret = \"0123456789abcdef\"\nheartbeat = \"1s\"\ndead_after = \"1500ms\"", []string{"8 cluster.dead_after: must be at least twice cluster.heartbeat (1s), got 1.5s"}},
		{"cluster route TLS incomplete", pg + "[cluster]\nnode = \"n1\"\nsecret = \"0123456789abcdef\"\ntls_cert_file = \"/x.crt\"", []string{"7 cluster.tls_cert_file: set tls_cert_file, tls_key_file and tls_ca_file together"}},
		{"cluster route TLS with nats_url", pg + "[cluster]\nnode = \"n1\"\nnats_url = \"nats://a:4222\"\ntls_cert_file = \"/x.crt\"\ntls_key_file = \"/x.key\"\ntls_ca_file = \"/ca.crt\"", []string{"7 cluster.tls_cert_file: route TLS is for the embedded NATS server; with nats_url use a tls:// URL"}},
		{"cluster route TLS files missing", pg + "[cluster]\nnode = \"n1\"\nsecret = \"0123456789abcdef\"\ntls_cert_file = \"/nonexistent/n1.crt\"\ntls_key_file = \"/nonexistent/n1.key\"\ntls_ca_file = \"/nonexistent/ca.crt\"",
			[]string{"7 cluster.tls_cert_file: cannot be read", "8 cluster.tls_key_file: cannot be read", "9 cluster.tls_ca_file: cannot be read"}},
		// [[external_service]]
		{"external service without type", "[[external_service]]\nhost = \"turn.example.org\"", []string{"1 external_service[0].type: must be set"}},
		{"external service without host", "[[external_service]]\ntype = \"turn\"", []string{"1 external_service[0].host: must be set"}},
		{"external service bad host", "[[external_service]]\ntype = \"turn\"\nhost = \"turn example\"", []string{"3 external_service[0].host: \"turn example\" is not a valid domain"}},
		{"external service port", "[[external_service]]\ntype = \"stun\"\nhost = \"192.0.2.1\"\nport = 70000", []string{"4 external_service[0].port: must be between 0 and 65535"}},
		{"external service transport", "[[external_service]]\ntype = \"stun\"\nhost = \"s.test\"\ntransport = \"sctp\"", []string{"4 external_service[0].transport: must be one of"}},
		{"external service username alone", "[[external_service]]\ntype = \"turn\"\nhost = \"t.test\"\nusername = \"u\"", []string{"1 external_service[0].password: username and password go together"}},
		{"external service secret and username", "[[external_service]]\ntype = \"turn\"\nhost = \"t.test\"\nsecret = \"s\"\nusername = \"u\"\npassword = \"p\"", []string{"5 external_service[0].username: must not be set with secret"}},
		{"external service ttl without secret", "[[external_service]]\ntype = \"turn\"\nhost = \"t.test\"\nttl = \"1h\"", []string{"4 external_service[0].ttl: only applies with secret"}},
		{"external service short ttl", "[[external_service]]\ntype = \"turn\"\nhost = \"t.test\"\nsecret = \"s\"\nttl = \"1s\"", []string{"5 external_service[0].ttl: must be between 1m0s and 720h0m0s"}},
		// [acme]
		{"acme enabled without email", "[acme]\nenabled = true", []string{"1 acme.email: must be set when enabled = true"}},
		{"acme bad email", "[[host]]\ndomain = \"example.org\"\n[acme]\nemail = \"admin\"", []string{`4 acme.email: "admin" is not an email address`}},
		{"acme plain http directory", "[[host]]\ndomain = \"example.org\"\n[acme]\nemail = \"a@example.org\"\ndirectory = \"http://ca.test/dir\"", []string{`5 acme.directory: must be an https:// URL`}},
		{"acme unknown challenge", "[[host]]\ndomain = \"example.org\"\n[acme]\nemail = \"a@example.org\"\nchallenges = [\"dns-02\"]", []string{`5 acme.challenges: must be "http-01", "tls-alpn-01" or "dns-01", got "dns-02"`}},
		{"acme http-01 without a port-80 listener", "[[host]]\ndomain = \"example.org\"\n[acme]\nemail = \"a@example.org\"\nchallenges = [\"HTTP-01\"]", []string{"5 acme.challenges: http-01 needs http_address"}},
		{"acme dns-01 without command", "[[host]]\ndomain = \"example.org\"\n[acme]\nemail = \"a@example.org\"\nchallenges = [\"dns-01\"]", []string{"5 acme.challenges: dns-01 needs dns_command"}},
		{"acme tls-alpn-01 without direct TLS", "[[host]]\ndomain = \"example.org\"\n[[listen]]\naddress = \"127.0.0.1:0\"\n[acme]\nemail = \"a@example.org\"\nchallenges = [\"tls-alpn-01\"]", []string{"7 acme.challenges: tls-alpn-01 needs a c2s or http listener"}},
		{"acme database on sqlite", "[[host]]\ndomain = \"example.org\"\n[acme]\nemail = \"a@example.org\"\nstorage_backend = \"database\"", []string{`5 acme.storage_backend: "database" needs [storage] driver = "postgres"`}},
		{"acme database with a folder", "[[host]]\ndomain = \"example.org\"\n[storage]\ndriver = \"postgres\"\ndsn = \"postgres://x@localhost/x\"\n[acme]\nemail = \"a@example.org\"\nstorage_backend = \"database\"\nstorage = \"/srv/acme\"", []string{"9 acme.storage: is the folder of storage_backend"}},
		{"acme unknown backend", "[[host]]\ndomain = \"example.org\"\n[acme]\nemail = \"a@example.org\"\nstorage_backend = \"redis\"", []string{"5 acme.storage_backend: must be one of files, database"}},
		{"acme localhost from Let's Encrypt", "[[host]]\ndomain = \"localhost\"\n[[host]]\ndomain = \"example.org\"\n[acme]\nemail = \"a@example.org\"", []string{`2 host[0].domain: "localhost" cannot get a certificate from https://acme-v02.api.letsencrypt.org/directory`}},
		{"acme no challenge possible", "[[host]]\ndomain = \"example.org\"\n[[listen]]\naddress = \"127.0.0.1:0\"\n[acme]\nemail = \"a@example.org\"", []string{"5 acme.challenges: no challenge can be answered"}},
		{"acme http_address taken", "[[host]]\ndomain = \"example.org\"\n[[listen]]\naddress = \":80\"\n[acme]\nemail = \"a@example.org\"\nhttp_address = \":80\"", []string{`7 acme.http_address: ":80" is already used by listen[0]`}},
		{"acme bad http_address", "[[host]]\ndomain = \"example.org\"\n[acme]\nemail = \"a@example.org\"\nhttp_address = \"80\"", []string{"5 acme.http_address: must be host:port"}},
		{"acme with every host on files", "[[host]]\ndomain = \"a.test\"\ncert_file = \"a.crt\"\nkey_file = \"a.key\"\n[acme]\nemail = \"a@example.org\"", []string{"6 acme.email: every [[host]] has cert_file"}},
		// [muc]
		{"muc subdomain with a dot", "[muc]\nsubdomain = \"a.b\"", []string{"2 muc.subdomain: must be one DNS label"}},
		{"muc create_rooms", "[muc]\ncreate_rooms = \"admins\"", []string{"2 muc.create_rooms: must be one of"}},
		{"muc listed without creators", "[muc]\ncreate_rooms = \"listed\"", []string{"1 muc.creators: must list at least one"}},
		{"muc bad creator", "[muc]\ncreate_rooms = \"listed\"\ncreators = [\"alice\"]", []string{"3 muc.creators: \"alice\" is not a bare JID"}},
		{"muc max_occupants", "[muc]\nmax_occupants = 0", []string{"2 muc.max_occupants: must be between 1 and 100000"}},
		{"muc negative rate", "[muc]\nmessage_rate = -1.0", []string{"2 muc.message_rate: must be 0"}},
		{"muc archive_interval", "[muc]\narchive_interval = \"2s\"", []string{"2 muc.archive_interval: must be between 0s and 1s"}},

		// Syntax and types.
		{"syntax error", "data_dir = \"x\"\nlog_level = \n", []string{"2 : syntax error"}},
		{"string for int", "[limits]\nmax_depth = \"deep\"", []string{`2 limits.max_depth: must be an integer, got string "deep"`}},
		{"int for string", "log_level = 3", []string{"1 log_level: must be a string, got integer 3"}},
		{"string for bool", "[[listen]]\nrequire_tls = \"yes\"", []string{"2 listen[0].require_tls: must be true or false"}},
		{"scalar for table", "limits = 5", []string{"1 limits: must be a table"}},
		{"table for array of tables", "[host]\ndomain = \"a\"", []string{"1 host: must be an array of tables"}},
		{"bad duration", "[limits]\nauth_timeout = \"30 seconds\"", []string{`2 limits.auth_timeout: must be a duration such as "30s"`}},
		{"integer duration", "[limits]\nhandshake_timeout = 10", []string{`2 limits.handshake_timeout: must be a duration string such as "30s" or "250ms", got integer 10`}},

		// Values.
		{"log_level", "log_level = \"loud\"", []string{`1 log_level: must be one of debug, info, warn, error, got "loud"`}},
		{"log_format", "\nlog_format = \"xml\"", []string{`2 log_format: must be one of text, json`}},
		{"data_dir empty", "data_dir = \"\"", []string{"1 data_dir: must not be empty"}},
		{"no hosts", "host = []", []string{"1 host: at least one"}},
		{"empty domain", "[[host]]\ndomain = \"\"", []string{"2 host[0].domain: must not be empty"}},
		{"missing domain", "[[host]]\ncert_file = \"c\"\nkey_file = \"k\"", []string{"1 host[0].domain: must not be empty"}},
		{"domain with @", "[[host]]\ndomain = \"me@example.org\"", []string{`2 host[0].domain: "me@example.org" is not a valid domain`}},
		{"domain with /", "[[host]]\ndomain = \"example.org/x\"", []string{`2 host[0].domain: "example.org/x" is not a valid domain`}},
		{"domain with space", "[[host]]\ndomain = \"exa mple.org\"", []string{`2 host[0].domain: "exa mple.org" is not a valid domain`}},
		{"domain empty label", "[[host]]\ndomain = \"a..b\"", []string{`2 host[0].domain: "a..b" is not a valid domain: empty label`}},
		{"duplicate domain", "[[host]]\ndomain = \"a.test\"\n[[host]]\ndomain = \"A.Test\"", []string{`4 host[1].domain: "a.test" is already host[0]`}},
		{"cert without key", "[[host]]\ndomain = \"a.test\"\ncert_file = \"a.pem\"", []string{"3 host[0].cert_file: key_file must be set too"}},
		{"key without cert", "[[host]]\ndomain = \"a.test\"\nkey_file = \"a.key\"", []string{"3 host[0].key_file: cert_file must be set too"}},
		{"no listeners", "listen = []", []string{"1 listen: at least one"}},
		{"bad tls", "[[listen]]\ntls = \"direct\"\n[[listen]]\ntls = \"foo\"", []string{`4 listen[1].tls: must be one of starttls, direct, got "foo"`}},
		{"bad type", "[[listen]]\ntype = \"s2x\"", []string{`2 listen[0].type: must be one of c2s, s2s, component, http, admin, got "s2x"`}},
		{"s2s route is a host", "[s2s]\n[[s2s.route]]\ndomain = \"localhost\"\naddress = \"127.0.0.1:5269\"", []string{`3 s2s.route[0].domain: "localhost" is host[0]`}},
		{"s2s route bad address", "[s2s]\n[[s2s.route]]\ndomain = \"b.test\"\naddress = \"nowhere\"\ntls = \"none\"", []string{`4 s2s.route[0].address: must be host:port`, `5 s2s.route[0].tls: must be one of starttls, direct, got "none"`}},
		{"s2s route port 0", "[s2s]\n[[s2s.route]]\ndomain = \"b.test\"\naddress = \"127.0.0.1:0\"", []string{`4 s2s.route[0].address: port must not be 0`}},
		{"s2s ca_file missing", "[s2s]\nca_file = \"/nonexistent/ca.pem\"", []string{`2 s2s.ca_file: cannot be read`}},
		{"s2s no verification at all", "[s2s]\ntls_verify = false\ndialback = false", []string{`3 s2s.dialback: must be true when tls_verify = false`}},
		{"component listener without components", "[[listen]]\ntype = \"component\"", []string{"2 listen[0].type: a component listener needs at least one [[component]]"}},
		{"component listener with tls", "[[listen]]\ntype = \"component\"\ntls = \"direct\"\n[[component]]\ndomain = \"gw.localhost\"\nsecret = \"12345678\"", []string{"3 listen[0].tls: component listeners (XEP-0114) are plain TCP"}},
		{"component short secret", "[[component]]\ndomain = \"gw.localhost\"\nsecret = \"x\"", []string{"3 component[0].secret: must be at least 8 characters"}},
		{"component is a host", "[[component]]\ndomain = \"localhost\"\nsecret = \"12345678\"", []string{`2 component[0].domain: "localhost" is host[0]`}},
		{"component twice", "[[component]]\ndomain = \"gw.localhost\"\nsecret = \"12345678\"\n[[component]]\ndomain = \"GW.localhost\"\nsecret = \"12345678\"", []string{`5 component[1].domain: "gw.localhost" is already component[0]`}},
		{"component parent unknown", "[[component]]\ndomain = \"gw.example\"\nsecret = \"12345678\"\nparent = \"other.example\"", []string{`4 component[0].parent: "other.example" is not a [[host]]`}},
		{"address without port", "[[listen]]\naddress = \"localhost\"", []string{"2 listen[0].address: must be host:port"}},
		{"address bad port", "[[listen]]\naddress = \":99999\"", []string{"2 listen[0].address: port must be a number"}},
		{"duplicate address", "[[listen]]\naddress = \":5222\"\n[[listen]]\naddress = \":5222\"", []string{`4 listen[1].address: ":5222" is already used by listen[0]`}},
		{"admin on every interface", "[[listen]]\ntype = \"admin\"\naddress = \":5290\"", []string{`3 listen[0].address: ":5290" is not a loopback address`}},
		{"admin on a public address", "[[listen]]\ntype = \"admin\"\naddress = \"192.0.2.1:5290\"", []string{`3 listen[0].address: "192.0.2.1:5290" is not a loopback address`}},
		{"admin with tls", "[[listen]]\ntype = \"admin\"\ntls = \"direct\"", []string{"3 listen[0].tls: admin listeners are plain HTTP"}},
		{"admin remote without token", "[[listen]]\ntype = \"admin\"\naddress = \":5290\"\nallow_remote = true", []string{"4 listen[0].allow_remote: needs [admin] token_file"}},
		{"limits http_body_timeout", "[limits]\nhttp_body_timeout = \"0s\"", []string{"2 limits.http_body_timeout: must be between 100ms and 1h0m0s"}},
		{"limits http_idle_timeout", "[limits]\nhttp_idle_timeout = \"2h\"", []string{"2 limits.http_idle_timeout: must be between 100ms and 1h0m0s"}},
		{"admin web without admins", "[admin]\nweb = true", []string{"2 admin.web: no [[host]] lists admins"}},
		{"admin web without http", "[[host]]\ndomain = \"a.test\"\nadmins = [\"me@a.test\"]\n[[listen]]\ntype = \"c2s\"\n[admin]\nweb = true", []string{"7 admin.web: the admin pages are served on an http listener"}},
		{"allow_remote on c2s", "[[listen]]\nallow_remote = true", []string{"2 listen[0].allow_remote: applies to admin listeners only"}},
		{"require_tls false on direct", "[[listen]]\ntls = \"direct\"\nrequire_tls = false", []string{"3 listen[0].require_tls: false is only possible"}},
		{"max_stanza_bytes", "\n\n\n\n\n[limits]\nmax_stanza_bytes = 12", []string{"7 limits.max_stanza_bytes: must be between 1024 and 16777216, got 12"}},
		{"max_depth", "[limits]\nmax_depth = 2", []string{"2 limits.max_depth: must be between 8 and 1024, got 2"}},
		{"max_attrs", "[limits]\nmax_attrs = 100000", []string{"2 limits.max_attrs: must be between 8 and 1024"}},
		{"auth_timeout", "[limits]\nauth_timeout = \"10ms\"", []string{"2 limits.auth_timeout: must be between 100ms and 1h0m0s, got 10ms"}},
		{"stanza_timeout", "[limits]\nstanza_timeout = \"2h\"", []string{"2 limits.stanza_timeout: must be between 100ms and 1h0m0s, got 2h0m0s"}},
		{"handshake_timeout", "[limits]\nhandshake_timeout = \"1h\"", []string{"2 limits.handshake_timeout: must be between 100ms and 5m0s"}},
		{"outbound_queue_bytes", "[limits]\noutbound_queue_bytes = 100", []string{"2 limits.outbound_queue_bytes: must be between max_stanza_bytes (262144)"}},
		{"max_connections_per_ip", "[limits]\nmax_connections_per_ip = -1", []string{"2 limits.max_connections_per_ip: must be 0 (unlimited) or more"}},
		{"connection_rate", "[limits]\nconnection_rate = -1.5", []string{"2 limits.connection_rate: must be 0"}},
		{"connection_rate nan", "[limits]\nconnection_rate = nan", []string{"2 limits.connection_rate: must be 0"}},
		{"connection_burst", "[limits]\nconnection_burst = 0", []string{"2 limits.connection_burst: must be at least 1"}},
		{"contact", "[contact]\nabuse = [\"abuse@example.org\"]", []string{"2 contact.abuse: \"abuse@example.org\" is not a mailto:, xmpp: or http(s): URI"}},
		{"memory_limit", "[limits]\nmemory_limit = 1000", []string{"2 limits.memory_limit: must be 0 (none) or between 16777216"}},
		{"roster max_items", "[roster]\nmax_items = 0", []string{"2 roster.max_items: must be between 1 and 1000000, got 0"}},
		{"unknown module disabled", "[[host]]\ndomain = \"a.test\"\ndisable_modules = [\"ping\", \"pnig\"]", []string{`3 host[0].disable_modules[1]: "pnig" is not a module (modules: `}},
		{"push max_registrations", "\n[push]\nmax_registrations = 0", []string{"3 push.max_registrations: must be between 1 and 1000, got 0"}},
		{"unknown push key", "[push]\nmax_registration = 3", []string{"2 push.max_registration: unknown key (valid here: enabled, max_registrations)"}},
		{"offline max_messages", "[offline]\nmax_messages = -1", []string{"2 offline.max_messages: must be between 1 and 1000000, got -1"}},
		{"auth_failure_delay", "[limits]\nauth_failure_delay = \"-1s\"", []string{"2 limits.auth_failure_delay: must be between 0s and 1m0s"}},
		{"auth_failure_max_delay", "[limits]\nauth_failure_max_delay = \"2h\"", []string{"2 limits.auth_failure_max_delay: must be between 0s and 1h0m0s"}},
		{"max_sessions", "[limits]\nmax_sessions = -5", []string{"2 limits.max_sessions: must be 0 (unlimited) or more"}},
		{"registration min_interval negative", "[registration]\nmin_interval = \"-1s\"", []string{"2 registration.min_interval: must be between 0s and 168h0m0s, got -1s"}},
		{"registration min_interval too long", "\n[registration]\nmin_interval = \"200h\"", []string{"3 registration.min_interval: must be between 0s and 168h0m0s"}},
		{"registration min_interval integer", "[registration]\nmin_interval = 300", []string{`2 registration.min_interval: must be a duration string such as "30s"`}},
		{"registration min_password_length", "[registration]\nmin_password_length = 0", []string{"2 registration.min_password_length: must be between 1 and 1024, got 0"}},
		{"pubsub max_items", "[pubsub]\nmax_items = 0", []string{"2 pubsub.max_items: must be between 1 and 1000000, got 0"}},
		{"pubsub max_payload_bytes", "[pubsub]\nmax_payload_bytes = 0", []string{"2 pubsub.max_payload_bytes: must be between 1 and 67108864, got 0"}},
		{"unknown registration key", "[registration]\nmax_per_ip = 3", []string{"2 registration.max_per_ip: unknown key"}},
		{"host registration not a bool", "[[host]]\ndomain = \"a.test\"\nregistration = \"yes\"", []string{"3 host[0].registration: must be true or false"}},
		{"archive default", "[archive]\ndefault = \"sometimes\"", []string{`2 archive.default: must be one of always, roster, never, got "sometimes"`}},
		{"archive retention too short", "[archive]\nretention = \"10s\"", []string{"2 archive.retention: must be 0 (keep forever) or at least 1m, got 10s"}},
		{"archive max_messages", "[archive]\nmax_messages = -1", []string{"2 archive.max_messages: must be between 0 and"}},
		{"archive max_page", "[archive]\nmax_page = 0", []string{"2 archive.max_page: must be between 1 and 10000, got 0"}},
		{"archive prune_interval", "[archive]\nprune_interval = \"0s\"", []string{"2 archive.prune_interval: must be between 1s and 168h0m0s"}},
		{"archive write_interval", "[archive]\nwrite_interval = \"2s\"", []string{"2 archive.write_interval: must be between 0s and 1s"}},
		{"storage driver", "[storage]\ndriver = \"mysql\"", []string{`2 storage.driver: must be one of sqlite, postgres, got "mysql"`}},
		{"postgres without dsn", "[storage]\ndriver = \"postgres\"", []string{`1 storage.dsn: must be set for driver "postgres"`}},

		// Several problems: all reported, in file order.
		{"several", "log_level = \"x\"\n[limits]\nmax_depth = 1\nnope = 1\n[[listen]]\ntls = \"bad\"", []string{
			"1 log_level: must be one of",
			"3 limits.max_depth: must be between",
			"4 limits.nope: unknown key",
			"6 listen[0].tls: must be one of",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "xmppd.toml")
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Error("config returned with an error")
			}
			var errs []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			} else {
				errs = []error{err}
			}
			if len(errs) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, w := range tt.want {
				if i >= len(errs) {
					break
				}
				line, rest, _ := strings.Cut(w, " ")
				key, msg, _ := strings.Cut(rest, ": ")
				var ce *Error
				if !errors.As(errs[i], &ce) {
					t.Fatalf("error %d is %T, not *Error: %v", i, errs[i], errs[i])
				}
				s := errs[i].Error()
				// The exact text people will see: file:line:col: key: message.
				re := "^xmppd\\.toml:" + line + ":[0-9]+: "
				if key != "" {
					re += regexp.QuoteMeta(key) + ": "
				}
				if !regexp.MustCompile(re).MatchString(s) {
					t.Errorf("error %q does not match %q", s, re)
				}
				if !strings.Contains(s, msg) {
					t.Errorf("error %q does not contain %q", s, msg)
				}
			}
		})
	}
}

func TestAdminListener(t *testing.T) {
	for _, c := range []struct {
		name, toml, addr string
	}{
		{"default address", "[[listen]]\ntype = \"admin\"", DefaultAdminAddress},
		{"IPv6 loopback", "[[listen]]\ntype = \"admin\"\naddress = \"[::1]:9000\"", "[::1]:9000"},
		{"localhost", "[[listen]]\ntype = \"admin\"\naddress = \"localhost:9000\"", "localhost:9000"},
		{"remote allowed", "[admin]\ntoken_file = \"admin.token\"\n[[listen]]\ntype = \"admin\"\naddress = \":9000\"\nallow_remote = true", ":9000"},
	} {
		cfg, err := Parse([]byte(c.toml), "t.toml")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if l, ok := cfg.Admin(); !ok || l.Address != c.addr {
			t.Errorf("%s: admin listener %+v %v, want address %s", c.name, l, ok, c.addr)
		}
		if l, _ := cfg.Admin(); l.AllowRemote && cfg.AdminTokenPath() != filepath.Join(cfg.DataDir, "admin.token") {
			t.Errorf("%s: token path %q, want it under data_dir", c.name, cfg.AdminTokenPath())
		}
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Limits.MaxDepth = 1
	c.Hosts = append(c.Hosts, Host{Domain: "LOCALHOST"})
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"limits.max_depth: must be between", `host[1].domain: "localhost" is already host[0]`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not contain %q", err, w)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "xmppd.toml")
	os.WriteFile(path, []byte("log_level = \"debug\"\n[limits]\nmax_depth = 1\n"), 0o600)
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":3:") {
		t.Errorf("error %v does not start with %s:3:", err, path)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: %v", err)
	}
}

const examplePath = "../../xmppd.example.toml"

// The example documents the defaults with every line commented out, so it
// must parse to exactly Default().
func TestExampleParses(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("example gives\n%+v\nwant Default()\n%+v", c, Default())
	}
}

// Uncommenting every setting of the example must also be valid: this
// catches documented keys that do not exist and documented values that
// would be refused.
func TestExampleUncommented(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	setting := regexp.MustCompile(`(?m)^#(\[\[?[a-z_]+\]\]?$|[a-z_]+ = )`)
	n := len(setting.FindAll(data, -1))
	if n < 20 {
		t.Fatalf("only %d commented settings found; pattern out of date?", n)
	}
	uncommented := setting.ReplaceAll(data, []byte("$1"))
	// The default host localhost cannot get a certificate from Let's
	// Encrypt (refused, rightly): the illustrative [acme] gets a private
	// CA's directory instead.
	uncommented = bytes.Replace(uncommented, []byte(`directory = "`+DefaultACMEDirectory+`"`), []byte(`directory = "https://ca.example.org/acme/directory"`), 1)
	c, err := Parse(uncommented, "uncommented example")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Domains(); !reflect.DeepEqual(got, []string{"localhost", "example.org"}) {
		t.Errorf("domains %v", got)
	}
	// The illustrative component: its listener, and its parent derived
	// from the illustrative host.
	if len(c.Listen) != 6 || c.Listen[2].Type != "http" || c.Listen[2].Address != ":5443" || c.Listen[2].TLS != "direct" ||
		c.Listen[3].Type != "s2s" || c.Listen[3].Address != ":5269" || c.Listen[4].Type != "admin" ||
		c.Listen[5].Type != "component" || c.Listen[5].Address != "127.0.0.1:5347" {
		t.Errorf("listeners %+v", c.Listen)
	}
	if len(c.Components) != 1 || c.Components[0].Parent != "example.org" {
		t.Errorf("components %+v", c.Components)
	}
	c.Listen, c.Components = c.Listen[:5], nil
	// The illustrative external services: a STUN, a TURN and a TURNS
	// entry, the last two with a secret and its default TTL, and a TURN
	// with fixed credentials.
	if e := *c.Section("external_service").(*extdisco.Config); len(e) != 4 || e[0].Type != "stun" || e[1].Secret == "" || e[2].Type != "turns" ||
		e[2].Port != 5349 || e[2].TTL.Duration != 24*time.Hour {
		t.Errorf("external services %+v", e)
	}
	c.Modules["external_service"] = &extdisco.Config{}
	// The illustrative [acme] section: on, for the hosts without files.
	if !c.ACME.On() || c.ACME.Email != "admin@example.org" || !slices.Equal(c.ACMEChallenges(), []string{"tls-alpn-01"}) {
		t.Errorf("acme %+v, challenges %q", c.ACME, c.ACMEChallenges())
	}
	c.ACME = Default().ACME
	// Apart from the second, illustrative host, the values are the defaults.
	c.Hosts = c.Hosts[:1]
	c.Hosts[0] = Host{Domain: "localhost"}
	c.Storage.DSN = Default().Storage.DSN // "./data/xmppd.db" vs "data/xmppd.db"
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("uncommented example gives\n%+v\nwant Default()\n%+v", c, Default())
	}
}

func TestPositions(t *testing.T) {
	src := `# comment
a = "x" # trailing
"quoted key" = 1
multi = """
fake = 1
"""
arr = [
  1, # c
  { k = "v" },
]
[t . u]
v = 'lit'
[[l]]
x = 1
[[l]]
x = 2
[l.sub]
y = 3
`
	pos := scanPositions([]byte(src))
	want := map[string]position{
		"a": {2, 1}, "quoted key": {3, 1}, "multi": {4, 1}, "arr": {7, 1},
		"arr[1]": {9, 3}, "arr[1].k": {9, 5}, "t.u": {11, 1}, "t.u.v": {12, 1},
		"l[0]": {13, 1}, "l[0].x": {14, 1}, "l[1]": {15, 1}, "l[1].x": {16, 1},
		"l[1].sub": {17, 1}, "l[1].sub.y": {18, 1},
	}
	for k, w := range want {
		if got, ok := pos[k]; !ok || got != w {
			t.Errorf("%s at %v (found %v), want %v", k, got, ok, w)
		}
	}
	if _, ok := pos["fake"]; ok {
		t.Error("key inside a multi-line string recorded")
	}
	if got := pos.lookup("l[1].sub.missing"); got != (position{17, 1}) {
		t.Errorf("lookup falls back to %v, want the table header", got)
	}
}

// Files edited on Windows: CRLF line ends must not shift lines or columns.
func TestCRLF(t *testing.T) {
	src := "log_level = \"info\"\r\n[limits]\r\nmax_depth = 2\r\n"
	_, err := Parse([]byte(src), "win.toml")
	if err == nil || !strings.HasPrefix(err.Error(), "win.toml:3:1: limits.max_depth:") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Parse([]byte("log_level = \"debug\"\r\n[[host]]\r\ndomain = \"a.test\"\r\n"), "win.toml"); err != nil {
		t.Fatal(err)
	}
}
