package adminweb

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/accounts"
	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
)

// loginFailed is the one answer to every refused login: a wrong password,
// an unknown account and a JID that is no admin look alike.
const loginFailed = "Wrong JID or password, or not an admin of this server."

type loginData struct {
	JID string
}

// loginPage shows the form with a fresh token, double-submitted: the
// same value in a cookie and in the form, so that another site's page,
// which can make a browser post a form but not read or set this cookie,
// cannot log the browser in (login CSRF).
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if h.session(r) != nil {
		http.Redirect(w, r, Path, http.StatusSeeOther)
		return
	}
	h.renderLogin(w, r, http.StatusOK, "", "")
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, j, msg string) {
	tok := randid.Hex(16)
	setCookie(w, r, loginCookie, tok, Path+"login", 3600)
	h.render(w, status, "login", page{Title: "Log in", CSRF: tok, Error: msg, Data: loginData{JID: j}})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(c.Value)) != 1 {
		h.renderLogin(w, r, http.StatusForbidden, "", "The login form expired or was not sent from this page: please try again.")
		return
	}
	raw := strings.TrimSpace(r.PostFormValue("jid"))
	password := r.PostFormValue("password")
	j, err := jid.Parse(raw)
	if err != nil || j.Local() == "" || j.Resource() != "" || !slices.Contains(h.cfg.Hosts, j.Domain()) || password == "" {
		// No account of ours can be named so: there is no password to
		// test (and no guess to count).
		h.renderLogin(w, r, http.StatusForbidden, raw, loginFailed)
		return
	}
	ip := remoteIP(r)
	account := j.Local() + "@" + j.Domain()
	srv := &auth.Server{
		Store:       credStore{h.cfg.Accounts, j.Domain()},
		FakeSaltKey: h.cfg.FakeSaltKey,
		Gate:        func(ctx context.Context, _ string) error { return h.gate(ctx, ip, account) },
	}
	user, err := srv.CheckPassword(r.Context(), j.Local(), password)
	if err != nil {
		if errors.Is(err, auth.ErrCredentials) {
			// The line docs/deploy-fail2ban.md's filter matches, as
			// c2s writes it for SASL.
			h.cfg.Log.Info("authentication failed", "ip", ip, "account", account, "mechanism", "admin-web")
			if h.cfg.Throttle != nil {
				sleep(r.Context(), h.cfg.Throttle.AuthFailed(ip, account))
			}
			h.renderLogin(w, r, http.StatusForbidden, raw, loginFailed)
			return
		}
		h.cfg.Log.Warn("admin login: password not checked", "ip", ip, "account", account, "err", err)
		h.renderLogin(w, r, http.StatusServiceUnavailable, raw, "The password could not be checked now (too many failed logins, or the database is unavailable): try again later.")
		return
	}
	if h.cfg.Throttle != nil {
		h.cfg.Throttle.AuthSucceeded(account)
	}
	admin, err := jid.New(user, j.Domain(), "")
	if err != nil {
		h.renderLogin(w, r, http.StatusForbidden, raw, loginFailed)
		return
	}
	var hosts []string
	for _, host := range h.cfg.Hosts {
		if slices.Contains(h.cfg.Admins[host], admin.String()) {
			hosts = append(hosts, host)
			continue
		}
		// Or made an admin of its own host by an admin invitation.
		ok, err := accounts.HasAdminRole(r.Context(), h.cfg.Roles, host, admin)
		if err != nil {
			h.cfg.Log.Warn("admin login: admin role not checked", "ip", ip, "account", admin.String(), "err", err)
			h.renderLogin(w, r, http.StatusServiceUnavailable, raw, "The password could not be checked now (too many failed logins, or the database is unavailable): try again later.")
			return
		}
		if ok {
			hosts = append(hosts, host)
		}
	}
	if len(hosts) == 0 {
		h.cfg.Log.Warn("admin login refused: not an admin", "ip", ip, "account", admin.String())
		h.renderLogin(w, r, http.StatusForbidden, raw, loginFailed)
		return
	}
	setCookie(w, r, loginCookie, "", Path+"login", -1)
	setCookie(w, r, sessionCookie, h.newSession(admin, hosts), Path, 0)
	h.cfg.Log.Info("admin logged in", "ip", ip, "admin", admin.String())
	http.Redirect(w, r, Path, http.StatusSeeOther)
}

// gate holds a password check while the address or the account is
// throttled, as c2s does for SASL, or refuses it untested.
func (h *Handler) gate(ctx context.Context, ip, account string) error {
	if h.cfg.Throttle == nil {
		return nil
	}
	wait, ok := h.cfg.Throttle.AuthWait(ip, account)
	if !ok {
		h.cfg.Log.Info("authentication refused: throttled", "ip", ip, "account", account, "mechanism", "admin-web")
		sleep(ctx, wait)
		return fmt.Errorf("too many failed logins from %s or for %s", ip, account)
	}
	sleep(ctx, wait)
	return ctx.Err()
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, s *session) {
	h.endSession(r)
	setCookie(w, r, sessionCookie, "", Path, -1)
	h.cfg.Log.Info("admin logged out", "admin", s.admin.String())
	http.Redirect(w, r, Path+"login", http.StatusSeeOther)
}

// credStore is storage.Accounts as auth needs it, for one domain.
type credStore struct {
	accounts storage.Accounts
	domain   string
}

func (s credStore) Credential(ctx context.Context, username, hash string) (auth.Credential, bool, error) {
	c, err := s.accounts.Credential(ctx, s.domain, username, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return auth.Credential{}, false, nil
	}
	if err != nil {
		return auth.Credential{}, false, err
	}
	return auth.Credential(c), true, nil
}
