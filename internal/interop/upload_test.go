package interop_test

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestSlixmppUpload runs testdata/slixmpp_upload.py: slixmpp's xep_0363
// plugin finds upload.localhost by disco, uploads a file over HTTPS
// (aiohttp, verifying the server's certificate), downloads it, and gets
// the §6 errors for a file over max_file_size.
func TestSlixmppUpload(t *testing.T) {
	py := python(t, "slixmpp")
	python(t, "aiohttp") // xep_0363 PUTs with aiohttp
	s := testutil.Start(t, `
[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = "direct"

[upload]
max_file_size = 100000
`)
	s.AddUser(t, "alice", "alice-pw")
	host, port, _ := net.SplitHostPort(s.StartTLS)
	out, err := execScript(t, py, "testdata/slixmpp_upload.py", host, port, "alice@localhost/slix", "alice-pw",
		filepath.Join(s.DataDir, "certs", "localhost.crt"))
	expectLines(t, out,
		"OK login alice@localhost/slix",
		"OK service upload.localhost max-file-size 100000",
		"OK uploaded https://localhost:",
		"OK downloaded 2000 bytes",
		"OK too large refused not-acceptable",
		"OK plugin honours max-file-size",
		"PASS")
	if err != nil {
		t.Fatalf("slixmpp_upload.py: %v", err)
	}
}
