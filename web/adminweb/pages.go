package adminweb

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/internal/accounts"
	"github.com/xmppd/xmppd/internal/logring"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
)

// figure is one number on the overview.
type figure struct {
	Name, Help string
	Value      string
}

type overviewData struct {
	Hosts   []string
	Figures []figure
	// NoMetrics: the registry is not there (figures are off).
	NoMetrics bool
	Records   []logring.Record
	NoRecords bool // no ring at all
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, s *session) {
	d := overviewData{Hosts: s.hosts, NoMetrics: h.cfg.Metrics == nil, NoRecords: h.cfg.Recent == nil}
	if h.cfg.Metrics != nil {
		d.Figures = h.figures()
	}
	if h.cfg.Recent != nil {
		d.Records = h.cfg.Recent.Records()
	}
	h.render(w, http.StatusOK, "overview", h.pageFor(s, "Overview", d))
}

// figures reads a few series of the server's registry: the same numbers
// /metrics gives Prometheus, summed over their labels where that is what
// an operator glancing at them wants.
func (h *Handler) figures() []figure {
	type want struct {
		title, help, name string
		label, value      string // only series with this label value; "" all
	}
	wants := []want{
		{"Sessions", "client sessions with a bound resource", "xmppd_sessions_bound", "", ""},
		{"Connections", "client connections open, every transport", "xmppd_connections_open", "", ""},
		{"Stanzas from clients", "since start", "xmppd_stanzas_total", "direction", "in"},
		{"Routed: delivered", "stanzas routed to local addresses and delivered, since start", "xmppd_routed_stanzas_total", "result", "delivered"},
		{"Routed: stored offline", "since start", "xmppd_routed_stanzas_total", "result", "offline"},
		{"Routed: error", "answered with an error, since start", "xmppd_routed_stanzas_total", "result", "error"},
		{"Failed authentications", "SASL, since start", "xmppd_authentications_total", "result", "failed"},
		{"Storage errors", "storage operations that failed, since start", "xmppd_storage_errors_total", "", ""},
		{"Stream errors", "client streams ended with a stream error, since start", "xmppd_stream_errors_total", "", ""},
	}
	mfs, err := h.cfg.Metrics.Gather()
	if err != nil {
		h.cfg.Log.Warn("admin pages: gathering metrics", "err", err)
	}
	// A family with no series yet (storage errors before the first) is
	// not gathered at all: it counts 0.
	totals := make([]float64, len(wants))
	for _, mf := range mfs {
		for i, w := range wants {
			if mf.GetName() != w.name {
				continue
			}
			for _, m := range mf.GetMetric() {
				match := w.label == ""
				for _, l := range m.GetLabel() {
					match = match || l.GetName() == w.label && l.GetValue() == w.value
				}
				if !match {
					continue
				}
				totals[i] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	var out []figure
	for i, w := range wants {
		out = append(out, figure{Name: w.title, Help: w.help + " (" + w.name + ")", Value: fmt.Sprintf("%.0f", totals[i])})
	}
	return out
}

type sessionsData struct {
	Sessions []c2s.SessionInfo
	More     int    // matching but not listed (maxListed)
	Filter   string // ?q=, a substring of the JID
}

func (h *Handler) sessionsPage(w http.ResponseWriter, r *http.Request, s *session) {
	d := sessionsData{Filter: strings.TrimSpace(r.URL.Query().Get("q"))}
	q := strings.ToLower(d.Filter)
	for _, si := range h.cfg.Sessions() {
		if j, err := jid.Parse(si.JID); err == nil && s.administers(j.Domain()) && strings.Contains(strings.ToLower(si.JID), q) {
			d.Sessions = append(d.Sessions, si)
		}
	}
	sort.Slice(d.Sessions, func(i, k int) bool { return d.Sessions[i].JID < d.Sessions[k].JID })
	if len(d.Sessions) > maxListed {
		d.More = len(d.Sessions) - maxListed
		d.Sessions = d.Sessions[:maxListed]
	}
	h.render(w, http.StatusOK, "sessions", h.pageFor(s, "Sessions", d))
}

func (h *Handler) kick(w http.ResponseWriter, r *http.Request, s *session) {
	j, err := jid.Parse(strings.TrimSpace(r.PostFormValue("jid")))
	if err != nil || !j.IsFull() || !s.administers(j.Domain()) {
		h.done(w, r, s, fmt.Sprintf("Not ended: %q is not a session of a host you administer.", r.PostFormValue("jid")), Path+"sessions")
		return
	}
	if !h.cfg.Kick(j) {
		h.done(w, r, s, "No session "+j.String()+" (it ended already).", Path+"sessions")
		return
	}
	h.cfg.Log.Info("session kicked by admin", "jid", j.String(), "admin", s.admin.String(), "ip", remoteIP(r))
	h.done(w, r, s, "Ended the session "+j.String()+".", Path+"sessions")
}

type hostAccounts struct {
	Host     string
	Accounts []accountRow
	More     int // accounts matching but not listed
	Err      string
}

// maxListed bounds the accounts listed per host and the sessions listed:
// a host with a hundred thousand of them must not make a page of that size
// (the filters narrow).
const maxListed = 200

type accountRow struct {
	JID      string
	Sessions int
}

type accountsData struct {
	Hosts []hostAccounts
	// Filter is the ?q= the list is narrowed to (a substring of the
	// user name).
	Filter string
	// Form values kept after an error.
	Local, Host string
}

func (h *Handler) accountsPage(w http.ResponseWriter, r *http.Request, s *session) {
	h.renderAccounts(w, r, s, http.StatusOK, "", accountsData{})
}

func (h *Handler) renderAccounts(w http.ResponseWriter, r *http.Request, s *session, status int, errText string, d accountsData) {
	d.Filter = strings.TrimSpace(r.URL.Query().Get("q"))
	q := strings.ToLower(d.Filter)
	for _, host := range s.hosts {
		ha := hostAccounts{Host: host}
		users, err := h.cfg.Accounts.ListAccounts(r.Context(), host)
		if err != nil {
			h.cfg.Log.Error("admin pages: listing accounts", "host", host, "err", err)
			ha.Err = "The accounts could not be read: " + err.Error()
		}
		for _, u := range users {
			if q != "" && !strings.Contains(u, q) {
				continue
			}
			if len(ha.Accounts) == maxListed {
				ha.More++
				continue
			}
			row := accountRow{JID: u + "@" + host}
			if bare, err := jid.New(u, host, ""); err == nil && h.cfg.Directory != nil {
				row.Sessions = len(h.cfg.Directory.Sessions(bare))
			}
			ha.Accounts = append(ha.Accounts, row)
		}
		d.Hosts = append(d.Hosts, ha)
	}
	p := h.pageFor(s, "Accounts", d)
	p.Error = errText
	h.render(w, status, "accounts", p)
}

// account parses a form's account JID: a bare JID of a host s administers.
func account(s *session, v string) (jid.JID, error) {
	j, err := jid.Parse(strings.TrimSpace(v))
	if err != nil || j.Local() == "" || j.Resource() != "" {
		return jid.JID{}, fmt.Errorf("%q is not an account's JID (user@host)", v)
	}
	if !s.administers(j.Domain()) {
		return jid.JID{}, fmt.Errorf("%s is not a host you administer", j.Domain())
	}
	return j, nil
}

func (h *Handler) createAccount(w http.ResponseWriter, r *http.Request, s *session) {
	local, host := strings.TrimSpace(r.PostFormValue("local")), r.PostFormValue("host")
	keep := accountsData{Local: local, Host: host}
	acct, err := account(s, local+"@"+host)
	if err != nil || strings.ContainsAny(local, "@/") {
		if err == nil {
			err = fmt.Errorf("%q is not a user name", local)
		}
		h.renderAccounts(w, r, s, http.StatusBadRequest, "Not created: "+err.Error()+".", keep)
		return
	}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		h.renderAccounts(w, r, s, http.StatusBadRequest, "Not created: the two passwords differ.", keep)
		return
	}
	if msg := h.shortPassword(pw); msg != "" {
		h.renderAccounts(w, r, s, http.StatusBadRequest, "Not created: "+msg, keep)
		return
	}
	if err := accounts.Create(r.Context(), h.cfg.Accounts, acct, pw); err != nil {
		switch {
		case errors.Is(err, storage.ErrExists):
			h.renderAccounts(w, r, s, http.StatusConflict, "Not created: "+acct.String()+" exists already.", keep)
		case errors.Is(err, accounts.ErrBadPassword):
			h.renderAccounts(w, r, s, http.StatusBadRequest, "Not created: the password is empty or contains characters that are not allowed.", keep)
		default:
			h.cfg.Log.Error("admin pages: creating an account", "jid", acct.String(), "err", err)
			h.renderAccounts(w, r, s, http.StatusInternalServerError, "Not created: "+err.Error(), keep)
		}
		return
	}
	h.cfg.Log.Info("account added by an admin", "jid", acct.String(), "admin", s.admin.String(), "ip", remoteIP(r))
	h.done(w, r, s, "Created "+acct.String()+".", Path+"accounts")
}

func (h *Handler) setPassword(w http.ResponseWriter, r *http.Request, s *session) {
	acct, err := account(s, r.PostFormValue("jid"))
	if err != nil {
		h.renderAccounts(w, r, s, http.StatusBadRequest, "Password not changed: "+err.Error()+".", accountsData{})
		return
	}
	pw := r.PostFormValue("password")
	if msg := h.shortPassword(pw); msg != "" {
		h.renderAccounts(w, r, s, http.StatusBadRequest, "Password of "+acct.String()+" not changed: "+msg, accountsData{})
		return
	}
	if err := accounts.SetPassword(r.Context(), h.cfg.Accounts, acct, pw); err != nil {
		switch {
		case errors.Is(err, storage.ErrNotFound):
			h.renderAccounts(w, r, s, http.StatusNotFound, "Password not changed: there is no account "+acct.String()+".", accountsData{})
		case errors.Is(err, accounts.ErrBadPassword):
			h.renderAccounts(w, r, s, http.StatusBadRequest, "Password of "+acct.String()+" not changed: the password is empty or contains characters that are not allowed.", accountsData{})
		default:
			h.cfg.Log.Error("admin pages: setting a password", "jid", acct.String(), "err", err)
			h.renderAccounts(w, r, s, http.StatusInternalServerError, "Password not changed: "+err.Error(), accountsData{})
		}
		return
	}
	// XEP-0484: a new password ends the clients' FAST tokens.
	if h.cfg.FastTokens != nil {
		if _, err := h.cfg.FastTokens.RevokeFastTokens(r.Context(), acct.Domain(), acct.Local(), ""); err != nil {
			h.cfg.Log.Error("admin pages: revoking FAST tokens after a password change", "jid", acct.String(), "err", err)
			h.renderAccounts(w, r, s, http.StatusInternalServerError, "Password of "+acct.String()+" changed, but its clients' FAST tokens were not revoked: "+err.Error(), accountsData{})
			return
		}
	}
	h.cfg.Log.Info("password changed by an admin", "jid", acct.String(), "admin", s.admin.String(), "ip", remoteIP(r))
	h.done(w, r, s, "Changed the password of "+acct.String()+".", Path+"accounts")
}

// shortPassword says why pw is too short to set, "" if it is not.
func (h *Handler) shortPassword(pw string) string {
	if pw != "" && utf8.RuneCountInString(pw) < h.cfg.MinPassword {
		return fmt.Sprintf("the password must have at least %d characters ([registration] min_password_length).", h.cfg.MinPassword)
	}
	return ""
}

type deleteData struct {
	JID string
}

// deletePage asks before deleting: the account goes with its roster,
// archive, offline messages and everything else stored for it.
func (h *Handler) deletePage(w http.ResponseWriter, r *http.Request, s *session) {
	acct, err := account(s, r.URL.Query().Get("jid"))
	if err != nil {
		h.renderAccounts(w, r, s, http.StatusBadRequest, "Not deleted: "+err.Error()+".", accountsData{})
		return
	}
	h.render(w, http.StatusOK, "delete", h.pageFor(s, "Delete "+acct.String(), deleteData{JID: acct.String()}))
}

func (h *Handler) deleteAccount(w http.ResponseWriter, r *http.Request, s *session) {
	acct, err := account(s, r.PostFormValue("jid"))
	if err != nil {
		h.renderAccounts(w, r, s, http.StatusBadRequest, "Not deleted: "+err.Error()+".", accountsData{})
		return
	}
	if r.PostFormValue("confirm") != acct.String() {
		p := h.pageFor(s, "Delete "+acct.String(), deleteData{JID: acct.String()})
		p.Error = "Not deleted: type the account's JID to confirm."
		h.render(w, http.StatusBadRequest, "delete", p)
		return
	}
	if err := accounts.Delete(r.Context(), h.cfg.Accounts, h.cfg.Directory, acct); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			h.done(w, r, s, "There is no account "+acct.String()+" (deleted already?).", Path+"accounts")
			return
		}
		h.cfg.Log.Error("admin pages: deleting an account", "jid", acct.String(), "err", err)
		h.renderAccounts(w, r, s, http.StatusInternalServerError, "Not deleted: "+err.Error(), accountsData{})
		return
	}
	h.logoutAll(acct)
	h.cfg.Log.Info("account deleted by an admin", "jid", acct.String(), "admin", s.admin.String(), "ip", remoteIP(r))
	if acct == s.admin {
		http.Redirect(w, r, Path+"login", http.StatusSeeOther)
		return
	}
	h.done(w, r, s, "Deleted "+acct.String()+".", Path+"accounts")
}

type roomRow struct {
	JID     string
	Owners  string
	Members int
	Banned  int
}

type hostRooms struct {
	Host, Service string
	Rooms         []roomRow
	Err           string
}

type roomsData struct {
	Hosts []hostRooms
	Off   bool
}

func (h *Handler) roomsPage(w http.ResponseWriter, r *http.Request, s *session) {
	d := roomsData{Off: h.cfg.Rooms == nil || h.cfg.MUCService == nil}
	if !d.Off {
		for _, host := range s.hosts {
			svc := h.cfg.MUCService(host)
			if svc == "" {
				continue
			}
			hr := hostRooms{Host: host, Service: svc}
			rooms, err := h.cfg.Rooms.MUCRooms(r.Context(), svc)
			if err != nil {
				h.cfg.Log.Error("admin pages: listing rooms", "service", svc, "err", err)
				hr.Err = "The rooms could not be read: " + err.Error()
			}
			for _, room := range rooms {
				row := roomRow{JID: room.Name + "@" + room.Service}
				var owners []string
				for _, a := range room.Affiliations {
					switch a.Affiliation {
					case "owner":
						owners = append(owners, a.JID)
					case "admin", "member":
						row.Members++
					case "outcast":
						row.Banned++
					}
				}
				row.Owners = strings.Join(owners, ", ")
				hr.Rooms = append(hr.Rooms, row)
			}
			d.Hosts = append(d.Hosts, hr)
		}
	}
	h.render(w, http.StatusOK, "rooms", h.pageFor(s, "Rooms", d))
}
