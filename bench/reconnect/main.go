// Command reconnect measures what a client's reconnect costs a running
// xmppd (issue 20): round trips from the TCP connection to a session that
// can exchange stanzas, and the server's CPU time per reconnect, read from
// /proc/PID/stat of the server process (so the client's own work, SCRAM's
// PBKDF2 and its half of TLS, is not counted). Scenarios, each over
// STARTTLS with TLS 1.3:
//
//	legacy       SASL SCRAM-SHA-256, stream restart, bind, <enable resume/>
//	sasl2        SASL2 SCRAM-SHA-256 with Bind 2 and <enable/> inline
//	fast-bind    SASL2 HT-SHA-256-NONE with a FAST token, Bind 2 and <enable/> inline
//	fast-resume  SASL2 HT-SHA-256-NONE with a FAST token and an inline <resume/>
//	             of the session the previous connection left (XEP-0198 §9)
//
// Every login of a FAST scenario gets a fresh token (c2s rotates on each
// use) and the next one uses it. bench/reconnect.sh starts the server.
//
//	go run ./bench/reconnect -addr 127.0.0.1:5222 -pid $(pidof xmppd) -user bench -pass secret -n 500
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xdg-go/scram"

	"github.com/xmppd/xmppd/xml"
)

const agent = "<user-agent id='8c1e6a3e-8f1e-4a8c-9b39-1f3c1a0b7e55'><software>reconnect</software></user-agent>"

// turnConn counts round trips: each read that follows a write.
type turnConn struct {
	net.Conn
	wrote bool
	turns int
}

func (c *turnConn) Write(b []byte) (int, error) { c.wrote = true; return c.Conn.Write(b) }
func (c *turnConn) Read(b []byte) (int, error) {
	if c.wrote {
		c.turns++
		c.wrote = false
	}
	return c.Conn.Read(b)
}

type client struct {
	raw *turnConn
	nc  net.Conn
	dec *xml.Decoder
}

func (c *client) send(s string) {
	if _, err := c.nc.Write([]byte(s)); err != nil {
		log.Fatalf("send: %v", err)
	}
}

func (c *client) next() *xml.Element {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	el, err := c.dec.Next()
	if err != nil {
		log.Fatalf("read: %v", err)
	}
	return el
}

func (c *client) open() *xml.Element {
	c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.dec.ReadHeader(); err != nil {
		log.Fatalf("header: %v", err)
	}
	return c.next()
}

// dial connects and negotiates STARTTLS; the features of the TLS stream
// are read.
func dial(addr string) *client {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	tc := &turnConn{Conn: nc}
	c := &client{raw: tc, nc: tc, dec: xml.NewDecoder(tc, xml.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 100, MaxAttrs: 100})}
	c.open()
	c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if el := c.next(); el.Name() != "proceed" {
		log.Fatalf("starttls: %s", el)
	}
	t := tls.Client(tc, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err := t.Handshake(); err != nil {
		log.Fatal(err)
	}
	c.nc = t
	c.dec.Reset(t)
	c.open()
	return c
}

// scramStep runs SCRAM-SHA-256 with first sent as sendFirst wraps it,
// answering challenges in ns; it returns the element that ended it.
func scramStep(c *client, conv *scram.ClientConversation, ns, sendFirst string) *xml.Element {
	first, _ := conv.Step("")
	c.send(fmt.Sprintf(sendFirst, base64.StdEncoding.EncodeToString([]byte(first))))
	for {
		el := c.next()
		if el.Name() != "challenge" {
			return el
		}
		ch, _ := base64.StdEncoding.DecodeString(el.Text())
		resp, err := conv.Step(string(ch))
		if err != nil {
			log.Fatal(err)
		}
		c.send("<response xmlns='" + ns + "'>" + base64.StdEncoding.EncodeToString([]byte(resp)) + "</response>")
	}
}

func htInitial(user, token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Initiator"))
	return base64.StdEncoding.EncodeToString(append([]byte(user+"\x00"), m.Sum(nil)...))
}

func child(el *xml.Element, name string) *xml.Element {
	for ch := range el.Children() {
		if ch.Name() == name {
			return ch
		}
	}
	return nil
}

type state struct {
	addr, user, pass string
	scram            *scram.Client // caches the salted password: the client's PBKDF2 runs once
	token            string
	smID             string
}

// scenario runs one reconnect and returns its round trips.
type scenario func(s *state) int

func legacy(s *state) int {
	c := dial(s.addr)
	el := scramStep(c, s.scram.NewConversation(), "urn:ietf:params:xml:ns:xmpp-sasl",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>")
	if el.Name() != "success" {
		log.Fatalf("legacy: %s", el)
	}
	c.open()
	c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>")
	if el := c.next(); el.Attr("type") != "result" {
		log.Fatalf("bind: %s", el)
	}
	c.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	if el := c.next(); el.Name() != "enabled" {
		log.Fatalf("enable: %s", el)
	}
	return finish(s, c)
}

func sasl2(s *state) int {
	c := dial(s.addr)
	el := scramStep(c, s.scram.NewConversation(), "urn:xmpp:sasl:2",
		"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>%s</initial-response>"+agent+
			"<bind xmlns='urn:xmpp:bind:0'><tag>r</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind></authenticate>")
	if el.Name() != "success" {
		log.Fatalf("sasl2: %s", el)
	}
	c.next() // features
	return finish(s, c)
}

func fastBind(s *state) int {
	c := dial(s.addr)
	c.send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>" + htInitial(s.user, s.token) +
		"</initial-response>" + agent + "<fast xmlns='urn:xmpp:fast:0'/><bind xmlns='urn:xmpp:bind:0'><tag>r</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind></authenticate>")
	el := c.next()
	s.takeToken(el)
	c.next() // features
	return finish(s, c)
}

func fastResume(s *state) int {
	c := dial(s.addr)
	c.send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>" + htInitial(s.user, s.token) +
		"</initial-response>" + agent + "<fast xmlns='urn:xmpp:fast:0'/><resume xmlns='urn:xmpp:sm:3' previd='" + s.smID + "' h='0'/></authenticate>")
	el := c.next()
	s.takeToken(el)
	if child(el, "resumed") == nil {
		log.Fatalf("fast-resume: not resumed: %s", el)
	}
	// A round trip to know the session works (as the others' last step).
	c.send("<r xmlns='urn:xmpp:sm:3'/>")
	if a := c.next(); a.Name() != "a" {
		log.Fatalf("fast-resume: %s", a)
	}
	turns := c.raw.turns
	// Broken, not closed: the session waits to be resumed.
	c.raw.Conn.Close()
	return turns
}

// breakSession logs in with a token, binds with stream management and
// breaks the connection: the session waits to be resumed. (Bind 2 ends
// the earlier sessions of the same client, so this comes right before the
// resumptions.)
func (s *state) breakSession() {
	c := dial(s.addr)
	c.send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>" + htInitial(s.user, s.token) +
		"</initial-response>" + agent + "<fast xmlns='urn:xmpp:fast:0'/><bind xmlns='urn:xmpp:bind:0'><tag>r</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind></authenticate>")
	el := c.next()
	s.takeToken(el)
	en := child(child(el, "bound"), "enabled")
	if en == nil {
		log.Fatalf("no <enabled/>: %s", el)
	}
	s.smID = en.Attr("id")
	c.next() // features
	c.raw.Conn.Close()
}

func (s *state) takeToken(el *xml.Element) {
	if el.Name() != "success" {
		log.Fatalf("FAST login: %s", el)
	}
	if t := child(el, "token"); t != nil {
		s.token = t.Attr("token")
	}
}

// finish checks the session answers, then ends the stream cleanly.
func finish(s *state, c *client) int {
	c.send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		el := c.next()
		if el.Name() == "iq" && el.Attr("id") == "p" {
			break
		}
	}
	turns := c.raw.turns
	c.send("</stream:stream>")
	c.nc.Close()
	return turns
}

// cpuTicks is the process's user+system time in clock ticks (1/100 s).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		log.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func main() {
	addr := flag.String("addr", "127.0.0.1:5222", "STARTTLS c2s listener")
	pid := flag.Int("pid", 0, "the server's process id")
	user := flag.String("user", "bench", "account (localhost)")
	pass := flag.String("pass", "bench-password", "its password")
	n := flag.Int("n", 300, "reconnects per scenario")
	only := flag.String("only", "", "run only this scenario (for profiling)")
	flag.Parse()
	if *pid == 0 {
		log.Fatal("-pid is needed")
	}
	sc, err := scram.SHA256.NewClient(*user, *pass, "")
	if err != nil {
		log.Fatal(err)
	}
	s := &state{addr: *addr, user: *user, pass: *pass, scram: sc}

	// A token from one password login.
	c := dial(*addr)
	el := scramStep(c, sc.NewConversation(), "urn:xmpp:sasl:2",
		"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>%s</initial-response>"+agent+
			"<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/></authenticate>")
	s.takeToken(el)
	if s.token == "" {
		log.Fatalf("no FAST token: %s", el)
	}
	c.nc.Close()

	fmt.Println("| scenario | round trips (from TCP connect) | server CPU ms per reconnect | wall ms per reconnect (loopback) |")
	fmt.Println("|---|---:|---:|---:|")
	for _, sc := range []struct {
		name string
		run  scenario
	}{{"legacy", legacy}, {"sasl2", sasl2}, {"fast-bind", fastBind}, {"fast-resume", fastResume}} {
		if *only != "" && sc.name != *only {
			continue
		}
		if sc.name == "fast-resume" {
			s.breakSession()
		}
		sc.run(s) // warm up
		t0, c0 := time.Now(), cpuTicks(*pid)
		turns := 0
		for range *n {
			turns = sc.run(s)
		}
		wall, ticks := time.Since(t0), cpuTicks(*pid)-c0
		fmt.Printf("| %s | %d | %.2f | %.2f |\n", sc.name, turns, float64(ticks)*10/float64(*n), float64(wall.Microseconds())/1000/float64(*n))
	}
}
