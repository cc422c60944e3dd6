package offline

import "github.com/xmppd/xmppd/module"

func init() {
	module.RegisterConfig("offline", module.ConfigSpec{
		Section: "offline",
		New:     func() any { return &Config{MaxMessages: 1000} },
		Check: func(v any, c *module.ConfigCheck) {
			c.IntRange("max_messages", v.(*Config).MaxMessages, 1, 1000000)
		},
	})
}

// Config is the [offline] section: the bounds of each account's offline
// message store (XEP-0160).
type Config struct {
	// MaxMessages is the per-account quota; a message beyond it is
	// bounced with service-unavailable. Default 1000.
	MaxMessages int `toml:"max_messages"`
}
