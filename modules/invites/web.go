package invites

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/xmppd/xmppd/internal/invite"
	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
)

// The invite page: GET shows the host, an "open in app" xmpp: link with
// the token, and a form (username, password, CSRF token); POST creates the
// account through the invite. Its one route registration is in routes.

const (
	csrfCookie = "xmppd_invite_csrf"
	csrfField  = "csrf"
	// maxForm bounds a POSTed form: a username and two passwords.
	maxForm = 8 << 10
)

func (m *mod) routes(h module.HTTP) {
	h.Handle("GET "+invite.PathPrefix+"{token}", http.HandlerFunc(m.page))
	h.Handle("POST "+invite.PathPrefix+"{token}", http.HandlerFunc(m.submit))
}

// pageData is what the template shows.
type pageData struct {
	Host, Username, Error, CSRF string
	// URI is the xmpp: link; html/template would blank an xmpp: URL
	// given as a string (only http, https and mailto pass), and this one
	// is built by invite.URI from a hex token and a JID.
	URI         template.URL
	Fixed       bool   // the invite names the username
	Inviter     string // "" for none
	Account     string // set once the account exists
	MinPassword int
}

// secure sets what every answer carries: the token is in the URL, so no
// Referer may leak it to another site, nothing may cache it, and no
// other site may frame the form.
func secure(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

// csrf is the form's CSRF token for the browser's cookie nonce and the
// invite token: a page of another site cannot read the cookie
// (SameSite=Strict, HttpOnly) and so cannot compute it.
func (m *mod) csrf(nonce, token string) string {
	mac := hmac.New(sha256.New, m.csrfKey)
	mac.Write([]byte(nonce))
	mac.Write([]byte{0})
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

func (m *mod) invitePage(ctx context.Context, r *http.Request) (pageData, error) {
	// The token alone names the invite, and with it the host: behind a
	// reverse proxy ([invites] url) the request's Host is the proxy's.
	token := r.PathValue("token")
	inv, err := m.lookup(ctx, "", token)
	if err != nil {
		return pageData{}, err
	}
	return pageData{
		Host: inv.Domain, URI: template.URL(invite.URI(inv.Domain, inv.Creator, token)),
		Username: inv.Username, Fixed: inv.Username != "", Inviter: inv.Creator,
		MinPassword: m.minPassword,
	}, nil
}

func (m *mod) page(w http.ResponseWriter, r *http.Request) {
	secure(w)
	d, err := m.invitePage(r.Context(), r)
	if err != nil {
		m.fail(w, d, err)
		return
	}
	nonce := randid.Hex(16)
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		nonce = c.Value // keep the nonce of another open tab
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: nonce, Path: invite.PathPrefix,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	d.CSRF = m.csrf(nonce, r.PathValue("token"))
	render(w, http.StatusOK, d)
}

func (m *mod) submit(w http.ResponseWriter, r *http.Request) {
	secure(w)
	token := r.PathValue("token")
	d, err := m.invitePage(r.Context(), r)
	if err != nil {
		m.fail(w, d, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		d.Error = "The form could not be read."
		render(w, http.StatusBadRequest, d)
		return
	}
	c, cerr := r.Cookie(csrfCookie)
	if cerr != nil || !hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(m.csrf(c.Value, token))) {
		// A form from another site, or a page from before the cookie:
		// nothing is created; a reload gives a fresh form.
		d.Error = "The form expired. Reload the page and try again."
		render(w, http.StatusForbidden, d)
		return
	}
	d.CSRF = r.PostFormValue(csrfField)
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	if d.Fixed {
		username = d.Username
	} else {
		d.Username = username
	}
	if password != r.PostFormValue("password2") {
		d.Error = "The two passwords differ."
		render(w, http.StatusBadRequest, d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	acct, err := m.RedeemInvite(ctx, d.Host, token, username, password)
	if err != nil {
		m.fail(w, d, err)
		return
	}
	d.Account, d.Error = acct, ""
	render(w, http.StatusOK, d)
}

// fail renders the page with what went wrong: the stanza error's text for
// the invitee's mistakes, a generic line (and a log entry) for ours.
func (m *mod) fail(w http.ResponseWriter, d pageData, err error) {
	var se *stanza.Error
	if !errors.As(err, &se) {
		m.h.Logger.Error("invites: web page", "err", err)
		d.Error = "Something went wrong on the server. Try again later."
		render(w, http.StatusInternalServerError, d)
		return
	}
	d.Error = se.Text
	code := http.StatusBadRequest
	switch se.Condition {
	case stanza.Forbidden:
		code = http.StatusNotFound
		d.URI = "" // no form, no link: the invite is gone
	case stanza.Conflict:
		code = http.StatusConflict
	}
	render(w, code, d)
}

func render(w http.ResponseWriter, code int, d pageData) {
	w.WriteHeader(code)
	pageTmpl.Execute(w, d)
}

var pageTmpl = template.Must(template.New("invite").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{if .Host}}Invitation to {{.Host}}{{else}}Invitation{{end}}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
label { display: block; margin-top: 1rem; }
input { width: 100%; padding: .4rem; box-sizing: border-box; }
button, .app { margin-top: 1rem; padding: .5rem 1rem; display: inline-block; }
.error { color: #a00; font-weight: bold; }
</style>
</head>
<body>
{{if .Account}}
<h1>Welcome!</h1>
<p id="done">Your account <strong>{{.Account}}</strong> is ready. Log in with it in your XMPP app.</p>
{{else}}
{{if .Host}}<h1>You are invited to {{.Host}}</h1>{{else}}<h1>Invitation</h1>{{end}}
{{if .Error}}<p class="error" id="error" role="alert">{{.Error}}</p>{{end}}
{{if .URI}}
{{if .Inviter}}<p>{{.Inviter}} invites you to chat on {{.Host}}, an XMPP server.</p>{{end}}
<p>If you have an XMPP app (Conversations, Monal, Gajim, Snikket, ...), open the invitation in it:</p>
<p><a class="app" id="open-app" href="{{.URI}}">Open in your app</a></p>
<p>Or choose a username and password here:</p>
<form method="post" autocomplete="off">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label>Username
<input name="username" id="username" value="{{.Username}}" {{if .Fixed}}readonly{{end}} required autocapitalize="none" spellcheck="false"></label>
<p>Your address will be <em>username</em>@{{.Host}}.</p>
<label>Password (at least {{.MinPassword}} characters)
<input type="password" name="password" id="password" required minlength="{{.MinPassword}}" autocomplete="new-password"></label>
<label>Password again
<input type="password" name="password2" id="password2" required minlength="{{.MinPassword}}" autocomplete="new-password"></label>
<button type="submit" id="create">Create account</button>
</form>
{{end}}
{{end}}
</body>
</html>
`))
