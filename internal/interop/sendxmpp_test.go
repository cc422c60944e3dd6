package interop_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// goSendxmpp returns the path of go-sendxmpp (Debian package go-sendxmpp).
// Under CI a missing client fails the test: scripts/test.sh installs it.
func goSendxmpp(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go-sendxmpp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("go-sendxmpp not found (scripts/test.sh installs it): %v", err)
		}
		t.Skip("go-sendxmpp not installed: apt-get install go-sendxmpp")
	}
	return p
}

// sendxmppRun is the outcome of one go-sendxmpp run.
type sendxmppRun struct {
	out string // combined stdout and stderr (--debug: the XML the server sent)
	err error  // exit status
}

// runSendxmpp runs go-sendxmpp with --debug and args, feeding stdin, under
// a 30s deadline; running into the deadline fails the test (a hang). HOME
// is a fresh directory so no user configuration file is read.
func runSendxmpp(t *testing.T, bin, stdin string, args ...string) sendxmppRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--debug", "--timeout", "10"}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin", "LANG=C"}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	t.Logf("go-sendxmpp %s: exit %v\n%s", strings.Join(args, " "), err, out)
	if ctx.Err() != nil {
		t.Fatalf("go-sendxmpp did not finish within 30s (hang)")
	}
	return sendxmppRun{out: string(out), err: err}
}

var (
	reAuthMech  = regexp.MustCompile(`<auth [^>]*mechanism=['"]([A-Z0-9-]+)['"]`)
	reChallenge = regexp.MustCompile(`<challenge[^>]*>([^<]*)</challenge>`)
	reSuccess   = regexp.MustCompile(`<success[^>]*/>|<success[^>]*>([^<]*)</success>`)
	reBounce    = regexp.MustCompile(`<message[^>]*from=['"]nobody@localhost['"][^>]*>.*?</message>`)
)

// saslMechanism works out from go-sendxmpp's --debug output which SASL
// mechanism it used and checks the server's side of the exchange. The
// debug output of go-sendxmpp 0.5.x shows only what the server sent, so
// the mechanism is inferred: SCRAM (RFC 5802 §5) always takes a server
// challenge ("r=...,s=...,i=...") and ends in a success carrying the
// server signature ("v=..."); PLAIN (RFC 4616) has no challenge. If a
// later version prints its own <auth/>, that is used instead.
func saslMechanism(t *testing.T, out string) string {
	t.Helper()
	succ := reSuccess.FindStringSubmatch(out)
	if succ == nil {
		t.Fatalf("no <success/> in go-sendxmpp's debug output")
	}
	chals := reChallenge.FindAllStringSubmatch(out, -1)
	mech := ""
	if m := reAuthMech.FindStringSubmatch(out); m != nil {
		mech = m[1]
	}
	if len(chals) == 0 {
		if mech != "" && mech != "PLAIN" {
			t.Fatalf("go-sendxmpp sent mechanism %s but the server sent no challenge", mech)
		}
		if !strings.Contains(out, "<mechanism>PLAIN</mechanism>") {
			t.Fatalf("single-step SASL exchange although the server did not offer PLAIN")
		}
		return "PLAIN"
	}
	first, err := base64.StdEncoding.DecodeString(strings.TrimSpace(chals[0][1]))
	if err != nil || !strings.HasPrefix(string(first), "r=") || !strings.Contains(string(first), ",s=") || !strings.Contains(string(first), ",i=") {
		t.Fatalf("first challenge is not a SCRAM server-first-message: %q (%v)", first, err)
	}
	final, err := base64.StdEncoding.DecodeString(strings.TrimSpace(succ[1]))
	if err != nil || !strings.HasPrefix(string(final), "v=") {
		t.Fatalf("SCRAM <success/> does not carry the server signature: %q (%v)", final, err)
	}
	if mech == "" {
		mech = "SCRAM-*"
	}
	if !strings.HasPrefix(mech, "SCRAM-") {
		t.Fatalf("go-sendxmpp sent mechanism %s but the exchange is SCRAM", mech)
	}
	return mech
}

// expectNothing checks that c has nothing queued: a ping to the server is
// answered before anything else arrives.
func expectNothing(t *testing.T, c *testutil.Client, id string) {
	t.Helper()
	c.Send("<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", id)
	if el := c.Next(); el.Name() != "iq" || el.Attr("id") != id {
		t.Fatalf("bob received %s, expected nothing", el)
	}
}

// TestGoSendxmpp sends messages with go-sendxmpp (Debian's go-sendxmpp,
// built on github.com/mattn/go-xmpp) to a wire-level bob.
func TestGoSendxmpp(t *testing.T) {
	bin := goSendxmpp(t)
	s := aliceAndBob(t)
	bob := testutil.Login(t, s, "bob", "bob-pw", "wire")
	// Initial presence: a message to the bare JID goes to available
	// resources only (RFC 6121 §8.5.2.1.1).
	bob.Send("<presence/>")
	// RFC 6121 §4.2.2: the server echoes initial presence to the sender.
	if p := bob.Next(); p.Name() != "presence" || p.Attr("from") != "bob@localhost/wire" {
		t.Fatalf("bob received %s, expected his own presence", p)
	}
	expectNothing(t, bob, "sync0")

	// receive reads bob's next message; it must come from alice with body.
	receive := func(t *testing.T, body string) {
		t.Helper()
		m := bob.NextNamed("message")
		from := m.Attr("from")
		if !strings.HasPrefix(from, "alice@localhost/") || len(from) == len("alice@localhost/") {
			t.Errorf("from = %q, want alice@localhost/<resource>", from)
		}
		if to := m.Attr("to"); to != "bob@localhost" {
			t.Errorf("to = %q, want bob@localhost", to)
		}
		b := m.Child("body", "")
		if b == nil || strings.TrimSpace(b.Text()) != body {
			t.Errorf("message = %s, want body %q", m, body)
		}
	}

	t.Run("starttls", func(t *testing.T) {
		const body = "hello bob over STARTTLS"
		r := runSendxmpp(t, bin, body+"\n", "-n", "-u", "alice@localhost", "-p", "alice-pw", "-j", s.StartTLS, "bob@localhost")
		if r.err != nil {
			t.Fatalf("go-sendxmpp failed: %v", r.err)
		}
		if !strings.Contains(r.out, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") {
			t.Errorf("no STARTTLS <proceed/> in debug output")
		}
		t.Logf("SASL mechanism used by go-sendxmpp: %s", saslMechanism(t, r.out))
		receive(t, body)
	})

	t.Run("directtls", func(t *testing.T) {
		// Body from a file (-m) this time.
		const body = "hello bob over direct TLS"
		f := filepath.Join(t.TempDir(), "msg.txt")
		if err := os.WriteFile(f, []byte(body+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runSendxmpp(t, bin, "", "-t", "-n", "-u", "alice@localhost", "-p", "alice-pw", "-j", s.DirectTLS, "-m", f, "bob@localhost")
		if r.err != nil {
			t.Fatalf("go-sendxmpp failed: %v", r.err)
		}
		if strings.Contains(r.out, "<proceed") {
			t.Errorf("STARTTLS on a direct TLS connection")
		}
		t.Logf("SASL mechanism used by go-sendxmpp: %s", saslMechanism(t, r.out))
		receive(t, body)
	})

	t.Run("mechanism", func(t *testing.T) {
		// Direct TLS through a recording relay, to see go-sendxmpp's <auth/>.
		const body = "hello bob through a relay"
		relay := startTLSRelay(t, s.DirectTLS)
		r := runSendxmpp(t, bin, body+"\n", "-t", "-n", "-u", "alice@localhost", "-p", "alice-pw", "-j", relay.addr, "bob@localhost")
		sent := relay.Sent(t)
		t.Logf("go-sendxmpp sent:\n%s", sent)
		m := reAuthMech.FindStringSubmatch(sent)
		if m == nil {
			t.Fatalf("no <auth mechanism=.../> among what go-sendxmpp sent")
		}
		mech := m[1]
		t.Logf("SASL mechanism used by go-sendxmpp: %s", mech)
		if !strings.Contains(r.out, "<mechanism>"+mech+"</mechanism>") {
			t.Errorf("go-sendxmpp chose %s, which the server did not offer", mech)
		}
		if strings.HasSuffix(mech, "-PLUS") {
			// Channel binding must expose the relay (RFC 5929, RFC 9266).
			if r.err == nil {
				t.Fatalf("%s succeeded through a TLS-terminating relay: channel binding not checked", mech)
			}
			expectNothing(t, bob, "sync-relay")
			return
		}
		if r.err != nil {
			t.Fatalf("go-sendxmpp failed: %v", r.err)
		}
		if got := saslMechanism(t, r.out); got != mech && !(got == "SCRAM-*" && strings.HasPrefix(mech, "SCRAM-")) {
			t.Errorf("server's side of the exchange looks like %s, client sent %s", got, mech)
		}
		receive(t, body)
	})

	t.Run("wrong password", func(t *testing.T) {
		r := runSendxmpp(t, bin, "must not arrive\n", "-n", "-u", "alice@localhost", "-p", "WRONG", "-j", s.StartTLS, "bob@localhost")
		var ee *exec.ExitError
		if !errors.As(r.err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("go-sendxmpp with a wrong password: exit %v, want non-zero", r.err)
		}
		if !strings.Contains(r.out, "not-authorized") {
			t.Errorf("no <not-authorized/> SASL failure in go-sendxmpp's output")
		}
		if strings.Contains(r.out, "<success") {
			t.Errorf("server sent <success/> for a wrong password")
		}
		expectNothing(t, bob, "sync1")
	})

	t.Run("unknown recipient", func(t *testing.T) {
		// RFC 6121 §8.5.2.2.1: a message to a nonexistent account is
		// dropped or bounced with service-unavailable; go-sendxmpp does
		// not wait for errors, it must simply finish.
		r := runSendxmpp(t, bin, "to nobody\n", "-n", "-u", "alice@localhost", "-p", "alice-pw", "-j", s.StartTLS, "nobody@localhost")
		if r.err != nil {
			t.Errorf("go-sendxmpp to nobody@localhost: %v", r.err)
		}
		// go-sendxmpp may or may not read the bounce before it closes.
		if m := reBounce.FindString(r.out); m != "" {
			if !strings.Contains(m, "type='error'") || !strings.Contains(m, "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>") {
				t.Errorf("bounce from nobody@localhost is not a service-unavailable error: %s", m)
			}
		}
		expectNothing(t, bob, "sync2")
	})
}

// tlsRelay is a TLS-terminating relay in front of xmppd's direct TLS port:
// it presents its own self-signed certificate to the client, so it can
// record what the client sends (go-sendxmpp's --debug shows only the
// server's side). To the server it is a man in the middle: channel
// binding (SCRAM-*-PLUS) through it must fail.
type tlsRelay struct {
	addr string
	mu   sync.Mutex
	sent bytes.Buffer // client to server, decrypted
	done chan struct{}
}

func startTLSRelay(t *testing.T, upstream string) *tlsRelay {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	r := &tlsRelay{addr: ln.Addr().String(), done: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		defer close(r.done)
		down, err := ln.Accept()
		if err != nil {
			return
		}
		defer down.Close()
		up, err := tls.Dial("tcp", upstream, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer up.Close()
		go func() { io.Copy(down, up); down.Close() }()
		io.Copy(io.MultiWriter(up, r), down)
	}()
	return r
}

func (r *tlsRelay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.Write(p)
}

// Sent waits for the relayed connection to end and returns what the
// client sent.
func (r *tlsRelay) Sent(t *testing.T) string {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("relayed connection did not end")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.String()
}
