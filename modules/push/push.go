// Package push implements XEP-0357 push notifications. An account's client
// enables (or disables) its app server's XMPP Push Service with an IQ to
// its own bare JID; the registrations are kept in storage. While the
// account cannot receive a message itself — it goes to offline storage
// (module.HookAccountMessage), or the account's session waits for XEP-0198
// resumption (module.HookHeld) — every enabled service gets a pubsub
// publish with a urn:xmpp:push:summary form, from the account's bare JID,
// carrying the publish options given at enable time. Its message-count
// follows the account's XEP-0490 displayed markers (unread.go); members
// of members-only rooms without a session are notified of the room's
// messages through the module's service (groupchat.go).
package push

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// Namespaces.
const (
	NS               = "urn:xmpp:push:0"
	NSSummary        = "urn:xmpp:push:summary"
	nsPubSub         = "http://jabber.org/protocol/pubsub"
	nsPublishOptions = "http://jabber.org/protocol/pubsub#publish-options"
	nsData           = "jabber:x:data"
	// Encrypted payloads whose arrival deserves a notification even
	// without a <body/> (OMEMO's legacy and current namespaces).
	nsOMEMOLegacy = "eu.siacs.conversations.axolotl"
	nsOMEMO       = "urn:xmpp:omemo:2"
)

// FieldIncludeBody is the enable form's field (an xmppd extension: XEP-0357
// defines none) by which a client asks for the message body in its
// notifications; anything else leaves it out, since the body then
// travels through the app server and the platform's push service. It is
// not forwarded among the publish options.
const FieldIncludeBody = "include-body"

// FieldGroupchat is the enable form's field (an xmppd extension, like
// include-body) that says which group chat messages of members-only
// rooms wake the client while the account has no session: all of them,
// only those that mention the account (the default), or none.
const (
	FieldGroupchat    = "groupchat"
	GroupchatAll      = "all"
	GroupchatMentions = "mentions"
	GroupchatNone     = "none"
)

// Service is the name under which the module serves other modules
// (module.Provide): NotifyGroupchat.
const Service = "push"

// publishTimeout bounds one notification: the storage read and the wait
// for the push services' answers.
const publishTimeout = 30 * time.Second

// maxInFlight bounds the notifications pending at once, server-wide.
const maxInFlight = 256

// maxGroupchatInFlight bounds the group chat messages whose members are
// being notified at once, apart from maxInFlight: a busy room must not
// take the slots of one-to-one notifications.
const maxGroupchatInFlight = 64

func init() { module.Register("push", func() module.Module { return &mod{} }) }

type mod struct {
	h     *module.Handle
	log   *slog.Logger
	store registrations
	max   int

	// accts is what the summary's message-count counts, per account
	// (bare JID): the notified messages not yet displayed (unread.go).
	mu    sync.Mutex
	accts map[string]*account
	// held remembers the messages notified while waiting for a session's
	// resumption (heldKey → when), for resumeTimeout: if the session ends
	// unresumed, c2s hands them to offline storage and they must not be
	// notified a second time.
	heldSeen      map[string]time.Time
	resumeTimeout time.Duration

	// Notifications run on the handle's goroutines (module.Handle.Go):
	// stopping the module cancels their context, so a server shutting
	// down does not wait for app servers' answers.
	sem   chan struct{} // maxInFlight slots
	gcSem chan struct{} // maxGroupchatInFlight slots (groupchat.go)
}

func (m *mod) Start(h *module.Handle) error {
	m.h, m.log = h, h.Logger
	if h.SQL != nil {
		m.store = sqlStore{h.SQL}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	cfg := module.ConfigOf[*Config](h)
	if !cfg.Enabled || m.store == nil {
		return nil
	}
	m.max = cfg.MaxRegistrations
	m.accts = map[string]*account{}
	m.heldSeen = map[string]time.Time{}
	m.resumeTimeout = h.ResumeTimeout
	m.sem = make(chan struct{}, maxInFlight)
	m.gcSem = make(chan struct{}, maxGroupchatInFlight)
	h.HandleIQ(module.TargetAccount, "set", NS, m.iq)
	h.AddAccountFeature(NS)
	// Below archiving (100), which stamps the stanza-id first, above
	// offline storage (0), which ends the chain; returns false.
	h.Hook(module.HookAccountMessage, 50, m.offline)
	h.Hook(module.HookHeld, 0, m.held)
	h.OnSessionBound(func(_ context.Context, s module.Session) { m.bound(s.JID().Bare().String()) })
	module.Provide(h, Service, m)
	return nil
}

// Deps: the push service lets modules that route messages past the
// account's own delivery (group chat, modules/muc) notify accounts.
func (m *mod) Deps() module.Deps { return module.Deps{Provides: []string{Service}} }

// iq handles <enable/> (§5) and <disable/> (§6) on the sender's own account.
func (m *mod) iq(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
	own := iq.From.Bare()
	if iq.From.Local() == "" || (!iq.To.IsZero() && iq.To.String() != own.String()) {
		return nil, stanza.NewError(stanza.Forbidden, "push services are enabled on one's own account")
	}
	p := iq.Payload
	if p == nil {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	service, err := jid.Parse(p.Attr("jid"))
	if err != nil || p.Attr("jid") == "" {
		return nil, stanza.NewError(stanza.JIDMalformed, "the jid attribute must be the push service's JID")
	}
	switch p.Name() {
	case "enable":
		return nil, m.enable(ctx, own, service, p)
	case "disable":
		node, hasNode := p.LookupAttr("node")
		// §6: without a node, every node of the service goes.
		if _, err := m.store.DisablePush(ctx, own.Domain(), own.Local(), service.String(), node, !hasNode); err != nil {
			return nil, fmt.Errorf("disable push for %s: %w", own, err)
		}
		m.log.Debug("push disabled", "account", own.String(), "service", service.String(), "node", node)
		return nil, nil
	}
	return nil, stanza.NewError(stanza.FeatureNotImplemented, "")
}

func (m *mod) enable(ctx context.Context, own, service jid.JID, p *xml.Element) error {
	node := p.Attr("node")
	r := Registration{Service: service.String(), Node: node, Created: time.Now()}
	if x := p.Child("x", nsData); x != nil {
		opts, includeBody, err := publishOptions(x)
		if err != nil {
			return err
		}
		r.Options, r.IncludeBody = opts, includeBody
	}
	regs, err := m.store.PushRegistrations(ctx, own.Domain(), own.Local())
	if err != nil {
		return fmt.Errorf("push registrations of %s: %w", own, err)
	}
	known := false
	for _, e := range regs {
		known = known || e.Service == r.Service && e.Node == r.Node
	}
	if !known && len(regs) >= m.max {
		return stanza.NewError(stanza.ResourceConstraint, fmt.Sprintf("at most %d push services per account", m.max))
	}
	if err := m.store.EnablePush(ctx, own.Domain(), own.Local(), r); err != nil {
		return fmt.Errorf("enable push for %s: %w", own, err)
	}
	m.log.Debug("push enabled", "account", own.String(), "service", r.Service, "node", node, "body", r.IncludeBody)
	return nil
}

// publishOptions checks the enable form (§5: a submit form of FORM_TYPE
// pubsub#publish-options) and returns it serialized without the
// include-body field, and whether that field was true.
func publishOptions(x *xml.Element) (string, bool, error) {
	if t := x.Attr("type"); t != "submit" && t != "" {
		return "", false, stanza.NewError(stanza.BadRequest, "the publish options must be a submit form")
	}
	b := xml.NewBuilder("x", nsData).Attr("type", "submit")
	formType, includeBody, fields := "", false, 0
	for f := range x.Children() {
		if f.Name() != "field" || f.NS() != nsData {
			continue
		}
		v := ""
		if val := f.Child("value", nsData); val != nil {
			v = val.Text()
		}
		switch f.Attr("var") {
		case "FORM_TYPE":
			formType = v
		case FieldIncludeBody:
			includeBody = v == "1" || v == "true"
			continue
		case FieldGroupchat:
			// Kept with the stored options (the registration has no
			// column for it), never forwarded (see forwarded).
			if !slices.Contains([]string{GroupchatAll, GroupchatMentions, GroupchatNone}, v) {
				return "", false, stanza.NewError(stanza.BadRequest, FieldGroupchat+" must be all, mentions or none")
			}
		}
		b.Append(f)
		fields++
	}
	if formType != nsPublishOptions {
		return "", false, stanza.NewError(stanza.BadRequest, "the form's FORM_TYPE must be "+nsPublishOptions)
	}
	if fields == 1 {
		return "", includeBody, nil // FORM_TYPE alone: nothing to forward
	}
	return string(b.Element().Append(nil, "")), includeBody, nil
}

// notifiable: chat and normal messages with content a user would want to
// be woken for; not chat states, receipts, carbons or errors.
func notifiable(st *module.Stanza) bool {
	if t := st.Type(); t != "chat" && t != "normal" {
		return false
	}
	return st.El.Child("body", "") != nil || st.El.Child("encrypted", nsOMEMOLegacy) != nil || st.El.Child("encrypted", nsOMEMO) != nil
}

// offline is the HookAccountMessage hook: no resource could take the
// message, so it is going to offline storage.
func (m *mod) offline(_ context.Context, st *module.Stanza) bool {
	if !notifiable(st) || st.To.IsZero() {
		return false
	}
	owner := st.To.Bare()
	k := heldKey(owner, st)
	m.mu.Lock()
	at, seen := m.heldSeen[k]
	delete(m.heldSeen, k)
	m.mu.Unlock()
	// Only while the session could still have been waiting: an old entry
	// (the client resumed and acknowledged) says nothing about this one.
	seen = seen && time.Since(at) <= m.resumeTimeout+time.Minute
	if !seen {
		m.notify(owner, st)
	}
	return false
}

// maxHeld bounds the held-message memory; beyond it a message may be
// notified twice, nothing worse.
const maxHeld = 10000

// held is the HookHeld hook: the message waits for a session's resumption.
func (m *mod) held(_ context.Context, st *module.Stanza) bool {
	if !notifiable(st) {
		return false
	}
	owner := st.To.Bare()
	now := time.Now()
	m.mu.Lock()
	if len(m.heldSeen) >= maxHeld {
		for k, at := range m.heldSeen {
			if now.Sub(at) > m.resumeTimeout+time.Minute {
				delete(m.heldSeen, k)
			}
		}
	}
	if len(m.heldSeen) < maxHeld {
		m.heldSeen[heldKey(owner, st)] = now
	}
	m.mu.Unlock()
	m.notify(owner, st)
	return false
}

// heldKey identifies a message across its rerouting (c2s re-addresses it
// to the bare JID, so the element is a copy): owner, sender, id and body.
func heldKey(owner jid.JID, st *module.Stanza) string {
	body := ""
	if b := st.El.Child("body", ""); b != nil {
		body = b.Text()
	}
	sum := sha256.Sum256([]byte(owner.String() + "\x00" + st.El.Attr("from") + "\x00" + st.El.Attr("id") + "\x00" + body))
	return string(sum[:16])
}

// notify publishes to every push service owner enabled, for a message
// to the account itself (chat or normal).
func (m *mod) notify(owner jid.JID, st *module.Stanza) {
	ev := directEvent(owner, st)
	m.async(m.sem, owner, func(ctx context.Context) {
		var wg sync.WaitGroup
		m.notifyAccount(ctx, &wg, owner, ev, nil)
		wg.Wait()
	})
}

// async runs fn off the delivering path. Hooks run there, so the storage
// reads and the publishes (which wait for their answers) happen on a
// goroutine of their own; at most cap(sem) such goroutines run at once,
// beyond that notifications are dropped (a flood of messages to a
// sleeping account needs no more wake-ups). about names the account (or
// the room) in the log.
func (m *mod) async(sem chan struct{}, about jid.JID, fn func(ctx context.Context)) {
	select {
	case sem <- struct{}{}:
	default:
		m.log.Debug("push notification dropped: too many in flight", "jid", about.String())
		return
	}
	started := m.h.Go(func(stopCtx context.Context) {
		defer func() { <-sem }()
		ctx, cancel := context.WithTimeout(stopCtx, publishTimeout)
		defer cancel()
		fn(ctx)
	})
	if !started {
		<-sem // the module is stopping
	}
}

// notifyAccount sends ev to owner's push services that want (all when
// want is nil), unless owner displayed it already (XEP-0490); the
// publishes run on goroutines wg counts.
func (m *mod) notifyAccount(ctx context.Context, wg *sync.WaitGroup, owner jid.JID, ev event, want func(Registration) bool) {
	regs, err := m.store.PushRegistrations(ctx, owner.Domain(), owner.Local())
	if err != nil {
		if m.h.Context().Err() != nil {
			// Stop cancelled the read: the server is shutting down,
			// which is no storage failure.
			m.log.Debug("push notification abandoned at shutdown", "account", owner.String())
			return
		}
		m.log.Error("push registrations", "account", owner.String(), "err", err)
		return
	}
	if want != nil {
		regs = slices.DeleteFunc(regs, func(r Registration) bool { return !want(r) })
	}
	if len(regs) == 0 {
		return
	}
	count, unread := m.count(ctx, owner, ev)
	if !unread {
		m.log.Debug("push notification skipped: displayed on another device", "account", owner.String(), "chat", ev.chat)
		return
	}
	for _, r := range regs {
		el, to, err := publishIQ(r, count, ev.sender, ev.body)
		if err != nil {
			m.log.Warn("push registration unusable", "account", owner.String(), "service", r.Service, "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.publish(ctx, owner, r, to, el)
		}()
	}
}

// forwarded is the stored options form x as the push service gets it:
// without the fields that are xmppd's own; nil when only FORM_TYPE is
// left.
func forwarded(x *xml.Element) *xml.Element {
	b := xml.NewBuilder("x", nsData).Attr("type", "submit")
	n := 0
	for f := range x.Children() {
		if f.Attr("var") == FieldGroupchat {
			continue
		}
		b.Append(f)
		if f.Attr("var") != "FORM_TYPE" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return b.Element()
}

// publishIQ builds the §7 publish of one notification to r.
func publishIQ(r Registration, count int, sender, body string) (*xml.Element, jid.JID, error) {
	to, err := jid.Parse(r.Service)
	if err != nil {
		return nil, jid.JID{}, fmt.Errorf("service %q: %w", r.Service, err)
	}
	var opts *xml.Element
	if r.Options != "" {
		els, err := xml.ParseFragments([]byte(r.Options))
		if err != nil || len(els) != 1 {
			return nil, jid.JID{}, fmt.Errorf("stored publish options: %v", err)
		}
		opts = forwarded(els[0])
	}
	b := xml.NewBuilder("iq", xml.NSClient).Attr("type", "set")
	b.Start("pubsub", nsPubSub)
	b.Start("publish", "")
	if r.Node != "" {
		b.Attr("node", r.Node)
	}
	b.Start("item", "").Start("notification", NS)
	b.Start("x", nsData).Attr("type", "submit")
	field := func(v, val string) {
		b.Start("field", "").Attr("var", v).Start("value", "").Text(val).End().End()
	}
	field("FORM_TYPE", NSSummary)
	field("message-count", strconv.Itoa(count))
	field("last-message-sender", sender)
	if r.IncludeBody && body != "" {
		field("last-message-body", body)
	}
	b.End().End().End().End() // x, notification, item, publish
	if opts != nil {
		b.Start("publish-options", "").Append(opts).End()
	}
	b.End()
	return b.Element(), to, nil
}

// publish sends one notification and, per §7.1, disables the
// registration when the service answers with a permanent error (cancel
// or auth); a wait or modify error, or no answer, keeps it.
func (m *mod) publish(ctx context.Context, owner jid.JID, r Registration, to jid.JID, el *xml.Element) {
	res, err := m.h.SendIQ(ctx, el, owner, to)
	if err == nil {
		m.log.Debug("push notification sent", "account", owner.String(), "service", r.Service, "node", r.Node)
		return
	}
	if !errors.Is(err, module.ErrIQError) || res == nil {
		m.log.Info("push notification unanswered", "account", owner.String(), "service", r.Service, "err", err)
		return
	}
	typ := ""
	if e := res.Child("error", ""); e != nil {
		typ = e.Attr("type")
	}
	if typ != "cancel" && typ != "auth" {
		m.log.Info("push notification failed, kept", "account", owner.String(), "service", r.Service, "err", err)
		return
	}
	if _, derr := m.store.DisablePush(ctx, owner.Domain(), owner.Local(), r.Service, r.Node, false); derr != nil {
		if m.h.Context().Err() != nil {
			// Shutting down: the registration stays; the next error
			// answer after a restart disables it.
			m.log.Info("push service not disabled: shutting down", "account", owner.String(), "service", r.Service)
			return
		}
		m.log.Error("disable failing push service", "account", owner.String(), "service", r.Service, "err", derr)
		return
	}
	m.log.Info("push service disabled after an error", "account", owner.String(), "service", r.Service, "node", r.Node, "err", err)
}
