package stream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// ServerTLS runs the server side of the TLS handshake that follows
// <proceed/> (RFC 6120 §5.4.3.3) on nc, bounded by timeout so that a peer
// that never finishes it costs at most that; the deadline is cleared
// afterwards for the stream's own read and write timeouts.
func ServerTLS(nc net.Conn, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	tc := tls.Server(nc, cfg)
	nc.SetDeadline(time.Now().Add(timeout))
	err := tc.HandshakeContext(context.Background())
	nc.SetDeadline(time.Time{})
	if err != nil {
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}
