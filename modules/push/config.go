package push

import "github.com/xmppd/xmppd/module"

func init() {
	module.RegisterConfig("push", module.ConfigSpec{
		Section: "push",
		New:     func() any { return &Config{Enabled: true, MaxRegistrations: 10} },
		Check: func(v any, c *module.ConfigCheck) {
			c.IntRange("max_registrations", v.(*Config).MaxRegistrations, 1, 1000)
		},
	})
}

// Config is the [push] section: XEP-0357 push notifications.
type Config struct {
	// Enabled lets accounts enable push services. Default true.
	Enabled bool `toml:"enabled"`
	// MaxRegistrations is how many (service, node) pairs one account may
	// enable; one more is refused with resource-constraint. Default 10.
	MaxRegistrations int `toml:"max_registrations"`
}
