package adhoc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/stanza"
)

// Commands every account of a host runs on itself.

// nodeFastTokens lists the account's XEP-0484 (FAST) clients and revokes
// the chosen ones' tokens: a lost phone stops logging in without a new
// password for everyone else.
const nodeFastTokens = "urn:xmpp:fast:0#tokens"

func (m *mod) selfCommands() []*command {
	if m.h.FastTokens == nil {
		return nil
	}
	return []*command{
		{node: nodeFastTokens, name: "FAST tokens", self: true, formType: nodeFastTokens,
			formFor: m.fastTokensForm, run: m.revokeFastTokens},
	}
}

// fastClients are the account's clients holding tokens, in the store's
// order, each once with the later expiry of its tokens.
func (m *mod) fastClients(ctx context.Context, acct jid.JID) (ids, labels []string, err error) {
	toks, err := m.h.FastTokens.ListFastTokens(ctx, acct.Domain(), acct.Local())
	if err != nil {
		return nil, nil, fmt.Errorf("list FAST tokens of %s: %w", acct, err)
	}
	expiry := map[string]time.Time{}
	name := map[string]string{}
	for _, t := range toks {
		if !slices.Contains(ids, t.AgentID) {
			ids = append(ids, t.AgentID)
		}
		if t.Expiry.After(expiry[t.AgentID]) {
			expiry[t.AgentID] = t.Expiry
		}
		if name[t.AgentID] == "" {
			name[t.AgentID] = t.Label
		}
	}
	for _, id := range ids {
		n := name[id]
		if n == "" {
			n = "Client " + id
		}
		labels = append(labels, fmt.Sprintf("%s (until %s)", n, expiry[id].Format(time.DateOnly)))
	}
	return ids, labels, nil
}

func (m *mod) fastTokensForm(ctx context.Context, _ string, from jid.JID) ([]field, error) {
	ids, labels, err := m.fastClients(ctx, from.Bare())
	if err != nil {
		return nil, err
	}
	text := fmt.Sprintf("%d clients log in with a FAST token. Choose those to log out: they need the password again.", len(ids))
	if len(ids) == 0 {
		text = "No client logs in with a FAST token."
	}
	return []field{
		{v: "clients", typ: "fixed", values: []string{text}},
		{v: "revoke", typ: "list-multi", label: "Revoke the tokens of", options: ids, optionLabels: labels},
	}, nil
}

func (m *mod) revokeFastTokens(ctx context.Context, c *call) (*outcome, error) {
	acct := c.from.Bare()
	ids, _, err := m.fastClients(ctx, acct)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, id := range c.vals["revoke"] {
		if !slices.Contains(ids, id) {
			return nil, cmdError(stanza.NotAcceptable, "bad-payload", "no client "+id+" holds a token")
		}
		k, err := m.h.FastTokens.RevokeFastTokens(ctx, acct.Domain(), acct.Local(), id)
		if err != nil {
			return nil, fmt.Errorf("revoke FAST tokens of %s: %w", acct, err)
		}
		if k > 0 {
			n++
		}
	}
	if n > 0 {
		m.h.Logger.Info("FAST tokens revoked by their user", "jid", acct.String(), "clients", n)
	}
	return &outcome{note: fmt.Sprintf("Revoked the tokens of %d clients", n)}, nil
}
