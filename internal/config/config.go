// Package config is xmppd's configuration: schema, defaults, TOML loading
// with unknown keys and bad values reported with their line.
//
// CONTRACT: the exported API below is what internal/server codes against.
package config

import "time"

// Config is the whole server configuration.
type Config struct {
	DataDir   string     `toml:"data_dir"`   // default "./data"
	LogLevel  string     `toml:"log_level"`  // debug, info, warn, error; default info
	LogFormat string     `toml:"log_format"` // text (default) or json
	Hosts     []Host     `toml:"host"`       // virtual hosts; default one: localhost
	Listen    []Listener `toml:"listen"`     // default: c2s starttls :5222, c2s direct-tls :5223
	Limits    Limits     `toml:"limits"`
	Storage   Storage    `toml:"storage"`
}

// Host is one virtual host (a domain we serve).
type Host struct {
	Domain   string `toml:"domain"`
	CertFile string `toml:"cert_file"` // "" = self-signed, made and kept under DataDir
	KeyFile  string `toml:"key_file"`
}

// Listener is one socket.
type Listener struct {
	Type       string `toml:"type"`        // "c2s" (later: "s2s", "http")
	Address    string `toml:"address"`     // host:port; port 0 allowed (tests)
	TLS        string `toml:"tls"`         // "starttls" (default) or "direct" (XEP-0368)
	RequireTLS *bool  `toml:"require_tls"` // starttls only: require TLS before SASL; default true
}

// Limits are the DoS bounds (RFC 6120 §13.12).
type Limits struct {
	MaxStanzaBytes      int      `toml:"max_stanza_bytes"`       // 262144
	MaxDepth            int      `toml:"max_depth"`              // 64
	MaxAttrs            int      `toml:"max_attrs"`              // 64
	AuthTimeout         Duration `toml:"auth_timeout"`           // 60s: from connect to bound resource
	HandshakeTimeout    Duration `toml:"handshake_timeout"`      // 10s: TLS handshake
	OutboundQueueBytes  int      `toml:"outbound_queue_bytes"`   // 1 MiB per session, then the session is closed
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip"` // 0 = unlimited; default 100
	ConnectionRate      float64  `toml:"connection_rate"`        // new connections/s per IP; default 20
	ConnectionBurst     int      `toml:"connection_burst"`       // default 40
	AuthFailureDelay    Duration `toml:"auth_failure_delay"`     // base delay after a failed auth, doubled per failure from one IP; 250ms
	MaxSessions         int      `toml:"max_sessions"`           // 0 = unlimited
}

// Storage selects the backend.
type Storage struct {
	Driver string `toml:"driver"` // "sqlite" (default) or "postgres"
	DSN    string `toml:"dsn"`    // sqlite: file path, default DataDir/xmppd.db
}

// Duration is a time.Duration read from a TOML string such as "30s".
type Duration struct{ time.Duration }

// Default returns the configuration used when no file is given.
func Default() *Config

// Load reads and validates a TOML file; defaults fill what is unset.
func Load(path string) (*Config, error)

// Parse is Load on bytes; name is used in error messages.
func Parse(data []byte, name string) (*Config, error)
