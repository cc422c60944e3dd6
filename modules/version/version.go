// Package version answers XEP-0092 software version queries addressed to
// the server.
package version

import (
	"context"
	"runtime/debug"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

const NS = "jabber:iq:version"

// Name is what the server calls itself.
const Name = "xmppd"

func init() { module.Register("version", func() module.Module { return mod{} }) }

type mod struct{}

func (mod) Start(h *module.Handle) error {
	h.AddFeature(NS)
	v := buildVersion()
	h.HandleIQ(module.TargetServer, "get", NS, func(context.Context, *module.IQ) (*xml.Element, error) {
		// XEP-0092 §3: <os/> is optional; it is left out because it tells
		// an attacker more than it tells a user (XEP-0092 §5).
		return xml.NewBuilder("query", NS).
			Start("name", "").Text(Name).End().
			Start("version", "").Text(v).End().
			Element(), nil
	})
	return nil
}

// buildVersion is the module version the binary was built from: a tag for
// `go install ...@vX`, "(devel)" plus the VCS revision for a checkout.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return v
}
