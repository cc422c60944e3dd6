package c2s

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsSASLCB  = "urn:xmpp:sasl-cb:0"

	// maxSASLAttempts bounds failed password checks on one stream (RFC
	// 6120 §6.4.5: at least 2 and at most 5 retries). Failures that test
	// no password - a channel binding type the client cannot use, a
	// detected downgrade - count against the larger maxSASLFailures, so a
	// client walking down its mechanism list (slixmpp tries each -PLUS
	// with tls-unique first) still reaches one that works.
	maxSASLAttempts = 5
	maxSASLFailures = 12
)

// negotiation is the state of the stream up to binding (RFC 6120 §4-§7:
// STARTTLS, SASL, SASL2/Bind 2, bind), kept by the reader goroutine.
// domain and streamID are read by others once set; domain and
// domainServed are set under wmu, for CloseStream.
type negotiation struct {
	streamID     string
	domain       string
	domainServed bool // Config.Host knows domain: a stream header names it
	authed       bool
	sasl2        bool // the negotiation in progress is XEP-0388's (sasl2.go)
	bind2        bool // bound by XEP-0386: the client syncs from the archive (module.ArchiveSynced)
	username     string
	bound        bool
	attempts     int // failed password checks
	failures     int // all SASL failures
	authTimer    *time.Timer
	saslMech     string // the offered mechanism being negotiated, for Observer
	agentID      string // XEP-0388 <user-agent id/>, for Bind 2's replacement of the same client's sessions

	// fast is XEP-0484 in the <authenticate/> being handled (fast.go);
	// nil otherwise.
	fast *fastState
}

// stopAuthTimer stops the authentication deadline and lets its timer go
// (reader goroutine only).
func (c *conn) stopAuthTimer() {
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
}

// openStream reads the client's header and answers with ours and the
// features for the current state (RFC 6120 §4.2, §4.3).
func (c *conn) openStream() error {
	c.wmu.Lock()
	c.headerSent = false
	c.wmu.Unlock()
	// The header is bytes on TCP, a value from WebSocket and BOSH
	// (stream.HeaderReader): the checks below are the same for all.
	h, err := stream.ReadPeerHeader(c.nc, c.dec)
	if err != nil {
		return c.readError(err)
	}
	to := h.To
	if c.domain == "" {
		// §4.7.1: our header's 'from' is the domain the peer asked for
		// if we serve it; otherwise we answer as our default domain and
		// end the stream with host-unknown.
		domain := c.srv.cfg.DefaultDomain
		if d, ok := c.srv.cfg.Host(to); ok {
			// d may be a slice of the header's text, which the
			// session would then keep for its life (~0.2 KiB).
			domain = strings.Clone(d)
		}
		_, served := c.srv.cfg.Host(domain)
		c.wmu.Lock()
		c.domain, c.domainServed = domain, served
		c.wmu.Unlock()
	}
	c.streamID = randomID(12)
	hdr := c.streamHeader(h)
	if err := c.checkPeer(h, to); err != nil {
		// The header goes out before any error about it (§4.9.1.2).
		if werr := c.writeHeader(hdr, nil); werr != nil {
			return werr
		}
		return err
	}
	// Header and features in one write: one TLS record and one syscall
	// instead of two, three times per login.
	return c.writeHeader(hdr, c.features())
}

// checkPeer tests the client's stream header (RFC 6120 §4.8, §4.9.3).
func (c *conn) checkPeer(h *stream.Header, to string) error {
	if err := stream.CheckPeerNamespace(h, xml.NSClient); err != nil {
		return err
	}
	if _, ok := c.srv.cfg.Host(to); !ok {
		return &stanza.StreamError{Condition: stanza.StreamHostUnknown, Text: "this server does not serve " + strconv.Quote(to)}
	}
	return stream.CheckPeerVersion(h)
}

// streamHeader is our stream header in answer to the client's h.
func (c *conn) streamHeader(h *stream.Header) *stream.Header {
	hdr := &stream.Header{NS: xml.NSClient, From: c.domain, ID: c.streamID, Version: "1.0", Lang: "en"}
	if h != nil {
		// §4.7.2: 'to' in the response reflects the initiator's 'from'.
		if f := h.From; f != "" {
			if j, err := jid.Parse(f); err == nil {
				hdr.To = j.String()
			}
		}
	}
	return hdr
}

// sendFeatures advertises what may be negotiated now (RFC 6120 §4.3.2).
func (c *conn) sendFeatures() error { return c.write(c.features()) }

// features is <stream:features> for the stream's current state.
//
// Written as bytes, not built as an element tree: the tree was ~60 nodes
// and 12 KB of garbage per login (docs/performance.md), for text that is
// constants but for the modules' few elements.
func (c *conn) features() []byte {
	b := make([]byte, 0, 2048)
	b = append(b, stream.FeaturesOpen...)
	switch {
	case c.authed:
		// First: on a listener that does not require TLS a client may
		// authenticate without it (SCRAM), and after the restart it binds
		// (§6.4.6); STARTTLS is no longer on offer (§5.3.1: TLS comes
		// before SASL).
		b = c.appendSessionFeatures(b, false)
	case c.tls == nil && c.opts.TLS != nil:
		if c.opts.RequireTLS {
			b = append(b, "<starttls xmlns='"+nsTLS+"'><required/></starttls>"...)
			break
		}
		b = append(b, "<starttls xmlns='"+nsTLS+"'/>"...)
		b = c.appendSASLFeatures(b)
		b = c.appendPreAuthFeatures(b)
	default:
		b = c.appendSASLFeatures(b)
		b = c.appendPreAuthFeatures(b)
	}
	return append(b, stream.FeaturesClose...)
}

// appendSessionFeatures appends the features of an authenticated stream;
// bound (by XEP-0386 during authentication) leaves out resource binding.
func (c *conn) appendSessionFeatures(b []byte, bound bool) []byte {
	if !bound {
		// RFC 6121 legacy session establishment, announced optional
		// (draft-cridland-xmpp-session-01) for old clients.
		b = append(b, "<bind xmlns='"+nsBind+"'/><session xmlns='"+nsSession+"'><optional/></session>"...)
	}
	b = append(b, "<sm xmlns='"+nsSM+"'/><csi xmlns='"+nsCSI+"'/>"...) // XEP-0198, XEP-0352
	for _, f := range c.srv.cfg.Registry.StreamFeatures() {
		if el := f.Element(c); el != nil {
			b = el.Append(b, xml.NSClient)
		}
	}
	return b
}

// appendElem appends <name>text</name>, text escaped.
func appendElem(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = xml.EscapeText(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func (c *conn) authServer() *auth.Server {
	return &auth.Server{Store: credStore{c.srv.cfg.Accounts, c.domain, c.srv.cfg.Observer}, FakeSaltKey: c.srv.cfg.FakeSaltKey, Allowed: c.srv.cfg.Mechanisms,
		Gate: c.authGate}
}

// account names the account a negotiation tried, for throttling and logs.
func (c *conn) account(username string) string {
	if username == "" {
		return ""
	}
	return username + "@" + c.domain
}

// authGate runs before a password or proof is tested (auth.Server.Gate):
// it waits while this address or the account is throttled, or refuses the
// check untested when that would take too long (throttle.go).
func (c *conn) authGate(_ context.Context, username string) error {
	wait, ok := c.srv.cfg.Limiter.AuthWait(c.ip, c.account(username))
	if wait > 0 || !ok {
		c.srv.cfg.Observer.AuthThrottled(wait, !ok)
	}
	if !ok {
		c.srv.cfg.Log.Info("authentication refused: throttled", "ip", c.ip, "account", c.account(username), "mechanism", c.saslMech)
		time.Sleep(wait)
		return errThrottled
	}
	time.Sleep(wait)
	return nil
}

func (c *conn) connState() auth.ConnState {
	cs := auth.ConnState{TLS: c.tls, ServerCert: c.serverCert}
	a := c.authServer()
	cs.CBTypes = a.ChannelBindingTypes(cs)
	cs.Offered = a.Mechanisms(cs)
	return cs
}

func (c *conn) appendSASLFeatures(b []byte) []byte {
	cs := c.connState()
	b = append(b, "<mechanisms xmlns='"+nsSASL+"'>"...)
	for _, m := range cs.Offered {
		b = appendElem(b, "mechanism", m)
	}
	b = append(b, "</mechanisms>"...)
	b = c.appendSASL2Feature(b, cs)
	if len(cs.CBTypes) > 0 {
		// XEP-0440: tell the client which channel bindings we can do.
		b = append(b, "<sasl-channel-binding xmlns='"+nsSASLCB+"'>"...)
		for _, t := range cs.CBTypes {
			b = append(b, "<channel-binding type='"...)
			b = xml.EscapeAttr(b, t)
			b = append(b, "'/>"...)
		}
		b = append(b, "</sasl-channel-binding>"...)
	}
	return b
}

// appendPreAuthFeatures offers what modules handle before authentication
// (XEP-0077 registration), each deciding for this stream's vhost. Only
// called where preAuthOpen holds.
func (c *conn) appendPreAuthFeatures(b []byte) []byte {
	for _, f := range c.srv.cfg.Registry.PreAuthFeatures() {
		if el := f.Element(c); el != nil {
			b = el.Append(b, xml.NSClient)
		}
	}
	return b
}

// preAuthOpen reports whether the stream may carry pre-authentication
// IQs: like SASL, only under TLS where the listener requires it.
func (c *conn) preAuthOpen() bool {
	return c.tls != nil || c.opts.TLS == nil || !c.opts.RequireTLS
}

// preAuthIQ answers an IQ sent before authentication if a module handles
// its namespace there (module.TargetPreAuth) and reports whether it did;
// anything else stays refused by the caller (RFC 6120 §6.4.1). Only a
// well-formed get/set to the stream's own domain (or without 'to')
// qualifies: an unauthenticated client has no address to act for and
// nothing to reach elsewhere.
func (c *conn) preAuthIQ(el *xml.Element) (bool, error) {
	if el.Name() != "iq" || el.NS() != xml.NSClient || !c.preAuthOpen() {
		return false, nil
	}
	typ := el.Attr("type")
	if typ != "get" && typ != "set" {
		return false, nil
	}
	if _, ok := el.LookupAttr("id"); !ok {
		return false, nil
	}
	var p *xml.Element
	n := 0
	for ch := range el.Children() {
		p = ch
		n++
	}
	if n != 1 {
		return false, nil
	}
	reg := c.srv.cfg.Registry
	if !reg.Handles(module.TargetPreAuth, typ, p.NS()) {
		return false, nil
	}
	var to jid.JID
	if v, ok := el.LookupAttr("to"); ok {
		j, err := jid.Parse(v)
		if err != nil || j.Local() != "" || j.Resource() != "" || j.Domain() != c.domain {
			return false, nil
		}
		to = j
	}
	// Whatever 'from' the client wrote means nothing yet (RFC 6120
	// §8.1.2.1); the reply must not echo it as 'to'.
	el = el.WithAttrs(xml.Attr{Name: "from", Value: ""})
	st := &module.Stanza{El: el, To: to, Stream: c}
	iq := &module.IQ{Stanza: st, ID: el.Attr("id"), Type: typ, Payload: p}
	reply := reg.HandleIQ(&c.life, module.TargetPreAuth, iq, c.logger())
	return true, c.write(c.stanzaBytes(reply))
}

// startTLS: RFC 6120 §5.4.2 - proceed, handshake, restart the stream.
func (c *conn) startTLS() error {
	if err := c.write([]byte("<proceed xmlns='" + nsTLS + "'/>")); err != nil {
		return err
	}
	if err := c.handshake(); err != nil {
		c.logger().Debug("STARTTLS handshake failed", "err", err)
		c.srv.cfg.Observer.TLSHandshakeFailed()
		c.nc.Close()
		return nil
	}
	c.dec.Reset(c.idleReader())
	return c.openStream()
}

// sasl runs one SASL negotiation (RFC 6120 §6.4).
func (c *conn) sasl(el *xml.Element) error {
	c.sasl2 = false
	initial, present := el.Text(), true
	if initial == "" {
		present = false // §6.4.2: no initial response
	} else if initial == "=" {
		initial = ""
	}
	return c.runSASL(el.Attr("mechanism"), initial, present, c.saslSuccess)
}

// runSASL negotiates mechanism, legacy or XEP-0388 as c.sasl2 says, from
// the base64 initial response (present false: none), and calls done on
// success.
func (c *conn) runSASL(mech, initial string, present bool, done func(*auth.Negotiation, []byte) error) error {
	if c.tls == nil && c.opts.RequireTLS && c.opts.TLS != nil {
		return c.saslFailure("encryption-required", "")
	}
	cs := c.connState()
	offered := false
	c.saslMech = ""
	for _, m := range cs.Offered {
		if m == mech {
			offered = true
			c.saslMech = m
		}
	}
	var ctx context.Context = &c.life
	var neg *auth.Negotiation
	var err error
	switch {
	case auth.IsTokenMechanism(mech):
		// XEP-0484: offered inside <fast/> only (fast.go).
		if neg, err = c.startFAST(ctx, mech, cs); err == nil {
			c.saslMech = mech
		}
	case !offered:
		return c.saslFailure("invalid-mechanism", "")
	default:
		neg, err = c.authServer().Start(ctx, mech, cs)
	}
	if err != nil {
		return c.saslError(nil, err)
	}
	var in []byte
	switch {
	case !present:
		// No initial response: an empty challenge asks for it.
		if in, err = c.saslNext([]byte{}); in == nil {
			return err
		}
	case initial == "":
		in = []byte{}
	default:
		if in, err = base64.StdEncoding.DecodeString(initial); err != nil {
			return c.saslFailure("incorrect-encoding", "")
		}
	}
	for {
		out, fin, err := neg.Step(ctx, in)
		if err != nil {
			return c.saslError(neg, err)
		}
		if fin {
			return done(neg, out)
		}
		if in, err = c.saslNext(out); in == nil {
			return err
		}
	}
}

// saslNext sends a challenge and reads the response. A nil slice with nil
// error means the exchange ended (aborted) and was answered.
func (c *conn) saslNext(challenge []byte) ([]byte, error) {
	ns := c.saslNS()
	b := []byte("<challenge xmlns='" + ns + "'>")
	b = base64.StdEncoding.AppendEncode(b, challenge)
	b = append(b, "</challenge>"...)
	if err := c.write(b); err != nil {
		return nil, err
	}
	el, err := c.dec.Next()
	if err != nil {
		return nil, c.readError(err)
	}
	if el.NS() != ns {
		return nil, &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "SASL negotiation in progress"}
	}
	switch el.Name() {
	case "response":
		t := el.Text()
		if t == "=" || t == "" {
			return []byte{}, nil
		}
		in, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			return nil, c.saslFailure("incorrect-encoding", "")
		}
		return in, nil
	case "abort":
		return nil, c.saslFailure("aborted", "")
	}
	return nil, c.saslFailure("malformed-request", "expected <response/> or <abort/>")
}

func (c *conn) saslError(neg *auth.Negotiation, err error) error {
	var f *auth.Failure
	if errors.As(err, &f) {
		if errors.Is(f.Err, auth.ErrCredentials) && neg != nil {
			return c.credentialFailure(c.account(neg.Attempted()), f.Condition, f.Text)
		}
		c.logger().Debug("SASL failure", "ip", c.ip, "condition", f.Condition, "err", f.Err)
		return c.saslFailure(f.Condition, f.Text)
	}
	c.logger().Error("SASL failed", "err", err)
	return c.saslFailure("temporary-auth-failure", "")
}

// credentialFailure answers a wrong password or unknown account (alike):
// logged in one stable line for operators and fail2ban
// (docs/deploy-fail2ban.md), delayed as the throttle says, and too many on
// one stream end it.
func (c *conn) credentialFailure(account, cond, text string) error {
	c.srv.cfg.Log.Info("authentication failed", "ip", c.ip, "account", account, "mechanism", c.saslMech)
	if d := c.srv.cfg.Limiter.AuthFailed(c.ip, account); d > 0 {
		c.srv.cfg.Observer.AuthThrottled(d, false)
		time.Sleep(d)
	}
	c.attempts++
	if err := c.saslFailure(cond, text); err != nil {
		return err
	}
	if c.attempts >= maxSASLAttempts {
		return &stanza.StreamError{Condition: stanza.StreamPolicyViolation, Text: "too many failed authentication attempts"}
	}
	return nil
}

// saslFailure answers <failure/> (RFC 6120 §6.5).
func (c *conn) saslFailure(cond, text string) error {
	b := []byte("<failure xmlns='" + nsSASL + "'><" + cond + "/>")
	if c.sasl2 {
		// XEP-0388 §2.6.2: its own <failure/> with RFC 6120's condition.
		b = []byte("<failure xmlns='" + nsSASL2 + "'><" + cond + " xmlns='" + nsSASL + "'/>")
	}
	if text != "" {
		b = append(b, "<text xml:lang='en'>"...)
		b = xml.EscapeText(b, text)
		b = append(b, "</text>"...)
	}
	b = append(b, "</failure>"...)
	c.srv.cfg.Observer.AuthFailed(c.saslMech)
	if err := c.write(b); err != nil {
		return err
	}
	c.failures++
	if c.failures >= maxSASLFailures {
		return &stanza.StreamError{Condition: stanza.StreamPolicyViolation, Text: "too many failed authentication attempts"}
	}
	return nil
}

// saslAccount is the account a finished negotiation authenticated; ok
// false when it was answered with a failure (err then says whether the
// stream goes on).
func (c *conn) saslAccount(neg *auth.Negotiation) (bare jid.JID, ok bool, err error) {
	bare, e := jid.New(neg.Username(), c.domain, "")
	if e != nil {
		return jid.JID{}, false, c.saslFailure("not-authorized", "")
	}
	// §6.4.6: an authzid, if given, must be the account itself.
	if az := neg.AuthzID(); az != "" {
		if j, e := jid.Parse(az); e != nil || j != bare {
			return jid.JID{}, false, c.saslFailure("invalid-authzid", "")
		}
	}
	return bare, true, nil
}

// authenticated records a successful authentication.
func (c *conn) authenticated(neg *auth.Negotiation, bare jid.JID) {
	c.srv.cfg.Limiter.AuthSucceeded(c.account(bare.Local()))
	c.srv.cfg.Observer.AuthSucceeded(c.saslMech)
	c.authed = true
	c.username = bare.Local()
	c.jid = bare
	c.logger().Info("authenticated", "ip", c.ip, "mechanism", neg.Mechanism(), "tls", c.tlsVersion(), "sasl2", c.sasl2)
}

func (c *conn) saslSuccess(neg *auth.Negotiation, out []byte) error {
	bare, ok, err := c.saslAccount(neg)
	if !ok {
		return err
	}
	b := []byte("<success xmlns='" + nsSASL + "'>")
	if len(out) > 0 {
		b = base64.StdEncoding.AppendEncode(b, out)
	}
	b = append(b, "</success>"...)
	if err := c.write(b); err != nil {
		return err
	}
	c.authenticated(neg, bare)
	c.dec.Reset(c.idleReader())
	return c.openStream()
}

// preBind handles the authenticated stream until a resource is bound
// (RFC 6120 §7).
func (c *conn) preBind(el *xml.Element) error {
	if el.Name() != "iq" || el.NS() != xml.NSClient {
		return &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "bind a resource first"}
	}
	p := el.FirstChild()
	if el.Attr("type") != "set" || p == nil || p.Name() != "bind" || p.NS() != nsBind {
		// §7.1: stanzas before binding are not processed.
		return c.write(c.stanzaBytes(stanza.NewError(stanza.NotAuthorized, "bind a resource first").Reply(el)))
	}
	res := ""
	if r := p.Child("resource", nsBind); r != nil {
		res = r.Text()
	}
	if res == "" {
		res = randomID(8) // §7.6: server-generated resource
	}
	full, e := c.resource(res)
	if e != nil {
		return c.write(c.stanzaBytes(e.Reply(el)))
	}
	reply := xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", el.Attr("id")).
		Start("bind", nsBind).Start("jid", "").Text(full.String()).End().End().Element()
	if err := c.bind(full, func() { c.Deliver(reply) }, nil); err != nil {
		// §7.6.2.1: type wait, so the client tries again.
		return c.write(c.stanzaBytes(stanza.NewError(stanza.ResourceConstraint, "the session could not be registered; try again").Reply(el)))
	}
	return nil
}

// resource checks a resource for binding: the full JID, or the stanza
// error to answer.
func (c *conn) resource(res string) (jid.JID, *stanza.Error) {
	full, err := c.jid.WithResource(res)
	if err != nil {
		// §7.7.2.1: a resource that violates the resourcepart rules.
		return jid.JID{}, stanza.NewError(stanza.BadRequest, "invalid resource")
	}
	if max := c.srv.cfg.MaxSessions; max > 0 && c.srv.cfg.Directory.Count() >= max {
		return jid.JID{}, stanza.NewError(stanza.ResourceConstraint, "too many sessions")
	}
	if err := c.srv.cfg.Directory.Admit(); err != nil {
		return jid.JID{}, stanza.NewError(stanza.ResourceConstraint, err.Error())
	}
	return full, nil
}

// bind makes the stream the session of full (RFC 6120 §7; XEP-0386):
// first queues the result of the binding before anyone can find the
// session, so that it is the first thing the client reads on it; before
// runs once the session can be found, before the modules hear of it
// (Bind 2's inline features). An error from the directory's Claim
// refuses the bind: nothing was queued, and the stream stays unbound.
func (c *conn) bind(full jid.JID, first func(), before func()) error {
	bare := c.jid
	c.jid = full
	if cl, ok := c.srv.cfg.Directory.(Claimer); ok {
		if err := cl.Claim(c); err != nil {
			c.jid = bare
			c.logger().Warn("bind refused", "jid", full.String(), "err", err)
			return err
		}
	}
	// Every stanza from here on is parsed with its 'from' already ours
	// (§8.1.2.1), in the element's own arrays: no copy per stanza.
	c.dec.Stamp(xml.NSClient, "from", full.String())
	// From here on output goes through the queue, since other sessions may
	// now deliver to this one.
	c.wmu.Lock()
	c.async = true
	c.since = time.Now()
	c.tls = c.srv.boundTLS(c.tls)
	closing := c.closing
	// The writer's place is held until the session is in the directory:
	// first queues the result, and were it written at once, the client
	// could act on its full JID (tell another entity, which sends to it)
	// before the router knew the session, and a message to that full
	// JID would go to offline storage (RFC 6121 §8.5.3.2.1) instead of
	// here. A component's message right after a bind did (race builds,
	// about one in ten).
	held := !closing && !c.writing
	if held {
		c.writing = true
	}
	c.wmu.Unlock()
	if closing {
		c.srv.cfg.Directory.Unbind(c) // drops the claim
		return nil
	}
	c.stopAuthTimer()
	c.bound = true
	c.armIdle()
	first()
	old := c.srv.cfg.Directory.Bind(c)
	if held {
		go c.writeLoop() // what first queued, and whatever followed
	}
	if old != nil {
		// §7.7.2.2: the newer session wins; the older one is told why.
		old.CloseStream(stanza.StreamConflict, "replaced by a new session")
	}
	if before != nil {
		before()
	}
	c.srv.cfg.Registry.SessionBound(&c.life, c)
	return nil
}

// credStore adapts storage.Accounts to what auth needs, for one domain.
type credStore struct {
	accounts storage.Accounts
	domain   string
	obs      Observer
}

func (s credStore) Credential(ctx context.Context, username, hash string) (auth.Credential, bool, error) {
	c, err := s.accounts.Credential(ctx, s.domain, username, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return auth.Credential{}, false, nil
	}
	if err != nil {
		if s.obs != nil {
			s.obs.StorageError()
		}
		return auth.Credential{}, false, fmt.Errorf("credential of %s@%s: %w", username, s.domain, err)
	}
	return auth.Credential(c), true, nil
}

func (c *conn) tlsVersion() string {
	if c.tls == nil {
		return "none"
	}
	return tls.VersionName(c.tls.Version)
}
