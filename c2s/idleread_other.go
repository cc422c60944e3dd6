//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package c2s

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/xmppd/xmppd/xml"
)

// idleReader: without MSG_PEEK on this platform, read directly.
func idleReader(_ context.Context, nc net.Conn) (io.Reader, *waitReader) { return nc, nil }

type waitReader struct {
	idle          time.Duration
	dec           *xml.Decoder
	stanzaTimeout time.Duration
}
