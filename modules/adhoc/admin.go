package adhoc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	accountops "github.com/xmppd/xmppd/internal/accounts"
	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0133 service administration: the commands a host's admins run on
// that host. Each acts on accounts of the host the command was sent to,
// never of another.

const nsAdmin = "http://jabber.org/protocol/admin"

// maxListed bounds the JIDs a list command returns in one result.
const maxListed = 1000

func (m *mod) adminCommands() []*command {
	jidField := func(v, label string) field { return field{v: v, typ: "jid-single", label: label, required: true} }
	jidsField := func(v, label string) field { return field{v: v, typ: "jid-multi", label: label, required: true} }
	pw := func(v, label string) field { return field{v: v, typ: "text-private", label: label, required: true} }
	maxItems := field{v: "max_items", typ: "list-single", label: "Maximum number of items to show",
		options: []string{"25", "50", "75", "100", "150", "200", "none"}}
	return []*command{
		{node: nsAdmin + "#add-user", name: "Add User", // §4.1
			form: func(string) []field {
				return []field{jidField("accountjid", "The Jabber ID for the account to be added"),
					pw("password", "The password for this account"), pw("password-verify", "Retype password")}
			},
			run: m.addUser},
		{node: nsAdmin + "#delete-user", name: "Delete User", // §4.2
			form: func(string) []field {
				return []field{jidsField("accountjids", "The Jabber ID(s) to delete")}
			},
			run: m.deleteUser},
		{node: nsAdmin + "#end-user-session", name: "End User Session", // §4.6
			form: func(string) []field {
				return []field{jidsField("accountjids", "The Jabber ID(s) for which to end sessions")}
			},
			run: m.endSession},
		{node: nsAdmin + "#change-user-password", name: "Change User Password", // §4.7
			form: func(string) []field {
				return []field{jidField("accountjid", "The Jabber ID for this account"), pw("password", "The password for this account")}
			},
			run: m.changePassword},
		{node: nsAdmin + "#get-registered-users-num", name: "Get Number of Registered Users", // §4.14
			run: m.registeredNum},
		{node: nsAdmin + "#get-online-users-num", name: "Get Number of Online Users", // §4.17
			run: m.onlineNum},
		{node: nsAdmin + "#get-registered-users-list", name: "Get List of Registered Users", // §4.19
			form: func(string) []field { return []field{maxItems} },
			run:  m.registeredList},
		{node: nsAdmin + "#get-online-users-list", name: "Get List of Online Users", // §4.21
			form: func(string) []field { return []field{maxItems} },
			run:  m.onlineList},
		{node: nsAdmin + "#announce", name: "Send Announcement to Online Users", // §4.23
			form: func(string) []field {
				return []field{{v: "subject", typ: "text-single", label: "Subject"},
					{v: "announcement", typ: "text-multi", label: "Announcement", required: true}}
			},
			run: m.announce},
	}
}

func badPayload(text string) error { return cmdError(stanza.NotAcceptable, "bad-payload", text) }

// account parses an accountjid value: a bare JID of the command's host.
func account(c *call, v string) (jid.JID, error) {
	j, err := jid.Parse(strings.TrimSpace(v))
	if err != nil || j.Local() == "" {
		return jid.JID{}, cmdError(stanza.JIDMalformed, "bad-payload", fmt.Sprintf("%q is not a user's JID", v))
	}
	if j.Domain() != c.host {
		return jid.JID{}, cmdError(stanza.NotAllowed, "bad-payload", fmt.Sprintf("%s is not an account of %s", j.Bare(), c.host))
	}
	return j, nil
}

// accounts parses a jid-multi of accounts; none is a bad payload.
func accounts(c *call, name string) ([]jid.JID, error) {
	var out []jid.JID
	for _, v := range c.vals[name] {
		if strings.TrimSpace(v) == "" {
			continue
		}
		j, err := account(c, v)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if len(out) == 0 {
		return nil, badPayload(name + " names no account")
	}
	return out, nil
}

// password maps a refused password to the command's error.
func password(err error) error {
	if errors.Is(err, accountops.ErrBadPassword) {
		return badPayload("the password is empty or contains characters that are not allowed")
	}
	return err
}

func (m *mod) addUser(ctx context.Context, c *call) (*outcome, error) {
	acct, err := account(c, c.one("accountjid"))
	if err != nil {
		return nil, err
	}
	pw := c.vals["password"]
	if len(pw) != 1 || len(c.vals["password-verify"]) != 1 || pw[0] != c.vals["password-verify"][0] {
		return nil, badPayload("the passwords do not match")
	}
	if err := accountops.Create(ctx, m.h.Accounts, acct, pw[0]); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return nil, stanza.NewError(stanza.Conflict, acct.Bare().String()+" exists already")
		}
		return nil, password(err)
	}
	m.h.Logger.Info("account added by an admin", "jid", acct.Bare().String(), "admin", c.from.Bare().String())
	return &outcome{note: "Added " + acct.Bare().String()}, nil
}

// deleteUser removes every named account, or none if one does not exist.
// As with the CLI's user del, the contacts' rosters keep the former
// account's items.
func (m *mod) deleteUser(ctx context.Context, c *call) (*outcome, error) {
	accts, err := accounts(c, "accountjids")
	if err != nil {
		return nil, err
	}
	for _, a := range accts {
		ok, err := m.h.Accounts.AccountExists(ctx, a.Domain(), a.Local())
		if err != nil {
			return nil, fmt.Errorf("delete-user %s: %w", a.Bare(), err)
		}
		if !ok {
			return nil, stanza.NewError(stanza.ItemNotFound, "no account "+a.Bare().String())
		}
	}
	var done []string
	for _, a := range accts {
		if err := accountops.Delete(ctx, m.h.Accounts, m.h.Directory, a); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		done = append(done, a.Bare().String())
		m.h.Logger.Info("account deleted by an admin", "jid", a.Bare().String(), "admin", c.from.Bare().String())
	}
	return &outcome{note: "Deleted " + strings.Join(done, ", ")}, nil
}

// endSession closes the named full JID's session, or every session of a
// bare JID (§4.6).
func (m *mod) endSession(_ context.Context, c *call) (*outcome, error) {
	accts, err := accounts(c, "accountjids")
	if err != nil {
		return nil, err
	}
	n := 0
	for _, a := range accts {
		var ss []module.Session
		if a.Resource() != "" {
			if s := m.h.Directory.Session(a); s != nil {
				ss = append(ss, s)
			}
		} else {
			ss = m.h.Directory.Sessions(a)
		}
		for _, s := range ss {
			s.CloseStream(stanza.StreamPolicyViolation, "session ended by an administrator")
			n++
		}
	}
	return &outcome{note: fmt.Sprintf("Ended %d sessions", n)}, nil
}

func (m *mod) changePassword(ctx context.Context, c *call) (*outcome, error) {
	acct, err := account(c, c.one("accountjid"))
	if err != nil {
		return nil, err
	}
	pw := c.vals["password"]
	if len(pw) != 1 {
		return nil, badPayload("one password is needed")
	}
	if err := accountops.SetPassword(ctx, m.h.Accounts, acct, pw[0]); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, stanza.NewError(stanza.ItemNotFound, "no account "+acct.Bare().String())
		}
		return nil, password(err)
	}
	if err := m.h.RevokeOnNewPassword(ctx, acct.Bare()); err != nil {
		return nil, fmt.Errorf("change-user-password %s: %w", acct.Bare(), err)
	}
	m.h.Logger.Info("password changed by an admin", "jid", acct.Bare().String(), "admin", c.from.Bare().String())
	return &outcome{note: "Changed the password of " + acct.Bare().String()}, nil
}

// users lists the host's accounts, and those with a bound session.
func (m *mod) users(ctx context.Context, host string) (all, online []string, err error) {
	all, err = m.h.Accounts.ListAccounts(ctx, host)
	if err != nil {
		return nil, nil, fmt.Errorf("list accounts of %s: %w", host, err)
	}
	for _, u := range all {
		if j, err := jid.New(u, host, ""); err == nil && len(m.h.Directory.Sessions(j)) > 0 {
			online = append(online, j.String())
		}
	}
	return all, online, nil
}

func (m *mod) registeredNum(ctx context.Context, c *call) (*outcome, error) {
	all, _, err := m.users(ctx, c.host)
	if err != nil {
		return nil, err
	}
	return &outcome{fields: []field{{v: "registeredusersnum", label: "The number of registered users", values: []string{strconv.Itoa(len(all))}}}}, nil
}

func (m *mod) onlineNum(ctx context.Context, c *call) (*outcome, error) {
	_, online, err := m.users(ctx, c.host)
	if err != nil {
		return nil, err
	}
	return &outcome{fields: []field{{v: "onlineusersnum", label: "The number of online users", values: []string{strconv.Itoa(len(online))}}}}, nil
}

// limit is max_items: a number, or none (maxListed).
func limit(c *call) int {
	if n, err := strconv.Atoi(c.one("max_items")); err == nil && n > 0 && n < maxListed {
		return n
	}
	return maxListed
}

func (m *mod) registeredList(ctx context.Context, c *call) (*outcome, error) {
	all, _, err := m.users(ctx, c.host)
	if err != nil {
		return nil, err
	}
	jids := make([]string, 0, min(len(all), limit(c)))
	for _, u := range all[:min(len(all), limit(c))] {
		jids = append(jids, u+"@"+c.host)
	}
	return &outcome{fields: []field{{v: "registereduserjids", typ: "jid-multi", label: "The list of all users", values: jids}}}, nil
}

func (m *mod) onlineList(ctx context.Context, c *call) (*outcome, error) {
	_, online, err := m.users(ctx, c.host)
	if err != nil {
		return nil, err
	}
	return &outcome{fields: []field{{v: "onlineuserjids", typ: "jid-multi", label: "The list of all online users", values: online[:min(len(online), limit(c))]}}}, nil
}

// announce sends a headline from the host to every session of the host's
// accounts (§4.23).
func (m *mod) announce(ctx context.Context, c *call) (*outcome, error) {
	body := strings.Join(c.vals["announcement"], "\n")
	if strings.TrimSpace(body) == "" {
		return nil, badPayload("the announcement is empty")
	}
	users, err := m.h.Accounts.ListAccounts(ctx, c.host)
	if err != nil {
		return nil, fmt.Errorf("announce on %s: %w", c.host, err)
	}
	from, err := jid.New("", c.host, "")
	if err != nil {
		return nil, err
	}
	n := 0
	for _, u := range users {
		bare, err := jid.New(u, c.host, "")
		if err != nil {
			continue
		}
		for _, s := range m.h.Directory.Sessions(bare) {
			b := xml.NewBuilder("message", xml.NSClient).Attr("from", from.String()).Attr("to", s.JID().String()).
				Attr("type", "headline").Attr("id", randid.Hex(12))
			if subj := c.one("subject"); subj != "" {
				b.Start("subject", "").Text(subj).End()
			}
			b.Start("body", "").Text(body).End()
			m.h.Router.Route(ctx, &module.Stanza{El: b.Element(), From: from, To: s.JID()})
			n++
		}
	}
	m.h.Logger.Info("announcement sent by an admin", "host", c.host, "sessions", n, "admin", c.from.Bare().String())
	return &outcome{note: fmt.Sprintf("Sent to %d sessions", n)}, nil
}
