package web_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/web"
)

// siteGet asks the server s for path as if the browser had reached it by
// the name host; hdr are extra request headers in pairs.
func siteGet(t *testing.T, s *testutil.Server, method, host, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+s.HTTP+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	// A transport that leaves Accept-Encoding to the test and the body
	// as it came.
	c := insecureClient()
	c.Transport.(*http.Transport).DisableCompression = true
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

const siteConfig = https + `
[[listen]]
type = "c2s"
address = "127.0.0.1:0"
tls = "starttls"

[[host]]
domain = "open.example"
registration = true
`

// Each host has its landing page at /, picked by the Host header (any
// case, with or without port or final dot; a subdomain's name gives its
// domain's page); other names get a 404.
func TestLandingPage(t *testing.T) {
	s := testutil.Start(t, siteConfig)
	for _, tc := range []struct {
		host      string
		status    int
		want, not []string
	}{
		{"localhost", 200, []string{"<h1>localhost</h1>", "name@localhost", `href="/web/"`, "made by its administrator", "(STARTTLS)", "(direct TLS)", "Conversations", "Monal", "Gajim", "Dino", "Mozilla Public License"}, []string{"create an account here"}},
		{"Open.Example.:5443", 200, []string{"<h1>open.example</h1>", "create an account here", "<code>open.example</code>"}, []string{"made by its administrator"}},
		{"example.test", 200, []string{"name@example.test"}, nil},
		{"xmpp.web.open.example:5443", 200, []string{"<h1>open.example</h1>"}, nil},
		{"127.0.0.1", 404, nil, []string{"<h1>"}},
		{"other.example", 404, nil, []string{"<h1>"}},
		{"example", 404, nil, []string{"<h1>"}},
		{"open.example.other", 404, nil, []string{"<h1>"}},
	} {
		resp, body := siteGet(t, s, "GET", tc.host, "/")
		if resp.StatusCode != tc.status {
			t.Errorf("Host %s: status %d, want %d", tc.host, resp.StatusCode, tc.status)
			continue
		}
		if tc.status == 200 {
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Host %s: Content-Type %q", tc.host, ct)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Host %s: Content-Security-Policy %q", tc.host, csp)
			}
		}
		for _, w := range tc.want {
			if !bytes.Contains(body, []byte(w)) {
				t.Errorf("Host %s: page lacks %q", tc.host, w)
			}
		}
		for _, w := range tc.not {
			if bytes.Contains(body, []byte(w)) {
				t.Errorf("Host %s: page has %q", tc.host, w)
			}
		}
	}
	// Only / itself: other paths still go to the modules' routes (404
	// here) rather than to the landing page.
	if resp, _ := siteGet(t, s, "GET", "localhost", "/nothing-here"); resp.StatusCode != 404 {
		t.Errorf("/nothing-here: status %d", resp.StatusCode)
	}
}

// The landing page shows the c2s ports as configured (0 here), which is
// what clients outside use, not as bound.
func TestLandingPagePort(t *testing.T) {
	s := testutil.Start(t, siteConfig)
	_, body := siteGet(t, s, "GET", "localhost", "/")
	if !regexp.MustCompile(`port <code>0</code>\s*\(STARTTLS\)`).Match(body) {
		t.Errorf("configured port not shown:\n%s", body)
	}
}

// The web client's page at /web/ sets Converse up for the host it is
// asked for: its domain for names without one, registration as the host
// allows it, the bundled assets, an inline script allowed by its nonce
// alone.
func TestWebClientPage(t *testing.T) {
	s := testutil.Start(t, siteConfig)
	assets := "/web/converse-" + web.ConverseVersion + "/"
	for _, tc := range []struct {
		host string
		want []string
	}{
		{"localhost", []string{`"default_domain":"localhost"`, `"allow_registration":false`}},
		{"open.example", []string{`"default_domain":"open.example"`, `"allow_registration":true`, `"registration_domain":"open.example"`}},
	} {
		resp, body := siteGet(t, s, "GET", tc.host, "/web/")
		if resp.StatusCode != 200 {
			t.Fatalf("Host %s: status %d", tc.host, resp.StatusCode)
		}
		page := strings.ReplaceAll(string(body), `\/`, "/") // as JS reads the strings
		for _, w := range append(tc.want, `import converse from "`+assets+`converse.min.js"`, `href="`+assets+`converse.min.css"`,
			`"assets_path":"`+strings.TrimSuffix(assets, "/")+`"`, `"discover_connection_methods":false`, `"/xmpp-websocket"`) {
			if !strings.Contains(page, w) {
				t.Errorf("Host %s: page lacks %s\n%s", tc.host, w, page)
			}
		}
		m := regexp.MustCompile(`<script type="module" nonce="([^"]+)">`).FindStringSubmatch(page)
		csp := resp.Header.Get("Content-Security-Policy")
		if m == nil || !strings.Contains(csp, "script-src 'self' 'nonce-"+m[1]+"'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("Host %s: script nonce %v does not match Content-Security-Policy %q", tc.host, m, csp)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("Host %s: Cache-Control %q", tc.host, cc)
		}
	}
	_, a := siteGet(t, s, "GET", "localhost", "/web/")
	_, b := siteGet(t, s, "GET", "localhost", "/web/")
	if bytes.Equal(a, b) {
		t.Error("two loads of the page have the same nonce")
	}
	if resp, _ := siteGet(t, s, "GET", "unknown.example", "/web/"); resp.StatusCode != 404 {
		t.Errorf("unknown host: status %d", resp.StatusCode)
	}
}

// The bundle's files: their types, cached for good under a versioned
// path, gzip to clients that take it (RFC 9110 §12.5.3), the same bytes
// decompressed to those that do not, ranges of the uncompressed ones.
func TestWebClientAssets(t *testing.T) {
	s := testutil.Start(t, https)
	assets := "/web/converse-" + web.ConverseVersion + "/"

	_, plain := siteGet(t, s, "GET", "", assets+"converse.min.js", "Accept-Encoding", "identity")
	if len(plain) < 100_000 || !bytes.Contains(plain, []byte("converse")) {
		t.Fatalf("converse.min.js uncompressed: %d bytes", len(plain))
	}
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip, deflate, br, zstd", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"*", true},
		{"GZIP", true},
		{"gzip;q=0", false},
		{"gzip;q=0, *", false},
		{"*;q=0", false},
		{"br", false},
		{"", false},
	} {
		resp, body := siteGet(t, s, "GET", "", assets+"converse.min.js", "Accept-Encoding", tc.accept)
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Type") != "text/javascript; charset=utf-8" ||
			h.Get("Cache-Control") != "public, max-age=31536000, immutable" || h.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: %d %v", tc.accept, resp.StatusCode, h)
			continue
		}
		if got := h.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", tc.accept, h.Get("Content-Encoding"))
			continue
		}
		if tc.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, plain) {
			t.Errorf("Accept-Encoding %q: %d bytes differ from the uncompressed %d", tc.accept, len(body), len(plain))
		}
	}

	for _, tc := range []struct{ path, ctype string }{
		{"converse.min.css", "text/css; charset=utf-8"},
		{"emoji.json", "application/json"},
		{"curve25519_compiled.wasm", "application/wasm"},
		{"libomemo.esm.min.js", "text/javascript; charset=utf-8"},
		{"webfonts/muli.ttf", "font/ttf"},
		{"images/favicon.ico", "image/x-icon"},
		{"images/custom_emojis/xmpp.png", "image/png"},
		{"sounds/msg_received.ogg", "audio/ogg"},
	} {
		resp, body := siteGet(t, s, "GET", "", assets+tc.path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ctype || len(body) == 0 {
			t.Errorf("%s: %d, Content-Type %q, %d bytes", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	// Browsers fetch audio by ranges.
	resp, body := siteGet(t, s, "GET", "", assets+"sounds/msg_received.ogg", "Range", "bytes=0-3")
	if resp.StatusCode != http.StatusPartialContent || string(body) != "OggS" {
		t.Errorf("range of the ogg: %d %q", resp.StatusCode, body)
	}
	// HEAD: the headers, no body.
	resp, body = siteGet(t, s, "HEAD", "", assets+"converse.min.js", "Accept-Encoding", "gzip")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || len(body) != 0 {
		t.Errorf("HEAD: %d %v, %d bytes", resp.StatusCode, resp.Header, len(body))
	}

	for _, p := range []string{
		assets + "converse.js",                                   // not bundled
		assets + "converse.min.js.map",                           // no source maps
		assets + "converse.min.js.gz",                            // the stored name
		assets + "chunkjs%2F..%2F..%2FVERSION",                   // out of the bundle
		assets + "images",                                        // a folder
		"/web/converse-0.0.1/converse.min.js",                    // another release
		assets + "chunkjs/locales/de-LC_MESSAGES-converse-po.js", // not bundled by default
	} {
		if resp, _ := siteGet(t, s, "GET", "", p); resp.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
	resp, body = siteGet(t, s, "GET", "", "/web/LICENSE.txt")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("Mozilla Public License Version 2.0")) {
		t.Errorf("LICENSE.txt: %d", resp.StatusCode)
	}
}

// With [http] web_client = false the landing page stays, without a link
// to a web client, and /web/ is not served.
func TestWebClientOff(t *testing.T) {
	s := testutil.Start(t, https+"\n[http]\nweb_client = false\n")
	resp, body := siteGet(t, s, "GET", "localhost", "/")
	if resp.StatusCode != 200 || bytes.Contains(body, []byte("/web/")) || bytes.Contains(body, []byte("Converse")) {
		t.Errorf("landing page: %d\n%s", resp.StatusCode, body)
	}
	for _, p := range []string{"/web/", "/web/converse-" + web.ConverseVersion + "/converse.min.js", "/web/LICENSE.txt"} {
		if resp, _ := siteGet(t, s, "GET", "localhost", p); resp.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

// The bundle is the Converse.js release the browser interop tests pin
// (internal/interop/testdata/web), byte for byte as npm ships it: run
// scripts/update-webclient.sh after changing that pin.
func TestWebClientBundlePinned(t *testing.T) {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	npm := filepath.Join("..", "internal", "interop", "testdata", "web")
	b, err := os.ReadFile(filepath.Join(npm, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	if v := pkg.Dependencies["converse.js"]; v != web.ConverseVersion {
		t.Fatalf("bundled Converse.js %s, the interop tests pin %s: run scripts/update-webclient.sh", web.ConverseVersion, v)
	}
	dist := filepath.Join(npm, "node_modules", "converse.js", "dist")
	if _, err := os.Stat(dist); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("npm package not installed (scripts/test.sh runs npm ci): %v", err)
		}
		t.Skipf("npm package not installed (scripts/test.sh runs npm ci): %v", err)
	}
	n := 0
	err = filepath.WalkDir("webclient/dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("webclient/dist", p)
		if name, ok := strings.CutSuffix(rel, ".gz"); ok {
			zr, err := gzip.NewReader(bytes.NewReader(got))
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if got, err = io.ReadAll(zr); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			rel = name
		}
		want, err := os.ReadFile(filepath.Join(dist, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the npm package's %s", p, rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("only %d files in the bundle", n)
	}
}
