package muc

import (
	"context"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const nsRoomConfig = NS + "#roomconfig"

// configForm is the muc#roomconfig form with the room's current values
// (§10.2, the fields of §16.5.3).
func (r *room) configForm() *xml.Element {
	c := &r.cfg
	max := strconv.Itoa(c.MaxUsers)
	if c.MaxUsers <= 0 {
		max = "none"
	}
	var owners, admins []string
	for k, e := range r.affs {
		switch e.aff {
		case affOwner:
			owners = append(owners, k)
		case affAdmin:
			admins = append(admins, k)
		}
	}
	roles := []option{{"Moderator", "moderator"}, {"Participant", "participant"}, {"Visitor", "visitor"}}
	fields := []field{
		{v: "muc#roomconfig_roomname", typ: "text-single", label: "Natural-Language Room Name", values: []string{c.Name}},
		{v: "muc#roomconfig_roomdesc", typ: "text-single", label: "Short Description of Room", values: []string{c.Desc}},
		{v: "muc#roomconfig_lang", typ: "text-single", label: "Natural Language for Room Discussions", values: []string{c.Lang}},
		{v: "muc#roomconfig_enablelogging", typ: "boolean", label: "Enable Public Logging?", values: boolValue(c.Logging)},
		{v: "muc#roomconfig_changesubject", typ: "boolean", label: "Allow Occupants to Change Subject?", values: boolValue(c.ChangeSubject)},
		{v: "muc#roomconfig_allowinvites", typ: "boolean", label: "Allow Occupants to Invite Others?", values: boolValue(c.AllowInvites)},
		{v: "muc#roomconfig_allowpm", typ: "list-single", label: "Who Can Send Private Messages?", values: []string{c.AllowPM},
			options: []option{{"Anyone", "anyone"}, {"Anyone with Voice", "participants"}, {"Moderators Only", "moderators"}, {"Nobody", "none"}}},
		{v: "muc#roomconfig_maxusers", typ: "list-single", label: "Maximum Number of Occupants", values: []string{max},
			options: []option{{"10", "10"}, {"20", "20"}, {"30", "30"}, {"50", "50"}, {"100", "100"}, {"None", "none"}}},
		{v: "muc#roomconfig_presencebroadcast", typ: "list-multi", label: "Roles for which Presence is Broadcasted", values: c.PresenceBroadcast, options: roles},
		{v: "muc#roomconfig_getmemberlist", typ: "list-multi", label: "Roles and Affiliations that May Retrieve Member List", values: c.GetMemberList, options: roles},
		{v: "muc#roomconfig_publicroom", typ: "boolean", label: "Make Room Publicly Searchable?", values: boolValue(c.Public)},
		{v: "muc#roomconfig_persistentroom", typ: "boolean", label: "Make Room Persistent?", values: boolValue(c.Persistent)},
		{v: "muc#roomconfig_moderatedroom", typ: "boolean", label: "Make Room Moderated?", values: boolValue(c.Moderated)},
		{v: "muc#roomconfig_membersonly", typ: "boolean", label: "Make Room Members-Only?", values: boolValue(c.MembersOnly)},
		{v: "muc#roomconfig_passwordprotectedroom", typ: "boolean", label: "Password Required to Enter?", values: boolValue(c.PasswordProtected)},
		{v: "muc#roomconfig_roomsecret", typ: "text-private", label: "Password", values: []string{c.Password}},
		{v: "muc#roomconfig_whois", typ: "list-single", label: "Who May Discover Real JIDs?", values: []string{c.WhoIs},
			options: []option{{"Moderators Only", "moderators"}, {"Anyone", "anyone"}}},
		{v: "muc#roomconfig_pubsub", typ: "text-single", label: "XMPP URI of Associated Publish-Subscribe Node", values: []string{c.PubSub}},
		{v: "muc#roomconfig_allowvoicerequests", typ: "boolean", label: "Allow Visitors to Request Voice?", values: boolValue(c.VoiceRequests)},
		{v: "muc#roomconfig_roomadmins", typ: "jid-multi", label: "Full List of Room Admins", values: sorted(admins)},
		{v: "muc#roomconfig_roomowners", typ: "jid-multi", label: "Full List of Room Owners", values: sorted(owners)},
		{v: fieldOfflinePush, typ: "boolean", label: "Push Notifications to Members Who Are Offline? (members-only rooms)", values: boolValue(!c.NoOfflinePush)},
	}
	return xml.NewBuilder("query", NSOwner).Append(formEl("form", "Configuration for "+r.jid.String(), nsRoomConfig, fields)).Element()
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ownerSet handles muc#owner sets: the configuration form (§10.1.2
// instant room with an empty submit, §10.1.3 reserved room, §10.2 later
// changes), cancel (§10.1.3: a room being created is destroyed) and
// destroy (§10.9).
func (r *room) ownerSet(ctx context.Context, st *module.Stanza, q *xml.Element) *stanza.Error {
	if !mayConfigure(r.affiliationOf(st.From).aff) {
		return errOf(stanza.Forbidden, "only owners configure the room")
	}
	if d := q.Child("destroy", NSOwner); d != nil {
		r.destroy(ctx, d)
		return nil
	}
	f := parseForm(q)
	if f == nil {
		return errOf(stanza.BadRequest, "a data form or destroy is expected")
	}
	switch f.typ {
	case "cancel":
		if r.locked {
			r.destroy(ctx, nil) // §10.1.3: the creator gave up
		}
		return nil
	case "submit":
	default:
		return errOf(stanza.BadRequest, "the form must be submitted or cancelled")
	}
	if ft := f.formType(); ft != "" && ft != nsRoomConfig {
		return errOf(stanza.BadRequest, "unexpected FORM_TYPE "+ft)
	}
	old := r.cfg
	c, e := r.applyForm(old, f)
	if e != nil {
		return e
	}
	// Owner and admin lists from the form (jid-multi, replacing).
	var owners, admins []string
	setOwners, setAdmins := f.has("muc#roomconfig_roomowners"), f.has("muc#roomconfig_roomadmins")
	for _, set := range []struct {
		field string
		out   *[]string
	}{{"muc#roomconfig_roomowners", &owners}, {"muc#roomconfig_roomadmins", &admins}} {
		for _, v := range f.fields[set.field] {
			j, err := jid.Parse(strings.TrimSpace(v))
			if err != nil {
				return errOf(stanza.JIDMalformed, v)
			}
			*set.out = append(*set.out, affKey(j))
		}
	}
	if setOwners && len(owners) == 0 {
		return errOf(stanza.Conflict, "a room needs an owner")
	}
	wasLocked := r.locked
	r.cfg = c
	r.locked = false
	if old.Persistent && !c.Persistent {
		r.unsave(ctx)
	}
	if setOwners || setAdmins {
		r.replaceAffs(ctx, affOwner, owners, setOwners)
		r.replaceAffs(ctx, affAdmin, admins, setAdmins)
	}
	if c.Persistent {
		r.saveAll(ctx)
	}
	if c.MembersOnly && !old.MembersOnly {
		// §9.4 / status 322: non-members leave a room turned members-only.
		for _, o := range r.occList() {
			if r.affiliationOf(o.real).aff < affMember {
				r.removeOccupant(ctx, o, []int{322}, nil)
			}
		}
	}
	if !wasLocked {
		r.notifyConfig(ctx, old)
	} else if len(r.occ) > 0 {
		// The creator now gets the (empty) subject: the room exists.
		for _, o := range r.occ {
			for _, s := range o.sessions {
				r.sendSubject(ctx, s.jid)
			}
		}
	}
	r.afterLeave(ctx)
	return nil
}

func (r *room) occList() []*occupant {
	out := make([]*occupant, 0, len(r.occ))
	for _, o := range r.occ {
		out = append(out, o)
	}
	return out
}

// replaceAffs makes exactly keys hold aff (when set).
func (r *room) replaceAffs(ctx context.Context, aff affiliation, keys []string, set bool) {
	if !set {
		return
	}
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	for k, e := range r.affs {
		if e.aff == aff && !want[k] {
			r.setAffiliation(ctx, k, affEntry{aff: affNone}, nil)
		}
	}
	for _, k := range keys {
		if r.affs[k].aff != aff {
			r.setAffiliation(ctx, k, affEntry{aff: aff, nick: r.affs[k].nick}, nil)
		}
	}
}

// applyForm reads a submitted muc#roomconfig form over cfg; fields the
// form leaves out keep their value (an empty submit is the instant room
// of §10.1.2).
func (r *room) applyForm(c roomConfig, f *form) (roomConfig, *stanza.Error) {
	bad := func(v string) *stanza.Error { return errOf(stanza.NotAcceptable, "bad value for "+v) }
	text := func(v string, dst *string) {
		if f.has(v) {
			*dst = f.one(v)
		}
	}
	text("muc#roomconfig_roomname", &c.Name)
	text("muc#roomconfig_roomdesc", &c.Desc)
	text("muc#roomconfig_lang", &c.Lang)
	text("muc#roomconfig_roomsecret", &c.Password)
	text("muc#roomconfig_pubsub", &c.PubSub)
	for v, dst := range map[string]*bool{
		"muc#roomconfig_enablelogging":         &c.Logging,
		"muc#roomconfig_changesubject":         &c.ChangeSubject,
		"muc#roomconfig_allowinvites":          &c.AllowInvites,
		"muc#roomconfig_publicroom":            &c.Public,
		"muc#roomconfig_persistentroom":        &c.Persistent,
		"muc#roomconfig_moderatedroom":         &c.Moderated,
		"muc#roomconfig_membersonly":           &c.MembersOnly,
		"muc#roomconfig_passwordprotectedroom": &c.PasswordProtected,
		"muc#roomconfig_allowvoicerequests":    &c.VoiceRequests,
	} {
		b, ok := f.boolean(v, *dst)
		if !ok {
			return c, bad(v)
		}
		*dst = b
	}
	offlinePush, ok := f.boolean(fieldOfflinePush, !c.NoOfflinePush)
	if !ok {
		return c, bad(fieldOfflinePush)
	}
	c.NoOfflinePush = !offlinePush
	if f.has("muc#roomconfig_allowpm") {
		switch v := f.one("muc#roomconfig_allowpm"); v {
		case "anyone", "participants", "moderators", "none":
			c.AllowPM = v
		default:
			return c, bad("muc#roomconfig_allowpm")
		}
	}
	if f.has("muc#roomconfig_whois") {
		switch v := f.one("muc#roomconfig_whois"); v {
		case "moderators", "anyone":
			c.WhoIs = v
		default:
			return c, bad("muc#roomconfig_whois")
		}
	}
	if f.has("muc#roomconfig_maxusers") {
		v := f.one("muc#roomconfig_maxusers")
		if v == "none" || v == "" || v == "0" {
			c.MaxUsers = r.svc.m.cfg.MaxOccupants
		} else if n, err := strconv.Atoi(v); err == nil && n > 0 {
			c.MaxUsers = min(n, r.svc.m.cfg.MaxOccupants)
		} else {
			return c, bad("muc#roomconfig_maxusers")
		}
	}
	for v, dst := range map[string]*[]string{"muc#roomconfig_presencebroadcast": &c.PresenceBroadcast, "muc#roomconfig_getmemberlist": &c.GetMemberList} {
		if !f.has(v) {
			continue
		}
		var roles []string
		for _, x := range f.fields[v] {
			if _, ok := parseRole(x); !ok || x == "none" {
				return c, bad(v)
			}
			roles = append(roles, x)
		}
		*dst = roles
	}
	if c.PasswordProtected && c.Password == "" {
		return c, errOf(stanza.NotAcceptable, "a password-protected room needs muc#roomconfig_roomsecret")
	}
	return c, nil
}

// notifyConfig is §10.2.1: occupants learn of changes (104) and of those
// that touch their privacy (170-173).
func (r *room) notifyConfig(ctx context.Context, old roomConfig) {
	codes := []int{104}
	if r.cfg.Logging != old.Logging {
		codes = append(codes, map[bool]int{true: 170, false: 171}[r.cfg.Logging])
	}
	if r.cfg.WhoIs != old.WhoIs {
		codes = append(codes, map[bool]int{true: 172, false: 173}[r.nonAnonymous()])
	}
	b := xml.NewBuilder("message", xml.NSClient).Attr("from", r.jid.String()).Attr("type", "groupchat").Attr("id", randid.Hex(8))
	b.Start("x", NSUser)
	for _, c := range codes {
		b.Start("status", "").Attr("code", strconv.Itoa(c)).End()
	}
	b.End()
	el := b.Element()
	for _, o := range r.occ {
		for _, s := range o.sessions {
			r.sendFrom(ctx, el, r.jid, s.jid)
		}
	}
}

// destroy is §10.9: everyone leaves with the destroy element (alternate
// venue, reason), the stored room goes.
func (r *room) destroy(ctx context.Context, d *xml.Element) {
	var ex *extra
	if d != nil {
		b := xml.NewBuilder("destroy", NSUser)
		if j := d.Attr("jid"); j != "" {
			b.Attr("jid", j)
		}
		if rs := d.Child("reason", NSOwner); rs != nil {
			b.Start("reason", "").Text(rs.Text()).End()
		}
		if pw := d.Child("password", NSOwner); pw != nil {
			b.Start("password", "").Text(pw.Text()).End()
		}
		ex = &extra{destroy: b.Element()}
	} else {
		ex = &extra{destroy: xml.NewBuilder("destroy", NSUser).Element()}
	}
	none := affNone
	ex.aff = &none
	for _, o := range r.occ {
		o.role = roleNone
	}
	if r.cfg.Persistent {
		r.unsave(ctx)
	}
	r.removeAll(ctx, nil, ex)
	r.dropArchive(ctx)
}

// registerGet is §7.10: the registration form, or the reserved nick when
// the user already has an affiliation.
func (r *room) registerGet(st *module.Stanza) (*xml.Element, *stanza.Error) {
	ae := r.affiliationOf(st.From)
	if ae.aff == affOutcast {
		return nil, errOf(stanza.Forbidden, "")
	}
	b := xml.NewBuilder("query", nsReg)
	if ae.aff >= affMember {
		b.Start("registered", "").End()
		if ae.nick != "" {
			b.Start("username", "").Text(ae.nick).End()
		}
		return b.Element(), nil
	}
	b.Start("instructions", "").Text("To register with this room, choose the nickname to reserve.").End()
	b.Append(formEl("form", "Registration with "+r.jid.String(), NS+"#register", []field{
		{v: "muc#register_first", typ: "text-single", label: "Given Name"},
		{v: "muc#register_last", typ: "text-single", label: "Family Name"},
		{v: "muc#register_roomnick", typ: "text-single", label: "Desired Nickname"},
		{v: "muc#register_url", typ: "text-single", label: "Your URL"},
		{v: "muc#register_email", typ: "text-single", label: "Email Address"},
		{v: "muc#register_faqentry", typ: "text-multi", label: "FAQ Entry"},
	}))
	return b.Element(), nil
}

// registerSet is §7.10: an unaffiliated user of an open room becomes a
// member with its nick reserved. A members-only room takes members from
// its admins only (its registration would need the approval flow of
// §9.9, not implemented).
func (r *room) registerSet(ctx context.Context, st *module.Stanza, q *xml.Element) *stanza.Error {
	ae := r.affiliationOf(st.From)
	key := st.From.Bare().String()
	if q.Child("remove", nsReg) != nil {
		if ae.aff == affMember {
			r.setAffiliation(ctx, key, affEntry{aff: affNone}, nil)
		}
		return nil
	}
	f := parseForm(q)
	if f == nil || f.typ != "submit" {
		if f != nil && f.typ == "cancel" {
			return nil
		}
		return errOf(stanza.BadRequest, "submit the muc#register form")
	}
	if ae.aff == affOutcast {
		return errOf(stanza.Forbidden, "")
	}
	nick := strings.TrimSpace(f.one("muc#register_roomnick"))
	if nick == "" {
		return errOf(stanza.NotAcceptable, "muc#register_roomnick is required")
	}
	nj, err := r.jid.WithResource(nick)
	if err != nil {
		return errOf(stanza.NotAcceptable, "not a valid nickname")
	}
	nick = nj.Resource()
	if r.reservedBy(nick, st.From) {
		return errOf(stanza.Conflict, "that nickname is reserved")
	}
	if o := r.occ[nick]; o != nil && o.real != st.From.Bare() {
		return errOf(stanza.Conflict, "that nickname is in use")
	}
	if !mayRegister(ae.aff) {
		// Already a member, admin or owner: the submission reserves
		// (or changes) the nick and keeps the affiliation, as Prosody
		// does. §7.10 keeps <conflict/> for a nick someone else holds;
		// Converse.js registers its nick on every entry and treats an
		// error as fatal to the room.
		ae.nick = nick
		r.affs[key] = ae
		r.pushMembers = nil
		r.saveAffiliation(ctx, key, ae)
		return nil
	}
	if r.cfg.MembersOnly {
		// §9.9: a members-only room asks its admins and owners.
		r.askRegistration(ctx, st.From.Bare(), nick, f)
		return nil
	}
	r.setAffiliation(ctx, key, affEntry{aff: affMember, nick: nick}, nil)
	return nil
}

// askRegistration sends §9.9's approval form to every admin and owner
// (their bare JIDs: offline storage keeps it for those not online). The
// form carries the requester's JID in muc#jid, which §9.9's form lacks
// and the approval needs.
func (r *room) askRegistration(ctx context.Context, who jid.JID, nick string, f *form) {
	fields := []field{{v: "muc#jid", typ: "jid-single", label: "User ID", values: []string{who.String()}}}
	for _, v := range []struct{ v, label string }{
		{"muc#register_first", "Given Name"}, {"muc#register_last", "Family Name"}, {"muc#register_url", "User URL"},
		{"muc#register_email", "Email Address"}, {"muc#register_faqentry", "FAQ Entry"},
	} {
		if f.has(v.v) {
			fields = append(fields, field{v: v.v, typ: "text-single", label: v.label, values: f.fields[v.v]})
		}
	}
	fields = append(fields,
		field{v: "muc#register_roomnick", typ: "text-single", label: "Desired Nickname", values: []string{nick}},
		field{v: "muc#register_allow", typ: "boolean", label: "Allow this person to register with the room?", values: []string{"0"}})
	form := formEl("form", "Registration request", NS+"#register", fields)
	for k, e := range r.affs {
		if e.aff < affAdmin {
			continue
		}
		to, err := jid.Parse(k)
		if err != nil || to.Local() == "" {
			continue
		}
		el := xml.NewBuilder("message", xml.NSClient).Attr("from", r.jid.String()).Attr("to", to.String()).
			Attr("id", randid.Hex(8)).Append(form).Element()
		r.svc.m.send(ctx, el, r.jid, to)
	}
}

// approveRegistration: an admin or owner submits the §9.9 form back.
func (r *room) approveRegistration(ctx context.Context, st *module.Stanza, f *form) {
	if r.affiliationOf(st.From).aff < affAdmin {
		r.svc.m.fail(ctx, st, errOf(stanza.Forbidden, "only admins approve registrations"))
		return
	}
	allow, _ := f.boolean("muc#register_allow", false)
	who, err := jid.Parse(f.one("muc#jid"))
	if !allow || err != nil {
		return
	}
	nick := f.one("muc#register_roomnick")
	if nick != "" && r.reservedBy(nick, who) {
		return // taken meanwhile
	}
	if r.affiliationOf(who).aff == affNone {
		r.setAffiliation(ctx, affKey(who), affEntry{aff: affMember, nick: nick}, nil)
	}
}
