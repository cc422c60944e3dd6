// Package lastactivity answers XEP-0012 last activity queries addressed to
// the server with its uptime (XEP-0012 §5, "server or service uptime").
// Queries to an account's bare JID (time since its last logout) need
// per-account storage and are not answered yet (service-unavailable).
package lastactivity

import (
	"context"
	"strconv"
	"time"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

const NS = "jabber:iq:last"

func init() { module.Register("lastactivity", func() module.Module { return &mod{} }) }

type mod struct{ started time.Time }

func (m *mod) Start(h *module.Handle) error {
	m.started = time.Now()
	h.AddFeature(NS)
	h.HandleIQ(module.TargetServer, "get", NS, func(context.Context, *module.IQ) (*xml.Element, error) {
		up := int64(time.Since(m.started) / time.Second)
		return xml.NewBuilder("query", NS).Attr("seconds", strconv.FormatInt(up, 10)).Element(), nil
	})
	return nil
}
