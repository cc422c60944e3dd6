// Package adminweb serves the admin pages at /admin/ on the http listeners
// ([admin] web = true): the hosts' admins log in with their XMPP
// credentials and see the sessions (and end them), the accounts (create,
// reset a password, delete), the rooms, a few figures from the metrics
// and the last warnings and errors of the log. Server-rendered HTML, no
// script.
//
// Who gets in: a JID listed in a host's admins whose password checks
// against the stored SCRAM keys (auth.Server.CheckPassword; nothing new is
// stored), through the same per-address and per-account throttle as SASL;
// failures are logged in the line docs/deploy-fail2ban.md's filter
// matches. An admin acts on the hosts that list them only.
//
// What keeps a browser's other pages out: the session cookie is random,
// HttpOnly, SameSite=Strict, Secure over TLS and scoped to /admin/; it
// expires after Idle without a request and after Lifetime in any case.
// Every POST carries the session's CSRF token in its form (the login form
// a token of its own, double-submitted in a cookie), and a POST whose
// Origin or Sec-Fetch-Site says another site sent it is refused as well.
// The pages forbid framing and carry a Content-Security-Policy that allows
// no script at all.
package adminweb

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/internal/accounts"
	"github.com/xmppd/xmppd/internal/logring"
	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
)

// Path is where the pages are served; every route is below it.
const Path = "/admin/"

// Cookie names. The session cookie is scoped to Path, the login token's
// cookie to the login page.
const (
	sessionCookie = "xmppd_admin"
	loginCookie   = "xmppd_admin_login"
)

// Throttle is the failed-login throttle shared with SASL
// (c2s.Limiter): account is "local@domain".
type Throttle interface {
	AuthWait(ip, account string) (wait time.Duration, ok bool)
	AuthFailed(ip, account string) time.Duration
	AuthSucceeded(account string)
}

// Config is what the pages show and act upon, assembled by internal/server.
type Config struct {
	// Admins are each served host's admins (bare JIDs, normalized as
	// config does); a host without admins has none.
	Admins map[string][]string
	// Roles also lets in the accounts an admin invitation made admins of
	// their own host (the stored role modules/adhoc honours too); nil:
	// only Admins.
	Roles accounts.Roles
	// FastTokens are the accounts' XEP-0484 tokens, revoked when a
	// password is set here as everywhere else; nil: none.
	FastTokens storage.FastTokens
	// Hosts are the served domains, in configuration order.
	Hosts    []string
	Accounts storage.Accounts
	// Directory ends a deleted account's sessions.
	Directory accounts.Directory
	// Sessions lists the bound sessions (c2s.Server.Sessions); Kick ends
	// one, reporting whether it was bound.
	Sessions func() []c2s.SessionInfo
	Kick     func(full jid.JID) bool
	// Rooms and MUCService list a host's persistent rooms; nil or ""
	// when MUC is off.
	Rooms      storage.MUCRooms
	MUCService func(host string) string
	// Metrics is the server's registry; nil: no figures.
	Metrics prometheus.Gatherer
	// Recent holds the last warnings and errors; nil: none shown.
	Recent *logring.Ring
	// MinPassword is the fewest characters a password set here may have
	// ([registration] min_password_length, as for the CLI and in-band
	// registration); at least 1.
	MinPassword int
	// FakeSaltKey is c2s's: an unknown account costs the same check.
	FakeSaltKey []byte
	Throttle    Throttle // nil: none
	Log         *slog.Logger
	// Idle and Lifetime end a login session: after Idle without a
	// request (default 30 minutes) and Lifetime after the login (default
	// 12 hours).
	Idle, Lifetime time.Duration
}

// Handler serves Path.
type Handler struct {
	cfg  Config
	mux  *http.ServeMux
	tmpl map[string]*template.Template

	mu       sync.Mutex
	sessions map[string]*session // by sha256 of the cookie value
}

// session is one admin's login.
type session struct {
	admin   jid.JID  // bare
	hosts   []string // the hosts listing admin
	csrf    string
	created time.Time
	seen    time.Time
	flash   string // a message for the next page shown
}

//go:embed templates/*.html style.css
var files embed.FS

// New returns the handler; mount it at Path.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.MinPassword = max(cfg.MinPassword, 1)
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Minute
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 12 * time.Hour
	}
	h := &Handler{cfg: cfg, sessions: map[string]*session{}, tmpl: map[string]*template.Template{}}
	for _, page := range []string{"login", "overview", "sessions", "accounts", "delete", "rooms"} {
		h.tmpl[page] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+page+".html"))
	}
	// Every route of the admin pages, in one place.
	m := http.NewServeMux()
	m.HandleFunc("GET "+Path+"style.css", h.style)
	m.HandleFunc("GET "+Path+"login", h.loginPage)
	m.HandleFunc("POST "+Path+"login", h.login)
	m.HandleFunc("POST "+Path+"logout", h.auth(h.logout))
	m.HandleFunc("GET "+Path+"{$}", h.auth(h.overview))
	m.HandleFunc("GET "+Path+"sessions", h.auth(h.sessionsPage))
	m.HandleFunc("POST "+Path+"sessions/kick", h.auth(h.kick))
	m.HandleFunc("GET "+Path+"accounts", h.auth(h.accountsPage))
	m.HandleFunc("POST "+Path+"accounts/create", h.auth(h.createAccount))
	m.HandleFunc("POST "+Path+"accounts/password", h.auth(h.setPassword))
	m.HandleFunc("GET "+Path+"accounts/delete", h.auth(h.deletePage))
	m.HandleFunc("POST "+Path+"accounts/delete", h.auth(h.deleteAccount))
	m.HandleFunc("GET "+Path+"rooms", h.auth(h.roomsPage))
	h.mux = m
	return h
}

var funcs = template.FuncMap{
	"since": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on the pages' own POSTs, which crossSite refuses.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost && crossSite(r) {
		http.Error(w, "refused: this form was sent from another site", http.StatusForbidden)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// crossSite reports a request a browser says another site made: an
// Origin other than this server's, or Sec-Fetch-Site cross-site or
// same-site (another name under the same domain is another site here).
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err != nil || !strings.EqualFold(u.Host, r.Host)
}

func (h *Handler) style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	b, _ := files.ReadFile("style.css")
	w.Write(b)
}

// auth runs next for a logged-in admin: a page without a session goes to
// the login form, a POST without its CSRF token is refused.
func (h *Handler) auth(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := h.session(r)
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Path+"login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in (or the session expired): log in at "+Path+"login", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
				http.Error(w, "refused: the form's CSRF token is missing or not this session's (reload the page)", http.StatusForbidden)
				return
			}
		}
		next(w, r, s)
	}
}

// session returns the live session of the request's cookie, or nil.
func (h *Handler) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	key := cookieKey(c.Value)
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[key]
	if s == nil {
		return nil
	}
	if now.Sub(s.seen) > h.cfg.Idle || now.Sub(s.created) > h.cfg.Lifetime {
		delete(h.sessions, key)
		return nil
	}
	s.seen = now
	return s
}

// cookieKey is what the session table is keyed by: a hash of the cookie,
// so that a lookup's timing tells nothing about valid values.
func cookieKey(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// newSession logs admin in; the cookie value is returned once and kept
// only as its hash.
func (h *Handler) newSession(admin jid.JID, hosts []string) string {
	v := randid.Hex(32)
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, s := range h.sessions {
		if now.Sub(s.seen) > h.cfg.Idle || now.Sub(s.created) > h.cfg.Lifetime {
			delete(h.sessions, k)
		}
	}
	h.sessions[cookieKey(v)] = &session{admin: admin, hosts: hosts, csrf: randid.Hex(32), created: now, seen: now}
	return v
}

func (h *Handler) endSession(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		h.mu.Lock()
		delete(h.sessions, cookieKey(c.Value))
		h.mu.Unlock()
	}
}

// logoutAll ends every login session of admin (a bare JID), as when its
// account is deleted.
func (h *Handler) logoutAll(admin jid.JID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, s := range h.sessions {
		if s.admin == admin {
			delete(h.sessions, k)
		}
	}
}

// setCookie sets an admin cookie: Secure over TLS, also when a proxy that
// terminated it says so (X-Forwarded-Proto: https). The header is trusted
// for this only: a client that sends it itself gets a cookie its browser
// guards more, never less.
func setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	secure := r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	})
}

// take returns the session's flash message, clearing it.
func (h *Handler) take(s *session) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

// done reports the outcome of a POST on the next page (POST, redirect,
// GET: a reload does not send the form again).
func (h *Handler) done(w http.ResponseWriter, r *http.Request, s *session, msg, page string) {
	h.mu.Lock()
	s.flash = msg
	h.mu.Unlock()
	http.Redirect(w, r, page, http.StatusSeeOther)
}

// page is what every template gets.
type page struct {
	Title string
	Admin string
	CSRF  string
	Flash string
	Error string
	Data  any
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	if err := h.tmpl[name].Execute(&b, p); err != nil {
		h.cfg.Log.Error("admin page", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

func (h *Handler) pageFor(s *session, title string, data any) page {
	return page{Title: title, Admin: s.admin.String(), CSRF: s.csrf, Flash: h.take(s), Data: data}
}

// administers reports whether s's admin may act on domain.
func (s *session) administers(domain string) bool { return slices.Contains(s.hosts, domain) }

// remoteIP is the request's peer address, as c2s logs and throttles it.
func remoteIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
