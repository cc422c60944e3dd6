package mam

import (
	"time"

	"github.com/xmppd/xmppd/module"
)

func init() {
	module.RegisterConfig("mam", module.ConfigSpec{
		Section: "archive",
		New: func() any {
			return &Config{Enabled: true, Default: "always", MaxPage: 100,
				PruneInterval: module.Duration{Duration: time.Hour}, WriteInterval: module.Duration{Duration: 25 * time.Millisecond}}
		},
		Check: func(v any, c *module.ConfigCheck) { v.(*Config).check(c) },
	})
}

// Config is the [archive] section: XEP-0313 message archives of
// accounts.
type Config struct {
	// Enabled switches archiving and MAM queries on. Default true.
	Enabled bool `toml:"enabled"`
	// Default is the archiving preference of an account that never set
	// one (XEP-0441 default): "always", "roster" or "never". Default
	// "always".
	Default string `toml:"default"`
	// Retention is how long a message is kept; 0 keeps it forever.
	// Default 0.
	Retention module.Duration `toml:"retention"`
	// MaxMessages is how many messages one archive keeps, the oldest
	// going first (XEP-0313 §3.2: no holes); 0 is unlimited. Default 0.
	MaxMessages int `toml:"max_messages"`
	// MaxPage caps the messages one query returns (RSM max, and the page
	// size when the client gives none). Default 100.
	MaxPage int `toml:"max_page"`
	// PruneInterval is how often retention and max_messages are applied.
	// Default 1h.
	PruneInterval module.Duration `toml:"prune_interval"`
	// WriteInterval is the least time between two archive commits: the
	// writer gathers the messages of one interval into one transaction.
	// It bounds, with the commits' own time, how long a delivered
	// message's archive copy may still be uncommitted (lost by a crash).
	// 0 commits as soon as the previous commit is done. Default 25ms.
	WriteInterval module.Duration `toml:"write_interval"`
}

func (a *Config) check(c *module.ConfigCheck) {
	c.OneOf("default", a.Default, "always", "roster", "never")
	c.DurRange("retention", a.Retention, 0, 100*365*24*time.Hour)
	if r := a.Retention.Duration; r != 0 && r < time.Minute {
		c.Failf("retention", "must be 0 (keep forever) or at least 1m, got %s", r)
	}
	c.IntRange("max_messages", a.MaxMessages, 0, 1<<40)
	c.IntRange("max_page", a.MaxPage, 1, 10000)
	c.DurRange("prune_interval", a.PruneInterval, time.Second, 7*24*time.Hour)
	c.DurRange("write_interval", a.WriteInterval, 0, time.Second)
}
