package main

import (
	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/invite"
	"github.com/xmppd/xmppd/modules/invites"
	"github.com/xmppd/xmppd/modules/muc"
	"github.com/xmppd/xmppd/modules/offline"
	"github.com/xmppd/xmppd/modules/pubsub"
)

// The commands that work on the database directly apply the limits of
// the modules' own sections, as the running server's modules do.

// invitesConfig is the [invites] section, modules/invites' own.
func invitesConfig(cfg *config.Config) *invites.Config {
	return cfg.Section("invites").(*invites.Config)
}

// httpListener is the first http listener, where invite links point.
func httpListener(cfg *config.Config) invite.Listener {
	for _, l := range cfg.Listen {
		if l.Type == "http" {
			return invite.Listener{TLS: l.TLS, Address: l.Address}
		}
	}
	return invite.Listener{}
}

// offlineLimit is [offline] max_messages, modules/offline's.
func offlineLimit(cfg *config.Config) int {
	return cfg.Section("offline").(*offline.Config).MaxMessages
}

// mucConfig is the [muc] section, modules/muc's own.
func mucConfig(cfg *config.Config) *muc.Config {
	return cfg.Section("muc").(*muc.Config)
}

// pubsubConfig is the [pubsub] section, modules/pubsub's own.
func pubsubConfig(cfg *config.Config) *pubsub.Config {
	return cfg.Section("pubsub").(*pubsub.Config)
}
