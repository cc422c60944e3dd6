package accept

import (
	"io"
	"net"
	"sync"
)

// Admitter bounds the connections of one remote address (c2s.Limiter is
// one): Admit says whether another may open, Release ends one admitted.
type Admitter interface {
	Admit(ip string) bool
	Release(ip string)
}

// Limit wraps ln so that Accept hands out only the connections lim admits
// for their remote address, closing the others at once (before a TLS
// handshake or a goroutine is spent on them), and releases each when it
// is closed. It is for servers whose accept loop is not ours (net/http);
// wrap the TCP listener, beneath any TLS layer.
func Limit(ln net.Listener, lim Admitter) net.Listener {
	return &limitListener{Listener: ln, lim: lim}
}

type limitListener struct {
	net.Listener
	lim Admitter
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := RemoteIP(nc)
		if l.lim.Admit(ip) {
			return &limitedConn{Conn: nc, ip: ip, lim: l.lim}, nil
		}
		nc.Close()
	}
}

type limitedConn struct {
	net.Conn
	ip   string
	lim  Admitter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.lim.Release(c.ip) })
	return err
}

// ReadFrom keeps the TCP connection's sendfile/splice path for plain
// HTTP responses (net/http looks for io.ReaderFrom).
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// RemoteIP is the address part of a connection's peer, the key of
// per-address limits.
func RemoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}
