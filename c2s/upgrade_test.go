package c2s_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsSASLUpgrade  = "urn:xmpp:sasl:upgrade:0"
	nsSCRAMUpgrade = "urn:xmpp:scram-upgrade:0"
)

// addSHA1User creates an account with SHA-1 keys only, as the Prosody
// import does.
func addSHA1User(t *testing.T, s *testutil.Server, user, pass string) {
	t.Helper()
	creds, err := auth.DeriveCredentials(pass, auth.DefaultIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Accounts().CreateAccount(context.Background(), "localhost", user, []storage.Credential{storage.Credential(creds[0])}); err != nil || creds[0].Hash != auth.SHA1 {
		t.Fatalf("create %s (%s): %v", user, creds[0].Hash, err)
	}
}

// sasl2Auth runs mech over SASL2 with extra children in <authenticate/>
// and returns the first element after the mechanism's own exchange
// (<success/>, <continue/> or <failure/>); the server's final message,
// where sent, is verified.
func sasl2Auth(t *testing.T, c *testutil.Client, gen scram.HashGeneratorFcn, mech, user, pass, extra string) *xml.Element {
	t.Helper()
	cl, err := gen.NewClient(user, pass, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='%s'><initial-response>%s</initial-response>%s</authenticate>",
		mech, base64.StdEncoding.EncodeToString([]byte(first)), extra)
	for {
		el := c.Next()
		if el.NS() != nsSASL2 {
			t.Fatalf("outside SASL2 during the exchange: %s", el)
		}
		if el.Name() != "challenge" {
			if ad := el.Child("additional-data", nsSASL2); ad != nil {
				fin, _ := base64.StdEncoding.DecodeString(ad.Text())
				if _, err := conv.Step(string(fin)); err != nil || !conv.Valid() {
					t.Fatalf("server signature: %v", err)
				}
			} else if el.Name() != "failure" {
				t.Fatalf("%s without the server's final message", el)
			}
			return el
		}
		ch, _ := base64.StdEncoding.DecodeString(el.Text())
		resp, err := conv.Step(string(ch))
		if err != nil {
			t.Fatalf("client step: %v", err)
		}
		c.Send("<response xmlns='urn:xmpp:sasl:2'>%s</response>", base64.StdEncoding.EncodeToString([]byte(resp)))
	}
}

func tasks(el *xml.Element) []string {
	var out []string
	if ts := el.Child("tasks", nsSASL2); ts != nil {
		for t := range ts.Children() {
			out = append(out, t.Text())
		}
	}
	return out
}

// upgradeTask runs one task the server offered in <continue/>, answering
// the salt with SaltedPassword (RFC 5802 §3) for the task's hash, and
// returns what the server sends next.
func upgradeTask(t *testing.T, c *testutil.Client, task, pass string) *xml.Element {
	t.Helper()
	c.Send("<next xmlns='urn:xmpp:sasl:2' task='%s'/>", task)
	td := c.Next()
	salt := td.Child("salt", nsSCRAMUpgrade)
	if td.Name() != "task-data" || td.NS() != nsSASL2 || salt == nil {
		t.Fatalf("task data: %s", td)
	}
	s, err := base64.StdEncoding.DecodeString(salt.Text())
	iter, err2 := strconv.Atoi(salt.Attr("iterations"))
	if err != nil || err2 != nil || len(s) == 0 || iter < 4096 {
		t.Fatalf("salt %s: %v %v", salt, err, err2)
	}
	h := map[string]func() hash.Hash{"UPGR-SCRAM-SHA-256": sha256.New, "UPGR-SCRAM-SHA-512": sha512.New}[task]
	sp, err := pbkdf2.Key(h, pass, s, iter, h().Size())
	if err != nil {
		t.Fatal(err)
	}
	c.Send("<task-data xmlns='urn:xmpp:sasl:2'><hash xmlns='urn:xmpp:scram-upgrade:0'>%s</hash></task-data>", base64.StdEncoding.EncodeToString(sp))
	return c.Next()
}

func hasCredential(t *testing.T, s *testutil.Server, user, h string) bool {
	t.Helper()
	_, err := s.Accounts().Credential(context.Background(), "localhost", user, h)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

const askUpgrades = "<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-256</upgrade><upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-512</upgrade>"

// XEP-0480: an account with SHA-1 keys only logs in with SCRAM-SHA-1,
// asks for both upgrades and runs them; then it has keys for SHA-256 and
// SHA-512 and logs in with them, the same password.
func TestSASLUpgrade(t *testing.T) {
	s := testutil.Start(t, "")
	addSHA1User(t, s, "alice", "secret")
	c, f := sasl2Open(t, s)
	var offered []string
	for u := range f.Child("authentication", nsSASL2).Children() {
		if u.Name() == "upgrade" && u.NS() == nsSASLUpgrade {
			offered = append(offered, u.Text())
		}
	}
	if len(offered) != 2 || offered[0] != "UPGR-SCRAM-SHA-512" || offered[1] != "UPGR-SCRAM-SHA-256" {
		t.Fatalf("upgrades offered: %v in %s", offered, f)
	}
	if r := c.AuthSCRAM("SCRAM-SHA-256", "alice", "secret", "", nil); r.OK {
		t.Fatal("SCRAM-SHA-256 without SHA-256 keys succeeded")
	}

	el := sasl2Auth(t, c, scram.SHA1, "SCRAM-SHA-1", "alice", "secret", askUpgrades)
	if el.Name() != "continue" || len(tasks(el)) != 2 {
		t.Fatalf("continue: %s", el)
	}
	el = upgradeTask(t, c, "UPGR-SCRAM-SHA-256", "secret")
	if el.Name() != "continue" || len(tasks(el)) != 1 || tasks(el)[0] != "UPGR-SCRAM-SHA-512" || el.Child("additional-data", nsSASL2) != nil {
		t.Fatalf("second continue: %s", el)
	}
	if !hasCredential(t, s, "alice", auth.SHA256) || !hasCredential(t, s, "alice", auth.SHA1) {
		t.Fatal("SHA-256 keys not stored after their task, or SHA-1 keys lost")
	}
	el = upgradeTask(t, c, "UPGR-SCRAM-SHA-512", "secret")
	if el.Name() != "success" || authzID(el) != "alice@localhost" {
		t.Fatalf("success: %s", el)
	}
	if fe := c.Next(); fe.Name() != "features" {
		t.Fatalf("features after success: %s", fe)
	}
	for _, h := range []string{auth.SHA1, auth.SHA256, auth.SHA512} {
		if !hasCredential(t, s, "alice", h) {
			t.Errorf("no %s keys after the upgrade", h)
		}
	}

	for _, m := range []struct {
		gen  scram.HashGeneratorFcn
		mech string
	}{{scram.SHA256, "SCRAM-SHA-256"}, {scram.SHA512, "SCRAM-SHA-512"}, {scram.SHA1, "SCRAM-SHA-1"}} {
		c, _ := sasl2Open(t, s)
		// Nothing left to upgrade: the request is ignored.
		if el := sasl2Auth(t, c, m.gen, m.mech, "alice", "secret", askUpgrades); el.Name() != "success" {
			t.Fatalf("%s after the upgrade: %s", m.mech, el)
		}
	}
	c, _ = sasl2Open(t, s)
	if el := sasl2Auth(t, c, scram.SHA256, "SCRAM-SHA-256", "alice", "wrong", ""); el.Name() != "failure" {
		t.Fatalf("SCRAM-SHA-256 with a wrong password: %s", el)
	}
}

// An account with every key is not offered a task, and an account
// without them is upgraded only when its client asks.
func TestSASLUpgradeNotNeeded(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "secret")
	addSHA1User(t, s, "bob", "secret")
	c, _ := sasl2Open(t, s)
	if el := sasl2Auth(t, c, scram.SHA1, "SCRAM-SHA-1", "alice", "secret", askUpgrades); el.Name() != "success" {
		t.Fatalf("alice: %s", el)
	}
	c, _ = sasl2Open(t, s)
	if el := sasl2Auth(t, c, scram.SHA1, "SCRAM-SHA-1", "bob", "secret", "<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-1</upgrade>"); el.Name() != "success" {
		t.Fatalf("bob, no known task asked: %s", el)
	}
	if hasCredential(t, s, "bob", auth.SHA256) {
		t.Fatal("bob upgraded without asking")
	}
	// Asking for one task runs that one only.
	c, _ = sasl2Open(t, s)
	el := sasl2Auth(t, c, scram.SHA1, "SCRAM-SHA-1", "bob", "secret", "<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-512</upgrade>")
	if el.Name() != "continue" || len(tasks(el)) != 1 || tasks(el)[0] != "UPGR-SCRAM-SHA-512" {
		t.Fatalf("bob, one task: %s", el)
	}
	if el := upgradeTask(t, c, "UPGR-SCRAM-SHA-512", "secret"); el.Name() != "success" {
		t.Fatalf("bob, after the task: %s", el)
	}
	if !hasCredential(t, s, "bob", auth.SHA512) || hasCredential(t, s, "bob", auth.SHA256) {
		t.Fatal("bob's keys after asking for SHA-512 only")
	}
}

// A malformed task answer fails the exchange with a SASL2 <failure/>,
// stores nothing, and the stream goes on: the client can authenticate
// again.
func TestSASLUpgradeMalformed(t *testing.T) {
	s := testutil.Start(t, "")
	addSHA1User(t, s, "bob", "secret")
	for _, tc := range []struct {
		name, next, data, cond string
	}{
		{"bad base64", "UPGR-SCRAM-SHA-256", "<hash xmlns='urn:xmpp:scram-upgrade:0'>!!not base64</hash>", "incorrect-encoding"},
		{"empty hash", "UPGR-SCRAM-SHA-256", "<hash xmlns='urn:xmpp:scram-upgrade:0'/>", "incorrect-encoding"},
		{"wrong length", "UPGR-SCRAM-SHA-256", "<hash xmlns='urn:xmpp:scram-upgrade:0'>" + base64.StdEncoding.EncodeToString(make([]byte, 20)) + "</hash>", "malformed-request"},
		{"no hash", "UPGR-SCRAM-SHA-256", "<salt xmlns='urn:xmpp:scram-upgrade:0'/>", "malformed-request"},
		{"task not offered", "UPGR-SCRAM-SHA-1", "", "malformed-request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := sasl2Open(t, s)
			el := sasl2Auth(t, c, scram.SHA1, "SCRAM-SHA-1", "bob", "secret", "<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-256</upgrade>")
			if el.Name() != "continue" {
				t.Fatalf("continue: %s", el)
			}
			c.Send("<next xmlns='urn:xmpp:sasl:2' task='%s'/>", tc.next)
			if tc.data != "" {
				if td := c.Next(); td.Name() != "task-data" {
					t.Fatalf("task data: %s", td)
				}
				c.Send("<task-data xmlns='urn:xmpp:sasl:2'>%s</task-data>", tc.data)
			}
			f := c.Next()
			if f.Name() != "failure" || f.NS() != nsSASL2 || f.Child(tc.cond, "urn:ietf:params:xml:ns:xmpp-sasl") == nil {
				t.Fatalf("want failure %s, got %s", tc.cond, f)
			}
			if hasCredential(t, s, "bob", auth.SHA256) {
				t.Fatal("keys stored from a malformed answer")
			}
			// Not authenticated: stanzas are refused, but a new
			// authentication works on the same stream.
			if el := sasl2Auth(t, c, scram.SHA1, "SCRAM-SHA-1", "bob", "secret", ""); el.Name() != "success" {
				t.Fatalf("after the failure: %s", el)
			}
		})
	}
}

// A password set while a task runs wins: the task's keys, from the old
// password, are not stored over the new ones.
func TestSASLUpgradePasswordChanged(t *testing.T) {
	s := testutil.Start(t, "")
	addSHA1User(t, s, "bob", "old")
	c, _ := sasl2Open(t, s)
	el := sasl2Auth(t, c, scram.SHA1, "SCRAM-SHA-1", "bob", "old", "<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-256</upgrade>")
	if el.Name() != "continue" {
		t.Fatalf("continue: %s", el)
	}
	creds, err := auth.DeriveCredentials("new", auth.DefaultIterations)
	if err != nil {
		t.Fatal(err)
	}
	sc := make([]storage.Credential, len(creds))
	for i, cr := range creds {
		sc[i] = storage.Credential(cr)
	}
	if err := s.Accounts().SetCredentials(context.Background(), "localhost", "bob", sc); err != nil {
		t.Fatal(err)
	}
	if el := upgradeTask(t, c, "UPGR-SCRAM-SHA-256", "old"); el.Name() != "success" {
		t.Fatalf("after the task: %s", el)
	}
	c, _ = sasl2Open(t, s)
	if el := sasl2Auth(t, c, scram.SHA256, "SCRAM-SHA-256", "bob", "new", ""); el.Name() != "success" {
		t.Fatalf("new password, SCRAM-SHA-256: %s", el)
	}
	c, _ = sasl2Open(t, s)
	if el := sasl2Auth(t, c, scram.SHA256, "SCRAM-SHA-256", "bob", "old", ""); el.Name() != "failure" {
		t.Fatalf("old password, SCRAM-SHA-256: %s", el)
	}
}

// With SCRAM-SHA-1 the only mechanism allowed (the README's setting while
// imported accounts have SHA-1 keys only), the upgrades still run: they
// give the keys that let the operator allow SCRAM-SHA-256 later.
func TestSASLUpgradeSHA1Only(t *testing.T) {
	s := testutil.Start(t, "[auth]\nmechanisms = [\"SCRAM-SHA-1\"]")
	addSHA1User(t, s, "bob", "secret")
	c, _ := sasl2Open(t, s)
	if el := sasl2Auth(t, c, scram.SHA1, "SCRAM-SHA-1", "bob", "secret", askUpgrades); el.Name() != "continue" || len(tasks(el)) != 2 {
		t.Fatalf("continue: %s", el)
	}
	if el := upgradeTask(t, c, "UPGR-SCRAM-SHA-512", "secret"); el.Name() != "continue" {
		t.Fatalf("after the first task: %s", el)
	}
	if el := upgradeTask(t, c, "UPGR-SCRAM-SHA-256", "secret"); el.Name() != "success" {
		t.Fatalf("after the second task: %s", el)
	}
	if !hasCredential(t, s, "bob", auth.SHA256) || !hasCredential(t, s, "bob", auth.SHA512) {
		t.Fatal("keys not stored")
	}
}
