// Package module is xmppd's extension point. A feature (a XEP, an RFC 6121
// part) is a Module in its own folder under modules/; it registers itself in
// init() and, when the server starts it, receives a Handle through which it
// adds IQ handlers, disco features and identities, stream features and hooks.
// The Handle records everything so that stopping a module undoes it.
//
// The core (router, c2s) calls into the Registry; modules never import the
// core packages, only this one and the leaf packages (xml, jid, stanza,
// storage). Nor do they import each other: a module provides services to
// the others of its server through the registry (Provide, Require,
// services.go; README.md).
package module

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// Module is one feature. Start registers what it provides through h.
type Module interface {
	Start(h *Handle) error
}

// Stopper is implemented by modules that hold resources beyond what the
// Handle undoes.
type Stopper interface {
	Stop() error
}

var (
	factoriesMu sync.Mutex
	factories   = map[string]func() Module{}
)

// Register makes a module available under name. Call it from init().
func Register(name string, factory func() Module) {
	factoriesMu.Lock()
	defer factoriesMu.Unlock()
	if _, dup := factories[name]; dup {
		panic("module: duplicate registration of " + name)
	}
	factories[name] = factory
}

// Available lists registered module names, sorted.
func Available() []string {
	factoriesMu.Lock()
	defer factoriesMu.Unlock()
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newModule(name string) (Module, error) {
	factoriesMu.Lock()
	f := factories[name]
	factoriesMu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("module %q is not registered (available: %v)", name, Available())
	}
	return f(), nil
}

// Session is a bound client session as modules see it.
type Session interface {
	// JID is the full JID bound to the session.
	JID() jid.JID
	// Deliver queues el for writing to the client without blocking. It
	// returns false when the session is closing or its queue overflowed
	// (the session is then closed: a client that does not read is cut off).
	Deliver(el *xml.Element) bool
	// Available reports whether the session has sent initial presence and
	// not yet unavailable presence; Priority is its last presence priority.
	Available() bool
	Priority() int
	// Presence is the last available presence broadcast by the session, or nil.
	Presence() *xml.Element
	// CloseStream ends the session with a stream error condition ("" for a
	// plain close).
	CloseStream(condition, text string)
}

// Proxy is implemented by sessions bound on another node of the cluster
// (package cluster): what a module holds per session lives on that node,
// and such a session's end (its node died) is announced by the node that
// noticed.
type Proxy interface {
	NodeName() string
}

// ArchiveSynced is implemented by sessions whose client catches up from the
// message archive rather than from offline storage (XEP-0386 Bind 2,
// §3.1): offline storage gives such a session only what the archive did
// not keep, and clears the rest.
type ArchiveSynced interface {
	ArchiveSynced() bool
}

// Mark is where a stanza stands in a session's output (Paced). Its
// fields mean something only to the session that returned it; the zero
// Mark counts as reached.
type Mark struct {
	Pos   uint64
	Acked bool
}

// Paced is implemented by sessions that let a module send a long series of
// stanzas (an account's stored offline messages) at the pace the client
// takes them, and learn which of them reached it, so that storage deletes
// only those.
type Paced interface {
	// DeliverOwned queues el as Deliver does and returns its Mark. The
	// caller keeps its own copy until Reached says el got there: should
	// the session end with el unacknowledged (XEP-0198), el is dropped
	// rather than handed back to the router.
	DeliverOwned(el *xml.Element) (Mark, bool)
	// Reached reports whether the stanza at m left the server: written
	// to the operating system's socket past every buffer of the server
	// and its transport or, if stream management was enabled when it was
	// queued, acknowledged by the client. When output is lost (a broken
	// connection) a mark not reached by then is never reached.
	Reached(m Mark) bool
	// Backlog is how many bytes queued for the client are not yet written
	// to the socket, and how many the session holds before it cuts the
	// client off as a slow consumer.
	Backlog() (queued, limit int)
	// HoldLive(true) keeps chat and normal messages routed to the session
	// from then on back, so that they do not overtake the series (RFC
	// 6120 §10.1 in-order delivery); HoldLive(false) queues what it kept
	// after what the series queued, and delivers directly again. Should
	// the session end meanwhile, what it kept goes back to the router.
	HoldLive(on bool)
}

// SessionFlags is implemented by directories whose sessions other cluster
// nodes see (package cluster): a module that keeps a per-session flag
// (carbons enabled, roster requested) sets it there too, so that its
// peers on other nodes can read it on the session's proxy (Flagged).
type SessionFlags interface {
	SetFlag(s Session, flag string, on bool)
}

// Flagged is implemented by sessions of other cluster nodes: the flags
// their own node set (SessionFlags).
type Flagged interface {
	Flag(flag string) bool
}

// SetFlag sets a per-session flag in dir when it shares them (a cluster);
// a single server needs nothing.
func SetFlag(dir Directory, s Session, flag string, on bool) {
	if sf, ok := dir.(SessionFlags); ok {
		sf.SetFlag(s, flag, on)
	}
}

// HasFlag reports a flag of a session of another cluster node.
func HasFlag(s Session, flag string) bool {
	f, ok := s.(Flagged)
	return ok && f.Flag(flag)
}

// Tracked is implemented by sessions that can say whether a stanza
// delivered to them left the server (Reached), so that a cluster node that
// sent it from another node keeps its copy until then (package cluster).
type Tracked interface {
	// DeliverTracked queues el as Deliver does and returns its Mark;
	// held means the session kept el back (its own end hands it to the
	// router) and the mark means nothing.
	DeliverTracked(el *xml.Element) (m Mark, held, ok bool)
	Reached(m Mark) bool
}

// Directory is the table of bound sessions (local today; the cluster
// directory later implements the same interface).
type Directory interface {
	// Session returns the session bound to a full JID, or nil.
	Session(full jid.JID) Session
	// Sessions returns the sessions bound to resources of a bare JID.
	// The slice may be shared: callers must not modify it.
	Sessions(bare jid.JID) []Session
}

// Router routes a stanza whose 'from' is already trustworthy.
type Router interface {
	Route(ctx context.Context, st *Stanza)
}

// Stanza is a routed stanza with its addresses parsed once.
type Stanza struct {
	El   *xml.Element
	From jid.JID
	To   jid.JID // zero when absent
	// Origin is the local client session it came from, nil when the server
	// or a module generated it.
	Origin Session
	// Stream is the unauthenticated client stream a TargetPreAuth IQ came
	// on (From and Origin are then zero); nil for every other stanza.
	Stream Stream
}

// Stream is a client stream before authentication, as TargetPreAuth
// handlers and pre-authentication stream features see it. Modules get no
// more of it than this: the core alone drives the stream.
type Stream interface {
	// Domain is the virtual host the client opened the stream to
	// (normalized, one we serve).
	Domain() string
	// RemoteIP is the client's address, without port.
	RemoteIP() string
	// Secure reports whether TLS is in place on the stream.
	Secure() bool
}

// Kind is "message", "presence" or "iq".
func (s *Stanza) Kind() string { return s.El.Name() }

// Type is the stanza's type attribute (with RFC 6120 defaults: message
// "normal", presence "" = available). A message with no type or one not
// defined by RFC 6121 §5.2.2 is "normal", as that section requires.
func (s *Stanza) Type() string {
	t := s.El.Attr("type")
	if s.El.Name() == "message" {
		switch t {
		case "chat", "error", "groupchat", "headline", "normal":
		default:
			return "normal"
		}
	}
	return t
}

// RevokeOnNewPassword revokes the FAST tokens (XEP-0484) of every client
// of acct (a bare JID), called once its password changed: a token is no
// way around a new password. A nil FastTokens (no store) has none.
func (s *Services) RevokeOnNewPassword(ctx context.Context, acct jid.JID) error {
	if s.FastTokens == nil {
		return nil
	}
	if _, err := s.FastTokens.RevokeFastTokens(ctx, acct.Domain(), acct.Local(), ""); err != nil {
		return fmt.Errorf("revoke FAST tokens: %w", err)
	}
	return nil
}

// VHost is one [[host]] as modules see it.
type VHost struct {
	Domain string
	// Admins are the bare JIDs that administer the host (XEP-0133).
	Admins []string
	// Registration lets clients create accounts in-band (XEP-0077).
	Registration bool
	// DisabledModules are the modules this host does without
	// ([[host]] disable_modules): the registry answers their IQs to
	// the host with service-unavailable.
	DisabledModules []string
}

// Domains lists the virtual hosts' domains, in configuration order.
func (s *Services) Domains() []string {
	out := make([]string, len(s.VHosts))
	for i, h := range s.VHosts {
		out[i] = h.Domain
	}
	return out
}

// Registration bounds account creation and passwords chosen in-band.
type Registration struct {
	// MinInterval is the time one IP address must wait between two new
	// accounts; 0 disables the throttle.
	MinInterval time.Duration
	// MinPasswordLength is the fewest characters a password chosen
	// in-band may have; at least 1.
	MinPasswordLength int
}

// Services are what the server hands every module.
type Services struct {
	Router    Router
	Directory Directory
	Accounts  storage.Accounts
	Rosters   storage.Rosters
	Offline   storage.Offline
	Private   storage.PrivateXML       // XEP-0049 private XML, XEP-0054 vCards
	Blocks    storage.BlockLists       // XEP-0191 block lists
	Hosts     func(domain string) bool // reports whether we serve a domain
	// ContactAddresses are the XEP-0157 fields from the configuration
	// ("abuse-addresses" → URIs), empty when none are configured.
	ContactAddresses map[string][]string
	Logger           *slog.Logger
	// Sections are the modules' sections of the configuration file,
	// decoded and checked, by section name; a module reads its own with
	// ConfigOf (as Prosody's module:get_option), never another's.
	Sections map[string]any
	// VHosts are the virtual hosts, in configuration order.
	VHosts []VHost
	// DataDir is the server's data folder (data_dir), for modules that
	// keep files.
	DataDir string
	// ResumeTimeout is how long a XEP-0198 session waits for its client
	// to resume it (limits.resume_timeout).
	ResumeTimeout time.Duration
	// Registration is the [registration] policy: the CLI and the web
	// admin enforce its password length too, so it is the core's.
	Registration Registration
	// LastActivity keeps each account's last logout (XEP-0012).
	LastActivity storage.LastActivity
	// PubSub keeps XEP-0060 nodes and items (PEP and the pubsub service).
	PubSub storage.PubSub
	// Archive stores message archives (XEP-0313): accounts' (modules/mam)
	// and rooms' (MUC), keyed by bare JID.
	Archive storage.Archive
	// MUCRooms keeps persistent multi-user chat rooms (XEP-0045).
	MUCRooms storage.MUCRooms
	// SQL runs a module's statements on its own tables, those its
	// schema declares (RegisterSchema, schema.go); nil when the server
	// has no database (tests that build Services by hand).
	SQL SQL
	// Invites keeps invitations (XEP-0379, XEP-0401) and the admin role
	// an admin invite gives.
	Invites storage.Invites
	// FastTokens keeps the XEP-0484 tokens of accounts' clients: a
	// module that sets a password revokes them (RevokeOnNewPassword).
	FastTokens storage.FastTokens
	// HTTP serves routes on the server's "http" listeners (XEP-0363
	// uploads); nil when the server has none.
	HTTP HTTP
	// Secret derives a key for purpose from the server's secret key
	// (DataDir/secret.key), stable across restarts; modules never see the
	// key itself. Nil in tests that build Services by hand.
	Secret func(purpose string) []byte
	// Metrics registers a module's collectors on the server's own
	// registry (served on the admin listener); nil when the server counts
	// nothing (no admin listener). A module unregisters what it
	// registered when it stops.
	Metrics prometheus.Registerer
	// Cluster is this node's cluster (package cluster); nil on a single
	// server, where every key is this node's.
	Cluster Cluster
}

// Cluster lets a module keep one owner for a piece of shared state (a
// multi-user chat room, a pubsub service) when several nodes serve the
// same hosts: stanzas for it are forwarded to the node that owns it.
type Cluster interface {
	// Owner is the node that owns key among the live nodes (rendezvous
	// hashing: a node's death moves only its own keys), and whether that
	// is this node.
	Owner(key string) (node string, self bool)
	// Forward hands st to node, which routes it as if it had arrived
	// there; Forwarded(ctx) is then true, and the stanza must be handled
	// where it lands, never forwarded again. It reports false when the
	// stanza could not be sent.
	Forward(node string, st *Stanza) bool
	// OnMembership registers fn to run (on its own goroutine) after a
	// node joined or died: owners may have moved.
	OnMembership(fn func())
	// Publish hands payload to the handlers of topic on every other node
	// (at most once, in the order published) without waiting for them:
	// for caches where a stale entry for a moment costs nothing.
	Publish(topic string, payload []byte)
	// PublishWait hands payload to the handlers of topic on every other
	// live node and returns once each has run them (a node may run them
	// twice when its answer was lost): for changes a module promises are
	// in force when it answers (a block list, archive preferences). An
	// error means some node did not confirm within the wait; the module
	// should tell its client so.
	PublishWait(ctx context.Context, topic string, payload []byte) error
	// Subscribe runs fn for what other nodes publish on topic (Publish or
	// PublishWait), one at a time; fn must not block for long.
	Subscribe(topic string, fn func(payload []byte))
}

type forwardedKey struct{}

// WithForwarded marks ctx as routing a stanza forwarded by another node.
func WithForwarded(ctx context.Context) context.Context {
	return context.WithValue(ctx, forwardedKey{}, true)
}

// Forwarded reports whether the stanza being routed was forwarded by
// another cluster node (Cluster.Forward).
func Forwarded(ctx context.Context) bool {
	v, _ := ctx.Value(forwardedKey{}).(bool)
	return v
}

// HTTP is the part of the server's HTTP side that modules may use. The
// server implements it; routes stay registered until the server stops
// (net/http muxes cannot remove one).
type HTTP interface {
	// Handle registers h for a net/http ServeMux pattern such as
	// "PUT /upload/{id}/{name}". Patterns the core serves itself (the
	// WebSocket endpoint, host-meta) take precedence.
	Handle(pattern string, h http.Handler)
	// BaseURL is where clients of domain reach the first http listener,
	// as scheme://host:port with no trailing slash: the domain as host
	// (its certificate names it) and the port the listener is bound to.
	// "" when there is no http listener.
	BaseURL(domain string) string
}
