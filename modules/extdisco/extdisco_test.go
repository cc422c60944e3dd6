package extdisco_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/xml"
)

const services = `
[[external_service]]
type = "stun"
host = "stun.example.org"
port = 3478
transport = "udp"

[[external_service]]
type = "turn"
host = "turn.example.org"
port = 3478
transport = "udp"
name = "Relay"
secret = "s3cret"
ttl = "1h"

[[external_service]]
type = "turns"
host = "turn.example.org"
port = 5349
transport = "tcp"
username = "fixed"
password = "pw"
`

func TestNotConfigured(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	c := testutil.Login(t, s, "alice", "a", "r")
	c.Send("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if r := c.NextNamed("iq"); strings.Contains(r.String(), "extdisco") {
		t.Fatalf("disco#info claims extdisco with no services: %s", r)
	}
	c.Send("<iq type='get' id='s' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>")
	if r := c.NextNamed("iq"); r.Attr("type") != "error" || !strings.Contains(r.String(), "service-unavailable") {
		t.Fatalf("want service-unavailable, got %s", r)
	}
}

func serviceAttrs(el *xml.Element, ns string) []map[string]string {
	var out []map[string]string
	for s := range el.Children() {
		if s.Name() != "service" || s.NS() != ns {
			continue
		}
		m := map[string]string{}
		for _, a := range s.Attrs() {
			m[a.Name] = a.Value
		}
		out = append(out, m)
	}
	return out
}

func TestServices(t *testing.T) {
	s := testutil.Start(t, services)
	s.AddUser(t, "alice", "a")
	c := testutil.Login(t, s, "alice", "a", "r")

	c.Send("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if r := c.NextNamed("iq").String(); !strings.Contains(r, "var='urn:xmpp:extdisco:2'") || !strings.Contains(r, "var='urn:xmpp:extdisco:1'") {
		t.Fatalf("disco#info lacks extdisco: %s", r)
	}

	before := time.Now()
	c.Send("<iq type='get' id='all' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>")
	r := c.NextNamed("iq")
	p := r.Child("services", "urn:xmpp:extdisco:2")
	if r.Attr("type") != "result" || p == nil {
		t.Fatalf("reply: %s", r)
	}
	got := serviceAttrs(p, "urn:xmpp:extdisco:2")
	if len(got) != 3 {
		t.Fatalf("want 3 services, got %d: %s", len(got), r)
	}
	stun, turn, turns := got[0], got[1], got[2]
	if stun["type"] != "stun" || stun["host"] != "stun.example.org" || stun["port"] != "3478" || stun["transport"] != "udp" ||
		stun["username"] != "" || stun["restricted"] != "" {
		t.Errorf("stun: %v", stun)
	}
	if turns["username"] != "fixed" || turns["password"] != "pw" || turns["restricted"] != "true" || turns["transport"] != "tcp" {
		t.Errorf("turns: %v", turns)
	}
	if turn["name"] != "Relay" || turn["restricted"] != "true" {
		t.Errorf("turn: %v", turn)
	}
	// TURN REST API credentials: "<expiry>:<bare JID>", base64(HMAC-SHA1).
	ts, user, ok := strings.Cut(turn["username"], ":")
	exp, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || user != "alice@localhost" {
		t.Fatalf("turn username %q", turn["username"])
	}
	if lo, hi := before.Add(time.Hour).Unix()-1, time.Now().Add(time.Hour).Unix(); exp < lo || exp > hi {
		t.Errorf("expiry %d not an hour from now (%d..%d)", exp, lo, hi)
	}
	mac := hmac.New(sha1.New, []byte("s3cret"))
	mac.Write([]byte(turn["username"]))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); turn["password"] != want {
		t.Errorf("turn password %q, want %q", turn["password"], want)
	}
	if e, err := time.Parse(time.RFC3339, turn["expires"]); err != nil || e.Unix() != exp || !strings.HasSuffix(turn["expires"], "Z") {
		t.Errorf("expires %q (err %v), want the username's %d in UTC", turn["expires"], err, exp)
	}

	// §3.2: one type, named on the reply.
	c.Send("<iq type='get' id='t' to='localhost'><services xmlns='urn:xmpp:extdisco:2' type='TURN'/></iq>")
	r = c.NextNamed("iq")
	p = r.Child("services", "urn:xmpp:extdisco:2")
	if got := serviceAttrs(p, "urn:xmpp:extdisco:2"); p.Attr("type") != "turn" || len(got) != 1 || got[0]["host"] != "turn.example.org" || got[0]["port"] != "3478" {
		t.Errorf("type turn: %s", r)
	}

	// Version 1: the same services, without version 2's attributes.
	c.Send("<iq type='get' id='v1' to='localhost'><services xmlns='urn:xmpp:extdisco:1'/></iq>")
	r = c.NextNamed("iq")
	got = serviceAttrs(r.Child("services", "urn:xmpp:extdisco:1"), "urn:xmpp:extdisco:1")
	if len(got) != 3 || got[1]["username"] == "" || got[1]["expires"] != "" || got[1]["restricted"] != "" {
		t.Errorf("extdisco:1: %s", r)
	}
}

func TestCredentials(t *testing.T) {
	s := testutil.Start(t, services)
	s.AddUser(t, "alice", "a")
	c := testutil.Login(t, s, "alice", "a", "r")
	tests := []struct {
		name, service string
		want          string // error condition, or the ports returned
	}{
		{"host and type", "<service host='turn.example.org' type='turn'/>", "3478"},
		{"host type and port", "<service host='TURN.example.org.' type='turns' port='5349'/>", "5349"},
		{"no such port", "<service host='turn.example.org' type='turn' port='1'/>", "item-not-found"},
		{"no such host", "<service host='other.example.org' type='turn'/>", "item-not-found"},
		{"no type", "<service host='turn.example.org'/>", "bad-request"},
		{"bad port", "<service host='turn.example.org' type='turn' port='x'/>", "bad-request"},
		{"no service", "", "bad-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Send("<iq type='get' id='c' to='localhost'><credentials xmlns='urn:xmpp:extdisco:2'>%s</credentials></iq>", tt.service)
			r := c.NextNamed("iq")
			if r.Attr("type") == "error" {
				if !strings.Contains(r.String(), tt.want) {
					t.Fatalf("want %s, got %s", tt.want, r)
				}
				return
			}
			var ports []string
			for _, a := range serviceAttrs(r.Child("credentials", "urn:xmpp:extdisco:2"), "urn:xmpp:extdisco:2") {
				if a["username"] == "" || a["password"] == "" {
					t.Errorf("no credentials: %v", a)
				}
				ports = append(ports, a["port"])
			}
			if got := strings.Join(ports, ","); got != tt.want {
				t.Fatalf("want %s, got %s: %s", tt.want, got, r)
			}
		})
	}
}
