package c2s

import (
	"encoding/base64"
	"strings"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0388 Extensible SASL Profile (SASL2) and XEP-0386 Bind 2: the client
// authenticates and binds its session in one round trip, with no stream
// restart, and may switch on carbons, its CSI state and stream management
// in the same request, or resume its broken session there instead
// (XEP-0198 §9): a reconnect costs the stream header and the SASL
// mechanism's own round trips, no more. Modern clients (Conversations,
// Monal, Dino) use them when the stream features offer them; the legacy
// path stays for everyone else.

const (
	nsSASL2   = "urn:xmpp:sasl:2"
	nsBind2   = "urn:xmpp:bind:0"
	nsCarbons = "urn:xmpp:carbons:2"
	// maxAgentID bounds the <user-agent id/> kept per session (a UUID
	// is 36 bytes).
	maxAgentID = 64
)

// saslNS is the namespace of the negotiation in progress.
func (c *conn) saslNS() string {
	if c.sasl2 {
		return nsSASL2
	}
	return nsSASL
}

// appendSASL2Feature offers SASL2 with the same mechanisms as SASL and Bind 2
// inline (XEP-0388 §2.1; XEP-0386 §2.1), with the features Bind 2 can
// switch on for the new session.
func (c *conn) appendSASL2Feature(b []byte, cs auth.ConnState) []byte {
	offered := cs.Offered
	if len(offered) == 0 {
		return b // §2.1: not without a mechanism
	}
	b = append(b, "<authentication xmlns='"+nsSASL2+"'>"...)
	for _, m := range offered {
		b = appendElem(b, "mechanism", m)
	}
	// XEP-0198 §9: stream resumption in <authenticate/>, and stream
	// management switched on in Bind 2.
	b = append(b, "<inline><sm xmlns='"+nsSM+"'/><bind xmlns='"+nsBind2+"'><inline>"...)
	if c.srv.cfg.Registry.Handles(module.TargetAccount, "set", nsCarbons) {
		b = append(b, "<feature var='"+nsCarbons+"'/>"...)
	}
	b = append(b, "<feature var='"+nsCSI+"'/><feature var='"+nsSM+"'/></inline></bind>"...)
	b = c.appendFASTFeature(b, cs)
	b = append(b, "</inline>"...)
	b = appendUpgradeFeature(b)
	return append(b, "</authentication>"...)
}

// sasl2Authenticate runs <authenticate/> (XEP-0388 §2.3).
func (c *conn) sasl2Authenticate(el *xml.Element) error {
	c.sasl2 = true
	defer func() { c.sasl2, c.fast = false, nil }()
	if ua := el.Child("user-agent", nsSASL2); ua != nil {
		if id := ua.Attr("id"); id != "" && len(id) <= maxAgentID {
			c.agentID = id
		}
	}
	c.parseFAST(el)
	initial, present := "", false
	if ir := el.Child("initial-response", nsSASL2); ir != nil {
		// §2.2: an empty element is an empty initial response.
		initial, present = strings.TrimSpace(ir.Text()), true
	}
	return c.runSASL(el.Attr("mechanism"), initial, present, func(neg *auth.Negotiation, out []byte) error {
		return c.sasl2Success(el, neg, out)
	})
}

// sasl2Success answers a successful negotiation. An inline <resume/> comes
// first (XEP-0198 §9.2): resumed, the session's <resumed/> is in
// <success/>, nothing is bound and no features follow; otherwise its
// <failed/> is, and the request goes on as without it. Then Bind 2 if the
// request asked for it, <success/> and the features of the authenticated
// stream, which is not restarted (XEP-0388 §2.6.1). XEP-0198 §10 forbids a
// resumption on TLS 0-RTT data alone; crypto/tls accepts no early data.
func (c *conn) sasl2Success(req *xml.Element, neg *auth.Negotiation, out []byte) error {
	bare, ok, err := c.saslAccount(neg)
	if !ok {
		return err
	}
	// XEP-0480: upgrade tasks before <success/>; a failed one fails the
	// exchange (XEP-0388 §2.6.3), so the client is not yet authenticated.
	if tasks, hashes := c.upgradesWanted(req, bare); len(tasks) > 0 {
		if ok, err := c.runUpgrades(bare, tasks, hashes, out); !ok {
			return err
		}
		out = nil // in the first <continue/>
	}
	// XEP-0484 §3.3: a token only once fully authenticated, tasks done.
	token, ok, err := c.fastSuccess(neg, bare)
	if !ok {
		return err
	}
	c.authenticated(neg, bare)
	// success starts <success/> up to the authorization identifier and
	// the FAST token.
	success := func(id jid.JID) *xml.Builder {
		b := xml.NewBuilder("success", nsSASL2)
		if len(out) > 0 {
			b.Start("additional-data", "").Text(base64.StdEncoding.EncodeToString(out)).End()
		}
		b.Start("authorization-identifier", "").Text(id.String()).End()
		if token != nil {
			b.Append(token)
		}
		return b
	}
	var resumeFailed *xml.Element
	if rs := req.Child("resume", nsSM); rs != nil {
		cond, err := c.smTryResume(rs, func(session *conn, resumed []byte) []byte {
			// The stream is the resumed session's now, its resource
			// bound: the full JID (XEP-0388 §2.6.1).
			el := success(session.jid).Element()
			b := el.Append(nil, "")
			b = b[:len(b)-len("</success>")]
			b = append(b, resumed...)
			return append(b, "</success>"...)
		})
		if cond == "" {
			return err // resumed (errDriven, once its reader ends), or a stream error
		}
		resumeFailed = xml.NewBuilder("failed", nsSM).Start(cond, stanza.NSStanzas).End().Element()
	}
	br := req.Child("bind", nsBind2)
	var full jid.JID
	if br != nil {
		full, ok = c.bind2Resource(br)
	}
	// No session now (no Bind 2, none possible, or refused by the
	// directory): the bare JID, and the client binds the legacy way and
	// hears why.
	legacy := func() error {
		b := success(bare)
		if resumeFailed != nil {
			b.Append(resumeFailed)
		}
		if err := c.write(b.Element().Append(nil, "")); err != nil {
			return err
		}
		return c.sendFeatures()
	}
	if br == nil || !ok {
		return legacy()
	}
	b := success(full)
	if resumeFailed != nil {
		b.Append(resumeFailed)
	}
	c.bind2 = true
	bindErr := c.bind(full, func() {
		// Once bound and before anyone can deliver to the session:
		// stream management counts from the first stanza it gets.
		b.Start("bound", nsBind2)
		if en := br.Child("enable", nsSM); en != nil {
			if el := c.smEnable(en); el != nil {
				b.Append(el) // XEP-0386 §3.2, XEP-0198 §9.1
			}
		}
		for _, el := range c.srv.cfg.Registry.BoundExtensions(&c.life, full) {
			b.Append(el) // §3.1: the archive's state at binding time
		}
		b.End()
		first := append(b.Element().Append(nil, ""), stream.FeaturesOpen...)
		first = c.appendSessionFeatures(first, true)
		c.enqueue(append(first, stream.FeaturesClose...))
	}, func() { c.bind2Inline(br, full) })
	if bindErr != nil {
		// Refused by the directory (a cluster node that cannot record
		// the session): as when no session is possible now, the bare
		// JID, and the client binds the legacy way and hears why.
		c.bind2 = false
		return legacy()
	}
	return nil
}

// ArchiveSynced reports a Bind 2 session (module.ArchiveSynced): §3.1 has
// its offline messages cleared, since its client reads the archive.
func (c *conn) ArchiveSynced() bool { return c.bind2 }

// bind2Resource is XEP-0386 §3.1's resource: the client's tag, '/', and a
// random part (the tag alone is not enough: one client may have several
// sessions). ok is false when no session can be bound now.
func (c *conn) bind2Resource(br *xml.Element) (jid.JID, bool) {
	res := randomID(8)
	if t := br.Child("tag", nsBind2); t != nil && strings.TrimSpace(t.Text()) != "" {
		if full, e := c.resource(strings.TrimSpace(t.Text()) + "/" + res); e == nil {
			return full, true
		}
	}
	full, e := c.resource(res)
	return full, e == nil
}

// bind2Inline switches on what the bind request asked for, once the
// session is bound and before modules hear of it, and ends this client's
// earlier sessions (§3.1: same <user-agent id/>).
func (c *conn) bind2Inline(br *xml.Element, full jid.JID) {
	for ch := range br.Children() {
		switch {
		case ch.NS() == nsCarbons && ch.Name() == "enable":
			// Through the carbons module, as its IQ would be.
			iq := xml.NewBuilder("iq", xml.NSClient).Attr("type", "set").Attr("id", "bind2").Append(ch).Element()
			c.srv.cfg.Registry.HandleIQ(&c.life, module.TargetAccount, &module.IQ{
				Stanza: &module.Stanza{El: iq, From: full, To: full.Bare(), Origin: c}, ID: "bind2", Type: "set", Payload: ch,
			}, c.logger())
		case ch.NS() == nsCSI && (ch.Name() == "inactive" || ch.Name() == "active"):
			c.wmu.Lock()
			c.csi.inactive = ch.Name() == "inactive"
			c.wmu.Unlock()
		}
	}
	if c.agentID == "" {
		return
	}
	for _, s := range c.srv.cfg.Directory.Sessions(full.Bare()) {
		if o, ok := s.(*conn); ok && o != c && o.agentID == c.agentID {
			o.CloseStream(stanza.StreamConflict, "replaced by a new session of the same client")
		}
	}
}
