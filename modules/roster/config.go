package roster

import "github.com/xmppd/xmppd/module"

func init() {
	module.RegisterConfig("roster", module.ConfigSpec{
		Section: "roster",
		New:     func() any { return &Config{MaxItems: 1000} },
		Check: func(v any, c *module.ConfigCheck) {
			c.IntRange("max_items", v.(*Config).MaxItems, 1, 1000000)
		},
	})
}

// Config is the [roster] section: the bounds of each account's roster
// (RFC 6121 §2.3.3 leaves the limits to the server; a set beyond one is
// refused with not-acceptable).
type Config struct {
	MaxItems int `toml:"max_items"` // items per roster; default 1000
}

// MaxItems is [roster] max_items, for the modules that use the roster
// service (presence bounds stored subscription requests with it).
func (m *mod) MaxItems() int { return m.maxItems }
