// Package extdisco implements XEP-0215 external service discovery: it tells
// a host's users which services outside XMPP to use — above all the STUN
// and TURN servers through which clients such as Conversations, Dino and
// Monal set up audio and video calls (XEP-0167) across NATs — with the
// credentials for them. The services are the configuration's
// [[external_service]] tables; a TURN server that shares a secret with
// xmppd (coturn's use-auth-secret) gets time-limited credentials per user
// and request, made as the TURN REST API defines them.
package extdisco

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// Namespaces. Version 1 has the same <services/> and <credentials/>
// requests without the attributes version 2 added (expires, restricted,
// action), which its clients ignore; older clients still ask it.
const (
	NS  = "urn:xmpp:extdisco:2"
	NS1 = "urn:xmpp:extdisco:1"
)

func init() { module.Register("extdisco", func() module.Module { return &mod{} }) }

type mod struct {
	hosts    func(string) bool
	services []ExternalService
	now      func() time.Time
}

func (m *mod) Start(h *module.Handle) error {
	services := *module.ConfigOf[*Config](h)
	if len(services) == 0 {
		// Nothing to announce: the requests are answered with
		// service-unavailable, as XEP-0215 §3.1 allows, and disco
		// does not claim the feature.
		return nil
	}
	m.hosts, m.services, m.now = h.Hosts, services, time.Now
	for _, ns := range []string{NS, NS1} {
		h.AddFeature(ns)
		h.HandleIQ(module.TargetServer, "get", ns, m.iq)
	}
	return nil
}

func (m *mod) iq(_ context.Context, iq *module.IQ) (*xml.Element, error) {
	// Credentials for our relays are for our users only: a remote
	// server's user (whose request reaches us over s2s) would otherwise
	// get free use of them.
	if iq.From.Local() == "" || m.hosts == nil || !m.hosts(iq.From.Domain()) {
		return nil, stanza.NewError(stanza.Forbidden, "external services are for this server's users")
	}
	ns := iq.Payload.NS()
	switch iq.Payload.Name() {
	case "services":
		return m.list(ns, iq.From, strings.ToLower(iq.Payload.Attr("type"))), nil
	case "credentials":
		return m.credentials(ns, iq.From, iq.Payload)
	}
	return nil, stanza.NewError(stanza.FeatureNotImplemented, "")
}

// list answers <services/>, all of them or those of one type (§3.1, §3.2).
// The credentials come with them, so a client needs no second request
// (XEP-0215 §3.3 leaves it to the server; Conversations and Dino read them
// here).
func (m *mod) list(ns string, user jid.JID, typ string) *xml.Element {
	b := xml.NewBuilder("services", ns)
	if typ != "" {
		b.Attr("type", typ)
	}
	now := m.now()
	for i := range m.services {
		if s := &m.services[i]; typ == "" || s.Type == typ {
			m.service(b, ns, s, user, now)
		}
	}
	return b.Element()
}

// credentials answers <credentials><service host type [port]/></credentials>
// (§3.3) with every service that matches.
func (m *mod) credentials(ns string, user jid.JID, payload *xml.Element) (*xml.Element, error) {
	want := payload.Child("service", ns)
	if want == nil {
		return nil, stanza.NewError(stanza.BadRequest, "<credentials/> names a <service/>")
	}
	host := strings.TrimSuffix(strings.ToLower(want.Attr("host")), ".")
	typ := strings.ToLower(want.Attr("type"))
	if host == "" || typ == "" {
		return nil, stanza.NewError(stanza.BadRequest, "the <service/> needs 'host' and 'type' (XEP-0215 §3.3)")
	}
	port := -1
	if p := want.Attr("port"); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, stanza.NewError(stanza.BadRequest, "'port' is not a port number")
		}
		port = int(n)
	}
	b := xml.NewBuilder("credentials", ns)
	now, found := m.now(), false
	for i := range m.services {
		s := &m.services[i]
		if s.Host == host && s.Type == typ && (port < 0 || s.Port == port) {
			m.service(b, ns, s, user, now)
			found = true
		}
	}
	if !found {
		return nil, stanza.NewError(stanza.ItemNotFound, "no such service")
	}
	return b.Element(), nil
}

// service writes one <service/> with the credentials user gets now.
func (m *mod) service(b *xml.Builder, ns string, s *ExternalService, user jid.JID, now time.Time) {
	b.Start("service", ns).Attr("type", s.Type).Attr("host", s.Host)
	if s.Port != 0 {
		b.Attr("port", strconv.Itoa(s.Port))
	}
	if s.Transport != "" {
		b.Attr("transport", s.Transport)
	}
	if s.Name != "" {
		b.Attr("name", s.Name)
	}
	switch {
	case s.Secret != "":
		expires := now.Add(s.TTL.Duration).Truncate(time.Second)
		name, pass := TURNCredentials(s.Secret, user.Bare().String(), expires)
		b.Attr("username", name).Attr("password", pass)
		if ns == NS {
			b.Attr("expires", expires.UTC().Format("2006-01-02T15:04:05Z")).Attr("restricted", "true")
		}
	case s.Username != "":
		b.Attr("username", s.Username).Attr("password", s.Password)
		if ns == NS {
			b.Attr("restricted", "true")
		}
	}
	b.End()
}

// TURNCredentials makes the time-limited credentials of the TURN REST API
// (draft-uberti-behave-turn-rest-00 §2.2), which coturn checks with
// use-auth-secret: the username is the expiry as a Unix timestamp, a colon
// and the user's name (coturn's default separator; a bare JID holds no
// colon, RFC 7622 §3.3.1 forbids it in the localpart), and the password
// the base64 of HMAC-SHA1 over that username keyed with the shared secret.
// The TURN server needs nothing but the secret to check them, and refuses
// them once the timestamp has passed.
func TURNCredentials(secret, user string, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
