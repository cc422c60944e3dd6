package server

import (
	"net"

	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/web"
)

// site is what web's landing page and web client show of cfg.
func site(cfg *config.Config) web.Site {
	st := web.Site{WebClient: cfg.HTTP.WebClient}
	for _, h := range cfg.Hosts {
		st.Hosts = append(st.Hosts, web.SiteHost{Domain: h.Domain, Registration: h.Registration})
	}
	for _, l := range cfg.Listen {
		if l.Type != "c2s" {
			continue
		}
		// The configured port, which is what clients outside use
		// (tests' port 0 shows as 0).
		if _, port, err := net.SplitHostPort(l.Address); err == nil {
			st.ClientPorts = append(st.ClientPorts, web.ClientPort{Port: port, DirectTLS: l.DirectTLS()})
		}
	}
	return st
}
