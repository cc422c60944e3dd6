package main

import (
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// notifySocket listens where systemd would ($NOTIFY_SOCKET) and returns
// the datagrams it gets.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 8)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return name, ch
}

func TestSdNotify(t *testing.T) {
	name, got := notifySocket(t)
	if err := sdNotify(name, "READY=1"); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "READY=1" {
		t.Fatalf("got %q", s)
	}
	if err := sdNotify("", "READY=1"); err != nil {
		t.Fatalf("without $NOTIFY_SOCKET: %v", err)
	}
	if err := sdNotify(filepath.Join(t.TempDir(), "none"), "READY=1"); err == nil {
		t.Fatal("no error for a socket nobody listens on")
	}
}

// xmppd serve under systemd: READY=1 once a client can connect, the
// self-signed certificate's file and fingerprint in the log, STOPPING=1
// on SIGTERM.
func TestServeNotifiesSystemd(t *testing.T) {
	name, got := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", name)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "xmppd.toml")
	os.WriteFile(cfgPath, []byte(testutil.BaseConfig(dir)+"\n[[listen]]\ntype = \"admin\"\naddress = \"127.0.0.1:0\"\n[s2s]\nenabled = false\n"), 0o600)
	var logs testutil.LogBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"-config", cfgPath}, strings.NewReader(""), &logs, &logs) }()
	select {
	case s := <-got:
		if s != "READY=1" {
			t.Fatalf("first notification %q", s)
		}
	case code := <-done:
		t.Fatalf("serve ended with %d:\n%s", code, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no READY=1:\n%s", logs.String())
	}
	// Ready means listening: the c2s port answers. The listeners are
	// bound before READY=1; the line naming them is logged when serving
	// starts, which may come just after it.
	var out, addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		out = logs.String()
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, `msg=listening type=c2s tls=starttls`) {
				addr = l[strings.Index(l, "address=")+len("address="):]
			}
		}
		if addr == "" && time.Now().After(deadline) {
			t.Fatalf("no c2s listener in the log:\n%s", out)
		}
	}
	{
		testutil.NewClient(t, testutil.Dial(t, addr)).Open("localhost")
	}

	crt, err := os.ReadFile(filepath.Join(dir, "certs", "localhost.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk := pemBlock(t, crt)
	sum := sha256.Sum256(blk)
	want := fmt.Sprintf("%X", sum[:1]) + ":" + fmt.Sprintf("%X", sum[1:2])
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "self-signed certificate created") && strings.Contains(l, "domain=localhost") {
			line = l
		}
	}
	if !strings.Contains(line, "file="+filepath.Join(dir, "certs", "localhost.crt")) || !strings.Contains(line, "sha256="+want) || strings.Count(line, ":") < 31 {
		t.Errorf("no certificate line with file and fingerprint %s...:\n%s", want, out)
	}

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case s := <-got:
		if s != "STOPPING=1" {
			t.Errorf("on SIGTERM: %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no STOPPING=1")
	}
	if code := <-done; code != 0 {
		t.Fatalf("serve: %d\n%s", code, logs.String())
	}
}

func pemBlock(t *testing.T, b []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	return blk.Bytes
}
