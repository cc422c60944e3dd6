package muc

import "testing"

// TestRolePrivileges is XEP-0045 §5.1.1's table with the default room
// configuration (changesubject and allowinvites off, allowpm anyone).
func TestRolePrivileges(t *testing.T) {
	cfg := defaultConfig(100)
	type row struct {
		name string
		can  func(role) bool
		want [4]bool // none, visitor, participant, moderator
	}
	rows := []row{
		{"present in room", mayPresent, [4]bool{false, true, true, true}},
		{"send private messages", func(r role) bool { return maySendPM(&cfg, r) }, [4]bool{false, true, true, true}},
		{"invite other users", func(r role) bool { return mayInvite(&cfg, r) }, [4]bool{false, false, false, true}},
		{"send messages to all", maySendGroupchat, [4]bool{false, false, true, true}},
		{"modify subject", func(r role) bool { return mayChangeSubject(&cfg, r) }, [4]bool{false, false, false, true}},
		{"kick participants and visitors", func(r role) bool {
			return mayKick(r, affNone, roleParticipant, affNone) && mayKick(r, affNone, roleVisitor, affNone)
		}, [4]bool{false, false, false, true}},
		{"grant voice", func(r role) bool { return maySetRole(r, affNone, roleVisitor, affNone, roleParticipant) }, [4]bool{false, false, false, true}},
		{"revoke voice", func(r role) bool { return maySetRole(r, affNone, roleParticipant, affNone, roleVisitor) }, [4]bool{false, false, false, true}},
	}
	for _, rw := range rows {
		for i, r := range []role{roleNone, roleVisitor, roleParticipant, roleModerator} {
			if got := rw.can(r); got != rw.want[i] {
				t.Errorf("%s for %s = %v, want %v", rw.name, r, got, rw.want[i])
			}
		}
	}
	// The footnotes: configuration widens subject and invitations; voice
	// is never revoked from an admin or owner (***); an admin or owner is
	// never kicked by a mere moderator.
	open := cfg
	open.ChangeSubject, open.AllowInvites = true, true
	if !mayChangeSubject(&open, roleParticipant) || mayChangeSubject(&open, roleVisitor) || !mayInvite(&open, roleVisitor) {
		t.Error("changesubject/allowinvites not honoured")
	}
	for _, a := range []affiliation{affAdmin, affOwner} {
		if maySetRole(roleModerator, affNone, roleModerator, a, roleVisitor) || mayKick(roleModerator, affNone, roleModerator, a) || mayKick(roleModerator, affAdmin, roleModerator, affOwner) {
			t.Errorf("a moderator may act on an %s", a)
		}
	}
	for pm, want := range map[string][4]bool{"none": {}, "moderators": {false, false, false, true}, "participants": {false, false, true, true}} {
		c := cfg
		c.AllowPM = pm
		for i, r := range []role{roleNone, roleVisitor, roleParticipant, roleModerator} {
			if maySendPM(&c, r) != want[i] {
				t.Errorf("allowpm=%s, %s: %v", pm, r, !want[i])
			}
		}
	}
}

// TestAffiliationPrivileges is §5.2.1's table.
func TestAffiliationPrivileges(t *testing.T) {
	open, members := defaultConfig(100), defaultConfig(100)
	members.MembersOnly = true
	affs := []affiliation{affOutcast, affNone, affMember, affAdmin, affOwner}
	rows := []struct {
		name string
		can  func(affiliation) bool
		want [5]bool // outcast, none, member, admin, owner
	}{
		{"enter open room", func(a affiliation) bool { return mayEnter(&open, a) }, [5]bool{false, true, true, true, true}},
		{"register with open room", mayRegister, [5]bool{false, true, false, false, false}},
		{"retrieve member list", func(a affiliation) bool { return mayGetAffList(&open, roleParticipant, a, affMember) }, [5]bool{false, false, true, true, true}},
		{"enter members-only room", func(a affiliation) bool { return mayEnter(&members, a) }, [5]bool{false, false, true, true, true}},
		{"ban members and unaffiliated users", func(a affiliation) bool {
			return maySetAffiliation(a, affMember, affOutcast) && maySetAffiliation(a, affNone, affOutcast)
		}, [5]bool{false, false, false, true, true}},
		{"edit member list", func(a affiliation) bool { return maySetAffiliation(a, affNone, affMember) }, [5]bool{false, false, false, true, true}},
		{"assign and remove moderator role", func(a affiliation) bool {
			return maySetRole(roleModerator, a, roleParticipant, affNone, roleModerator) && maySetRole(roleModerator, a, roleModerator, affNone, roleParticipant)
		}, [5]bool{false, false, false, true, true}},
		{"edit admin list", func(a affiliation) bool { return maySetAffiliation(a, affNone, affAdmin) }, [5]bool{false, false, false, false, true}},
		{"edit owner list", func(a affiliation) bool { return maySetAffiliation(a, affNone, affOwner) }, [5]bool{false, false, false, false, true}},
		{"change room configuration", mayConfigure, [5]bool{false, false, false, false, true}},
		{"destroy room", mayConfigure, [5]bool{false, false, false, false, true}},
	}
	for _, rw := range rows {
		for i, a := range affs {
			if got := rw.can(a); got != rw.want[i] {
				t.Errorf("%s for %s = %v, want %v", rw.name, a, got, rw.want[i])
			}
		}
	}
	// §5.2.2: an admin may not touch another admin or an owner.
	if maySetAffiliation(affAdmin, affAdmin, affNone) || maySetAffiliation(affAdmin, affOwner, affOutcast) {
		t.Error("admin edits admins or owners")
	}
}

// TestDefaultRoles is §5.1.2's table.
func TestDefaultRoles(t *testing.T) {
	for _, tc := range []struct {
		name      string
		moderated bool
		members   bool
		want      [4]role // none, member, admin, owner
	}{
		{"moderated", true, false, [4]role{roleVisitor, roleParticipant, roleModerator, roleModerator}},
		{"unmoderated", false, false, [4]role{roleParticipant, roleParticipant, roleModerator, roleModerator}},
		{"members-only", false, true, [4]role{roleNone, roleParticipant, roleModerator, roleModerator}},
	} {
		r := &room{cfg: defaultConfig(10)}
		r.cfg.Moderated, r.cfg.MembersOnly = tc.moderated, tc.members
		for i, a := range []affiliation{affNone, affMember, affAdmin, affOwner} {
			if got := r.defaultRole(a); got != tc.want[i] {
				t.Errorf("%s: %s enters as %s, want %s", tc.name, a, got, tc.want[i])
			}
		}
	}
}
