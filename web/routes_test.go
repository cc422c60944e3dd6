package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/xmppd/xmppd/web"
)

// Modules' routes get every path the web package does not serve itself;
// its own (host-meta here) keep precedence even under a catch-all.
func TestRoutes(t *testing.T) {
	routes := http.NewServeMux()
	routes.HandleFunc("GET /upload/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "module:"+r.PathValue("id"))
	})
	routes.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "catch-all")
	})
	s := web.New(web.Config{Routes: routes})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln, nil)
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	for _, tc := range []struct{ path, want string }{
		{"/upload/abc", "module:abc"},
		{"/elsewhere", "catch-all"},
	} {
		resp, err := http.Get("http://" + ln.Addr().String() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.want {
			t.Errorf("GET %s: %q, want %q", tc.path, b, tc.want)
		}
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/.well-known/host-meta")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/xrd+xml" {
		t.Errorf("host-meta served by a module route: Content-Type %q", ct)
	}
}
