// Package entitytime answers XEP-0202 entity time queries addressed to the
// server.
package entitytime

import (
	"context"
	"time"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

const NS = "urn:xmpp:time"

func init() { module.Register("entitytime", func() module.Module { return mod{} }) }

type mod struct{}

func (mod) Start(h *module.Handle) error {
	h.AddFeature(NS)
	h.HandleIQ(module.TargetServer, "get", NS, func(context.Context, *module.IQ) (*xml.Element, error) {
		now := time.Now()
		// XEP-0202 §3: <tzo/> is the offset of the entity's local zone
		// (XEP-0082 format), <utc/> the UTC time with a Z.
		return xml.NewBuilder("time", NS).
			Start("tzo", "").Text(now.Format("-07:00")).End().
			Start("utc", "").Text(now.UTC().Format("2006-01-02T15:04:05.000Z")).End().
			Element(), nil
	})
	return nil
}
