//go:build !linux

package c2s

// Without epoll sessions do not park; their reader waits in place.
const canPark = false

type parkState struct{}

func (c *conn) park() bool { return false }
func (c *conn) wake()      {}
func (c *conn) unpark()    {}
