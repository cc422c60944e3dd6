package s2s

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// target is one address to try for a remote domain.
type target struct {
	addr      string
	directTLS bool
}

// errNoServer: the domain has no XMPP server (remote-server-not-found).
var errNoServer = errors.New("no XMPP server for the domain")

// targets lists where domain's server may be reached, best first: a static
// route; else the SRV records of _xmpps-server._tcp (direct TLS, XEP-0368)
// and _xmpp-server._tcp (RFC 6120 §3.2.1) merged by priority, as XEP-0368
// §3 asks; else, with no SRV record at all, the domain itself on 5269
// (§3.2.2). A lone "." target means the service is decidedly not offered
// (RFC 2782), and then there is no A/AAAA fallback either.
func (s *Server) targets(ctx context.Context, domain string) ([]target, error) {
	if r, ok := s.route(domain); ok {
		return []target{{addr: r.Address, directTLS: r.DirectTLS}}, nil
	}
	if strings.HasSuffix(domain, ".invalid") || domain == "invalid" {
		// RFC 6761 §6.4: never resolves; asking DNS would only wait.
		return nil, fmt.Errorf("%s: %w (RFC 6761 .invalid)", domain, errNoServer)
	}
	type rec struct {
		srv    *net.SRV
		direct bool
	}
	var recs []rec
	found := false
	for _, svc := range []struct {
		name   string
		direct bool
	}{{"xmpps-server", true}, {"xmpp-server", false}} {
		_, srvs, err := s.cfg.Resolver.LookupSRV(ctx, svc.name, "tcp", domain)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		for _, r := range srvs {
			found = true
			if r.Target == "." || r.Target == "" {
				continue
			}
			recs = append(recs, rec{r, svc.direct})
		}
	}
	if !found {
		return []target{{addr: net.JoinHostPort(domain, "5269")}}, nil
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: %w (SRV target \".\")", domain, errNoServer)
	}
	// LookupSRV already ordered each set by priority and weight; a stable
	// sort by priority interleaves the two sets without undoing that.
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].srv.Priority < recs[j].srv.Priority })
	out := make([]target, 0, len(recs))
	for _, r := range recs {
		host := strings.TrimSuffix(r.srv.Target, ".")
		out = append(out, target{addr: net.JoinHostPort(host, strconv.Itoa(int(r.srv.Port))), directTLS: r.direct})
	}
	return out, nil
}
