// Package ping answers XEP-0199 pings addressed to the server (and, via
// the registry's fallback, pings sent without 'to').
package ping

import (
	"context"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

const NS = "urn:xmpp:ping"

func init() { module.Register("ping", func() module.Module { return mod{} }) }

type mod struct{}

func (mod) Start(h *module.Handle) error {
	h.AddFeature(NS)
	// XEP-0199 §4.2: the server answers a ping with an empty result.
	h.HandleIQ(module.TargetServer, "get", NS, func(context.Context, *module.IQ) (*xml.Element, error) {
		return nil, nil
	})
	return nil
}
