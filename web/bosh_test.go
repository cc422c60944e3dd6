package web_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/web"
	"github.com/xmppd/xmppd/xml"
)

const nsBind = "http://jabber.org/protocol/httpbind"

// boshClient is a raw XEP-0124/XEP-0206 client over Go's HTTP client.
type boshClient struct {
	t   *testing.T
	url string
	hc  *http.Client
	sid string
	rid int64
}

func newBOSH(t *testing.T, s *testutil.Server) *boshClient {
	return &boshClient{t: t, url: "https://" + s.HTTP + web.BOSHPath, hc: insecureClient(), rid: 4000000}
}

// post sends one body and parses the answer.
func (c *boshClient) post(body string) *xml.Element {
	c.t.Helper()
	resp, err := c.hc.Post(c.url, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		c.t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		c.t.Fatalf("post: %s %s", resp.Status, b)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		c.t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	d := xml.NewDecoder(io.MultiReader(strings.NewReader("<w xmlns='jabber:client'>"), bytes.NewReader(b), strings.NewReader("</w>")),
		xml.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 100, MaxAttrs: 100})
	if _, err := d.ReadHeader(); err != nil {
		c.t.Fatal(err)
	}
	el, err := d.Next()
	if err != nil || el.Name() != "body" || el.NS() != nsBind {
		c.t.Fatalf("response %q: %v", b, err)
	}
	return el
}

// send posts the next rid with payload and extra body attributes.
func (c *boshClient) send(attrs, payload string) *xml.Element {
	c.t.Helper()
	c.rid++
	return c.post(c.body(c.rid, attrs, payload))
}

func (c *boshClient) body(rid int64, attrs, payload string) string {
	return fmt.Sprintf("<body rid='%d' sid='%s' %s xmlns='%s' xmlns:xmpp='urn:xmpp:xbosh'>%s</body>", rid, c.sid, attrs, nsBind, payload)
}

func (c *boshClient) create(to string) *xml.Element {
	c.t.Helper()
	c.rid++
	el := c.post(fmt.Sprintf("<body rid='%d' to='%s' wait='3' hold='1' ver='1.11' xml:lang='en' xmpp:version='1.0' xmlns='%s' xmlns:xmpp='urn:xmpp:xbosh'/>", c.rid, to, nsBind))
	c.sid = el.Attr("sid")
	return el
}

func child(el *xml.Element, name string) *xml.Element {
	for ch := range el.Children() {
		if ch.Name() == name {
			return ch
		}
	}
	return nil
}

// collect sends empty requests until one carries an element named name.
func (c *boshClient) collect(name string) *xml.Element {
	c.t.Helper()
	for range 5 {
		if ch := child(c.send("", ""), name); ch != nil {
			return ch
		}
	}
	c.t.Fatalf("no <%s/> arrived", name)
	return nil
}

// A whole session: creation, SASL PLAIN under HTTPS, restart, bind, a
// message each way with a TCP client, terminate.
func TestBOSHLogin(t *testing.T) {
	s := testutil.Start(t, https)
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob := testutil.Login(t, s, "bob", pw, "tcp")

	c := newBOSH(t, s)
	cr := c.create("localhost")
	for _, a := range []string{"sid", "wait", "requests", "inactivity", "polling", "hold", "authid", "ver"} {
		if cr.Attr(a) == "" {
			t.Errorf("creation response lacks %s: %s", a, cr)
		}
	}
	if cr.Attr("requests") != "2" || cr.Attr("wait") != "3" || cr.Attr("from") != "localhost" || cr.Attr("ack") != strconv.FormatInt(c.rid, 10) {
		t.Errorf("creation response %s", cr)
	}
	features := child(cr, "features")
	if features == nil {
		features = c.collect("features")
	}
	mechs := features.String()
	if !strings.Contains(mechs, "PLAIN") || strings.Contains(mechs, "-PLUS") || strings.Contains(mechs, "starttls") {
		// PLAIN: the transport is HTTPS. No -PLUS: a BOSH session spans
		// TLS connections, none of which it could be bound to.
		t.Errorf("features %s", mechs)
	}

	auth := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + pw))
	r := c.send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+auth+"</auth>")
	if child(r, "success") == nil {
		t.Fatalf("auth: %s", r)
	}
	r = c.send("to='localhost' xml:lang='en' xmpp:restart='true'", "")
	f := child(r, "features")
	if f == nil {
		f = c.collect("features")
	}
	if !strings.Contains(f.String(), "bind") {
		t.Fatalf("features after restart: %s", f)
	}
	r = c.send("", "<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>")
	iq := child(r, "iq")
	if iq == nil {
		iq = c.collect("iq")
	}
	if iq.Attr("type") != "result" || !strings.Contains(iq.String(), "alice@localhost/web") {
		t.Fatalf("bind: %s", iq)
	}

	// BOSH -> TCP. The request is held (nothing for alice yet) while bob
	// answers: the answer comes back in that held request.
	done := make(chan *xml.Element, 1)
	go func() {
		c.rid++
		done <- c.post(c.body(c.rid, "", "<message to='bob@localhost/tcp' type='chat' id='m1' xmlns='jabber:client'><body>hello over BOSH</body></message>"))
	}()
	m := bob.NextNamed("message")
	if m.Attr("from") != "alice@localhost/web" || !strings.Contains(m.String(), "hello over BOSH") {
		t.Fatalf("bob got %s", m)
	}
	bob.Send("<message to='alice@localhost/web' type='chat' id='m2'><body>hello over TCP</body></message>")
	got := child(<-done, "message")
	if got == nil {
		got = c.collect("message")
	}
	if got.Attr("id") != "m2" || got.Attr("from") != "bob@localhost/tcp" {
		t.Fatalf("alice got %s", got)
	}

	if r := c.send("type='terminate'", "<presence type='unavailable' xmlns='jabber:client'/>"); r.Attr("type") != "terminate" {
		t.Fatalf("terminate: %s", r)
	}
	if r := c.send("", ""); r.Attr("type") != "terminate" || r.Attr("condition") != "item-not-found" {
		t.Errorf("request after terminate: %s", r)
	}
}

// §14.2 and §17.2: unknown sessions and rids outside the window end the
// session with item-not-found; §14.3 a resent rid gets the same answer.
func TestBOSHErrors(t *testing.T) {
	s := testutil.Start(t, https)
	t.Run("unknown sid", func(t *testing.T) {
		c := newBOSH(t, s)
		c.sid = "nosuchsession"
		if r := c.send("", ""); r.Attr("type") != "terminate" || r.Attr("condition") != "item-not-found" {
			t.Errorf("got %s", r)
		}
	})
	t.Run("rid beyond the window", func(t *testing.T) {
		c := newBOSH(t, s)
		c.create("localhost")
		if r := c.post(c.body(c.rid+5, "", "")); r.Attr("type") != "terminate" || r.Attr("condition") != "item-not-found" {
			t.Errorf("got %s", r)
		}
		if r := c.send("", ""); r.Attr("condition") != "item-not-found" {
			t.Errorf("session survived a bad rid: %s", r)
		}
	})
	t.Run("resent rid", func(t *testing.T) {
		c := newBOSH(t, s)
		c.create("localhost")
		auth := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00wrong"))
		r1 := c.send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+auth+"</auth>")
		if child(r1, "failure") == nil {
			t.Fatalf("auth: %s", r1)
		}
		r2 := c.post(c.body(c.rid, "", ""))
		if r1.String() != r2.String() {
			t.Errorf("resent rid answered differently:\n%s\n%s", r1, r2)
		}
		if r := c.post(c.body(c.rid-5, "", "")); r.Attr("condition") != "item-not-found" {
			t.Errorf("old rid: %s", r)
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		c := newBOSH(t, s)
		// The stream error and the stream's end come in one response,
		// the one that terminates (XEP-0206 §7), here the first.
		r := c.create("elsewhere.example")
		if r.Attr("type") != "terminate" || r.Attr("condition") != "remote-stream-error" || !strings.Contains(r.String(), "host-unknown") {
			t.Errorf("got %s", r)
		}
	})
	t.Run("not a body", func(t *testing.T) {
		resp, err := insecureClient().Post("https://"+s.HTTP+web.BOSHPath, "text/xml", strings.NewReader("<iq/>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("status %s", resp.Status)
		}
	})
}

// Browser pages post from other origins: the preflight must allow it.
func TestBOSHCORS(t *testing.T) {
	s := testutil.Start(t, https)
	req, _ := http.NewRequest("OPTIONS", "https://"+s.HTTP+web.BOSHPath, nil)
	req.Header.Set("Origin", "https://chat.example.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := insecureClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight headers %v", resp.Header)
	}
}

// §10: a client that stops polling loses its session, and with it the
// bound resource.
func TestBOSHInactivity(t *testing.T) {
	defer web.SetBOSHInactivity(300 * time.Millisecond)()
	s := testutil.Start(t, https)
	c := newBOSH(t, s)
	if cr := c.create("localhost"); cr.Attr("inactivity") != "0" {
		// 300ms shows as 0 whole seconds; the value is what the test set.
		t.Logf("inactivity %s", cr.Attr("inactivity"))
	}
	time.Sleep(time.Second)
	if r := c.send("", ""); r.Attr("type") != "terminate" || r.Attr("condition") != "item-not-found" {
		t.Errorf("after inactivity: %s", r)
	}
}

// §14.2: payloads reach the stream in rid order even when the requests
// arrive out of order.
func TestBOSHOutOfOrder(t *testing.T) {
	s := testutil.Start(t, https)
	c := newBOSH(t, s)
	c.create("localhost")
	bad := base64.StdEncoding.EncodeToString([]byte("\x00nobody\x00x"))
	first, second := c.rid+1, c.rid+2
	// The later rid goes first: its <response/> must wait for the earlier
	// rid's <auth/>, or the server would see a SASL response outside a
	// negotiation and end the stream.
	res := make(chan *xml.Element, 1)
	go func() {
		res <- c.post(c.body(second, "", "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"+bad+"</response>"))
	}()
	time.Sleep(200 * time.Millisecond)
	r1 := c.post(c.body(first, "", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>"))
	r2 := <-res
	all := r1.String() + r2.String()
	c.rid = second
	for i := 0; !strings.Contains(all, "<failure") && !strings.Contains(all, "terminate") && i < 5; i++ {
		all += c.send("", "").String()
	}
	if !strings.Contains(all, "<challenge") || !strings.Contains(all, "<failure") || strings.Contains(all, "authenticate first") {
		t.Errorf("payloads handled out of order: %s", all)
	}
}

// login runs creation, PLAIN, restart and bind.
func (c *boshClient) login(user, resource string) {
	c.t.Helper()
	if child(c.create("localhost"), "features") == nil {
		c.collect("features")
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
	if child(c.send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+auth+"</auth>"), "success") == nil {
		c.t.Fatal("auth failed")
	}
	if child(c.send("to='localhost' xmpp:restart='true'", ""), "features") == nil {
		c.collect("features")
	}
	r := c.send("", "<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>"+resource+"</resource></bind></iq>")
	if child(r, "iq") == nil {
		c.collect("iq")
	}
}

// A BOSH session is an operator's session like any other: listed and
// kicked through the admin API, counted on the http listener.
func TestBOSHAdmin(t *testing.T) {
	s := testutil.Start(t, https+"\n[[listen]]\ntype = \"admin\"\naddress = \"127.0.0.1:0\"\n")
	s.AddUser(t, "alice", pw)
	c := newBOSH(t, s)
	c.login("alice", "web")

	resp, err := http.Get("http://" + s.Admin + "/api/sessions")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"jid": "alice@localhost/web"`) || !strings.Contains(string(b), `"transport": "http"`) {
		t.Errorf("sessions: %s", b)
	}
	resp, err = http.Get("http://" + s.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `xmppd_connections_open{listener="http"} 1`) {
		t.Errorf("metrics lack one http connection")
	}

	resp, err = http.Post("http://"+s.Admin+"/api/sessions/kick", "application/json", strings.NewReader(`{"jid":"alice@localhost/web"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("kick: %s", resp.Status)
	}
	// XEP-0206 §7: the stream error arrives as remote-stream-error.
	r := c.send("", "")
	for i := 0; r.Attr("type") != "terminate" && i < 3; i++ {
		r = c.send("", "")
	}
	if r.Attr("condition") != "remote-stream-error" || !strings.Contains(r.String(), "policy-violation") {
		t.Errorf("after kick: %s", r)
	}
}

// §14.3: a client whose held request seems lost resends the same rid; the
// session goes on and the resend gets the held request's answer.
func TestBOSHResendHeld(t *testing.T) {
	s := testutil.Start(t, https)
	c := newBOSH(t, s)
	c.create("localhost")
	held := make(chan *xml.Element, 1)
	c.rid++
	go func() { held <- c.post(c.body(c.rid, "", "")) }()
	time.Sleep(300 * time.Millisecond)
	again := c.post(c.body(c.rid, "", ""))
	first := <-held
	if again.Attr("type") == "terminate" || again.String() != first.String() {
		t.Errorf("resend of a held rid: %s, first answer %s", again, first)
	}
	if r := c.send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>"); r.Attr("type") == "terminate" {
		t.Errorf("session ended: %s", r)
	}
}
