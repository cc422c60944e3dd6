package adhoc

import (
	"context"
	"time"
)

// XEP-0401 (easy user onboarding) ad-hoc commands, as Prosody's
// mod_invites_adhoc and Snikket offer them: a user invites a new contact,
// an admin creates an account invite. The invites module
// (modules/invites, service "invites") makes and stores the token.

const nsInvite = "urn:xmpp:invite"

// inviteService is what the invites module provides.
type inviteService interface {
	CreateInvite(ctx context.Context, domain, creator, username string, admin bool) (uri, link string, expires time.Time, err error)
	// UsersMayInvite is [invites] users: every account may invite.
	UsersMayInvite() bool
}

func (m *mod) inviteCommands() []*command {
	return []*command{
		{node: nsInvite + "#invite", name: "Invite a new contact", users: true, formType: nsInvite,
			run: func(ctx context.Context, c *call) (*outcome, error) {
				return m.createInvite(ctx, c, "", true)
			}},
		{node: nsInvite + "#create-account", name: "Create an account invite", formType: nsInvite,
			form: func(string) []field {
				return []field{
					{v: "username", typ: "text-single", label: "Username (empty: the invitee chooses)"},
					{v: "roster-subscription", typ: "boolean", label: "Add the new account to my contacts", values: []string{"0"}},
				}
			},
			run: func(ctx context.Context, c *call) (*outcome, error) {
				sub := c.one("roster-subscription")
				return m.createInvite(ctx, c, c.one("username"), sub == "1" || sub == "true")
			}},
	}
}

// createInvite answers with the invite's xmpp: URI, its web page and its
// expiry (XEP-0082 date-time), the fields XEP-0401 names.
func (m *mod) createInvite(ctx context.Context, c *call, username string, subscribe bool) (*outcome, error) {
	creator := ""
	if subscribe {
		creator = c.from.Bare().String()
	}
	uri, link, expires, err := m.invites.CreateInvite(ctx, c.host, creator, username, false)
	if err != nil {
		return nil, err
	}
	fields := []field{
		{v: "uri", typ: "text-single", label: "Invitation URI", values: []string{uri}},
	}
	if link != "" {
		fields = append(fields, field{v: "landing-url", typ: "text-single", label: "Invitation web page", values: []string{link}})
	}
	fields = append(fields, field{v: "expire", typ: "text-single", label: "Valid until", values: []string{expires.UTC().Format(time.RFC3339)}})
	return &outcome{fields: fields}, nil
}
