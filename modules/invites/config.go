package invites

import (
	"net/url"
	"time"

	"github.com/xmppd/xmppd/module"
)

func init() {
	module.RegisterConfig("invites", module.ConfigSpec{
		Section: "invites",
		New: func() any {
			return &Config{ExpireAfter: module.Duration{Duration: 7 * 24 * time.Hour}, Users: true}
		},
		Check: func(v any, c *module.ConfigCheck) { v.(*Config).check(c) },
	})
}

// Config is the [invites] section: `xmppd invite create` and the XEP-0401
// ad-hoc commands hand out a link to /invite/<token> on the first http
// listener, where the invitee picks a username and password (or opens an
// XMPP app with the token).
type Config struct {
	// ExpireAfter is how long a new invite is valid unless its creator
	// says otherwise. Default 168h (one week, as Snikket's).
	ExpireAfter module.Duration `toml:"expire_after"`
	// Users lets every account of a host invite others through the
	// ad-hoc command (urn:xmpp:invite#invite); admins always may. Default
	// true.
	Users bool `toml:"users"`
	// URL is the public base URL of the http listener the invite links
	// point at, such as "https://chat.example.org" behind a reverse
	// proxy; default: the host's domain with the first http listener's
	// scheme and port.
	URL string `toml:"url"`
}

func (in *Config) check(c *module.ConfigCheck) {
	c.DurRange("expire_after", in.ExpireAfter, time.Minute, 365*24*time.Hour)
	if in.URL != "" {
		p, err := url.Parse(in.URL)
		switch {
		case err != nil || p.Host == "" || p.Opaque != "":
			c.Failf("url", "must be an absolute URL such as \"https://chat.example.org\", got %q", in.URL)
		case p.Scheme != "https" && p.Scheme != "http":
			c.Failf("url", "must be an https:// URL, got %q", in.URL)
		case p.RawQuery != "" || p.Fragment != "":
			c.Failf("url", "must not have a query or fragment, got %q", in.URL)
		}
	}
}

// UsersMayInvite is [invites] users, for the ad-hoc commands (modules/adhoc)
// through the "invites" service.
func (m *mod) UsersMayInvite() bool { return m.cfg.Users }
