//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package c2s

import (
	"io"
	"net"
)

// idleReader: without MSG_PEEK on this platform, read directly.
func idleReader(nc net.Conn) io.Reader { return nc }
