package muc

// The privilege tables of XEP-0045 §5.1.1 (roles) and §5.2.1
// (affiliations), as functions of the room's configuration: every check
// in the module goes through these, and privileges_test.go holds the
// tables themselves.

// mayPresent: "Present in Room", "Receive Messages", "Receive Occupant
// Presence" (every role but none).
func mayPresent(ro role) bool { return ro >= roleVisitor }

// maySendGroupchat: "Send Messages to All". Visitors may not (a visitor
// only exists in a moderated room here: §5.1.2 gives participant to
// everyone in an unmoderated one).
func maySendGroupchat(ro role) bool { return ro >= roleParticipant }

// mayChangeSubject: "Modify Subject": moderators; participants when
// muc#roomconfig_changesubject allows it.
func mayChangeSubject(cfg *roomConfig, ro role) bool {
	return ro == roleModerator || ro == roleParticipant && cfg.ChangeSubject
}

// mayInvite: "Invite Other Users": moderators; others when
// muc#roomconfig_allowinvites allows it. In a members-only room only
// admins and owners (who are moderators) may invite unless it does
// (§7.8.2).
func mayInvite(cfg *roomConfig, ro role) bool {
	return ro == roleModerator || ro >= roleVisitor && cfg.AllowInvites
}

// maySendPM: "Send Private Messages", by muc#roomconfig_allowpm.
func maySendPM(cfg *roomConfig, ro role) bool {
	switch cfg.AllowPM {
	case "none":
		return false
	case "moderators":
		return ro == roleModerator
	case "participants":
		return ro >= roleParticipant
	}
	return ro >= roleVisitor
}

// mayKick: a moderator kicks participants and visitors (§8.2); kicking a
// moderator takes an admin or owner, and nobody kicks an occupant of
// higher affiliation, nor an admin or owner at all without being an
// owner (§8.2: "MUST NOT allow a moderator to kick an admin or owner").
func mayKick(actorRole role, actorAff affiliation, targetRole role, targetAff affiliation) bool {
	if actorRole != roleModerator {
		return false
	}
	if targetAff >= affAdmin && actorAff < affOwner {
		return false
	}
	if targetAff > actorAff {
		return false
	}
	if targetRole == roleModerator && actorAff < affAdmin {
		return false
	}
	return true
}

// maySetRole: granting or revoking voice (participant ↔ visitor) takes a
// moderator and never touches an admin or owner (*** of §5.1.1);
// granting or revoking moderator takes an admin or owner (§9.6, §9.7)
// and an admin may not demote an owner (§5.1.3 *).
func maySetRole(actorRole role, actorAff affiliation, targetRole role, targetAff affiliation, to role) bool {
	if actorRole != roleModerator {
		return false
	}
	if to == roleNone {
		return mayKick(actorRole, actorAff, targetRole, targetAff)
	}
	if to == roleModerator || targetRole == roleModerator {
		if actorAff < affAdmin || targetAff > actorAff {
			return false
		}
		return true
	}
	// voice
	return targetAff < affAdmin
}

// maySetAffiliation is the affiliation state chart (§5.2.2): admins edit
// the member and ban lists for users below admin; owners edit everything.
func maySetAffiliation(actor, target, to affiliation) bool {
	switch actor {
	case affOwner:
		return true
	case affAdmin:
		return target < affAdmin && to < affAdmin
	}
	return false
}

// mayGetList: who may retrieve an affiliation or role list. The member
// list by muc#roomconfig_getmemberlist (§7.9, §9.5); the ban list and
// the moderator list by admins (§9.2, §9.8); the voice list by moderators
// (§8.5); the owner and admin lists by owners (§10.5, §10.8) and admins
// (read-only, a common relaxation).
func mayGetAffList(cfg *roomConfig, actorRole role, actorAff affiliation, list affiliation) bool {
	switch list {
	case affMember:
		return actorAff >= affAdmin || has(cfg.GetMemberList, actorRole.String()) && actorAff >= affMember
	case affOutcast:
		return actorAff >= affAdmin
	case affAdmin, affOwner:
		return actorAff >= affAdmin
	}
	return false
}

func mayGetRoleList(actorRole role, actorAff affiliation, list role) bool {
	switch list {
	case roleModerator:
		return actorAff >= affAdmin
	case roleParticipant, roleVisitor:
		return actorRole == roleModerator
	}
	return false
}

// mayEnter is "Enter Open Room" / "Enter Members-Only Room".
func mayEnter(cfg *roomConfig, a affiliation) bool {
	if a == affOutcast {
		return false
	}
	return !cfg.MembersOnly || a >= affMember
}

// mayRegister is "Register with Open Room": only without an affiliation.
func mayRegister(a affiliation) bool { return a == affNone }

// mayConfigure / mayDestroy: owners only (§10.2, §10.9).
func mayConfigure(a affiliation) bool { return a == affOwner }
