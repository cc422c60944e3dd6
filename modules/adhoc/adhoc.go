// Package adhoc implements XEP-0050 ad-hoc commands on the served domains
// and, over them, the XEP-0133 service administration commands (admin.go)
// that a host's admins ([[host]] admins) run from their client: Gajim,
// Psi, Conversations and slixmpp offer them from the server's command list.
package adhoc

import (
	"context"
	"strings"
	"sync"
	"time"

	accountops "github.com/xmppd/xmppd/internal/accounts"
	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// Namespaces.
const (
	NS     = "http://jabber.org/protocol/commands"
	nsData = "jabber:x:data"
)

const (
	// sessionTTL bounds how long a multi-stage command waits for its
	// next stage; sessions past it are gone (bad-sessionid).
	sessionTTL = 10 * time.Minute
	// maxSessions bounds the command sessions open at once, server-wide.
	maxSessions = 1000
)

func init() { module.Register("adhoc", func() module.Module { return &mod{} }) }

// command is one ad-hoc command. A command with a form has two stages: the
// execute request gets the form, the submission runs it; one without runs
// at once.
type command struct {
	node, name string
	form       func(host string) []field
	// formFor, when set instead of form, makes the form for the
	// requester (their own data).
	formFor func(ctx context.Context, host string, from jid.JID) ([]field, error)
	run     func(ctx context.Context, c *call) (*outcome, error)
	// users: every account of the host may run it, not only its admins
	// (the XEP-0401 invite command, while [invites] users is on).
	users bool
	// self: any account of the host runs it on itself (fast.go).
	self bool
	// formType is the forms' FORM_TYPE; "" is XEP-0133's.
	formType string
}

// call is one run of a command.
type call struct {
	host string
	from jid.JID
	vals map[string][]string
}

func (c *call) one(name string) string {
	if v := c.vals[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// outcome is what a completed command returns: a note, a result form, or
// both.
type outcome struct {
	note   string
	fields []field
}

// session is a multi-stage command waiting for its submission.
type session struct {
	node    string
	from    jid.JID
	host    string
	expires time.Time
}

type mod struct {
	h           *module.Handle
	admins      map[string]map[string]bool // host → admin bare JIDs
	invites     inviteService              // nil without the invites module
	userInvites bool                       // [invites] users
	commands    []*command
	byNode      map[string]*command

	mu       sync.Mutex
	sessions map[string]*session
}

func (m *mod) Start(h *module.Handle) error {
	m.h = h
	m.admins = map[string]map[string]bool{}
	for _, host := range h.VHosts {
		for _, a := range host.Admins {
			if m.admins[host.Domain] == nil {
				m.admins[host.Domain] = map[string]bool{}
			}
			m.admins[host.Domain][a] = true
		}
	}
	m.commands = append(m.adminCommands(), m.selfCommands()...)
	if svc, err := module.Require[inviteService](h, "invites"); err == nil {
		m.invites = svc
		m.userInvites = svc.UsersMayInvite()
		m.commands = append(m.commands, m.inviteCommands()...)
	}
	m.byNode = map[string]*command{}
	for _, c := range m.commands {
		m.byNode[c.node] = c
	}
	m.sessions = map[string]*session{}
	h.AddFeature(NS)
	h.AddServerNode(m.node)
	h.HandleIQ(module.TargetServer, "set", NS, m.iq)
	return nil
}

// Deps implements module.Dependent.
func (m *mod) Deps() module.Deps { return module.Deps{Uses: []string{"invites"}} }

// isAdmin: an admin of host, from an account of that host's server: named
// in [[host]] admins, or given the role by an admin invite (stored with
// the account).
func (m *mod) isAdmin(ctx context.Context, host string, from jid.JID) bool {
	if from.Local() == "" {
		return false
	}
	if m.admins[host][from.Bare().String()] {
		return true
	}
	ok, err := accountops.HasAdminRole(ctx, m.h.Invites, host, from)
	if err != nil {
		m.h.Logger.Warn("adhoc: admin role", "jid", from.Bare().String(), "err", err)
	}
	return ok
}

// may reports whether from may run c on host: admins run every command,
// the host's own accounts the self commands (on themselves) and those for
// users.
func (m *mod) may(ctx context.Context, c *command, host string, from jid.JID, admin bool) bool {
	if admin {
		return true
	}
	if from.Local() == "" || from.Domain() != host {
		return false
	}
	return c.self || c.users && m.userInvites
}

// node answers disco for the command list (§2.2: the command-list node,
// whose items are the commands) and for each command (§2.3). Non-admins
// see only the commands for users (may).
func (m *mod) node(ctx context.Context, host string, from jid.JID, node string, items bool) *xml.Element {
	admin := m.isAdmin(ctx, host, from)
	if node == NS {
		if items {
			b := xml.NewBuilder("query", "http://jabber.org/protocol/disco#items").Attr("node", NS)
			for _, c := range m.commands {
				if m.may(ctx, c, host, from, admin) {
					b.Start("item", "").Attr("jid", host).Attr("node", c.node).Attr("name", c.name).End()
				}
			}
			return b.Element()
		}
		return xml.NewBuilder("query", "http://jabber.org/protocol/disco#info").Attr("node", NS).
			Start("identity", "").Attr("category", "automation").Attr("type", "command-list").Attr("name", "Commands").End().
			Element()
	}
	c := m.byNode[node]
	if c == nil || items || !m.may(ctx, c, host, from, admin) {
		return nil
	}
	return xml.NewBuilder("query", "http://jabber.org/protocol/disco#info").Attr("node", node).
		Start("identity", "").Attr("category", "automation").Attr("type", "command-node").Attr("name", c.name).End().
		Start("feature", "").Attr("var", NS).End().
		Start("feature", "").Attr("var", nsData).End().
		Element()
}

func (m *mod) iq(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	p := iq.Payload
	if p.Name() != "command" {
		return nil, stanza.NewError(stanza.BadRequest, "expected <command/>")
	}
	host := iq.To.Domain()
	if host == "" {
		host = iq.From.Domain()
	}
	node := p.Attr("node")
	c := m.byNode[node]
	if c == nil {
		return nil, stanza.NewError(stanza.ItemNotFound, "no such command")
	}
	if !m.may(ctx, c, host, iq.From, m.isAdmin(ctx, host, iq.From)) {
		return nil, stanza.NewError(stanza.Forbidden, "only the host's admins may run this command")
	}
	action := p.Attr("action")
	sid := p.Attr("sessionid")
	if sid == "" {
		if action != "" && action != "execute" {
			return nil, cmdError(stanza.BadRequest, "bad-action", "a command starts with execute")
		}
		if c.form == nil && c.formFor == nil {
			return m.finish(ctx, c, "", &call{host: host, from: iq.From})
		}
		var fields []field
		if c.formFor != nil {
			var err error
			if fields, err = c.formFor(ctx, host, iq.From); err != nil {
				return nil, err
			}
		} else {
			fields = c.form(host)
		}
		sid = m.open(&session{node: node, from: iq.From, host: host})
		if sid == "" {
			return nil, stanza.NewError(stanza.ResourceConstraint, "too many commands in progress")
		}
		b := commandEl(node, sid, "executing")
		b.Start("actions", "").Attr("execute", "complete").Start("complete", "").End().End()
		formEl(b, "form", c.formType, c.name, fields)
		return b.End().Element(), nil
	}
	s := m.take(sid, node, iq.From)
	if s == nil {
		return nil, cmdError(stanza.BadRequest, "bad-sessionid", "no such command session")
	}
	switch action {
	case "cancel":
		return commandEl(node, sid, "canceled").End().Element(), nil
	case "", "execute", "complete", "next":
	default:
		m.put(sid, s)
		return nil, cmdError(stanza.BadRequest, "bad-action", "")
	}
	x := p.Child("x", nsData)
	if x == nil || x.Attr("type") != "submit" {
		m.put(sid, s) // the form may still be submitted
		return nil, cmdError(stanza.BadRequest, "bad-payload", "submit the command's form")
	}
	return m.finish(ctx, c, sid, &call{host: host, from: iq.From, vals: formValues(x)})
}

// finish runs c and answers with status completed.
func (m *mod) finish(ctx context.Context, c *command, sid string, cl *call) (*xml.Element, error) {
	out, err := c.run(ctx, cl)
	if err != nil {
		return nil, err
	}
	if sid == "" {
		sid = randid.Hex(12)
	}
	b := commandEl(c.node, sid, "completed")
	if out.note != "" {
		b.Start("note", "").Attr("type", "info").Text(out.note).End()
	}
	if out.fields != nil {
		formEl(b, "result", c.formType, c.name, out.fields)
	}
	return b.End().Element(), nil
}

func commandEl(node, sid, status string) *xml.Builder {
	return xml.NewBuilder("command", NS).Attr("node", node).Attr("sessionid", sid).Attr("status", status)
}

// cmdError is a stanza error with XEP-0050 §4.6's specific condition.
func cmdError(cond, specific, text string) *stanza.Error {
	e := stanza.NewError(cond, text)
	e.AppCondition = xml.NewBuilder(specific, NS).Element()
	return e
}

// open stores s under a new session id; "" when maxSessions are open.
func (m *mod) open(s *session) string {
	now := time.Now()
	s.expires = now.Add(sessionTTL)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sessions) >= maxSessions {
		for id, o := range m.sessions {
			if now.After(o.expires) {
				delete(m.sessions, id)
			}
		}
		if len(m.sessions) >= maxSessions {
			return ""
		}
	}
	id := randid.Hex(12)
	m.sessions[id] = s
	return id
}

// take removes and returns the session sid if it is node's and from's and
// has not expired.
func (m *mod) take(sid, node string, from jid.JID) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[sid]
	if s == nil || s.node != node || s.from != from {
		return nil
	}
	delete(m.sessions, sid)
	if time.Now().After(s.expires) {
		return nil
	}
	return s
}

func (m *mod) put(sid string, s *session) {
	m.mu.Lock()
	m.sessions[sid] = s
	m.mu.Unlock()
}

// field is one XEP-0004 form field.
type field struct {
	v, typ, label string
	required      bool
	values        []string
	options       []string
	optionLabels  []string // when set, the label of each option (else the option itself)
}

// formEl writes a jabber:x:data form of type typ with FORM_TYPE formType
// (XEP-0133's when "").
func formEl(b *xml.Builder, typ, formType, title string, fields []field) {
	b.Start("x", nsData).Attr("type", typ)
	if title != "" && typ == "form" {
		b.Start("title", "").Text(title).End()
	}
	if formType == "" {
		formType = nsAdmin
	}
	b.Start("field", "").Attr("var", "FORM_TYPE").Attr("type", "hidden").Start("value", "").Text(formType).End().End()
	for _, f := range fields {
		b.Start("field", "").Attr("var", f.v)
		if f.typ != "" {
			b.Attr("type", f.typ)
		}
		if f.label != "" {
			b.Attr("label", f.label)
		}
		if f.required {
			b.Start("required", "").End()
		}
		for i, o := range f.options {
			label := o
			if i < len(f.optionLabels) {
				label = f.optionLabels[i]
			}
			b.Start("option", "").Attr("label", label).Start("value", "").Text(o).End().End()
		}
		for _, v := range f.values {
			b.Start("value", "").Text(v).End()
		}
		b.End()
	}
	b.End()
}

// formValues reads a submitted form's fields.
func formValues(x *xml.Element) map[string][]string {
	out := map[string][]string{}
	for f := range x.Children() {
		if f.Name() != "field" {
			continue
		}
		var vals []string
		for v := range f.Children() {
			if v.Name() == "value" {
				vals = append(vals, v.Text())
			}
		}
		out[f.Attr("var")] = vals
	}
	return out
}
