package c2s

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
)

// TestFailureLogLine: a failed authentication is logged in the line that
// docs/deploy-fail2ban.md's filter matches (its failregex lines, with
// fail2ban's <ADDR> as an address pattern), in text and JSON, and an
// account name carrying "ip=" cannot point the filter elsewhere.
func TestFailureLogLine(t *testing.T) {
	doc := map[string]string{ // failregex of docs/deploy-fail2ban.md
		"text": `^.*\blevel=INFO msg="authentication failed" component=(?:c2s|web-admin) ip=<ADDR> account=`,
		"json": `^.*"msg":"authentication failed","component":"(?:c2s|web-admin)","ip":"<ADDR>","account":`,
	}
	for format, pattern := range doc {
		re := regexp.MustCompile(strings.Replace(pattern, "<ADDR>", `([0-9a-fA-F:.]+)`, 1))
		for _, acct := range []string{"alice", `x ip=198.51.100.1 "`} {
			var buf bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&buf, nil)
			if format == "json" {
				h = slog.NewJSONHandler(&buf, nil)
			}
			srv := New(Config{Log: slog.New(h).With("component", "c2s")})
			nc, peer := net.Pipe()
			go io.Copy(io.Discard, peer)
			c := newConn(srv, nc, ListenerOptions{}, "192.0.2.7")
			c.domain, c.saslMech = "example.org", "SCRAM-SHA-256"
			c.credentialFailure(c.account(acct), "not-authorized", "")
			nc.Close()
			line := strings.TrimSpace(buf.String())
			m := re.FindStringSubmatch(line)
			if m == nil || m[1] != "192.0.2.7" {
				t.Errorf("%s, account %q: %s does not match the filter with the address (%q)", format, acct, line, m)
			}
			if !strings.Contains(line, "SCRAM-SHA-256") || !strings.Contains(line, "@example.org") {
				t.Errorf("%s: mechanism or account missing: %s", format, line)
			}
		}
	}
}
