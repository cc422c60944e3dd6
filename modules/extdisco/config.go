package extdisco

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/xmppd/xmppd/module"
)

func init() {
	module.RegisterConfig("extdisco", module.ConfigSpec{
		Section: "external_service",
		New:     func() any { return &Config{} },
		Check:   func(v any, c *module.ConfigCheck) { v.(*Config).check(c) },
	})
}

// Config is the [[external_service]] tables: the services announced to
// the hosts' users, such as the STUN and TURN servers clients use for
// audio and video calls. None by default.
type Config []ExternalService

// ExternalService is one [[external_service]]: a service outside XMPP that
// local users may use, such as a coturn relay.
type ExternalService struct {
	// Type is the service type of the XMPP Registrar's registry: "stun",
	// "turn", "turns" (TURN over TLS) and so on. Required.
	Type string `toml:"type"`
	// Host is the service's DNS name or IP address. Required.
	Host string `toml:"host"`
	// Port is the service's port; 0 leaves it out (XEP-0215 §3.1: clients
	// then use the type's default).
	Port int `toml:"port"`
	// Transport is "udp", "tcp" or "" (not announced).
	Transport string `toml:"transport"`
	// Name is a label for people.
	Name string `toml:"name"`
	// Secret, when set, gives every user time-limited credentials for the
	// service as the TURN REST API (draft-uberti-behave-turn-rest-00 §2.2)
	// defines them: the secret shared with the TURN server (coturn's
	// static-auth-secret with use-auth-secret).
	Secret string `toml:"secret"`
	// TTL is how long credentials made from Secret are valid. Default 24h.
	TTL module.Duration `toml:"ttl"`
	// Username and Password are fixed credentials given to every user,
	// for a service that has no Secret.
	Username string `toml:"username"`
	Password string `toml:"password"`
}

func (cfg *Config) check(c *module.ConfigCheck) {
	for i := range *cfg {
		e := &(*cfg)[i]
		e.Type = strings.ToLower(strings.TrimSpace(e.Type))
		e.Host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(e.Host)), ".")
		e.Transport = strings.ToLower(strings.TrimSpace(e.Transport))
		if e.Secret != "" && e.TTL.Duration == 0 {
			e.TTL = module.Duration{Duration: 24 * time.Hour}
		}
		key := fmt.Sprintf("[%d]", i)
		if e.Type == "" {
			c.Failf(key+".type", `must be set, e.g. "stun" or "turn"`)
		} else if strings.ContainsFunc(e.Type, func(r rune) bool { return r <= ' ' || r > '~' }) {
			c.Failf(key+".type", "must be a registered service type such as stun or turn, got %q", e.Type)
		}
		if e.Host == "" {
			c.Failf(key+".host", "must be set: the service's DNS name or IP address")
		} else if net.ParseIP(e.Host) == nil {
			if msg := module.CheckDomain(e.Host); msg != "" {
				c.Failf(key+".host", "%s", msg)
			}
		}
		c.IntRange(key+".port", e.Port, 0, 65535)
		c.OneOf(key+".transport", e.Transport, "", "udp", "tcp")
		if (e.Username == "") != (e.Password == "") {
			c.Failf(key+".password", "username and password go together: set both or neither")
		}
		if e.Secret != "" && e.Username != "" {
			c.Failf(key+".username", "must not be set with secret: the credentials are made from the secret")
		}
		if e.Secret != "" {
			c.DurRange(key+".ttl", e.TTL, time.Minute, 30*24*time.Hour)
		} else if e.TTL.Duration != 0 {
			c.Failf(key+".ttl", "only applies with secret")
		}
	}
}
