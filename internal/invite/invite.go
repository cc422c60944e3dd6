// Package invite holds what the invites module, the CLI and the web page
// share about invitation tokens (XEP-0379, XEP-0401): making one, the
// hash that is stored instead of it, and the xmpp: URI and web link that
// carry it.
package invite

import (
	"crypto/sha256"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/internal/randid"
)

// Namespaces of the protocol.
const (
	// NSPreauth is XEP-0379's <preauth token='...'/>, which XEP-0401
	// sends in an IQ before in-band registration.
	NSPreauth = "urn:xmpp:pars:0"
	// NSFeature is the pre-authentication stream feature XEP-0401
	// servers announce (<register xmlns='urn:xmpp:invite'/>).
	NSFeature = "urn:xmpp:invite"
	// NSIBRToken is the same feature under the name Prosody and
	// Conversations use today (XEP-0445's urn:xmpp:ibr-token:0).
	NSIBRToken = "urn:xmpp:ibr-token:0"
)

// PathPrefix is where the web page lives on the http listener:
// PathPrefix + token.
const PathPrefix = "/invite/"

// NewToken returns a new token (128 random bits as 32 hex digits, safe in
// a URI path and in an xmpp: URI's query) and the hash to store for it.
func NewToken() (token string, hash []byte) {
	token = randid.Hex(16)
	return token, Hash(token)
}

// NewID returns the public name of a new invite, for list and revoke.
func NewID() string { return randid.Hex(6) }

// Hash is what storage keeps of a token: its SHA-256. A token has 128
// random bits, so nothing slower is needed against guessing.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// URI is the xmpp: URI a client opens (XEP-0401 §4): with an inviter,
// the roster form that also offers registration (ibr=y); without one, the
// plain registration form on the host.
func URI(domain, inviter, token string) string {
	if inviter != "" {
		return "xmpp:" + inviter + "?roster;preauth=" + url.QueryEscape(token) + ";ibr=y"
	}
	return "xmpp:" + domain + "?register;preauth=" + url.QueryEscape(token)
}

// Listener is the first http listener as configured: its tls setting
// and address; the zero Listener means none.
type Listener struct{ TLS, Address string }

// Base is the web base URL of invite links for domain: url ([invites]
// url), or scheme://domain:port of the http listener l, port being
// boundPort when the caller knows the bound one (a running server), else
// the configured one. "" when there is no http listener and no url.
func Base(url string, l Listener, domain string, boundPort int) string {
	if url != "" {
		return strings.TrimRight(url, "/")
	}
	if l.Address != "" {
		scheme := "https"
		if l.TLS == "none" {
			scheme = "http"
		}
		port := boundPort
		if port == 0 {
			_, p, err := net.SplitHostPort(l.Address)
			if err != nil {
				return ""
			}
			if port, err = strconv.Atoi(p); err != nil {
				return ""
			}
		}
		return scheme + "://" + net.JoinHostPort(domain, strconv.Itoa(port))
	}
	return ""
}

// Link is the web page of a token under base; "" without a base.
func Link(base, token string) string {
	if base == "" {
		return ""
	}
	return base + PathPrefix + token
}
