package faults

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Slowloris: many connections from one address that open and then send
// a byte now and then, never finishing a stream header, a TLS handshake or
// an HTTP request. The per-address cap must bound how many the server
// holds, a bystander's session (another address) must still answer pings,
// and the server's memory must come back near where it was once they go.

const (
	lorisCap      = 25 // [limits] max_connections_per_ip for these cases
	lorisAttempts = 4 * lorisCap
	lorisHold     = 3 * time.Second
)

// lorisOpen opens one slow connection of the listener's kind and sends
// its first, incomplete bytes; trickle sends one more (never the end).
func lorisOpen(kind, addr string, i int) (net.Conn, func(net.Conn) error, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	space := func(c net.Conn) error { _, err := c.Write([]byte(" ")); return err }
	switch kind {
	case "starttls":
		_, err = nc.Write([]byte("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'"))
		return nc, space, err
	case "s2s":
		_, err = nc.Write([]byte("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='slow.example' to='localhost'"))
		return nc, space, err
	case "direct":
		// The start of a TLS handshake record that never completes.
		_, err = nc.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03})
		return nc, func(c net.Conn) error { _, err := c.Write([]byte{0}); return err }, err
	case "http":
		tc := tls.Client(nc, &tls.Config{ServerName: domain, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, nil, err
		}
		tc.SetDeadline(time.Time{})
		// Half of them an unfinished header (WebSocket upgrade), half an
		// unfinished body (BOSH).
		req := "GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		trickle := func(c net.Conn) error { _, err := c.Write([]byte("X-Slow: 1\r\n")); return err }
		if i%2 == 1 {
			req = "POST /http-bind HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n<body rid='1' xmlns='http://jabber.org/protocol/httpbind'"
			trickle = space
		}
		_, err = tc.Write([]byte(req))
		return tc, trickle, err
	}
	nc.Close()
	return nil, nil, fmt.Errorf("unknown listener kind %q", kind)
}

// alive reports whether the server still holds c open.
func alive(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	var b [512]byte
	for {
		_, err := c.Read(b[:])
		var ne net.Error
		switch {
		case err == nil:
			continue // drain what the server said (a ticket, an error page...)
		case errors.As(err, &ne) && ne.Timeout():
			return true
		case errors.Is(err, io.EOF):
			return false
		default:
			return false
		}
	}
}

func slowloris(kind string) func(context.Context, *Suite) Result {
	return func(ctx context.Context, s *Suite) Result {
		name := "slowloris-" + map[string]string{"starttls": "starttls", "direct": "directtls", "http": "http", "s2s": "s2s"}[kind]
		limits := fmt.Sprintf("max_connections_per_ip = %d\nconnection_rate = 1000.0\nconnection_burst = 1000\n", lorisCap)
		srv, err := s.start(ctx, Options{Limits: limits, HTTP: kind == "http", S2S: kind == "s2s"}, map[string]string{"bystander": "password1"})
		if err != nil {
			return fail(name, "start: %v", err)
		}
		defer srv.Kill()
		addr := map[string]string{"starttls": srv.StartTLS, "direct": srv.DirectTLS, "http": srv.HTTP, "s2s": srv.S2S}[kind]
		by, err := login(dialOpts{addr: srv.StartTLS, src: "127.0.0.2"}, "bystander", "password1", "desk")
		if err != nil {
			return fail(name, "bystander: %v", err)
		}
		defer by.close()
		if _, _, err := by.ping("b0", 5*time.Second); err != nil {
			return fail(name, "bystander: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
		rss0, err := srv.RSS()
		if err != nil {
			return fail(name, "%v", err)
		}
		fd0 := srv.OpenFDs()

		var (
			mu      sync.Mutex
			conns   []net.Conn
			trickle []func(net.Conn) error
			refused int
			wg      sync.WaitGroup
		)
		sem := make(chan struct{}, 16)
		for i := 0; i < lorisAttempts; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, t, err := lorisOpen(kind, addr, i)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if c != nil {
						c.Close()
					}
					refused++
					return
				}
				conns, trickle = append(conns, c), append(trickle, t)
			}()
		}
		wg.Wait()
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		// Hold them, a byte now and then, while the bystander pings.
		var worstPing time.Duration
		pingErr := error(nil)
		end := time.Now().Add(lorisHold)
		for n := 0; time.Now().Before(end); n++ {
			for i, c := range conns {
				c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
				trickle[i](c)
			}
			_, rtt, err := by.ping(fmt.Sprintf("b%d", n+1), 5*time.Second)
			if err != nil && pingErr == nil {
				pingErr = err
			}
			worstPing = max(worstPing, rtt)
			time.Sleep(500 * time.Millisecond)
		}
		held := 0
		for _, c := range conns {
			if alive(c) {
				held++
			}
		}
		fdHeld := srv.OpenFDs() - fd0
		rssPeak, _ := srv.RSS()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		// The server notices the closed sockets at once; give the
		// runtime a moment to give back what they used.
		time.Sleep(2 * time.Second)
		rss1, _ := srv.RSS()
		fd1 := srv.OpenFDs() - fd0
		_, rtt, err := by.ping("after", 5*time.Second)
		if err != nil && pingErr == nil {
			pingErr = err
		}
		worstPing = max(worstPing, rtt)
		slack := max(int64(4<<20), rss0/10)
		figures := fmt.Sprintf("%d slow connections from one address: held %d (cap %d; server fds +%d), refused at connect %d; bystander ping worst %.0f ms; RSS %.1f -> %.1f -> %.1f MiB, fds after +%d",
			lorisAttempts, held, lorisCap, fdHeld, refused, float64(worstPing.Microseconds())/1000, mib(rss0), mib(rssPeak), mib(rss1), fd1)
		switch {
		case pingErr != nil:
			return fail(name, "bystander: %v; %s", pingErr, figures)
		case held > lorisCap || fdHeld > lorisCap+5:
			return fail(name, "more connections held than the per-address cap: %s", figures)
		case held == 0:
			return fail(name, "the server held none: nothing was tested (%s)", figures)
		case worstPing > time.Second:
			return fail(name, "bystander too slow: %s", figures)
		case rss1-rss0 > slack:
			return fail(name, "memory not back near the baseline (slack %.0f MiB): %s", mib(slack), figures)
		case fd1 > 5:
			return fail(name, "sockets not released after the clients left: %s", figures)
		}
		return pass(name, "%s", figures)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// caseHalfStanza: after login, a client starts a stanza and then sends a
// byte now and then, never finishing it. [limits] stanza_timeout must end
// the stream (with <policy-violation/>) soon after the bound, not leave the
// connection and its reader held for as long as the bytes keep coming.
func caseHalfStanza(ctx context.Context, s *Suite) Result {
	const name = "slowloris-stanza"
	const bound = 2 * time.Second
	srv, err := s.start(ctx, Options{Limits: fmt.Sprintf("stanza_timeout = %q\n", bound.String())}, map[string]string{"slow": "password1"})
	if err != nil {
		return fail(name, "start: %v", err)
	}
	defer srv.Kill()
	c, err := login(dialOpts{addr: srv.StartTLS}, "slow", "password1", "r")
	if err != nil {
		return fail(name, "%v", err)
	}
	defer c.conn.Close()
	start := time.Now()
	if err := c.send("<message to='slow@" + domain + "' type='chat'><body>"); err != nil {
		return fail(name, "%v", err)
	}
	ended := make(chan string, 1)
	go func() {
		for {
			el, err := c.next(3 * bound)
			if err != nil {
				ended <- "connection: " + err.Error()
				return
			}
			if el.Name() == "error" && el.NS() == "http://etherx.jabber.org/streams" {
				ended <- errStreamCond(el)
				return
			}
		}
	}()
	for {
		select {
		case how := <-ended:
			d := time.Since(start)
			figures := fmt.Sprintf("half a stanza, a byte every 300 ms: stream ended after %.1fs (stanza_timeout %v) with %s", d.Seconds(), bound, how)
			if how != "policy-violation" || d > bound+2*time.Second {
				return fail(name, "%s", figures)
			}
			return pass(name, "%s", figures)
		case <-time.After(300 * time.Millisecond):
			if time.Since(start) > 3*bound {
				return fail(name, "still connected %v after starting a stanza (stanza_timeout %v)", time.Since(start).Round(time.Millisecond), bound)
			}
			c.send("a")
		}
	}
}
