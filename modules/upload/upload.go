// Package upload implements XEP-0363 HTTP File Upload as an in-process
// component: for each virtual host H it serves <subdomain>.H (by default
// upload.H), which hands out upload slots over XMPP; the files are PUT to
// and fetched from the server's own http listener (module.Services.HTTP),
// stored on disk under [upload] path and deleted after expire_after.
//
// Files by concern: upload.go (the component, slot requests), token.go
// (signed PUT URLs), store.go (files on disk, quota, sweep), http.go
// (PUT, GET, CORS).
package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// Namespaces.
const (
	NS        = "urn:xmpp:http:upload:0"
	nsDiscoI  = "http://jabber.org/protocol/disco#info"
	nsDiscoIt = "http://jabber.org/protocol/disco#items"
	nsData    = "jabber:x:data"
	nsPing    = "urn:xmpp:ping"
)

// RoutePrefix is the path under which files are PUT and served.
const RoutePrefix = "/upload/"

// maxNameBytes bounds a stored file name (most file systems allow 255
// bytes; ours is only in the URL and the metadata, but a URL stays
// readable).
const maxNameBytes = 200

func init() { module.Register("upload", func() module.Module { return &mod{} }) }

type mod struct {
	h     *module.Handle
	log   *slog.Logger
	cfg   Config
	key   []byte
	store *store
	now   func() time.Time

	services map[string]*service
}

// service is the upload service of one host.
type service struct {
	m      *mod
	domain string // upload.example.org
	host   string // example.org
	jid    jid.JID
}

func (m *mod) Start(h *module.Handle) error {
	m.h, m.log, m.now = h, h.Logger, time.Now
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.cfg = *module.ConfigOf[*Config](h)
	if !m.cfg.Enabled {
		return nil
	}
	if h.HTTP == nil {
		// Nothing would serve the URLs: offering slots would only make
		// clients fail later, at the PUT.
		m.log.Warn("no http listener: HTTP file upload (XEP-0363) is not offered; add a [[listen]] with type = \"http\"")
		return nil
	}
	if h.Secret == nil {
		return errors.New("no secret key to sign upload URLs")
	}
	m.key = h.Secret("upload")
	st, err := openStore(m.cfg.Folder(h.DataDir), m.cfg, m.log)
	if err != nil {
		return err
	}
	m.store = st
	m.services = map[string]*service{}
	for _, host := range h.Domains() {
		d := m.cfg.Subdomain + "." + host
		j, err := jid.Parse(d)
		if err != nil {
			return fmt.Errorf("upload domain %q: %w", d, err)
		}
		s := &service{m: m, domain: j.Domain(), host: host, jid: j}
		m.services[s.domain] = s
		h.AddComponent(module.Component{Domain: s.domain, Parent: host, Name: "HTTP File Upload", Handle: s.handle})
	}
	m.routes(h.HTTP)
	h.Go(m.sweepLoop)
	return nil
}

// sweepLoop runs on the handle's goroutine: stopping the module ends it
// (and waits for it). The HTTP routes stay until the listeners close (a
// ServeMux cannot drop one); the store they use stays valid.
func (m *mod) sweepLoop(ctx context.Context) {
	t := time.NewTicker(sweepInterval(m.cfg))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.store.sweep(m.now())
			m.sweepOwners(ctx)
		}
	}
}

// sweepOwners deletes the files of accounts that no longer exist. An
// account can be deleted in-band (XEP-0077 <remove/>) or by the CLI in
// another process, so the store asks the account storage rather than
// waiting for an event. GET asks too, so a deleted account's files stop
// being served at once; this frees the disk.
func (m *mod) sweepOwners(ctx context.Context) {
	for _, o := range m.store.owners() {
		if ctx.Err() != nil {
			return
		}
		if m.accountGone(ctx, o) {
			n := m.store.dropOwner(o)
			m.log.Info("upload: files of a deleted account deleted", "owner", o, "count", n)
		}
	}
}

// accountGone reports whether owner (a bare JID) is known not to be an
// account any more; a storage error counts as not known.
func (m *mod) accountGone(ctx context.Context, owner string) bool {
	if m.h.Accounts == nil {
		return false
	}
	j, err := jid.Parse(owner)
	if err != nil || j.Local() == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := m.h.Accounts.AccountExists(ctx, j.Domain(), j.Local())
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			m.log.Warn("upload: account check", "owner", owner, "err", err)
		}
		return false
	}
	return !ok
}

// sweepInterval: often enough that a file outlives expire_after by at
// most a quarter of it (and never by more than an hour).
func sweepInterval(c Config) time.Duration {
	d := time.Hour
	if e := c.ExpireAfter.Duration / 4; e > 0 && e < d {
		d = e
	}
	if s := c.SlotTimeout.Duration; s < d {
		d = s
	}
	return max(d, 250*time.Millisecond)
}

// handle is the component entry point: every stanza to upload.<host>.
func (s *service) handle(ctx context.Context, st *module.Stanza) {
	if stanza.IsError(st.El) || st.From.IsZero() {
		return
	}
	switch st.Kind() {
	case "iq":
		typ := st.Type()
		if typ != "get" && typ != "set" {
			return
		}
		p := st.El.FirstChild()
		switch {
		case p == nil:
			s.fail(ctx, st, stanza.NewError(stanza.BadRequest, ""))
		case st.To.Local() != "" || st.To.Resource() != "":
			s.fail(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
		case typ == "get" && p.NS() == nsDiscoI && p.Attr("node") == "":
			s.result(ctx, st, s.discoInfo())
		case typ == "get" && p.NS() == nsDiscoIt && p.Attr("node") == "":
			s.result(ctx, st, xml.NewBuilder("query", nsDiscoIt).Element())
		case typ == "get" && p.NS() == nsPing:
			s.result(ctx, st, nil)
		case typ == "get" && p.NS() == NS && p.Name() == "request":
			slot, err := s.requestSlot(st, p)
			if err != nil {
				s.fail(ctx, st, err)
				return
			}
			s.result(ctx, st, slot)
		default:
			s.fail(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
	case "message":
		s.fail(ctx, st, stanza.NewError(stanza.ServiceUnavailable, ""))
	}
}

// discoInfo: XEP-0363 §3 with the XEP-0128 max-file-size field.
func (s *service) discoInfo() *xml.Element {
	b := xml.NewBuilder("query", nsDiscoI)
	b.Start("identity", "").Attr("category", "store").Attr("type", "file").Attr("name", "HTTP File Upload").End()
	for _, f := range []string{nsDiscoI, nsDiscoIt, NS, nsPing} {
		b.Start("feature", "").Attr("var", f).End()
	}
	b.Start("x", nsData).Attr("type", "result")
	b.Start("field", "").Attr("var", "FORM_TYPE").Attr("type", "hidden").Start("value", "").Text(NS).End().End()
	b.Start("field", "").Attr("var", "max-file-size").Start("value", "").Text(strconv.FormatInt(s.m.cfg.MaxFileSize, 10)).End().End()
	b.End()
	return b.Element()
}

// requestSlot answers a §4 slot request: the size is checked against
// max_file_size (§6 file-too-large) and the owner's quota (§6
// resource-constraint with retry), the space is reserved until the slot
// expires, and the PUT and GET URLs are returned.
func (s *service) requestSlot(st *module.Stanza, req *xml.Element) (*xml.Element, error) {
	m := s.m
	owner := st.From.Bare()
	if owner.Domain() != s.host || owner.Local() == "" {
		// Accounts of this host only: the quota is theirs.
		return nil, &stanza.Error{Condition: stanza.Forbidden, Text: "only accounts of " + s.host + " may upload here"}
	}
	rawName, rawSize := req.Attr("filename"), req.Attr("size")
	if rawName == "" || rawSize == "" {
		return nil, stanza.NewError(stanza.BadRequest, "filename and size are required")
	}
	size, err := strconv.ParseInt(rawSize, 10, 64)
	if err != nil || size < 0 {
		return nil, stanza.NewError(stanza.BadRequest, "size must be a number of bytes")
	}
	if size > m.cfg.MaxFileSize {
		return nil, &stanza.Error{
			Type: "modify", Condition: stanza.NotAcceptable,
			Text:         fmt.Sprintf("File too large. The maximum file size is %d bytes", m.cfg.MaxFileSize),
			AppCondition: xml.NewBuilder("file-too-large", NS).Start("max-file-size", "").Text(strconv.FormatInt(m.cfg.MaxFileSize, 10)).End().Element(),
		}
	}
	ctype := strings.TrimSpace(req.Attr("content-type"))
	if ctype != "" {
		if _, _, err := mime.ParseMediaType(ctype); err != nil || len(ctype) > 255 {
			return nil, stanza.NewError(stanza.BadRequest, "content-type is not a media type")
		}
	}
	name := sanitizeName(rawName)
	ownerStr := owner.String()
	if len(ownerStr) > 255 {
		return nil, stanza.NewError(stanza.NotAcceptable, "account name too long for an upload")
	}
	now := m.now()
	id := newID()
	expires := now.Add(m.cfg.SlotTimeout.Duration)
	if retry, err := m.store.reserve(id, ownerStr, size, expires, now); err != nil {
		e := &stanza.Error{Type: "wait", Condition: stanza.ResourceConstraint,
			Text: fmt.Sprintf("Quota reached: %d bytes per account", m.cfg.Quota)}
		if retry.IsZero() {
			// Nothing the account holds will expire by itself.
			e.Type = "cancel"
		} else {
			e.AppCondition = xml.NewBuilder("retry", NS).Attr("stamp", retry.UTC().Format(time.RFC3339)).Element()
		}
		return nil, e
	}
	base := m.cfg.URL
	if base == "" {
		base = m.h.HTTP.BaseURL(s.host)
	}
	get := base + RoutePrefix + id + "/" + url.PathEscape(name)
	put := get + "?token=" + signToken(m.key, slot{ID: id, Name: name, Owner: ownerStr, Size: size, ContentType: ctype, Expires: expires})
	m.log.Debug("upload slot", "owner", ownerStr, "id", id, "size", size, "type", ctype)
	b := xml.NewBuilder("slot", NS)
	b.Start("put", "").Attr("url", put).End()
	b.Start("get", "").Attr("url", get).End()
	return b.Element(), nil
}

// newID is 128 random bits: unguessable, so the GET URL needs no
// signature of its own (it is a capability, as in every XEP-0363 server).
func newID() string { return randid.Hex(16) }

// validID reports whether s has newID's form (nothing else reaches the
// file system).
func validID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sanitizeName keeps the client's file name as far as it is safe in one
// URL path segment and in a Content-Disposition header (§4: the service
// SHOULD keep the name and especially its ending intact): no path
// separators, no control characters, not "." or "..", at most
// maxNameBytes bytes with the extension kept.
func sanitizeName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\':
			return '_'
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if len(name) > maxNameBytes {
		ext := path.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		base := name[:maxNameBytes-len(ext)]
		for !utf8.ValidString(base) {
			base = base[:len(base)-1]
		}
		name = base + ext
	}
	if strings.Trim(name, ".") == "" {
		return "file"
	}
	return name
}

func (s *service) result(ctx context.Context, st *module.Stanza, payload *xml.Element) {
	b := xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", st.El.Attr("id")).
		Attr("from", st.To.String()).Attr("to", st.From.String())
	if payload != nil {
		b.Append(payload)
	}
	s.m.h.Router.Route(ctx, &module.Stanza{El: b.Element(), From: st.To, To: st.From})
}

func (s *service) fail(ctx context.Context, st *module.Stanza, err error) {
	var e *stanza.Error
	if !errors.As(err, &e) {
		s.m.log.Error("upload request failed", "from", st.From.String(), "err", err)
		e = stanza.NewError(stanza.InternalServerError, "")
	}
	s.m.h.Router.Route(ctx, &module.Stanza{El: e.Reply(st.El), From: st.To, To: st.From})
}
