package upload_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/modules/upload"
	"github.com/xmppd/xmppd/xml"
)

const httpListener = `
[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = "direct"
`

type slotURLs struct{ put, get string }

func requestSlot(t *testing.T, c *testutil.Client, id, name string, size int, ctype string) (slotURLs, *xml.Element) {
	t.Helper()
	ct := ""
	if ctype != "" {
		ct = fmt.Sprintf(" content-type='%s'", ctype)
	}
	r := c.IQ(id, "<iq type='get' id='%s' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='%s' size='%d'%s/></iq>", id, name, size, ct)
	sl := r.Child("slot", upload.NS)
	if r.Attr("type") != "result" || sl == nil {
		return slotURLs{}, r
	}
	return slotURLs{put: sl.Child("put", upload.NS).Attr("url"), get: sl.Child("get", upload.NS).Attr("url")}, r
}

func mustSlot(t *testing.T, c *testutil.Client, id, name string, size int, ctype string) slotURLs {
	t.Helper()
	u, r := requestSlot(t, c, id, name, size, ctype)
	if u.put == "" {
		t.Fatalf("slot request %s: %s", id, r)
	}
	return u
}

func put(t *testing.T, hc *http.Client, url, ctype string, body string, length int64) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, hc *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestUploadDisco(t *testing.T) {
	s := testutil.Start(t, httpListener+"[upload]\nmax_file_size = 5242880\n")
	s.AddUser(t, "alice", "a")
	a := testutil.Login(t, s, "alice", "a", "r")

	r := a.IQ("i", "<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if !strings.Contains(r.String(), "jid='upload.localhost'") {
		t.Fatalf("host disco#items lacks the upload service: %s", r)
	}
	r = a.IQ("d", "<iq type='get' id='d' to='upload.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	q := r.Child("query", "http://jabber.org/protocol/disco#info")
	if q == nil {
		t.Fatalf("disco#info: %s", r)
	}
	var identity, feature bool
	var maxSize string
	for c := range q.Children() {
		switch c.Name() {
		case "identity":
			identity = identity || c.Attr("category") == "store" && c.Attr("type") == "file"
		case "feature":
			feature = feature || c.Attr("var") == upload.NS
		case "x":
			for f := range c.Children() {
				if f.Attr("var") == "max-file-size" {
					maxSize = f.Child("value", "jabber:x:data").Text()
				}
			}
		}
	}
	if !identity || !feature || maxSize != "5242880" {
		t.Fatalf("disco#info identity=%v feature=%v max-file-size=%q: %s", identity, feature, maxSize, r)
	}
}

// Without an http listener nothing could serve the files: no service.
func TestUploadNeedsHTTPListener(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	a := testutil.Login(t, s, "alice", "a", "r")
	r := a.IQ("i", "<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	if strings.Contains(r.String(), "upload.localhost") {
		t.Fatalf("upload service listed without an http listener: %s", r)
	}
}

func TestUploadPutGet(t *testing.T) {
	s := testutil.Start(t, httpListener+"[upload]\nmax_file_size = 1000\nquota = 2500\n")
	s.AddUser(t, "alice", "a")
	a := testutil.Login(t, s, "alice", "a", "r")
	hc := s.HTTPClient()
	_, port, _ := net.SplitHostPort(s.HTTP)

	const body = "hello world"
	u := mustSlot(t, a, "s1", "très cool.txt", len(body), "text/plain")
	wantGet := "https://localhost:" + port + "/upload/"
	if !strings.HasPrefix(u.get, wantGet) || !strings.HasSuffix(u.get, "/tr%C3%A8s%20cool.txt") {
		t.Fatalf("get URL %q: want %s<id>/tr%%C3%%A8s%%20cool.txt", u.get, wantGet)
	}
	if !strings.HasPrefix(u.put, u.get+"?") {
		t.Fatalf("put URL %q is not the get URL %q with a token", u.put, u.get)
	}

	// Nothing to get before the upload.
	if resp, _ := get(t, hc, u.get); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET before PUT: %s", resp.Status)
	}

	// Refused PUTs leave the slot usable.
	refused := []struct {
		name   string
		url    string
		ctype  string
		body   string
		length int64
		want   int
	}{
		{"shorter than the slot", u.put, "text/plain", body[:5], 5, http.StatusBadRequest},
		{"longer than the slot", u.put, "text/plain", body + "!", int64(len(body)) + 1, http.StatusRequestEntityTooLarge},
		{"other content type", u.put, "image/png", body, int64(len(body)), http.StatusUnsupportedMediaType},
		{"no token", u.get, "text/plain", body, int64(len(body)), http.StatusForbidden},
		{"token of another path", strings.Replace(u.put, "cool.txt", "cool.html", 1), "text/plain", body, int64(len(body)), http.StatusForbidden},
		{"tampered token", u.put[:len(u.put)-2] + "AA", "text/plain", body, int64(len(body)), http.StatusForbidden},
	}
	for _, tc := range refused {
		if got := put(t, hc, tc.url, tc.ctype, tc.body, tc.length); got != tc.want {
			t.Errorf("PUT %s: status %d, want %d", tc.name, got, tc.want)
		}
	}

	// The preflight of a browser client.
	req, _ := http.NewRequest(http.MethodOptions, u.put, nil)
	req.Header.Set("Origin", "https://chat.example")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Fatalf("preflight: %s %v", resp.Status, resp.Header)
	}

	if got := put(t, hc, u.put, "text/plain; charset=utf-8", body, int64(len(body))); got != http.StatusCreated {
		t.Fatalf("PUT: status %d, want 201", got)
	}
	// Single use.
	if got := put(t, hc, u.put, "text/plain", body, int64(len(body))); got != http.StatusConflict {
		t.Fatalf("second PUT: status %d, want 409", got)
	}

	resp, got := get(t, hc, u.get)
	if resp.StatusCode != http.StatusOK || got != body {
		t.Fatalf("GET: %s %q", resp.Status, got)
	}
	for k, want := range map[string]string{
		"Content-Type":                "text/plain",
		"Access-Control-Allow-Origin": "*",
		"X-Content-Type-Options":      "nosniff",
		"Content-Disposition":         "inline; filename*=utf-8''tr%C3%A8s%20cool.txt",
	} {
		if v := resp.Header.Get(k); v != want {
			t.Errorf("GET %s: %q, want %q", k, v, want)
		}
	}
	resp, got = get(t, hc, u.get, "Range", "bytes=2-4")
	if resp.StatusCode != http.StatusPartialContent || got != "llo" {
		t.Fatalf("GET range: %s %q", resp.Status, got)
	}
	// Same id, other name: not found.
	if resp, _ := get(t, hc, strings.Replace(u.get, "cool.txt", "cool.html", 1)); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET other name: %s", resp.Status)
	}

	// A slot without content type stores what the PUT says, and HTML is
	// never shown inline on the server's origin.
	u2 := mustSlot(t, a, "s2", "page.html", 4, "")
	if got := put(t, hc, u2.put, "text/html", "<b/>", 4); got != http.StatusCreated {
		t.Fatalf("PUT html: %d", got)
	}
	resp, _ = get(t, hc, u2.get)
	if resp.Header.Get("Content-Type") != "text/html" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("GET html headers: %v", resp.Header)
	}
}

func TestUploadLimits(t *testing.T) {
	s := testutil.Start(t, httpListener+"[upload]\nmax_file_size = 1000\nquota = 2500\n")
	s.AddUser(t, "alice", "a")
	s.AddUser(t, "bob", "b")
	s.AddUser(t, "carol@example.test", "c")
	a := testutil.Login(t, s, "alice", "a", "r")
	b := testutil.Login(t, s, "bob", "b", "r")
	c := testutil.Login(t, s, "carol@example.test", "c", "r")

	// §6: too large, with the maximum.
	_, r := requestSlot(t, a, "big", "big.bin", 1001, "")
	e := r.Child("error", xml.NSClient)
	if r.Attr("type") != "error" || e == nil || e.Attr("type") != "modify" ||
		e.Child("not-acceptable", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("too large: %s", r)
	}
	if ftl := e.Child("file-too-large", upload.NS); ftl == nil || ftl.Child("max-file-size", upload.NS).Text() != "1000" {
		t.Fatalf("too large without max-file-size 1000: %s", r)
	}

	for _, tc := range []struct{ name, req, cond string }{
		{"no size", "<request xmlns='urn:xmpp:http:upload:0' filename='a'/>", "bad-request"},
		{"no filename", "<request xmlns='urn:xmpp:http:upload:0' size='1'/>", "bad-request"},
		{"negative size", "<request xmlns='urn:xmpp:http:upload:0' filename='a' size='-1'/>", "bad-request"},
		{"bad content type", "<request xmlns='urn:xmpp:http:upload:0' filename='a' size='1' content-type='no type'/>", "bad-request"},
	} {
		r := a.IQ("bad", "<iq type='get' id='bad' to='upload.localhost'>%s</iq>", tc.req)
		if r.Attr("type") != "error" || !strings.Contains(r.String(), "<"+tc.cond+" ") {
			t.Errorf("%s: want %s, got %s", tc.name, tc.cond, r)
		}
	}

	// Another host's account may not use this host's service.
	if _, r := requestSlot(t, c, "other", "a.txt", 1, ""); !strings.Contains(r.String(), "<forbidden ") {
		t.Fatalf("account of example.test at upload.localhost: %s", r)
	}

	// Quota 2500: two slots of 1000 fit (reserved although not used
	// yet), the third does not; bob's quota is his own.
	mustSlot(t, a, "q1", "1.bin", 1000, "")
	mustSlot(t, a, "q2", "2.bin", 1000, "")
	_, r = requestSlot(t, a, "q3", "3.bin", 1000, "")
	e = r.Child("error", xml.NSClient)
	if r.Attr("type") != "error" || e == nil || e.Attr("type") != "wait" ||
		e.Child("resource-constraint", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("over quota: %s", r)
	}
	retry := e.Child("retry", upload.NS)
	if retry == nil {
		t.Fatalf("over quota without retry: %s", r)
	}
	if st, err := time.Parse(time.RFC3339, retry.Attr("stamp")); err != nil || !st.After(time.Now().Add(-time.Second)) || !strings.HasSuffix(retry.Attr("stamp"), "Z") {
		t.Fatalf("retry stamp %q: not a future UTC time (%v)", retry.Attr("stamp"), err)
	}
	mustSlot(t, a, "q4", "4.bin", 500, "")
	mustSlot(t, b, "b1", "1.bin", 1000, "")
}

// Files go after expire_after; the sweep deletes them from disk. Slots
// lapse after slot_timeout, giving their quota back.
func TestUploadExpiry(t *testing.T) {
	// slot_timeout 3s: a 1 s slot ran out before its first PUT under CI
	// load (-race, other packages' tests beside it).
	s := testutil.Start(t, httpListener+"[upload]\nmax_file_size = 1000\nquota = 1000\nexpire_after = \"3s\"\nslot_timeout = \"3s\"\n")
	s.AddUser(t, "alice", "a")
	a := testutil.Login(t, s, "alice", "a", "r")
	hc := s.HTTPClient()

	u := mustSlot(t, a, "s1", "a.txt", 3, "text/plain")
	if got := put(t, hc, u.put, "text/plain", "abc", 3); got != http.StatusCreated {
		t.Fatalf("PUT: %d", got)
	}
	if resp, body := get(t, hc, u.get); resp.StatusCode != http.StatusOK || body != "abc" {
		t.Fatalf("GET: %s %q", resp.Status, body)
	}
	files := func() []string {
		m, _ := filepath.Glob(filepath.Join(s.DataDir, "upload", "*"))
		return m
	}
	if len(files()) != 2 {
		t.Fatalf("upload folder: %v, want a .data and a .meta", files())
	}
	// A slot not used expires too.
	lapsed := mustSlot(t, a, "s2", "b.txt", 997, "")
	if _, r := requestSlot(t, a, "s3", "c.txt", 997, ""); r.Attr("type") != "error" {
		t.Fatalf("quota with a reserved slot: %s", r)
	}
	time.Sleep(3100 * time.Millisecond) // the scenario: past slot_timeout (3s)
	if got := put(t, hc, lapsed.put, "", strings.Repeat("x", 997), 997); got != http.StatusForbidden {
		t.Fatalf("PUT after slot_timeout: %d, want 403", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(files()) != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if f := files(); len(f) != 0 {
		t.Fatalf("expired file not swept: %v", f)
	}
	if resp, _ := get(t, hc, u.get); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET after expiry: %s", resp.Status)
	}
	// The quota is free again.
	mustSlot(t, a, "s4", "d.txt", 1000, "")
}

// An account's files go with it: GET stops serving them at once, and the
// sweep deletes them from disk. The account is deleted in the storage, as
// the CLI does from another process, so nothing tells the module but the
// storage itself.
func TestUploadFilesGoWithTheAccount(t *testing.T) {
	// slot_timeout bounds the sweep interval: a sweep every 3 s (1 s was
	// too short for a slot's PUT on a loaded CI machine: 403)
	s := testutil.Start(t, httpListener+"[upload]\nslot_timeout = \"3s\"\n")
	s.AddUser(t, "alice", "a")
	s.AddUser(t, "bob", "b")
	hc := s.HTTPClient()
	var urls []slotURLs
	for i, who := range []string{"alice", "alice", "bob"} {
		c := testutil.Login(t, s, who, who[:1], "r")
		u := mustSlot(t, c, "s", fmt.Sprintf("f%d.txt", i), 3, "text/plain")
		if got := put(t, hc, u.put, "text/plain", "abc", 3); got != http.StatusCreated {
			t.Fatalf("PUT %d: %d", i, got)
		}
		urls = append(urls, u)
		c.Close()
	}
	files := func() []string {
		m, _ := filepath.Glob(filepath.Join(s.DataDir, "upload", "*.data"))
		return m
	}
	if n := len(files()); n != 3 {
		t.Fatalf("%d files stored, want 3", n)
	}
	if err := s.Accounts().DeleteAccount(context.Background(), "localhost", "alice"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, hc, urls[0].get); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of a deleted account's file: %s, want 404", resp.Status)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(files()) != 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if f := files(); len(f) != 1 {
		t.Fatalf("after the sweep: %v, want bob's file only", f)
	}
	if resp, _ := get(t, hc, urls[1].get); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of the deleted account's other file: %s, want 404", resp.Status)
	}
	if resp, body := get(t, hc, urls[2].get); resp.StatusCode != http.StatusOK || body != "abc" {
		t.Errorf("GET of bob's file: %s %q", resp.Status, body)
	}
}

// Stored files survive a restart; old leftovers of an interrupted upload
// do not, but recent ones (another node's upload in progress in a shared
// folder) stay.
func TestUploadRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testutil.BaseConfig(dir) + httpListener
	s := testutil.StartIn(t, dir, cfg)
	s.AddUser(t, "alice", "a")
	a := testutil.Login(t, s, "alice", "a", "r")
	u := mustSlot(t, a, "s1", "a.txt", 3, "text/plain")
	if got := put(t, s.HTTPClient(), u.put, "text/plain", "abc", 3); got != http.StatusCreated {
		t.Fatalf("PUT: %d", got)
	}
	a.Close()
	s.Stop(t)
	part := filepath.Join(dir, "upload", strings.Repeat("ab", 16)+".part")
	orphan := filepath.Join(dir, "upload", strings.Repeat("cd", 16)+".meta")
	// Fresh ones: another node sharing the folder may be writing them.
	fresh := filepath.Join(dir, "upload", strings.Repeat("ef", 16)+".part")
	freshMeta := filepath.Join(dir, "upload", strings.Repeat("ef", 16)+".meta")
	old := time.Now().Add(-2 * time.Hour)
	for _, f := range []string{part, orphan, fresh, freshMeta} {
		body := []byte("x")
		if strings.HasSuffix(f, ".meta") {
			body = []byte(`{"owner":"alice@localhost","name":"x","size":1}`)
		}
		if err := os.WriteFile(f, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if f == part || f == orphan {
			if err := os.Chtimes(f, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}

	s = testutil.StartIn(t, dir, cfg)
	hc := s.HTTPClient()
	_, port, _ := net.SplitHostPort(s.HTTP)
	// The port changed with the restart (port 0): the URL's path is the file.
	getURL := "https://localhost:" + port + u.get[strings.Index(u.get, "/upload/"):]
	if resp, body := get(t, hc, getURL); resp.StatusCode != http.StatusOK || body != "abc" {
		t.Fatalf("GET after restart: %s %q", resp.Status, body)
	}
	for _, f := range []string{part, orphan} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("old leftover %s not removed at start: %v", filepath.Base(f), err)
		}
	}
	for _, f := range []string{fresh, freshMeta} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("fresh %s (an upload in progress elsewhere) removed at start: %v", filepath.Base(f), err)
		}
	}
	// Single use holds across the restart too (same secret key).
	putURL := "https://localhost:" + port + u.put[strings.Index(u.put, "/upload/"):]
	if got := put(t, hc, putURL, "text/plain", "xyz", 3); got != http.StatusConflict {
		t.Fatalf("PUT again after restart: %d, want 409", got)
	}
}

// Behind a reverse proxy the slot URLs use [upload] url, and the host
// part of the slot is still served by the http listener.
func TestUploadPublicURL(t *testing.T) {
	s := testutil.Start(t, httpListener+"[upload]\nurl = \"https://files.example.org/\"\n")
	s.AddUser(t, "alice", "a")
	a := testutil.Login(t, s, "alice", "a", "r")
	u := mustSlot(t, a, "s1", "a b.txt", 3, "")
	if !strings.HasPrefix(u.get, "https://files.example.org/upload/") || !strings.HasSuffix(u.get, "/a%20b.txt") {
		t.Fatalf("get URL %q", u.get)
	}
	// What the proxy forwards: the path and query.
	local := "https://localhost" + u.put[len("https://files.example.org"):]
	if got := put(t, s.HTTPClient(), local, "text/plain", "abc", 3); got != http.StatusCreated {
		t.Fatalf("PUT through the proxy's path: %d", got)
	}
}
