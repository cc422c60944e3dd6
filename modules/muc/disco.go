package muc

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// maxVCard bounds a room's vCard, as modules/vcard does for accounts.
const maxVCard = 64 << 10

// discoInfo of the service (§6.2).
func (s *service) discoInfo(node string) *xml.Element {
	b := xml.NewBuilder("query", nsDiscoI)
	if node != "" {
		b.Attr("node", node)
	}
	b.Start("identity", "").Attr("category", "conference").Attr("type", "text").Attr("name", "Chatrooms").End()
	for _, f := range []string{nsDiscoI, nsDiscoIt, NS, NS + "#unique", nsVCard, nsPing} {
		b.Start("feature", "").Attr("var", f).End()
	}
	return b.Element()
}

// discoItems of the service: the public rooms (§6.3); hidden and locked
// rooms are left out.
func (s *service) discoItems(ctx context.Context, requester jid.JID) *xml.Element {
	type item struct{ jid, name string }
	var items []item
	for _, r := range s.roomList() {
		r.mu.Lock()
		if !r.destroyed && !r.locked && r.cfg.Public {
			name := r.cfg.Name
			if name == "" {
				name = r.name
			}
			items = append(items, item{r.jid.String(), name})
		}
		r.mu.Unlock()
	}
	if s.m.h.Cluster != nil {
		// This node holds only the rooms it owns: the persistent rooms
		// of the others come from storage (docs/clustering.md, "Multi-user chat");
		// temporary rooms owned by other nodes are not listed.
		listed := make(map[string]bool, len(items))
		for _, it := range items {
			listed[it.jid] = true
		}
		for _, sr := range s.storedRooms(ctx) {
			j, ok := s.roomJID(sr.Name)
			if !ok || listed[j.String()] || s.room(sr.Name) != nil {
				continue // this node's copy is the one that counts
			}
			if r := s.fromStore(sr); r != nil && r.cfg.Public {
				name := r.cfg.Name
				if name == "" {
					name = r.name
				}
				items = append(items, item{j.String(), name})
			}
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].jid < items[j].jid })
	b := xml.NewBuilder("query", nsDiscoIt)
	for _, it := range items {
		b.Start("item", "").Attr("jid", it.jid).Attr("name", it.name).End()
	}
	return b.Element()
}

// iq handles an IQ get or set to a room or an occupant JID; the room's
// runner calls it with r.mu held.
func (r *room) iq(ctx context.Context, st *module.Stanza) {
	m := r.svc.m
	typ := st.Type()
	if typ != "get" && typ != "set" {
		return
	}
	if st.To.Resource() != "" {
		r.occupantIQ(ctx, st)
		return
	}
	p := st.El.FirstChild()
	if p == nil {
		m.fail(ctx, st, errOf(stanza.BadRequest, ""))
		return
	}
	owner := r.affiliationOf(st.From).aff == affOwner
	if r.locked && !owner {
		m.fail(ctx, st, errOf(stanza.ItemNotFound, "no such room")) // §10.1: it does not exist yet
		return
	}
	var (
		res *xml.Element
		e   *stanza.Error
	)
	switch ns := p.NS(); {
	case typ == "get" && ns == nsDiscoI:
		res, e = r.discoInfo(st, p.Attr("node"))
	case typ == "get" && ns == nsDiscoIt:
		res = r.discoItems(st)
	case ns == NSAdmin && typ == "get":
		res, e = r.adminGet(st, p)
	case ns == NSAdmin:
		e = r.adminSet(ctx, st, p)
	case ns == NSOwner && typ == "get":
		if !mayConfigure(r.affiliationOf(st.From).aff) {
			e = errOf(stanza.Forbidden, "only owners configure the room")
		} else {
			res = r.configForm()
		}
	case ns == NSOwner:
		e = r.ownerSet(ctx, st, p)
	case ns == nsReg && typ == "get":
		res, e = r.registerGet(st)
	case ns == nsReg:
		e = r.registerSet(ctx, st, p)
	case ns == nsVCard && typ == "get":
		res, e = r.vcardGet()
	case ns == nsVCard:
		e = r.vcardSet(ctx, st, p)
	case ns == nsPing && typ == "get":
	case ns == nsMAM && typ == "get" && m.archive != nil:
		res = mamForm() // XEP-0313 §4.1.1: the query form
	case ns == nsMAM && typ == "set" && p.Name() == "query":
		e = r.mamQuery(ctx, st, p)
	case ns == nsModerate && typ == "set" && p.Name() == "moderate":
		e = r.moderate(ctx, st, p)
	default:
		e = errOf(stanza.ServiceUnavailable, "")
	}
	if e == errDone {
		return
	}
	if e != nil {
		m.fail(ctx, st, e)
		return
	}
	m.result(ctx, st, res)
}

// discoInfo of a room (§6.4): identity, the muc_ features its
// configuration implies and the muc#roominfo form; with node
// x-roomuser-item the requester's reserved nick (§7.12).
func (r *room) discoInfo(st *module.Stanza, node string) (*xml.Element, *stanza.Error) {
	b := xml.NewBuilder("query", nsDiscoI)
	if node == "x-roomuser-item" {
		b.Attr("node", node)
		if n := r.affiliationOf(st.From).nick; n != "" {
			b.Start("identity", "").Attr("category", "conference").Attr("type", "text").Attr("name", n).End()
		}
		return b.Element(), nil
	}
	if node != "" {
		return nil, errOf(stanza.ItemNotFound, "")
	}
	c := &r.cfg
	name := c.Name
	if name == "" {
		name = r.name
	}
	b.Start("identity", "").Attr("category", "conference").Attr("type", "text").Attr("name", name).End()
	pick := func(cond bool, yes, no string) string {
		if cond {
			return yes
		}
		return no
	}
	features := []string{
		nsDiscoI, nsDiscoIt, NS, NS + "#stable_id", NS + "#self-ping-optimization", NS + "#request",
		nsOccID, nsSID, nsReg, nsVCard, nsPing, nsModerate,
		pick(c.Public, "muc_public", "muc_hidden"),
		pick(c.MembersOnly, "muc_membersonly", "muc_open"),
		pick(c.Moderated, "muc_moderated", "muc_unmoderated"),
		pick(c.PasswordProtected, "muc_passwordprotected", "muc_unsecured"),
		pick(c.Persistent, "muc_persistent", "muc_temporary"),
		pick(r.nonAnonymous(), "muc_nonanonymous", "muc_semianonymous"),
	}
	if r.svc.m.archive != nil {
		features = append(features, nsMAM)
	}
	sort.Strings(features)
	for _, f := range features {
		b.Start("feature", "").Attr("var", f).End()
	}
	subj := r.subject
	subjMod := c.ChangeSubject
	var contacts []string
	if r.nonAnonymous() {
		// Owners' addresses only where real JIDs are no secret anyway.
		for k, e := range r.affs {
			if e.aff == affOwner {
				contacts = append(contacts, k)
			}
		}
	}
	b.Append(formEl("result", "", NS+"#roominfo", []field{
		{v: "muc#roominfo_contactjid", typ: "jid-multi", label: "Contact Addresses", values: sorted(contacts)},
		{v: "muc#roominfo_description", label: "Description", values: []string{c.Desc}},
		{v: "muc#roominfo_occupants", label: "Number of occupants", values: []string{strconv.Itoa(len(r.occ))}},
		{v: "muc#roominfo_subject", label: "Current Subject", values: []string{subj}},
		{v: "muc#roominfo_subjectmod", label: "Occupants May Change the Subject", typ: "boolean", values: boolValue(subjMod)},
		{v: "muc#roominfo_lang", label: "Language of discussion", values: []string{c.Lang}},
		{v: "muc#roomconfig_roomname", label: "Natural-Language Room Name", values: []string{name}},
		{v: "muc#maxhistoryfetch", label: "Maximum Number of History Messages Returned by Room", values: []string{strconv.Itoa(r.svc.m.cfg.HistoryMessages)}},
		{v: "muc#roomconfig_allowinvites", typ: "boolean", values: boolValue(c.AllowInvites)},
		{v: "muc#roomconfig_changesubject", typ: "boolean", values: boolValue(c.ChangeSubject)},
	}))
	return b.Element(), nil
}

// discoItems of a room (§6.5): its occupant JIDs, to occupants and, for
// a public room, to anyone; nothing otherwise.
func (r *room) discoItems(st *module.Stanza) *xml.Element {
	b := xml.NewBuilder("query", nsDiscoIt)
	if r.byJID[st.From] == nil && !r.cfg.Public {
		return b.Element()
	}
	nicks := make([]string, 0, len(r.occ))
	for n, o := range r.occ {
		if r.mayAnnounce(o.role) {
			nicks = append(nicks, n)
		}
	}
	sort.Strings(nicks)
	for _, n := range nicks {
		b.Start("item", "").Attr("jid", r.occupantJID(n).String()).Attr("name", n).End()
	}
	return b.Element()
}

func (r *room) vcardGet() (*xml.Element, *stanza.Error) {
	if len(r.vcard) == 0 {
		return xml.NewBuilder("vCard", nsVCard).Element(), nil
	}
	els, err := xml.ParseFragments(r.vcard)
	if err != nil || len(els) != 1 {
		r.svc.m.log.Error("stored room vCard", "room", r.jid.String(), "err", err)
		return nil, errOf(stanza.InternalServerError, "")
	}
	return els[0], nil
}

// vcardSet: owners set the room's vCard (its avatar: XEP-0486).
func (r *room) vcardSet(ctx context.Context, st *module.Stanza, p *xml.Element) *stanza.Error {
	if r.affiliationOf(st.From).aff != affOwner {
		return errOf(stanza.Forbidden, "only owners set the room's vCard")
	}
	if p.Name() != "vCard" {
		return errOf(stanza.BadRequest, "")
	}
	var data []byte
	if p.FirstChild() != nil {
		data = p.Append(nil, "")
		if len(data) > maxVCard {
			return errOf(stanza.NotAcceptable, fmt.Sprintf("vCard larger than %d bytes", maxVCard))
		}
	}
	r.vcard = data
	r.save(ctx)
	return nil
}

// occupantIQ: IQs to an occupant JID. A ping to one's own occupant JID is
// XEP-0410 self-ping, answered by the room; other requests are forwarded
// to the occupant's client (§7.5-like, with the id remapped so the
// answer finds its way back), vCard requests to its bare JID.
func (r *room) occupantIQ(ctx context.Context, st *module.Stanza) {
	m := r.svc.m
	from := r.byJID[st.From]
	nick := st.To.Resource()
	p := st.El.FirstChild()
	if from == nil {
		m.fail(ctx, st, errOf(stanza.NotAcceptable, "you are not an occupant of this room")) // XEP-0410 §3
		return
	}
	if p != nil && p.NS() == nsPing && from.nick == nick {
		m.result(ctx, st, nil)
		return
	}
	target := r.occ[nick]
	if target == nil {
		m.fail(ctx, st, errOf(stanza.ItemNotFound, "no such occupant"))
		return
	}
	to := target.latest().jid
	if p != nil && p.NS() == nsVCard {
		to = target.real // a vCard is the account's (XEP-0054 §3.3 shape)
	}
	if len(r.pendingIQ) >= 1000 {
		r.pendingIQ = map[string]pendingIQ{} // answers that never came
	}
	r.nextID++
	id := "muc" + strconv.FormatUint(r.nextID, 36) + "-" + randid.Hex(4)
	r.pendingIQ[id] = pendingIQ{from: st.From, id: st.El.Attr("id"), target: st.To, to: to}
	fromJID := r.occupantJID(from.nick)
	b := xml.NewBuilder("iq", xml.NSClient).Attr("type", st.Type()).Attr("id", id).
		Attr("from", fromJID.String()).Attr("to", to.String())
	for c := range st.El.Children() {
		b.Append(c)
	}
	m.send(ctx, b.Element(), fromJID, to)
}

// iqAnswer routes the result or error of a forwarded IQ back to whoever
// asked, from the occupant JID it asked.
func (r *room) iqAnswer(ctx context.Context, st *module.Stanza) {
	p, ok := r.pendingIQ[st.El.Attr("id")]
	if !ok || (st.From != p.to && st.From.Bare() != p.to) {
		return
	}
	delete(r.pendingIQ, st.El.Attr("id"))
	b := xml.NewBuilder("iq", xml.NSClient).Attr("type", st.Type()).Attr("id", p.id).
		Attr("from", p.target.String()).Attr("to", p.from.String())
	for c := range st.El.Children() {
		b.Append(c)
	}
	r.svc.m.send(ctx, b.Element(), p.target, p.from)
}
