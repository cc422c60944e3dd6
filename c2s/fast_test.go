package c2s_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0484 FAST over the wire: tokens asked for in SASL2, logins with
// them in one round trip, rotation, invalidation and revocation.

const (
	nsFAST    = "urn:xmpp:fast:0"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	fastAgent = "<user-agent id='0b1c7a52-3f0e-4c55-9d43-8e0f4f3f6a10'><software>FastTest</software><device>Laptop</device></user-agent>"
)

// fastMechs lists the mechanisms in SASL2's inline <fast/>, nil if none.
func fastMechs(f *xml.Element) []string {
	a := f.Child("authentication", nsSASL2)
	if a == nil || a.Child("inline", nsSASL2) == nil {
		return nil
	}
	fe := a.Child("inline", nsSASL2).Child("fast", nsFAST)
	if fe == nil {
		return nil
	}
	var out []string
	for m := range fe.Children() {
		out = append(out, m.Text())
	}
	return out
}

// cbData is the client's channel binding for an HT mechanism.
func cbData(t *testing.T, mech string, st *tls.ConnectionState) []byte {
	t.Helper()
	switch {
	case strings.HasSuffix(mech, "-EXPR"):
		b, err := st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		if err != nil {
			t.Fatal(err)
		}
		return b
	case strings.HasSuffix(mech, "-ENDP"):
		cert := st.PeerCertificates[0]
		var h hash.Hash
		switch cert.SignatureAlgorithm {
		case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
			h = sha512.New384()
		case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
			h = sha512.New()
		default:
			h = sha256.New()
		}
		h.Write(cert.Raw)
		return h.Sum(nil)
	}
	return nil
}

func htMAC(token, label string, cb []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	m.Write(cb)
	return m.Sum(nil)
}

// fastAuth authenticates with a token as a client does (the HMAC keyed
// with the token text), extra in <authenticate/> beside <fast/>; on
// success it checks the server's responder message.
func fastAuth(t *testing.T, c *testutil.Client, mech, user, token, fastAttrs, extra string) *xml.Element {
	t.Helper()
	cb := cbData(t, mech, c.TLS)
	msg := append([]byte(user+"\x00"), htMAC(token, "Initiator", cb)...)
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='%s'><initial-response>%s</initial-response>%s<fast xmlns='urn:xmpp:fast:0'%s/>%s</authenticate>",
		mech, base64.StdEncoding.EncodeToString(msg), fastAgent, fastAttrs, extra)
	el := c.Next()
	if el.Name() == "success" {
		ad := el.Child("additional-data", nsSASL2)
		got, _ := base64.StdEncoding.DecodeString(ad.Text())
		if ad == nil || !hmac.Equal(got, htMAC(token, "Responder", cb)) {
			t.Fatalf("responder message does not verify: %s", el)
		}
	}
	return el
}

// fastToken is the <token/> of a <success/>, "" when none.
func fastToken(t *testing.T, el *xml.Element) string {
	t.Helper()
	tok := el.Child("token", nsFAST)
	if tok == nil {
		return ""
	}
	exp, err := time.Parse(time.RFC3339, tok.Attr("expiry"))
	if err != nil || time.Until(exp) < 20*24*time.Hour || time.Until(exp) > 22*24*time.Hour {
		t.Fatalf("token expiry %q (%v): want three weeks from now", tok.Attr("expiry"), err)
	}
	return tok.Attr("token")
}

// tokenLogin gets a token for user with SCRAM, pinned to mech.
func tokenLogin(t *testing.T, s *testutil.Server, user, mech string) string {
	t.Helper()
	c, _ := sasl2Open(t, s)
	el := sasl2SCRAM(t, c, user, pw, fastAgent+"<request-token xmlns='urn:xmpp:fast:0' mechanism='"+mech+"'/>")
	tok := fastToken(t, el)
	if el.Name() != "success" || tok == "" {
		t.Fatalf("no token after SCRAM with <request-token/>: %s", el)
	}
	c.Close()
	return tok
}

func fastStore(t *testing.T, s *testutil.Server) storage.FastTokens {
	return s.Accounts().(storage.FastTokens)
}

func wantFailure(t *testing.T, el *xml.Element, cond string) {
	t.Helper()
	if el.Name() != "failure" || el.NS() != nsSASL2 || el.Child(cond, nsSASL) == nil {
		t.Fatalf("want <failure/> with %s: %s", cond, el)
	}
}

func TestFASTFeature(t *testing.T) {
	s := testutil.Start(t, "")
	_, f := sasl2Open(t, s)
	mechs := fastMechs(f)
	if len(mechs) < 2 || mechs[0] != "HT-SHA-256-EXPR" || mechs[len(mechs)-1] != "HT-SHA-256-NONE" {
		t.Fatalf("<fast/> offers %v, want EXPR first and NONE last", mechs)
	}
	if strings.Contains(f.String(), "tls-0rtt") {
		t.Errorf("0-RTT offered, but crypto/tls accepts no early data: %s", f)
	}
	for _, m := range mechanisms(f) {
		if strings.HasPrefix(m, "HT-") {
			t.Errorf("%s offered outside <fast/>", m)
		}
	}
	// Turned off: no <fast/>.
	off := testutil.Start(t, "[auth]\nfast_token_lifetime = \"0s\"\n")
	if _, f := sasl2Open(t, off); fastMechs(f) != nil {
		t.Errorf("FAST offered with fast_token_lifetime = 0s: %s", f)
	}
}

// Each mechanism: a token from a SCRAM login, then a login with it in one
// round trip that binds a session, and the store holds hashes only.
func TestFASTLogin(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	_, f := sasl2Open(t, s)
	for _, mech := range fastMechs(f) {
		t.Run(mech, func(t *testing.T) {
			tok := tokenLogin(t, s, "alice", mech)
			if !strings.HasPrefix(tok, "secret-token:fast-") || len(tok) <= 64 {
				t.Fatalf("token %q", tok)
			}
			toks, err := fastStore(t, s).ListFastTokens(context.Background(), "localhost", "alice")
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.Sum256([]byte(tok))
			found := false
			for _, st := range toks {
				if string(st.Hash) == string(h[:]) {
					found = st.Mechanism == mech && st.Label == "FastTest on Laptop" && st.New
				}
				if strings.Contains(string(st.Hash), tok) {
					t.Fatal("the token itself is stored")
				}
			}
			if !found {
				t.Fatalf("stored tokens %+v: none with the hash of the one issued", toks)
			}

			c, _ := sasl2Open(t, s)
			el := fastAuth(t, c, mech, "alice", tok, " count='1'", "<bind xmlns='urn:xmpp:bind:0'><tag>Fast</tag></bind>")
			if el.Name() != "success" || !strings.HasPrefix(authzID(el), "alice@localhost/Fast/") || el.Child("bound", nsBind2) == nil {
				t.Fatalf("FAST login with Bind 2: %s", el)
			}
			if fastToken(t, el) == "" {
				t.Errorf("no rotated token after a FAST login: %s", el)
			}
			if f := c.Next(); f.Name() != "features" {
				t.Fatalf("features after <success/>: %s", f)
			}
			c.Send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
			if r := c.NextNamed("iq"); r.Attr("type") != "result" {
				t.Fatalf("ping: %s", r)
			}
		})
	}
}

// XEP-0484 §3.5 and §5.1: a rotated token does not end the old one until
// the new one is used; then the old one fails.
func TestFASTRotation(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	const mech = "HT-SHA-256-NONE"
	t1 := tokenLogin(t, s, "alice", mech)
	login := func(tok string) *xml.Element {
		c, _ := sasl2Open(t, s)
		defer c.Close()
		return fastAuth(t, c, mech, "alice", tok, "", "")
	}
	el := login(t1)
	t2 := fastToken(t, el)
	if el.Name() != "success" || t2 == "" || t2 == t1 {
		t.Fatalf("first FAST login: %s", el)
	}
	// The client lost that <success/>: t1 still works, and replaces the
	// unused t2 with t3.
	el = login(t1)
	t3 := fastToken(t, el)
	if el.Name() != "success" || t3 == "" || t3 == t2 {
		t.Fatalf("second login with the first token: %s", el)
	}
	wantFailure(t, login(t2), "credentials-expired") // never used, replaced
	if el := login(t3); el.Name() != "success" {
		t.Fatalf("login with the newest token: %s", el)
	}
	wantFailure(t, login(t1), "credentials-expired") // a later token was used
}

func TestFASTRefused(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	tok := tokenLogin(t, s, "alice", "HT-SHA-256-NONE")
	for _, tc := range []struct {
		name string
		run  func(c *testutil.Client) *xml.Element
		cond string
	}{
		{"wrong token", func(c *testutil.Client) *xml.Element {
			return fastAuth(t, c, "HT-SHA-256-NONE", "alice", tok+"x", "", "")
		}, "credentials-expired"},
		{"another account", func(c *testutil.Client) *xml.Element {
			return fastAuth(t, c, "HT-SHA-256-NONE", "bob", tok, "", "")
		}, "credentials-expired"},
		// §3.4: pinned to the mechanism it was asked for.
		{"other mechanism", func(c *testutil.Client) *xml.Element {
			return fastAuth(t, c, "HT-SHA-256-EXPR", "alice", tok, "", "")
		}, "credentials-expired"},
		{"another client", func(c *testutil.Client) *xml.Element {
			msg := append([]byte("alice\x00"), htMAC(tok, "Initiator", nil)...)
			c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>%s</initial-response><user-agent id='other'/><fast xmlns='urn:xmpp:fast:0'/></authenticate>",
				base64.StdEncoding.EncodeToString(msg))
			return c.Next()
		}, "credentials-expired"},
		{"without <user-agent id/>", func(c *testutil.Client) *xml.Element {
			msg := append([]byte("alice\x00"), htMAC(tok, "Initiator", nil)...)
			c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>%s</initial-response><fast xmlns='urn:xmpp:fast:0'/></authenticate>",
				base64.StdEncoding.EncodeToString(msg))
			return c.Next()
		}, "invalid-mechanism"},
		{"without <fast/>", func(c *testutil.Client) *xml.Element {
			msg := append([]byte("alice\x00"), htMAC(tok, "Initiator", nil)...)
			c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>%s</initial-response>%s</authenticate>",
				base64.StdEncoding.EncodeToString(msg), fastAgent)
			return c.Next()
		}, "invalid-mechanism"},
		{"legacy SASL", func(c *testutil.Client) *xml.Element {
			msg := append([]byte("alice\x00"), htMAC(tok, "Initiator", nil)...)
			c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='HT-SHA-256-NONE'>%s</auth>", base64.StdEncoding.EncodeToString(msg))
			el := c.Next()
			if el.Name() != "failure" || el.Child("invalid-mechanism", nsSASL) == nil {
				t.Fatalf("legacy <auth/> with HT: %s", el)
			}
			return xml.NewBuilder("failure", nsSASL2).Start("invalid-mechanism", nsSASL).End().Element()
		}, "invalid-mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := sasl2Open(t, s)
			wantFailure(t, tc.run(c), tc.cond)
			if s.Sessions() != 0 {
				t.Fatal("a refused login bound a session")
			}
		})
	}
	// None of that spent the token.
	c, _ := sasl2Open(t, s)
	if el := fastAuth(t, c, "HT-SHA-256-NONE", "alice", tok, "", ""); el.Name() != "success" {
		t.Fatalf("the token after refused attempts: %s", el)
	}
}

// No token without a <user-agent id/> to keep it under, nor for a
// mechanism not offered; the login stands either way.
func TestFASTNoTokenIssued(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	for name, extra := range map[string]string{
		"no user agent":   "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>",
		"not offered":     fastAgent + "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-512-NONE'/>",
		"nothing request": fastAgent,
	} {
		c, _ := sasl2Open(t, s)
		el := sasl2SCRAM(t, c, "alice", pw, extra)
		if el.Name() != "success" || el.Child("token", nsFAST) != nil {
			t.Errorf("%s: %s", name, el)
		}
		c.Close()
	}
}

// §3.6: invalidate='true' ends the token at once and issues none.
func TestFASTInvalidate(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	tok := tokenLogin(t, s, "alice", "HT-SHA-256-NONE")
	c, _ := sasl2Open(t, s)
	el := fastAuth(t, c, "HT-SHA-256-NONE", "alice", tok, " invalidate='true'", "")
	if el.Name() != "success" || el.Child("token", nsFAST) != nil {
		t.Fatalf("login that invalidates: %s", el)
	}
	c.Close()
	c, _ = sasl2Open(t, s)
	wantFailure(t, fastAuth(t, c, "HT-SHA-256-NONE", "alice", tok, "", ""), "credentials-expired")
}

// A new password ends every token (XEP-0077 §3.3 change here).
func TestFASTRevokedOnPasswordChange(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	tok := tokenLogin(t, s, "alice", "HT-SHA-256-NONE")
	c := testutil.Login(t, s, "alice", pw, "pc")
	c.Send("<iq type='set' id='pw'><query xmlns='jabber:iq:register'><username>alice</username><password>n3w-password</password></query></iq>")
	if r := c.NextNamed("iq"); r.Attr("type") != "result" {
		t.Fatalf("password change: %s", r)
	}
	f, _ := sasl2Open(t, s)
	wantFailure(t, fastAuth(t, f, "HT-SHA-256-NONE", "alice", tok, "", ""), "credentials-expired")
}

// FAST and XEP-0198 resumption in one <authenticate/>: a reconnect in two
// round trips after TLS (the stream header, then <authenticate/>), where
// SCRAM takes three (TestSASL2InlineResumeRoundTrips).
func TestFASTInlineResume(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	c, _ := sasl2Open(t, s)
	el := sasl2SCRAM(t, c, "alice", pw, fastAgent+"<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>"+
		"<bind xmlns='urn:xmpp:bind:0'><tag>T</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>")
	tok := fastToken(t, el)
	en := el.Child("bound", nsBind2).Child("enabled", nsSM)
	if tok == "" || en == nil {
		t.Fatalf("token and <enabled/>: %s", el)
	}
	full := authzID(el)
	bob := testutil.Login(t, s, "bob", pw, "pc")
	c.Conn.Close()
	bob.Send("<message to='%s' type='chat' id='m1'><body>while away</body></message>", full)

	c, tr := tlsCounted(t, s)
	c.Open("localhost")
	// fastAuth needs the client's TLS state for channel binding; -NONE
	// has none.
	msg := append([]byte("alice\x00"), htMAC(tok, "Initiator", nil)...)
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>%s</initial-response>%s<fast xmlns='urn:xmpp:fast:0'/><resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/></authenticate>",
		base64.StdEncoding.EncodeToString(msg), fastAgent, en.Attr("id"))
	el = c.Next()
	if el.Name() != "success" || el.Child("resumed", nsSM) == nil || authzID(el) != full || el.Child("token", nsFAST) == nil {
		t.Fatalf("FAST login with inline resumption: %s", el)
	}
	if m := c.Next(); body(m) != "while away" {
		t.Fatalf("after <success/>: %s", m)
	}
	if tr.turns != 2 {
		t.Errorf("%d round trips after TLS, want 2", tr.turns)
	}
}
