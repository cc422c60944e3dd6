package testutil

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/web"
	"github.com/xmppd/xmppd/xml"
)

// NSHTTPBind is the namespace of XEP-0124's <body/>.
const NSHTTPBind = "http://jabber.org/protocol/httpbind"

// BOSH is a raw XEP-0124/XEP-0206 client over Go's HTTP client, on a
// server's https listener (certificates not checked).
type BOSH struct {
	T   testing.TB
	URL string
	HC  *http.Client
	SID string
	RID int64 // the last rid sent
}

// NewBOSH returns a client of s's BOSH endpoint; no session yet (Create).
func NewBOSH(t testing.TB, s *Server) *BOSH {
	return &BOSH{T: t, URL: "https://" + s.HTTP + web.BOSHPath, RID: 4000000,
		HC: &http.Client{Timeout: Timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
}

// Post sends one body and parses the answer, which must be a 200 with a
// <body/>.
func (c *BOSH) Post(body string) *xml.Element {
	c.T.Helper()
	resp, err := c.HC.Post(c.URL, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		c.T.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		c.T.Fatalf("post: %s %s", resp.Status, b)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		c.T.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	d := xml.NewDecoder(io.MultiReader(strings.NewReader("<w xmlns='jabber:client'>"), bytes.NewReader(b), strings.NewReader("</w>")),
		xml.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 100, MaxAttrs: 100})
	if _, err := d.ReadHeader(); err != nil {
		c.T.Fatal(err)
	}
	el, err := d.Next()
	if err != nil || el.Name() != "body" || el.NS() != NSHTTPBind {
		c.T.Fatalf("response %q: %v", b, err)
	}
	return el
}

// Send posts the next rid of the session with payload and extra body
// attributes.
func (c *BOSH) Send(attrs, payload string) *xml.Element {
	c.T.Helper()
	c.RID++
	return c.Post(c.Body(c.RID, attrs, payload))
}

// Body is a request body of the session.
func (c *BOSH) Body(rid int64, attrs, payload string) string {
	return fmt.Sprintf("<body rid='%d' sid='%s' %s xmlns='%s' xmlns:xmpp='urn:xmpp:xbosh'>%s</body>", rid, c.SID, attrs, NSHTTPBind, payload)
}

// Create starts a session with domain to (XEP-0206 §3) and returns the
// creation response.
func (c *BOSH) Create(to string) *xml.Element {
	c.T.Helper()
	c.RID++
	el := c.Post(fmt.Sprintf("<body rid='%d' to='%s' wait='3' hold='1' ver='1.11' xml:lang='en' xmpp:version='1.0' xmlns='%s' xmlns:xmpp='urn:xmpp:xbosh'/>", c.RID, to, NSHTTPBind))
	c.SID = el.Attr("sid")
	return el
}

// Collect sends empty requests until one carries an element named name.
func (c *BOSH) Collect(name string) *xml.Element {
	c.T.Helper()
	for range 10 {
		if ch := BOSHChild(c.Send("", ""), name); ch != nil {
			return ch
		}
	}
	c.T.Fatalf("no <%s/> arrived", name)
	return nil
}

// Login creates a session at localhost, authenticates with PLAIN,
// restarts (XEP-0206 §5) and binds resource.
func (c *BOSH) Login(user, password, resource string) {
	c.T.Helper()
	if BOSHChild(c.Create("localhost"), "features") == nil {
		c.Collect("features")
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	if r := c.Send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+auth+"</auth>"); BOSHChild(r, "success") == nil {
		if BOSHChild(r, "failure") != nil {
			c.T.Fatalf("auth failed: %s", r)
		}
		c.Collect("success")
	}
	if BOSHChild(c.Send("to='localhost' xmpp:restart='true'", ""), "features") == nil {
		c.Collect("features")
	}
	r := c.Send("", "<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>"+resource+"</resource></bind></iq>")
	if BOSHChild(r, "iq") == nil {
		c.Collect("iq")
	}
}

// BOSHChild is the first child of a response body named name, nil if
// none.
func BOSHChild(el *xml.Element, name string) *xml.Element {
	for ch := range el.Children() {
		if ch.Name() == name {
			return ch
		}
	}
	return nil
}
