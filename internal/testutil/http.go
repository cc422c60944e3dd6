package testutil

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
)

// HTTPClient reaches s's http listener whatever host a URL names (upload
// slot URLs name the virtual host; a cluster's name another node), and
// accepts the self-signed certificate made at start.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.HTTP)
		},
	}, Timeout: Timeout}
}
