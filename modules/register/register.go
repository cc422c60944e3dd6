// Package register implements XEP-0077 in-band registration for the
// server's own accounts: a client creates an account before authenticating
// (on the hosts that enable it), and a logged-in user reads its
// registration, changes its password or deletes its account.
package register

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/invite"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	// NS is the IQ namespace and disco feature (XEP-0077 §10).
	NS = "jabber:iq:register"
	// NSFeature is the stream feature (XEP-0077 §8).
	NSFeature = "http://jabber.org/features/iq-register"
	// NSData is XEP-0004 data forms, which XEP-0077 §4 lets a client
	// submit instead of the plain fields.
	NSData = "jabber:x:data"
)

const (
	instructions           = "Choose a username and password for use with this service."
	registeredInstructions = "You are registered. Send a new password with your username to change it, or <remove/> to delete your account."
)

func init() { module.Register("register", func() module.Module { return &mod{} }) }

// inviteService is what the invites module provides (modules/invites
// Service): invitation tokens that allow registration where it is off.
// Its errors are *stanza.Error for the client.
type inviteService interface {
	CheckInvite(ctx context.Context, domain, token string) error
	RedeemInvite(ctx context.Context, domain, token, username, password string) (account string, err error)
}

// Deps implements module.Dependent.
func (m *mod) Deps() module.Deps { return module.Deps{Uses: []string{"invites"}} }

// preauthTTL bounds how long a stream's checked invite token waits for
// the registration it allows (XEP-0401: the client registers right after
// the preauth IQ); maxPreauth bounds how many such streams are remembered.
const (
	preauthTTL = 10 * time.Minute
	maxPreauth = 1000
)

// preauth is an invite token a stream presented before registering.
type preauth struct {
	token   string
	expires time.Time
}

type mod struct {
	h           *module.Handle
	hosts       map[string]bool // domains with registration on
	minInterval time.Duration
	minPassword int
	now         func() time.Time

	invites inviteService // nil without the invites module

	mu   sync.Mutex
	last map[string]time.Time // throttle key → time of its last new account
	// preauth holds, per unauthenticated stream, the invite token its
	// preauth IQ presented (XEP-0401). Keyed by the stream itself: the
	// core has no per-stream storage for modules, so entries leave on use
	// or after preauthTTL.
	preauth map[module.Stream]preauth
}

func (m *mod) Start(h *module.Handle) error {
	if h.Accounts == nil {
		return errors.New("no account storage")
	}
	m.h = h
	m.hosts = map[string]bool{}
	for _, host := range h.VHosts {
		if host.Registration {
			m.hosts[host.Domain] = true
		}
	}
	m.minInterval = h.Registration.MinInterval
	m.minPassword = max(h.Registration.MinPasswordLength, 1)
	m.now = time.Now
	m.last = map[string]time.Time{}
	m.preauth = map[module.Stream]preauth{}
	if svc, err := module.Require[inviteService](h, "invites"); err == nil {
		m.invites = svc
		h.HandleIQ(module.TargetPreAuth, "set", invite.NSPreauth, m.preAuthToken)
		// XEP-0401: registration with an invite works on every host,
		// whatever its registration switch.
		for _, ns := range []string{invite.NSFeature, invite.NSIBRToken} {
			h.AddPreAuthFeature(module.PreAuthFeature{Name: "register-" + ns, Element: func(module.Stream) *xml.Element {
				return xml.NewBuilder("register", ns).Element()
			}})
		}
	}

	h.HandleIQ(module.TargetPreAuth, "get", NS, m.preAuthGet)
	h.HandleIQ(module.TargetPreAuth, "set", NS, m.preAuthSet)
	h.HandleIQ(module.TargetServer, "get", NS, m.get)
	h.HandleIQ(module.TargetServer, "set", NS, m.set)
	// Password changes and removal work on every host, so the server as a
	// whole supports the namespace (XEP-0077 §10).
	h.AddFeature(NS)
	h.AddPreAuthFeature(module.PreAuthFeature{Name: "register", Element: func(s module.Stream) *xml.Element {
		if !m.hosts[s.Domain()] {
			return nil
		}
		return xml.NewBuilder("register", NSFeature).Element()
	}})
	return nil
}

// fields is what a client submitted: the plain jabber:iq:register children
// or, XEP-0077 §4, the same names as data form fields.
type fields struct {
	username, password *string // nil: element absent
	remove             bool
	token              string // <preauth xmlns='urn:xmpp:pars:0' token='...'/> in the query
	others             int    // any other child
}

func parse(q *xml.Element) fields {
	var f fields
	for c := range q.Children() {
		switch {
		case c.NS() == NS && c.Name() == "username":
			v := c.Text()
			f.username = &v
		case c.NS() == NS && c.Name() == "password":
			v := c.Text()
			f.password = &v
		case c.NS() == NS && c.Name() == "remove":
			f.remove = true
		case c.NS() == invite.NSPreauth && c.Name() == "preauth":
			f.token = c.Attr("token")
		case c.NS() == NSData && c.Name() == "x" && c.Attr("type") == "submit":
			for fl := range c.Children() {
				if fl.Name() != "field" {
					continue
				}
				v := ""
				if val := fl.Child("value", NSData); val != nil {
					v = val.Text()
				}
				switch fl.Attr("var") {
				case "username":
					f.username = &v
				case "password":
					f.password = &v
				}
			}
		default:
			f.others++
		}
	}
	return f
}

// form is the registration form of XEP-0077 §3.1: the fields this server
// needs and nothing else (the client must fill in every one).
func form() *xml.Element {
	return xml.NewBuilder("query", NS).
		Start("instructions", "").Text(instructions).End().
		Start("username", "").End().
		Start("password", "").End().
		Element()
}

// preAuthGet answers an unauthenticated client asking for the form.
func (m *mod) preAuthGet(_ context.Context, iq *module.IQ) (*xml.Element, error) {
	if !m.hosts[iq.Stream.Domain()] && m.pendingToken(iq.Stream, false) == "" {
		// §3.1: a host that does not support in-band registration
		// "MUST return a <service-unavailable/> error".
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return form(), nil
}

// preAuthSet creates an account (XEP-0077 §3.1, §3.1.1).
func (m *mod) preAuthSet(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	// The request carries a password: never echo it in an error.
	hidePayload(iq)
	domain, ip := iq.Stream.Domain(), iq.Stream.RemoteIP()
	f := parse(iq.Payload)
	if f.token == "" {
		f.token = m.pendingToken(iq.Stream, false)
	}
	if f.token != "" && m.invites != nil && !f.remove {
		return m.registerInvited(ctx, iq, f)
	}
	if !m.hosts[domain] {
		return nil, stanza.NewError(stanza.NotAllowed, "registration is disabled on this host")
	}
	if f.remove {
		// §3.2 error table: nothing to cancel for an entity that has not
		// authenticated.
		return nil, stanza.NewError(stanza.UnexpectedRequest, "authenticate to remove an account")
	}
	// §3.1: every field of the form is required, and an empty password
	// counts as not provided.
	if f.username == nil || f.password == nil || *f.username == "" || *f.password == "" {
		return nil, stanza.NewError(stanza.NotAcceptable, "username and password are required")
	}
	account, err := jid.New(*f.username, domain, "")
	if err != nil || account.Local() == "" {
		return nil, stanza.NewError(stanza.NotAcceptable, "the requested username is invalid")
	}
	creds, err := m.credentials(*f.password)
	if err != nil {
		return nil, err
	}
	key := throttleKey(ip)
	undo, ok := m.reserve(key)
	if !ok {
		// §3.1.1 suggests not-acceptable for "too many" attempts, which
		// clients cannot tell from a form error; a per-address rate is a
		// local policy, so policy-violation, of type wait: trying again
		// later works (as Prosody's mod_register_limits answers).
		m.h.Logger.Info("registration throttled", "ip", ip, "domain", domain)
		return nil, &stanza.Error{Type: "wait", Condition: stanza.PolicyViolation, Text: "too many new accounts from your address; try again later"}
	}
	if err := m.h.Accounts.CreateAccount(ctx, domain, account.Local(), creds); err != nil {
		undo()
		if errors.Is(err, storage.ErrExists) {
			return nil, stanza.NewError(stanza.Conflict, "the username is taken")
		}
		return nil, fmt.Errorf("register %s: %w", account, err)
	}
	m.h.Logger.Info("account registered in-band", "jid", account.String(), "ip", ip)
	return nil, nil
}

// preAuthToken is XEP-0401's preauth IQ: the client presents an invite
// token before registering. A valid one is remembered for the stream and
// lets its next registration through, on a host with registration off
// too; an invalid one is forbidden (as Prosody answers).
func (m *mod) preAuthToken(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	if iq.Payload.Name() != "preauth" {
		return nil, stanza.NewError(stanza.BadRequest, "expected <preauth/>")
	}
	token := iq.Payload.Attr("token")
	if err := m.invites.CheckInvite(ctx, iq.Stream.Domain(), token); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.preauth) >= maxPreauth {
		for s, p := range m.preauth {
			if now.After(p.expires) {
				delete(m.preauth, s)
			}
		}
		if len(m.preauth) >= maxPreauth {
			return nil, &stanza.Error{Type: "wait", Condition: stanza.ResourceConstraint, Text: "too many registrations in progress; try again later"}
		}
	}
	m.preauth[iq.Stream] = preauth{token: token, expires: now.Add(preauthTTL)}
	return nil, nil
}

// pendingToken is the token the stream presented, if it has not expired;
// take removes it.
func (m *mod) pendingToken(s module.Stream, take bool) string {
	if s == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.preauth[s]
	if !ok {
		return ""
	}
	if take || m.now().After(p.expires) {
		delete(m.preauth, s)
	}
	if m.now().After(p.expires) {
		return ""
	}
	return p.token
}

// registerInvited creates the account through an invite token (XEP-0401
// §5): no registration switch, no per-address throttle (the token is the
// limit), and the inviter's roster subscription comes with it.
func (m *mod) registerInvited(ctx context.Context, iq *module.IQ, f fields) (*xml.Element, error) {
	if f.username == nil || f.password == nil || *f.username == "" || *f.password == "" {
		return nil, stanza.NewError(stanza.NotAcceptable, "username and password are required")
	}
	acct, err := m.invites.RedeemInvite(ctx, iq.Stream.Domain(), f.token, *f.username, *f.password)
	if err != nil {
		return nil, err
	}
	m.pendingToken(iq.Stream, true)
	m.h.Logger.Info("account registered in-band with an invite", "jid", acct, "ip", iq.Stream.RemoteIP())
	return nil, nil
}

// credentials checks a new password against the local policy and derives
// its SCRAM keys: the password itself is never stored.
func (m *mod) credentials(password string) ([]storage.Credential, error) {
	if utf8.RuneCountInString(password) < m.minPassword {
		return nil, stanza.NewError(stanza.NotAcceptable, fmt.Sprintf("the password must have at least %d characters", m.minPassword))
	}
	creds, err := auth.DeriveCredentials(password, auth.DefaultIterations)
	if err != nil {
		// With the default iteration count the only failure is a
		// password PRECIS OpaqueString refuses (control characters...).
		return nil, stanza.NewError(stanza.NotAcceptable, "the password contains characters that are not allowed")
	}
	sc := make([]storage.Credential, len(creds))
	for i, c := range creds {
		sc[i] = storage.Credential(c)
	}
	return sc, nil
}

// own is the authenticated account an IQ acts on: the sender's, and only
// at its own host (XEP-0077 §3.2: the home server acts on the bare JID of
// the session).
func own(iq *module.IQ) (jid.JID, error) {
	acct := iq.From.Bare()
	if iq.From.IsZero() || acct.Local() == "" {
		return jid.JID{}, stanza.NewError(stanza.UnexpectedRequest, "")
	}
	if !iq.To.IsZero() && iq.To.Domain() != acct.Domain() {
		return jid.JID{}, stanza.NewError(stanza.NotAllowed, "accounts are managed at their own host")
	}
	return acct, nil
}

// get: §3.1, an already registered entity gets <registered/> and what is on
// file (the password only as an empty element: it is not kept).
func (m *mod) get(_ context.Context, iq *module.IQ) (*xml.Element, error) {
	acct, err := own(iq)
	if err != nil {
		return nil, err
	}
	return xml.NewBuilder("query", NS).
		Start("instructions", "").Text(registeredInstructions).End().
		Start("registered", "").End().
		Start("username", "").Text(acct.Local()).End().
		Start("password", "").End().
		Element(), nil
}

// set: §3.3 password change or §3.2 cancellation by a logged-in user.
func (m *mod) set(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	hidePayload(iq)
	acct, err := own(iq)
	if err != nil {
		return nil, err
	}
	f := parse(iq.Payload)
	if f.remove {
		if f.username != nil || f.password != nil || f.others > 0 {
			// §3.2: <remove/> must be the only child.
			return nil, stanza.NewError(stanza.BadRequest, "<remove/> must be the only child of the query")
		}
		return m.remove(ctx, iq, acct)
	}
	// §3.3: username and password; a missing or empty password never
	// clears the current one.
	if f.username == nil || f.password == nil || *f.password == "" {
		return nil, stanza.NewError(stanza.BadRequest, "username and new password are required")
	}
	if st, ok := iq.Origin.(module.Stream); ok && !st.Secure() {
		// §11: the new password would travel in the clear; a deployment
		// MAY refuse, and one that allows streams without TLS should.
		return nil, stanza.NewError(stanza.NotAllowed, "password changes need TLS")
	}
	if !sameAccount(*f.username, acct) {
		return nil, stanza.NewError(stanza.NotAuthorized, "you can only change your own password")
	}
	creds, err := m.credentials(*f.password)
	if err != nil {
		return nil, err
	}
	if err := m.h.Accounts.SetCredentials(ctx, acct.Domain(), acct.Local(), creds); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, stanza.NewError(stanza.RegistrationRequired, "")
		}
		return nil, fmt.Errorf("change password of %s: %w", acct, err)
	}
	if err := m.h.RevokeOnNewPassword(ctx, acct); err != nil {
		return nil, fmt.Errorf("change password of %s: %w", acct, err)
	}
	m.h.Logger.Info("password changed in-band", "jid", acct.String())
	return nil, nil
}

// sameAccount reports whether a submitted username names acct: a localpart
// as in §3.3's example, or the bare JID the data form of §3.3 carries.
func sameAccount(username string, acct jid.JID) bool {
	if strings.Contains(username, "@") {
		j, err := jid.Parse(username)
		return err == nil && j == acct
	}
	j, err := jid.New(username, acct.Domain(), "")
	return err == nil && j == acct
}

// remove deletes the account (§3.2). Contacts are told first, as RFC 6121
// §3.2.2 and §3.3.2 would when the user cancels each subscription itself,
// so their rosters no longer show a subscription to or from an account
// that is gone. Then the account and everything stored with it goes
// (storage deletes in cascade), the requester gets its result, and every
// session of the account ends with <not-authorized/> (§3.2: "the server
// SHOULD then return a <not-authorized/> stream error and terminate all
// active sessions").
func (m *mod) remove(ctx context.Context, iq *module.IQ, acct jid.JID) (*xml.Element, error) {
	if m.h.Rosters != nil {
		items, _, err := m.h.Rosters.Roster(ctx, acct.Domain(), acct.Local())
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("remove %s: roster: %w", acct, err)
		}
		for _, it := range items {
			contact, err := jid.Parse(it.JID)
			if err != nil {
				continue
			}
			// §3.2.2: cancel the contact's subscription to the user
			// (also declines a pending request); §3.3.2: cancel the
			// user's subscription to the contact (also withdraws a
			// pending one).
			if it.Subscription == "from" || it.Subscription == "both" || it.PendingIn {
				m.cancel(ctx, iq, acct, contact, "unsubscribed")
			}
			if it.Subscription == "to" || it.Subscription == "both" || it.Ask {
				m.cancel(ctx, iq, acct, contact, "unsubscribe")
			}
		}
	}
	if err := m.h.Accounts.DeleteAccount(ctx, acct.Domain(), acct.Local()); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, stanza.NewError(stanza.RegistrationRequired, "")
		}
		return nil, fmt.Errorf("remove %s: %w", acct, err)
	}
	m.h.Logger.Info("account removed in-band", "jid", acct.String())
	// The result must reach the requester before its stream closes, so it
	// is delivered here rather than returned; the core's own reply after
	// this handler then meets a closing session and is dropped
	// (Session.Deliver refuses output once a session is closing).
	if iq.Origin != nil {
		iq.Origin.Deliver(module.Result(iq, nil))
	}
	for _, s := range m.h.Directory.Sessions(acct) {
		s.CloseStream(stanza.StreamNotAuthorized, "account removed")
	}
	if iq.Origin != nil {
		iq.Origin.CloseStream(stanza.StreamNotAuthorized, "account removed")
	}
	return nil, nil
}

// cancel sends one unsubscribe/unsubscribed from the user to a contact as
// if the user's session had sent it: through the outbound hooks, where the
// IM module applies RFC 6121's outbound rules (and sends unavailable
// presence to a former subscriber), or straight to the router without one.
func (m *mod) cancel(ctx context.Context, iq *module.IQ, acct, contact jid.JID, typ string) {
	el := xml.NewBuilder("presence", xml.NSClient).Attr("type", typ).
		Attr("from", iq.From.String()).Attr("to", contact.String()).Element()
	st := &module.Stanza{El: el, From: iq.From, To: contact, Origin: iq.Origin}
	if m.h.Registry().RunHook(ctx, module.HookOutbound, st) {
		return
	}
	el = el.WithAttrs(xml.Attr{Name: "from", Value: acct.String()})
	m.h.Router.Route(ctx, &module.Stanza{El: el, From: acct, To: contact})
}

// hidePayload drops the query from the request the core answers errors
// to: an error reply must not carry the password back (XEP-0077 §3.3:
// "SHOULD NOT return the original XML"), and the other uses follow suit.
func hidePayload(iq *module.IQ) {
	b := xml.NewBuilder("iq", xml.NSClient)
	for _, a := range iq.El.Attrs() {
		b.Attr(a.Name, a.Value)
	}
	iq.El = b.Element()
}

// throttleKey is the unit the registration rate applies to: the address,
// or for IPv6 its /64, which one subscriber usually holds whole.
func throttleKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// pruneAt is the table size above which expired entries are swept.
const pruneAt = 1024

// reserve records a new account for key unless one was made less than
// minInterval ago. undo gives the slot back when the account could not be
// created after all. Reserving before creating keeps two concurrent
// requests from the same address from both getting through.
func (m *mod) reserve(key string) (undo func(), ok bool) {
	if m.minInterval <= 0 {
		return func() {}, true
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, had := m.last[key]
	if had && now.Sub(prev) < m.minInterval {
		return nil, false
	}
	if len(m.last) >= pruneAt {
		for k, t := range m.last {
			if now.Sub(t) >= m.minInterval {
				delete(m.last, k)
			}
		}
	}
	m.last[key] = now
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.last[key].Equal(now) {
			if had {
				m.last[key] = prev
			} else {
				delete(m.last, key)
			}
		}
	}, true
}
