package adhoc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
)

const nodeFast = "urn:xmpp:fast:0#tokens"

func issueToken(t *testing.T, s *testutil.Server, user, agent, label string) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	err := s.Accounts().(storage.FastTokens).IssueFastToken(context.Background(), "localhost", user, storage.FastToken{
		AgentID: agent, New: true, Mechanism: "HT-SHA-256-NONE", Hash: []byte(agent), Label: label, Created: now, Expiry: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func agents(t *testing.T, s *testutil.Server, user string) string {
	t.Helper()
	toks, err := s.Accounts().(storage.FastTokens).ListFastTokens(context.Background(), "localhost", user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tk := range toks {
		out = append(out, tk.AgentID)
	}
	return strings.Join(out, " ")
}

// Any account lists its own FAST clients and revokes their tokens; no
// one else's.
func TestFastTokensCommand(t *testing.T) {
	s := start(t)
	s.AddUser(t, "alice", "alicepw")
	s.AddUser(t, "bob", "bobpw")
	issueToken(t, s, "alice", "phone", "Conversations on Pixel")
	issueToken(t, s, "alice", "laptop", "")
	issueToken(t, s, "bob", "phone", "Dino")
	alice := testutil.Login(t, s, "alice", "alicepw", "r")

	r := run(t, alice, nodeFast, nil)
	form := r.String()
	if !strings.Contains(form, "status='executing'") || !strings.Contains(form, "label='Conversations on Pixel (until ") ||
		!strings.Contains(form, "label='Client laptop (until ") || strings.Contains(form, "Dino") {
		t.Fatalf("form: %s", form)
	}
	if c := cond(run(t, alice, nodeFast, map[string][]string{"revoke": {"nonesuch"}})); c != "not-acceptable" {
		t.Errorf("revoking an unknown client: %s", c)
	}
	if agents(t, s, "alice") != "laptop phone" {
		t.Fatalf("a refused submission revoked something: %s", agents(t, s, "alice"))
	}
	cmd := completed(t, run(t, alice, nodeFast, map[string][]string{"revoke": {"phone"}}))
	if !strings.Contains(cmd.String(), "Revoked the tokens of 1 clients") {
		t.Errorf("note: %s", cmd)
	}
	if got := agents(t, s, "alice"); got != "laptop" {
		t.Errorf("alice's clients after revoking phone: %q", got)
	}
	if got := agents(t, s, "bob"); got != "phone" {
		t.Errorf("bob's clients: %q", got)
	}
}

// XEP-0133 §4.7: an admin's new password ends the account's tokens.
func TestChangePasswordRevokesFastTokens(t *testing.T) {
	s := start(t)
	s.AddUser(t, "root", "rootpw")
	s.AddUser(t, "alice", "alicepw")
	issueToken(t, s, "alice", "phone", "")
	root := testutil.Login(t, s, "root", "rootpw", "r")
	completed(t, run(t, root, nsAdmin+"#change-user-password", map[string][]string{"accountjid": {"alice@localhost"}, "password": {"newpw"}}))
	if got := agents(t, s, "alice"); got != "" {
		t.Errorf("tokens after a new password: %q", got)
	}
}
