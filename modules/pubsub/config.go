package pubsub

import "github.com/xmppd/xmppd/module"

func init() {
	module.RegisterConfig("pubsub", module.ConfigSpec{
		Section: "pubsub",
		New: func() any {
			return &Config{MaxItems: 1000, MaxNodes: 1000, MaxPayloadBytes: 128 << 10, Service: true}
		},
		Check: func(v any, c *module.ConfigCheck) {
			p := v.(*Config)
			c.IntRange("max_items", p.MaxItems, 1, 1000000)
			c.IntRange("max_nodes", p.MaxNodes, 1, 1000000)
			c.IntRange("max_payload_bytes", p.MaxPayloadBytes, 1, 64<<20)
		},
	})
}

// Config is the [pubsub] section: the bounds of XEP-0060 services, PEP on
// every account (XEP-0163) and the pubsub.<host> service.
type Config struct {
	// MaxItems is the most items a node keeps: the ceiling of
	// pubsub#max_items and what its value "max" means. Default 1000.
	MaxItems int `toml:"max_items"`
	// MaxNodes is the most nodes one service (an account's PEP, or the
	// component) holds. Default 1000.
	MaxNodes int `toml:"max_nodes"`
	// MaxPayloadBytes bounds one item's serialized payload. Default
	// 131072 (128 KiB; avatars are the large ones).
	MaxPayloadBytes int `toml:"max_payload_bytes"`
	// Service serves the pubsub.<host> component for every virtual host
	// (XEP-0060 service). Default true.
	Service bool `toml:"service"`
}

// Labels implements module.ServiceLabels: the label is fixed, the key
// is the switch.
func (p *Config) Labels(bool) map[string]string {
	if !p.Service {
		return nil
	}
	return map[string]string{"service": "pubsub"}
}
