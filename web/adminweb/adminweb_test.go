package adminweb_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/server"
	"github.com/xmppd/xmppd/internal/testutil"
)

// adminServer is a running xmppd with the admin pages on, its log and a
// base URL for them.
type adminServer struct {
	*testutil.Server
	base string
	logs *testutil.LogBuffer
}

// start runs xmppd with admin@localhost an admin of localhost and
// boss@example.test of example.test, the admin pages on an http listener
// (tls "none" or "direct"), and extra TOML appended. Like testutil.Start,
// but keeping the log: the tests read it.
func start(t *testing.T, httpTLS, extra string) *adminServer {
	t.Helper()
	dir := t.TempDir()
	toml := fmt.Sprintf(`
data_dir = %q
log_level = "debug"

[[host]]
domain = "localhost"
admins = ["admin@localhost"]

[[host]]
domain = "example.test"
admins = ["boss@example.test"]

[[listen]]
type = "c2s"
address = "127.0.0.1:0"
tls = "starttls"

[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = %q

[admin]
web = true

[s2s]
enabled = false
`, dir, httpTLS) + extra
	cfg, err := config.Parse([]byte(toml), "test.toml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &testutil.LogBuffer{}
	var w io.Writer = logs
	if os.Getenv("XMPPD_TEST_LOG") != "" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("start xmppd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	addrs := srv.Addrs()
	scheme := "http"
	if httpTLS == "direct" {
		scheme = "https"
	}
	return &adminServer{Server: &testutil.Server{Server: srv, StartTLS: addrs[0].String(), HTTP: addrs[1].String()},
		base: scheme + "://" + addrs[1].String(), logs: logs}
}

// browser is a cookie-keeping HTTP client that does not follow redirects
// (the tests look at them).
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, s *adminServer) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: s.base, c: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}}
}

// get returns the status, the Location and the body.
func (b *browser) get(path string) (int, string, string) {
	b.t.Helper()
	return b.do(http.MethodGet, path, nil, nil)
}

func (b *browser) post(path string, form url.Values, header http.Header) (int, string, string) {
	b.t.Helper()
	return b.do(http.MethodPost, path, form, header)
}

func (b *browser) do(method, path string, form url.Values, header http.Header) (int, string, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(out)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token of the first form on the page.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", page)
	}
	return m[1]
}

// login logs b in and returns the session's CSRF token.
func (b *browser) login(jid, password string) string {
	b.t.Helper()
	_, _, page := b.get("/admin/login")
	code, loc, body := b.post("/admin/login", url.Values{"csrf": {csrf(b.t, page)}, "jid": {jid}, "password": {password}}, nil)
	if code != http.StatusSeeOther || loc != "/admin/" {
		b.t.Fatalf("login %s: %d %q\n%s", jid, code, loc, body)
	}
	code, _, page = b.get("/admin/")
	if code != http.StatusOK || !strings.Contains(page, jid) {
		b.t.Fatalf("overview after login: %d\n%s", code, page)
	}
	return csrf(b.t, page)
}

// cookie returns the Set-Cookie attributes the server sent for name on
// a GET of path with b's cookies.
func setCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie set; headers %v", name, resp.Header)
	return nil
}
