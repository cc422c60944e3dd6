// Command relay is the floor for bench/sweep-xmppd.sh: the least a server
// can do for xmppload's chat scenario. It negotiates just enough XMPP for
// the load generator's login (STARTTLS with an in-memory self-signed
// certificate, SASL PLAIN accepted for any name and password, bind,
// presence ignored, ping answered), then only relays: it finds each
// </message> in what a session sends, reads the 'to' attribute by byte
// search and writes the stanza's bytes unchanged to that session's TLS
// connection from the reading goroutine. No XML parse, no 'from' stamping,
// no hooks, no storage, no queue.
//
// It is not an XMPP server: it exists to measure what the harness, TLS,
// the kernel and Go's runtime cost on this machine by themselves, so that
// xmppd's latency can be read against what any Go server would get here.
//
//	go run ./bench/relay -addr 127.0.0.1:46223
//	RELAY=1 RATES="33" bash bench/sweep-xmppd.sh   # xmppload against it
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	_ "net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/xmppd/xmppd/xml"
)

const (
	nsTLS  = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind = "urn:ietf:params:xml:ns:xmpp-bind"
)

var (
	domain = flag.String("domain", "localhost", "the domain served")
	mu     sync.RWMutex
	conns  = map[string]*tls.Conn{} // full JID → session
)

func main() {
	addr := flag.String("addr", "127.0.0.1:46223", "listen address")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address, to profile the floor as xmppd is (bench/profile-xmppd.sh)")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Print(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	cert, err := selfSigned(*domain)
	if err != nil {
		log.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("relay on %s for %s", ln.Addr(), *domain)
	for {
		nc, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(nc, cfg)
	}
}

func serve(nc net.Conn, cfg *tls.Config) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	lim := xml.Limits{MaxStanzaBytes: 1 << 16, MaxDepth: 16, MaxAttrs: 16}
	dec := xml.NewDecoder(nc, lim)
	if err := open(nc, dec, "<starttls xmlns='"+nsTLS+"'><required/></starttls>"); err != nil {
		return
	}
	if el, err := dec.Next(); err != nil || el.Name() != "starttls" {
		return
	}
	fmt.Fprintf(nc, "<proceed xmlns='%s'/>", nsTLS)
	tc := tls.Server(nc, cfg)
	if tc.Handshake() != nil {
		return
	}
	dec.Reset(tc)
	if open(tc, dec, "<mechanisms xmlns='"+nsSASL+"'><mechanism>PLAIN</mechanism></mechanisms>") != nil {
		return
	}
	el, err := dec.Next()
	if err != nil || el.Name() != "auth" {
		return
	}
	raw, _ := base64.StdEncoding.DecodeString(el.Text())
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[1] == "" {
		fmt.Fprintf(tc, "<failure xmlns='%s'><malformed-request/></failure>", nsSASL)
		return
	}
	fmt.Fprintf(tc, "<success xmlns='%s'/>", nsSASL)
	dec.Reset(tc)
	if open(tc, dec, "<bind xmlns='"+nsBind+"'/>") != nil {
		return
	}
	el, err = dec.Next()
	if err != nil || el.Name() != "iq" {
		return
	}
	res := "r"
	if b := el.Child("bind", nsBind); b != nil {
		if r := b.Child("resource", nsBind); r != nil && r.Text() != "" {
			res = r.Text()
		}
	}
	full := parts[1] + "@" + *domain + "/" + res
	mu.Lock()
	conns[full] = tc
	mu.Unlock()
	defer func() {
		mu.Lock()
		delete(conns, full)
		mu.Unlock()
	}()
	fmt.Fprintf(tc, "<iq type='result' id='%s'><bind xmlns='%s'><jid>%s</jid></bind></iq>", el.Attr("id"), nsBind, full)
	// Presence and the login's ping, then nothing is buffered in the
	// decoder: the client waits for the ping's answer before it sends
	// more, and from here on the bytes are read raw.
	for {
		el, err = dec.Next()
		if err != nil {
			return
		}
		if el.Name() == "iq" {
			fmt.Fprintf(tc, "<iq type='result' id='%s' from='%s'/>", el.Attr("id"), *domain)
			break
		}
	}
	nc.SetDeadline(time.Time{})
	relay(tc)
}

// open reads the client's stream header and answers with ours and the
// features.
func open(w interface{ Write([]byte) (int, error) }, dec *xml.Decoder, features string) error {
	if _, err := dec.ReadHeader(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='r' from='%s' version='1.0'><stream:features>%s</stream:features>", *domain, features)
	return err
}

var (
	endMessage = []byte("</message>")
	endStream  = []byte("</stream:stream>")
	toAttr     = []byte(" to='")
)

// relay forwards every <message/> the session sends to its 'to', until
// the stream ends.
func relay(tc *tls.Conn) {
	buf := make([]byte, 0, 16<<10)
	for {
		if len(buf) == cap(buf) {
			return // a stanza larger than the buffer: not what the harness sends
		}
		n, err := tc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		for {
			i := bytes.Index(buf, endMessage)
			if i < 0 {
				break
			}
			st := buf[:i+len(endMessage)]
			if j := bytes.Index(st, toAttr); j >= 0 {
				to := st[j+len(toAttr):]
				if k := bytes.IndexByte(to, '\''); k >= 0 {
					mu.RLock()
					peer := conns[string(to[:k])]
					mu.RUnlock()
					if peer != nil {
						peer.Write(bytes.TrimLeft(st, " \t\r\n"))
					}
				}
			}
			buf = buf[:copy(buf, buf[len(st):])]
		}
		if err != nil || bytes.Contains(buf, endStream) {
			tc.Write(endStream)
			return
		}
	}
}

func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
