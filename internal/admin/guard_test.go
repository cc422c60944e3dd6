package admin_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/admin"
	"github.com/xmppd/xmppd/internal/testutil"
)

// request sends one request to the admin listener as given and returns
// the status code.
func request(t *testing.T, s *testutil.Server, method, path, host string, header map[string]string, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// What a web page can make a browser send to a loopback admin listener
// is refused: a DNS-rebound Host, a cross-site Origin, a text/plain POST
// (a "simple" request, sent without a CORS preflight). The CLI's own
// requests, and those naming the listener by address, still work.
func TestAdminRefusesCrossSite(t *testing.T) {
	s := testutil.Start(t, adminListener)
	s.AddUser(t, "bob", "bob pass")
	bob := testutil.Login(t, s, "bob", "bob pass", "desk")
	_, port, _ := net.SplitHostPort(s.Admin)
	kickBob := `{"jid":"` + bob.JID + `"}`
	json := map[string]string{"Content-Type": "application/json"}

	for _, c := range []struct {
		name, method, path, host string
		header                   map[string]string
		body                     string
		want                     int
	}{
		{"rebound name", "GET", admin.PathSessions, "rebind.example:" + port, nil, "", http.StatusMisdirectedRequest},
		{"rebound name, metrics", "GET", admin.PathMetrics, "rebind.example:" + port, nil, "", http.StatusMisdirectedRequest},
		{"other port", "GET", admin.PathSessions, "127.0.0.1:1", nil, "", http.StatusMisdirectedRequest},
		{"foreign IP", "GET", admin.PathSessions, "192.0.2.1:" + port, nil, "", http.StatusMisdirectedRequest},
		{"kick from a rebound name", "POST", admin.PathKick, "rebind.example:" + port, json, kickBob, http.StatusMisdirectedRequest},
		{"kick from a foreign page", "POST", admin.PathKick, "", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, kickBob, http.StatusForbidden},
		{"kick as text/plain", "POST", admin.PathKick, "", map[string]string{"Content-Type": "text/plain"}, kickBob, http.StatusUnsupportedMediaType},
		{"kick as a form", "POST", admin.PathKick, "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, kickBob, http.StatusUnsupportedMediaType},
		{"kick without a type", "POST", admin.PathKick, "", nil, kickBob, http.StatusUnsupportedMediaType},
		{"listener address", "GET", admin.PathSessions, "", nil, "", http.StatusOK},
		{"localhost", "GET", admin.PathSessions, "localhost:" + port, nil, "", http.StatusOK},
		{"localhost without port", "GET", admin.PathStatus, "localhost", nil, "", http.StatusOK},
		{"IPv6 loopback", "GET", admin.PathStatus, "[::1]:" + port, nil, "", http.StatusOK},
		{"same-origin page", "GET", admin.PathStatus, "", map[string]string{"Origin": "http://" + s.Admin}, "", http.StatusOK},
	} {
		if got := request(t, s, c.method, c.path, c.host, c.header, c.body); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if n := s.Sessions(); n != 1 {
		t.Fatalf("%d sessions after the refused kicks, want bob's", n)
	}
	if got := request(t, s, "POST", admin.PathKick, "", json, kickBob); got != http.StatusOK {
		t.Fatalf("kick with JSON: %d", got)
	}
}

// With [admin] token_file, xmppd writes a token there at start-up (owner
// only) and every request must carry it; with it, a name the operator
// uses in Host is fine (a page cannot know the token).
func TestAdminToken(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir)+adminListener+"\n[admin]\ntoken_file = \"admin.token\"\n")
	path := filepath.Join(dir, "admin.token")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	token, _, err := admin.LoadToken(path, false)
	if err != nil || len(token) < 32 {
		t.Fatalf("token %q: %v", token, err)
	}
	_, port, _ := net.SplitHostPort(s.Admin)
	for _, c := range []struct {
		name, path, host string
		auth             string
		want             int
	}{
		{"no token", admin.PathStatus, "", "", http.StatusUnauthorized},
		{"no token, metrics", admin.PathMetrics, "", "", http.StatusUnauthorized},
		{"wrong token", admin.PathStatus, "", "Bearer " + strings.Repeat("0", len(token)), http.StatusUnauthorized},
		{"token as basic", admin.PathStatus, "", "Basic " + token, http.StatusUnauthorized},
		{"token", admin.PathStatus, "", "Bearer " + token, http.StatusOK},
		{"token, metrics", admin.PathMetrics, "", "Bearer " + token, http.StatusOK},
		{"token, operator's name", admin.PathSessions, "admin.example.org:" + port, "Bearer " + token, http.StatusOK},
	} {
		var h map[string]string
		if c.auth != "" {
			h = map[string]string{"Authorization": c.auth}
		}
		if got := request(t, s, "GET", c.path, c.host, h, ""); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}

	// A restart keeps the token the file holds.
	s.Stop(t)
	s2 := testutil.StartIn(t, dir, testutil.BaseConfig(dir)+adminListener+"\n[admin]\ntoken_file = \"admin.token\"\n")
	if got := request(t, s2, "GET", admin.PathStatus, "", map[string]string{"Authorization": "Bearer " + token}, ""); got != http.StatusOK {
		t.Errorf("after restart: %d", got)
	}
}

// A token file that holds too little is refused, not taken as a weak
// token; a missing one is an error for readers (the CLI).
func TestLoadTokenRefusesWeak(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty": "", "blank": " \n", "short": "secret\n"} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o600)
		if _, _, err := admin.LoadToken(path, true); err == nil || !strings.Contains(err.Error(), "at least 16") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := admin.LoadToken(filepath.Join(dir, "missing"), false); err == nil {
		t.Error("missing file read without error")
	}
}
