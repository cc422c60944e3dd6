package muc

import (
	"math"
	"strings"
	"time"

	"github.com/xmppd/xmppd/module"
)

func init() {
	module.RegisterConfig("muc", module.ConfigSpec{
		Section: "muc",
		New: func() any {
			return &Config{
				Enabled:          true,
				Archive:          true,
				Subdomain:        "conference",
				CreateRooms:      "local",
				MaxRoomsPerOwner: 100,
				MaxOccupants:     200,
				HistoryMessages:  50,
				MessageRate:      5,
				MessageBurst:     20,
				ArchiveInterval:  module.Duration{Duration: archiveInterval},
			}
		},
		Check: func(v any, c *module.ConfigCheck) { v.(*Config).check(c) },
	})
}

// Config is the [muc] section: the multi-user chat service (XEP-0045)
// that serves Subdomain.<host> for each virtual host.
type Config struct {
	// Enabled serves the MUC service; default true.
	Enabled bool `toml:"enabled"`
	// Subdomain is prepended to each host's domain: "conference" serves
	// conference.example.org for host example.org. Default "conference".
	Subdomain string `toml:"subdomain"`
	// CreateRooms says who may create rooms: "local" (any account of a
	// host we serve, the default), "anyone" (remote users too, over
	// federation) or "listed" (only the bare JIDs in Creators).
	// Others get not-allowed (XEP-0045 §10.1.1).
	CreateRooms string   `toml:"create_rooms"`
	Creators    []string `toml:"creators"`
	// MaxRoomsPerOwner bounds the rooms one bare JID may own (create);
	// 0 = unlimited. Default 100.
	MaxRoomsPerOwner int `toml:"max_rooms_per_owner"`
	// MaxOccupants bounds the occupants of one room, whatever its
	// muc#roomconfig_maxusers says (it defaults to this). Default 200.
	MaxOccupants int `toml:"max_occupants"`
	// HistoryMessages is how many messages each room keeps for the
	// discussion history sent on join (XEP-0045 §7.2.13). Default 50.
	HistoryMessages int `toml:"history_messages"`
	// MessageRate is the groupchat and private messages per second one
	// occupant may send on average, MessageBurst how many at once; a
	// message over the rate is answered with a resource-constraint error.
	// MessageRate 0 disables the limit. Defaults 5 and 20.
	MessageRate  float64 `toml:"message_rate"`
	MessageBurst int     `toml:"message_burst"`
	// Archive keeps every room's groupchat messages in the database for
	// XEP-0313 queries on the room (and for the history after a
	// restart); default true. False leaves the rooms without an archive:
	// no urn:xmpp:mam:2 feature on them, MAM queries are answered with
	// service-unavailable, and the history is the in-memory one only.
	Archive bool `toml:"archive"`
	// ArchiveInterval is the least time between two commits of the room
	// archive: what the rooms queue meanwhile is committed together (an
	// idle server writes a message at once). It is what a crash can lose
	// (docs/reliability.md), and each commit has a fixed cost that a
	// busy room pays per interval. Default 25ms, like [archive]
	// write_interval; 0 to 1s.
	ArchiveInterval module.Duration `toml:"archive_interval"`
}

// Labels implements module.ServiceLabels.
func (m *Config) Labels(bool) map[string]string {
	if !m.Enabled {
		return nil
	}
	return map[string]string{"subdomain": m.Subdomain}
}

func (m *Config) check(c *module.ConfigCheck) {
	m.Subdomain = strings.ToLower(strings.TrimSpace(m.Subdomain))
	m.CreateRooms = strings.ToLower(strings.TrimSpace(m.CreateRooms))
	if len(m.Creators) == 0 {
		m.Creators = nil
	}
	for i, j := range m.Creators {
		m.Creators[i] = strings.ToLower(strings.TrimSpace(j))
	}
	if msg := module.CheckLabel(m.Subdomain, "conference"); msg != "" {
		c.Failf("subdomain", "%s", msg)
	}
	c.OneOf("create_rooms", m.CreateRooms, "local", "anyone", "listed")
	for _, j := range m.Creators {
		if msg := module.CheckBareJID(j); msg != "" {
			c.Failf("creators", "%s", msg)
		}
	}
	if m.CreateRooms == "listed" && len(m.Creators) == 0 {
		c.Failf("creators", `must list at least one bare JID when create_rooms = "listed"`)
	}
	c.IntRange("max_rooms_per_owner", m.MaxRoomsPerOwner, 0, 1000000)
	c.IntRange("max_occupants", m.MaxOccupants, 1, 100000)
	c.IntRange("history_messages", m.HistoryMessages, 0, 10000)
	if r := m.MessageRate; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		c.Failf("message_rate", "must be 0 (no limit) or a positive number, got %v", r)
	}
	c.DurRange("archive_interval", m.ArchiveInterval, 0, time.Second)
	if m.MessageRate > 0 && m.MessageBurst < 1 || m.MessageBurst < 0 {
		c.Failf("message_burst", "must be at least 1 when message_rate is set, got %d", m.MessageBurst)
	}
}
