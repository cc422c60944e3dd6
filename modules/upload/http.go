package upload

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/module"
)

const route = RoutePrefix + "{id}/{name}"

func (m *mod) routes(h module.HTTP) {
	h.Handle("PUT "+route, http.HandlerFunc(m.servePut))
	h.Handle("GET "+route, http.HandlerFunc(m.serveGet)) // and HEAD
	h.Handle("OPTIONS "+route, http.HandlerFunc(m.serveOptions))
}

// cors lets web clients (Converse.js) on any origin PUT and GET: the URLs
// are capabilities, no cookie or credential is involved.
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
}

func (m *mod) serveOptions(w http.ResponseWriter, r *http.Request) {
	cors(w)
	w.WriteHeader(http.StatusNoContent)
}

// servePut is the upload of XEP-0363 §7: the Content-Length MUST match
// the slot's size and, when the slot named one, the Content-Type SHOULD
// match; 201 when the file can be fetched.
func (m *mod) servePut(w http.ResponseWriter, r *http.Request) {
	cors(w)
	id, name := r.PathValue("id"), r.PathValue("name")
	if !validID(id) {
		http.NotFound(w, r)
		return
	}
	now := m.now()
	sl, err := parseToken(m.key, id, name, r.URL.Query().Get("token"), now)
	if err != nil {
		m.log.Debug("upload refused", "id", id, "remote", r.RemoteAddr, "err", err)
		http.Error(w, "invalid or expired upload URL", http.StatusForbidden)
		return
	}
	switch {
	case r.ContentLength < 0:
		http.Error(w, "Content-Length is required", http.StatusLengthRequired)
		return
	case r.ContentLength > sl.Size:
		http.Error(w, "larger than the slot: "+strconv.FormatInt(sl.Size, 10)+" bytes", http.StatusRequestEntityTooLarge)
		return
	case r.ContentLength != sl.Size:
		http.Error(w, "Content-Length does not match the slot: "+strconv.FormatInt(sl.Size, 10)+" bytes", http.StatusBadRequest)
		return
	}
	ctype := r.Header.Get("Content-Type")
	if sl.ContentType != "" {
		if !sameMediaType(sl.ContentType, ctype) {
			http.Error(w, "Content-Type does not match the slot: "+sl.ContentType, http.StatusUnsupportedMediaType)
			return
		}
		ctype = sl.ContentType
	}
	if _, _, err := mime.ParseMediaType(ctype); err != nil {
		// §7: application/octet-stream when the client named none.
		ctype = "application/octet-stream"
	}
	err = m.store.put(sl, ctype, http.MaxBytesReader(w, r.Body, sl.Size), now)
	switch {
	case errors.Is(err, errReused):
		http.Error(w, "this upload URL was used already", http.StatusConflict)
		return
	case err != nil:
		m.log.Debug("upload failed", "id", id, "remote", r.RemoteAddr, "err", err)
		http.Error(w, "upload failed", http.StatusBadRequest)
		return
	}
	m.log.Info("file uploaded", "owner", sl.Owner, "id", id, "size", sl.Size)
	w.WriteHeader(http.StatusCreated)
}

// sameMediaType compares type/subtype only (case-insensitively): a client
// that adds "; charset=utf-8" at the PUT still sends what it announced.
func sameMediaType(a, b string) bool {
	ma, _, errA := mime.ParseMediaType(a)
	mb, _, errB := mime.ParseMediaType(b)
	return errA == nil && errB == nil && ma == mb
}

// inline lists the media types a browser may show in place; anything
// else is served as an attachment. Together with nosniff and a sandbox
// CSP, an uploaded HTML page or script never runs on the server's origin.
func inline(ctype string) bool {
	mt, _, _ := mime.ParseMediaType(ctype)
	switch {
	case mt == "image/svg+xml":
		return false
	case strings.HasPrefix(mt, "image/"), strings.HasPrefix(mt, "audio/"), strings.HasPrefix(mt, "video/"),
		mt == "text/plain", mt == "application/pdf":
		return true
	}
	return false
}

func (m *mod) serveGet(w http.ResponseWriter, r *http.Request) {
	cors(w)
	id, name := r.PathValue("id"), r.PathValue("name")
	if !validID(id) {
		http.NotFound(w, r)
		return
	}
	f, md, err := m.store.open(id, name, m.now())
	if err != nil {
		if !errors.Is(err, errNotFound) {
			m.log.Warn("upload: serve", "id", id, "err", err)
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	// the request's context: a client that hangs up ends the lookup
	if m.accountGone(r.Context(), md.Owner) {
		// Its files go with the account, whether or not the sweep
		// has come by yet.
		m.store.dropOwner(md.Owner)
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", md.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox")
	disp := "attachment"
	if inline(md.ContentType) {
		disp = "inline"
	}
	// FormatMediaType encodes non-ASCII names as RFC 2231 filename*.
	if v := mime.FormatMediaType(disp, map[string]string{"filename": md.Name}); v != "" {
		h.Set("Content-Disposition", v)
	} else {
		h.Set("Content-Disposition", disp)
	}
	h.Set("Cache-Control", "private, max-age=86400")
	// Range, If-Modified-Since and HEAD.
	http.ServeContent(w, r, md.Name, md.Created, f)
}
