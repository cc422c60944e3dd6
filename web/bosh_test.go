package web_test

import (
	"encoding/base64"
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

const nsBind = testutil.NSHTTPBind

// A whole session: creation, SASL PLAIN under HTTPS, restart, bind, a
// message each way with a TCP client, terminate.
func TestBOSHLogin(t *testing.T) {
	s := testutil.Start(t, https)
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob := testutil.Login(t, s, "bob", pw, "tcp")

	c := testutil.NewBOSH(t, s)
	cr := c.Create("localhost")
	for _, a := range []string{"sid", "wait", "requests", "inactivity", "polling", "hold", "authid", "ver"} {
		if cr.Attr(a) == "" {
			t.Errorf("creation response lacks %s: %s", a, cr)
		}
	}
	if cr.Attr("requests") != "2" || cr.Attr("wait") != "3" || cr.Attr("from") != "localhost" || cr.Attr("ack") != strconv.FormatInt(c.RID, 10) {
		t.Errorf("creation response %s", cr)
	}
	features := testutil.BOSHChild(cr, "features")
	if features == nil {
		features = c.Collect("features")
	}
	mechs := features.String()
	if !strings.Contains(mechs, "PLAIN") || strings.Contains(mechs, "-PLUS") || strings.Contains(mechs, "starttls") {
		// PLAIN: the transport is HTTPS. No -PLUS: a BOSH session spans
		// TLS connections, none of which it could be bound to.
		t.Errorf("features %s", mechs)
	}

	auth := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + pw))
	r := c.Send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+auth+"</auth>")
	if testutil.BOSHChild(r, "success") == nil {
		t.Fatalf("auth: %s", r)
	}
	r = c.Send("to='localhost' xml:lang='en' xmpp:restart='true'", "")
	f := testutil.BOSHChild(r, "features")
	if f == nil {
		f = c.Collect("features")
	}
	if !strings.Contains(f.String(), "bind") {
		t.Fatalf("features after restart: %s", f)
	}
	r = c.Send("", "<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>")
	iq := testutil.BOSHChild(r, "iq")
	if iq == nil {
		iq = c.Collect("iq")
	}
	if iq.Attr("type") != "result" || !strings.Contains(iq.String(), "alice@localhost/web") {
		t.Fatalf("bind: %s", iq)
	}

	// BOSH -> TCP. The request is held (nothing for alice yet) while bob
	// answers: the answer comes back in that held request.
	done := make(chan *xml.Element, 1)
	go func() {
		c.RID++
		done <- c.Post(c.Body(c.RID, "", "<message to='bob@localhost/tcp' type='chat' id='m1' xmlns='jabber:client'><body>hello over BOSH</body></message>"))
	}()
	m := bob.NextNamed("message")
	if m.Attr("from") != "alice@localhost/web" || !strings.Contains(m.String(), "hello over BOSH") {
		t.Fatalf("bob got %s", m)
	}
	bob.Send("<message to='alice@localhost/web' type='chat' id='m2'><body>hello over TCP</body></message>")
	got := testutil.BOSHChild(<-done, "message")
	if got == nil {
		got = c.Collect("message")
	}
	if got.Attr("id") != "m2" || got.Attr("from") != "bob@localhost/tcp" {
		t.Fatalf("alice got %s", got)
	}

	if r := c.Send("type='terminate'", "<presence type='unavailable' xmlns='jabber:client'/>"); r.Attr("type") != "terminate" {
		t.Fatalf("terminate: %s", r)
	}
	if r := c.Send("", ""); r.Attr("type") != "terminate" || r.Attr("condition") != "item-not-found" {
		t.Errorf("request after terminate: %s", r)
	}
}

// §14.2 and §17.2: unknown sessions and rids outside the window end the
// session with item-not-found; §14.3 a resent rid gets the same answer.
func TestBOSHErrors(t *testing.T) {
	s := testutil.Start(t, https)
	t.Run("unknown sid", func(t *testing.T) {
		c := testutil.NewBOSH(t, s)
		c.SID = "nosuchsession"
		if r := c.Send("", ""); r.Attr("type") != "terminate" || r.Attr("condition") != "item-not-found" {
			t.Errorf("got %s", r)
		}
	})
	t.Run("rid beyond the window", func(t *testing.T) {
		c := testutil.NewBOSH(t, s)
		c.Create("localhost")
		if r := c.Post(c.Body(c.RID+5, "", "")); r.Attr("type") != "terminate" || r.Attr("condition") != "item-not-found" {
			t.Errorf("got %s", r)
		}
		if r := c.Send("", ""); r.Attr("condition") != "item-not-found" {
			t.Errorf("session survived a bad rid: %s", r)
		}
	})
	t.Run("resent rid", func(t *testing.T) {
		c := testutil.NewBOSH(t, s)
		c.Create("localhost")
		auth := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00wrong"))
		r1 := c.Send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+auth+"</auth>")
		if testutil.BOSHChild(r1, "failure") == nil {
			t.Fatalf("auth: %s", r1)
		}
		r2 := c.Post(c.Body(c.RID, "", ""))
		if r1.String() != r2.String() {
			t.Errorf("resent rid answered differently:\n%s\n%s", r1, r2)
		}
		if r := c.Post(c.Body(c.RID-5, "", "")); r.Attr("condition") != "item-not-found" {
			t.Errorf("old rid: %s", r)
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		c := testutil.NewBOSH(t, s)
		// The stream error and the stream's end come in one response,
		// the one that terminates (XEP-0206 §7), here the first.
		r := c.Create("elsewhere.example")
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
	c := testutil.NewBOSH(t, s)
	if cr := c.Create("localhost"); cr.Attr("inactivity") != "0" {
		// 300ms shows as 0 whole seconds; the value is what the test set.
		t.Logf("inactivity %s", cr.Attr("inactivity"))
	}
	// The scenario: a client silent past the inactivity period (300ms).
	// Asking earlier would be the activity that keeps the session.
	time.Sleep(time.Second)
	if r := c.Send("", ""); r.Attr("type") != "terminate" || r.Attr("condition") != "item-not-found" {
		t.Errorf("after inactivity: %s", r)
	}
}

// §14.2: payloads reach the stream in rid order even when the requests
// arrive out of order.
func TestBOSHOutOfOrder(t *testing.T) {
	s := testutil.Start(t, https)
	c := testutil.NewBOSH(t, s)
	c.Create("localhost")
	bad := base64.StdEncoding.EncodeToString([]byte("\x00nobody\x00x"))
	first, second := c.RID+1, c.RID+2
	// The later rid goes first: its <response/> must wait for the earlier
	// rid's <auth/>, or the server would see a SASL response outside a
	// negotiation and end the stream.
	res := make(chan *xml.Element, 1)
	go func() {
		res <- c.Post(c.Body(second, "", "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"+bad+"</response>"))
	}()
	// Give the later rid a head start: the server says nothing until the
	// earlier one arrives, so no fence can tell that it is held. Should
	// it arrive second after all, the test still passes (in order).
	time.Sleep(200 * time.Millisecond)
	r1 := c.Post(c.Body(first, "", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>"))
	r2 := <-res
	all := r1.String() + r2.String()
	c.RID = second
	for i := 0; !strings.Contains(all, "<failure") && !strings.Contains(all, "terminate") && i < 5; i++ {
		all += c.Send("", "").String()
	}
	if !strings.Contains(all, "<challenge") || !strings.Contains(all, "<failure") || strings.Contains(all, "authenticate first") {
		t.Errorf("payloads handled out of order: %s", all)
	}
}

// login runs creation, PLAIN, restart and bind.
// A BOSH session is an operator's session like any other: listed and
// kicked through the admin API, counted on the http listener.
func TestBOSHAdmin(t *testing.T) {
	s := testutil.Start(t, https+"\n[[listen]]\ntype = \"admin\"\naddress = \"127.0.0.1:0\"\n")
	s.AddUser(t, "alice", pw)
	c := testutil.NewBOSH(t, s)
	c.Login("alice", pw, "web")

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
	r := c.Send("", "")
	for i := 0; r.Attr("type") != "terminate" && i < 3; i++ {
		r = c.Send("", "")
	}
	if r.Attr("condition") != "remote-stream-error" || !strings.Contains(r.String(), "policy-violation") {
		t.Errorf("after kick: %s", r)
	}
}

// §14.3: a client whose held request seems lost resends the same rid; the
// session goes on and the resend gets the held request's answer.
func TestBOSHResendHeld(t *testing.T) {
	s := testutil.Start(t, https)
	c := testutil.NewBOSH(t, s)
	c.Create("localhost")
	held := make(chan *xml.Element, 1)
	c.RID++
	go func() { held <- c.Post(c.Body(c.RID, "", "")) }()
	// A held request is silent until it is answered, so nothing on the
	// wire says it is held yet: give it a head start.
	time.Sleep(300 * time.Millisecond)
	again := c.Post(c.Body(c.RID, "", ""))
	first := <-held
	if again.Attr("type") == "terminate" || again.String() != first.String() {
		t.Errorf("resend of a held rid: %s, first answer %s", again, first)
	}
	if r := c.Send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>"); r.Attr("type") == "terminate" {
		t.Errorf("session ended: %s", r)
	}
}
