package tlsmem

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

func pair(t *testing.T) (srv, cli *tls.Conn) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan *tls.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- nil
			return
		}
		done <- tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cli = tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	srv = <-done
	if srv == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { srv.Close(); cli.Close() })
	errc := make(chan error, 1)
	go func() { errc <- cli.Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return srv, cli
}

func roundTrip(t *testing.T, from, to *tls.Conn, msg string) {
	t.Helper()
	go from.Write([]byte(msg))
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(to, b); err != nil || string(b) != msg {
		t.Fatalf("read %q, %v; want %q", b, err, msg)
	}
}

func TestReleaseIdle(t *testing.T) {
	if !Supported() {
		t.Fatal("crypto/tls layout not recognised: Release does nothing on this Go release")
	}
	srv, cli := pair(t)
	roundTrip(t, cli, srv, "<presence/>")
	if raw, hand := capacities(srv); raw == 0 || hand == 0 {
		t.Fatalf("before Release: rawInput cap %d, hand cap %d; the handshake should have grown both", raw, hand)
	}
	if !Release(srv) {
		t.Fatal("Release refused an idle connection")
	}
	if raw, hand := capacities(srv); raw != 0 || hand != 0 {
		t.Fatalf("after Release: rawInput cap %d, hand cap %d, want 0", raw, hand)
	}
	// The connection works on, both ways, and again after a second release.
	for _, msg := range []string{"<message><body>one</body></message>", "two"} {
		roundTrip(t, cli, srv, msg)
		roundTrip(t, srv, cli, msg)
		Release(srv)
		Release(cli)
	}
}

func TestReleaseKeepsBufferedInput(t *testing.T) {
	srv, cli := pair(t)
	go cli.Write([]byte("hello world"))
	b := make([]byte, 5)
	if _, err := io.ReadFull(srv, b); err != nil {
		t.Fatal(err)
	}
	if Release(srv) {
		t.Fatal("Release dropped a record with unread plaintext")
	}
	rest := make([]byte, 6)
	if _, err := io.ReadFull(srv, rest); err != nil || string(rest) != " world" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestReleaseDuringRead(t *testing.T) {
	srv, cli := pair(t)
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 3)
		n, _ := srv.Read(b)
		got <- string(b[:n])
	}()
	// Read holds the input lock while it waits: Release must see that.
	deadline := time.Now().Add(5 * time.Second)
	for Release(srv) {
		if time.Now().After(deadline) {
			t.Fatal("Release never noticed the Read in progress")
		}
		time.Sleep(time.Millisecond)
	}
	cli.Write([]byte("abc"))
	if s := <-got; s != "abc" {
		t.Fatalf("read %q", s)
	}
}

func TestBuffered(t *testing.T) {
	srv, cli := pair(t)
	if b, ok := Buffered(srv); !ok || b {
		t.Fatalf("after the handshake: Buffered = %v, %v; want false, true", b, ok)
	}
	// Two records; a short Read leaves the rest of the first as
	// plaintext, and a second record may already sit in rawInput.
	if _, err := cli.Write([]byte("<message>one</message>")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 9)
	if _, err := io.ReadFull(srv, b); err != nil {
		t.Fatal(err)
	}
	if got, ok := Buffered(srv); !ok || !got {
		t.Fatalf("with undelivered plaintext: Buffered = %v, %v; want true, true", got, ok)
	}
	rest := make([]byte, len("<message>one</message>")-9)
	if _, err := io.ReadFull(srv, rest); err != nil {
		t.Fatal(err)
	}
	if got, ok := Buffered(srv); !ok || got {
		t.Fatalf("all read: Buffered = %v, %v; want false, true", got, ok)
	}
}
