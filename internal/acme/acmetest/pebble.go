// Package acmetest runs Let's Encrypt's test CA, pebble, inside a test:
// a real ACME server (RFC 8555) that validates challenges by connecting
// to the server under test, and a DNS server that points every name at
// 127.0.0.1 for it.
package acmetest

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// Pebble is a running pebble.
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// Roots trust the directory's HTTPS; CAFile holds the same as PEM.
	Roots  *x509.CertPool
	CAFile string
	// Issuer trusts the certificates pebble issues.
	Issuer *x509.CertPool
	// Finalized counts the orders finalized: certificates issued.
	Finalized atomic.Int32
	// DNSAddr is the DNS server's address (UDP and TCP), for a DNS-01
	// client that looks up zones and records itself.
	DNSAddr string

	mu  sync.Mutex
	txt map[string][]string
}

// Options are the ports pebble validates on: HTTPPort for HTTP-01 (what
// would be 80), TLSPort for TLS-ALPN-01 (443). 0 leaves one unused.
type Options struct {
	HTTPPort, TLSPort int
	// TXTDir, when set, also answers TXT queries from files in it, named
	// by the FQDN ("_acme-challenge.example.test."), one value per file:
	// a DNS-01 hook command writes them.
	TXTDir string
}

// Start runs pebble until the test ends.
func Start(t testing.TB, o Options) *Pebble {
	t.Helper()
	// No random sleeps before validating, no injected bad nonces: the
	// test waits for a certificate, not for pebble's chaos.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	p := &Pebble{txt: map[string][]string{}}
	var logw io.Writer = io.Discard
	if os.Getenv("XMPPD_TEST_LOG") != "" {
		logw = os.Stderr
	}
	logger := log.New(logw, "pebble ", log.LstdFlags)

	resolver := p.startDNS(t, o.TXTDir)
	p.DNSAddr = resolver
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, o.HTTPPort, o.TLSPort, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	h := front.Handler()
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = countFinalize(h, &p.Finalized)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	p.Directory = srv.URL + wfe.DirectoryPath
	p.Roots = x509.NewCertPool()
	p.Roots.AddCert(srv.Certificate())
	p.CAFile = filepath.Join(t.TempDir(), "pebble-https.pem")
	if err := os.WriteFile(p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Issuer = x509.NewCertPool()
	for i := range authority.GetNumberOfRootCerts() {
		p.Issuer.AddCert(authority.GetRootCert(i).Cert)
	}
	return p
}

// SetTXT publishes (or with no values removes) TXT records for a name.
func (p *Pebble) SetTXT(name string, values ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.txt[dns.Fqdn(strings.ToLower(name))] = values
}

// startDNS answers A queries with 127.0.0.1, TXT from SetTXT, SOA for
// names of one or two labels (so "example.test." is a zone), and
// everything else (AAAA, CAA) with no records.
func (p *Pebble) startDNS(t testing.TB, txtDir string) string {
	t.Helper()
	// pebble asks over TCP; both, on one port, as a resolver would.
	var (
		ln  net.Listener
		pc  net.PacketConn
		err error
	)
	for range 20 {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if pc, err = net.ListenPacket("udp", ln.Addr().String()); err == nil {
			break
		}
		ln.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			hdr := dns.RR_Header{Name: qq.Name, Class: dns.ClassINET, Rrtype: qq.Qtype, Ttl: 0}
			switch qq.Qtype {
			case dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
			case dns.TypeSOA:
				if dns.CountLabel(qq.Name) <= 2 {
					m.Answer = append(m.Answer, &dns.SOA{Hdr: hdr, Ns: "ns." + qq.Name, Mbox: "hostmaster." + qq.Name, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60})
				}
			case dns.TypeTXT:
				p.mu.Lock()
				vals := p.txt[strings.ToLower(qq.Name)]
				p.mu.Unlock()
				if b, err := os.ReadFile(filepath.Join(txtDir, strings.ToLower(qq.Name))); txtDir != "" && err == nil {
					vals = append(vals, strings.TrimSpace(string(b)))
				}
				for _, v := range vals {
					m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
				}
			}
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return ln.Addr().String()
}

// countFinalize counts the finalize requests pebble answers with success.
func countFinalize(h http.Handler, n *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// "/finalize-order/" is pebble's orderFinalizePath (unexported).
		if !strings.HasPrefix(r.URL.Path, "/finalize-order/") {
			h.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status < 300 {
			n.Add(1)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
