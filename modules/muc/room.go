package muc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// Affiliations (XEP-0045 §5.2), ranked so that comparisons read as the
// spec's hierarchy: an owner can do anything an admin can, and so on.
type affiliation int

const (
	affOutcast affiliation = iota - 1
	affNone
	affMember
	affAdmin
	affOwner
)

var affNames = map[affiliation]string{affOutcast: "outcast", affNone: "none", affMember: "member", affAdmin: "admin", affOwner: "owner"}

func (a affiliation) String() string { return affNames[a] }

func parseAffiliation(s string) (affiliation, bool) {
	for a, n := range affNames {
		if n == s {
			return a, true
		}
	}
	return affNone, false
}

// Roles (XEP-0045 §5.1), ranked likewise.
type role int

const (
	roleNone role = iota
	roleVisitor
	roleParticipant
	roleModerator
)

var roleNames = map[role]string{roleNone: "none", roleVisitor: "visitor", roleParticipant: "participant", roleModerator: "moderator"}

func (r role) String() string { return roleNames[r] }

func parseRole(s string) (role, bool) {
	for r, n := range roleNames {
		if n == s {
			return r, true
		}
	}
	return roleNone, false
}

// roomConfig is the muc#roomconfig form's state (XEP-0045 §10.2, §16.5.3).
type roomConfig struct {
	Name              string   `json:"name,omitempty"`
	Desc              string   `json:"desc,omitempty"`
	Lang              string   `json:"lang,omitempty"`
	Logging           bool     `json:"logging,omitempty"`
	ChangeSubject     bool     `json:"change_subject,omitempty"` // participants may change it
	AllowInvites      bool     `json:"allow_invites,omitempty"`  // participants may invite
	AllowPM           string   `json:"allow_pm"`                 // anyone, participants, moderators, none
	MaxUsers          int      `json:"max_users"`
	Public            bool     `json:"public"`
	Persistent        bool     `json:"persistent,omitempty"`
	Moderated         bool     `json:"moderated,omitempty"`
	MembersOnly       bool     `json:"members_only,omitempty"`
	PasswordProtected bool     `json:"password_protected,omitempty"`
	Password          string   `json:"password,omitempty"`
	WhoIs             string   `json:"whois"`              // moderators (semi-anonymous) or anyone (non-anonymous)
	PresenceBroadcast []string `json:"presence_broadcast"` // roles whose presence is broadcast
	GetMemberList     []string `json:"get_member_list"`    // roles that may read the member list
	VoiceRequests     bool     `json:"voice_requests"`     // visitors may ask for voice (§7.13)
	PubSub            string   `json:"pubsub,omitempty"`   // muc#roomconfig_pubsub: a node the room points to (kept, not used)
	// NoOfflinePush turns off push notifications to members without a
	// session (fieldOfflinePush, push.go); negative so that rooms stored
	// before it existed keep the default, on.
	NoOfflinePush bool `json:"no_offline_push,omitempty"`
}

func defaultConfig(maxUsers int) roomConfig {
	return roomConfig{
		AllowPM:           "anyone",
		MaxUsers:          maxUsers,
		Public:            true,
		WhoIs:             "moderators",
		PresenceBroadcast: []string{"moderator", "participant", "visitor"},
		GetMemberList:     []string{"moderator", "participant", "visitor"},
		VoiceRequests:     true,
	}
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// affEntry is one affiliation list entry.
type affEntry struct {
	aff    affiliation
	nick   string // reserved nickname (§7.10)
	reason string
}

// session is one real full JID joined under an occupant's nick: XEP-0045
// §7.2 lets several resources of one bare JID share a nick (multi-session
// nicks, as Prosody and ejabberd do).
type session struct {
	jid  jid.JID
	pres *xml.Element // last presence it sent to the room
}

// occupant is one nick in the room.
type occupant struct {
	nick     string
	real     jid.JID // bare JID of the user
	sessions []*session
	role     role
	id       string // XEP-0421 occupant id
	// Token bucket for the message rate limit.
	tokens float64
	last   time.Time
}

func (o *occupant) session(full jid.JID) *session {
	for _, s := range o.sessions {
		if s.jid == full {
			return s
		}
	}
	return nil
}

// touch makes s the occupant's latest session: the one whose presence
// the room shows for a multi-session nick.
func (o *occupant) touch(s *session) {
	for i, x := range o.sessions {
		if x == s {
			copy(o.sessions[i:], o.sessions[i+1:])
			o.sessions[len(o.sessions)-1] = s
			return
		}
	}
}

// latest is the session whose presence represents the occupant.
func (o *occupant) latest() *session { return o.sessions[len(o.sessions)-1] }

// histEntry is one message of the discussion history (§7.2.13): the
// broadcast as built once (no 'to'), when it was sent and its size.
type histEntry struct {
	el    *xml.Element
	at    time.Time
	chars int // characters of el serialized, -1 until counted
}

// room is one chat room. Its stanzas are handled one at a time by its
// runner (mailbox.go), which holds mu while a handler computes what to
// send and routes that after releasing it; mu guards the room's state
// against the few readers from outside (disco items, Stop, owner counts).
type room struct {
	mu sync.Mutex

	// The mailbox, guarded by qmu: stanzas waiting for the runner,
	// whether one is running, and (non-nil while a sender waits for room
	// in a full mailbox) a channel the runner closes when it empties it.
	qmu     sync.Mutex
	queue   []*module.Stanza
	running bool
	space   chan struct{}
	// outCap sizes the next outbox: the last stanza's count of routed
	// copies (a room's broadcasts are alike), kept across runners so
	// that a paced room does not regrow the slice for every message.
	// Only the runner touches it.
	outCap int

	svc  *service
	jid  jid.JID // bare room JID
	name string  // localpart

	cfg roomConfig
	// locked: created but not yet configured (§10.1.2): nobody else may
	// enter until the owner submits a configuration or accepts the
	// instant room.
	locked    bool
	destroyed bool
	// handedOff: another cluster node owns the room now (cluster.go);
	// what is still in the mailbox goes through handle again.
	handedOff bool
	salt      string // per-room secret for XEP-0421 occupant ids
	creator   jid.JID

	affs    map[string]affEntry // bare JID (or domain) → entry
	occ     map[string]*occupant
	byJID   map[jid.JID]*occupant // real full JID → occupant
	history []histEntry
	// historyLoaded: the history was read from the archive (once, at the
	// first join after the room was loaded).
	historyLoaded bool

	subject     string
	subjectNick string
	subjectAt   time.Time
	subjectSet  bool

	vcard []byte

	// lastNick is the nick each member (bare JID) last entered with, in
	// memory: for mention detection while it is away (push.go). Only
	// members are kept, and forgotten when they stop being one.
	lastNick map[string]string
	// pushMembers caches offlinePushMembers; nil after the affiliations
	// or lastNick changed. Handed to the push service, never edited.
	pushMembers map[jid.JID]string

	// pending IQs forwarded between occupants: our id → where the answer goes.
	pendingIQ map[string]pendingIQ
	nextID    uint64
}

type pendingIQ struct {
	from   jid.JID // the requester's real full JID
	id     string  // its id
	target jid.JID // the occupant JID it was addressed to
	to     jid.JID // the real JID it was forwarded to: only it may answer
}

func newRoom(svc *service, j jid.JID, cfg roomConfig) *room {
	return &room{
		svc: svc, jid: j, name: j.Local(), cfg: cfg, historyLoaded: true,
		salt:      randid.Hex(16),
		affs:      map[string]affEntry{},
		occ:       map[string]*occupant{},
		byJID:     map[jid.JID]*occupant{},
		pendingIQ: map[string]pendingIQ{},
		lastNick:  map[string]string{},
	}
}

// occupantID is XEP-0421's id: stable for one real bare JID in one room,
// opaque to others (a salted hash, §4: the salt never leaves the room).
func (r *room) occupantID(real jid.JID) string {
	h := sha256.Sum256([]byte(r.salt + "\x00" + real.Bare().String()))
	return base64.RawURLEncoding.EncodeToString(h[:18])
}

// affiliationOf looks up the bare JID, then its domain (a domain may be
// banned or made members whole, §9.1 "affiliation with a domain").
func (r *room) affiliationOf(real jid.JID) affEntry {
	if e, ok := r.affs[real.Bare().String()]; ok {
		return e
	}
	if e, ok := r.affs[real.Domain()]; ok {
		return e
	}
	return affEntry{aff: affNone}
}

// defaultRole is §5.1.2's table: the role an affiliation enters with.
func (r *room) defaultRole(a affiliation) role {
	switch {
	case a >= affAdmin:
		return roleModerator
	case a == affMember:
		return roleParticipant
	case a == affNone && r.cfg.MembersOnly:
		return roleNone // entry not permitted
	case a == affNone && r.cfg.Moderated:
		return roleVisitor
	case a == affNone:
		return roleParticipant
	}
	return roleNone
}

func (r *room) nonAnonymous() bool { return r.cfg.WhoIs == "anyone" }

// mayAnnounce: presence of role is broadcast to other occupants.
func (r *room) mayAnnounce(ro role) bool { return has(r.cfg.PresenceBroadcast, ro.String()) }

func (r *room) owners() int {
	n := 0
	for _, e := range r.affs {
		if e.aff == affOwner {
			n++
		}
	}
	return n
}

func (r *room) occupantCount() int { return len(r.occ) }

// persisted is what the store keeps of a room (storage.MUCRoom.Config).
type persisted struct {
	Config      roomConfig `json:"config"`
	Salt        string     `json:"salt"`
	Subject     string     `json:"subject,omitempty"`
	SubjectNick string     `json:"subject_nick,omitempty"`
	SubjectAt   time.Time  `json:"subject_at,omitzero"`
	SubjectSet  bool       `json:"subject_set,omitempty"`
}

func (r *room) encode() []byte {
	b, _ := json.Marshal(persisted{Config: r.cfg, Salt: r.salt, Subject: r.subject, SubjectNick: r.subjectNick, SubjectAt: r.subjectAt, SubjectSet: r.subjectSet})
	return b
}

func (r *room) decode(b []byte) error {
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	r.cfg, r.salt = p.Config, p.Salt
	r.subject, r.subjectNick, r.subjectAt, r.subjectSet = p.Subject, p.SubjectNick, p.SubjectAt, p.SubjectSet
	if r.salt == "" {
		r.salt = randid.Hex(16)
	}
	return nil
}
