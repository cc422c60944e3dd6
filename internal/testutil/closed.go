package testutil

import (
	"errors"
	"net"
	"time"
)

// ExpectClosed checks that the server closed c's connection (after a
// stream error and the closing tag, say): the next read ends the byte
// stream instead of waiting.
func (c *Client) ExpectClosed() {
	c.t.Helper()
	c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	n, err := c.Conn.Read(make([]byte, 1))
	var ne net.Error
	if n > 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
}
