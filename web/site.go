package web

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// Site is what the landing page at / and the built-in web client at
// /web/ need to know about the server.
type Site struct {
	// Hosts are the served domains: a page is served for a request whose
	// Host header names one of them, a 404 for any other name (an IP
	// address, a name pointed here by mistake). None: no landing page.
	Hosts []SiteHost
	// WebClient serves the bundled Converse.js at /web/ and links it
	// from the landing page.
	WebClient bool
	// ClientPorts are the c2s listeners, shown for clients that ask for
	// a server and port rather than finding them through DNS SRV.
	ClientPorts []ClientPort
}

// SiteHost is one virtual host as its page describes it.
type SiteHost struct {
	Domain string
	// Registration: accounts may be created in-band (XEP-0077), from a
	// client or the web client's registration form.
	Registration bool
}

// ClientPort is a c2s listener's port.
type ClientPort struct {
	Port      string
	DirectTLS bool // XEP-0368 direct TLS; otherwise STARTTLS
}

// WebClientPath is where the built-in web client's page is served; its
// files are under WebClientPath+"converse-<version>/".
const WebClientPath = "/web/"

// The bundle is Converse.js's npm package, trimmed and gzip-compressed by
// scripts/update-webclient.sh; VERSION names the release.
//
//go:embed webclient/VERSION webclient/LICENSE webclient/dist
var webclientFiles embed.FS

// converseVersion is the bundled release; it is part of the assets' URLs,
// so a new release is a new URL and the old one may be cached forever.
var converseVersion = func() string {
	b, err := webclientFiles.ReadFile("webclient/VERSION")
	if err != nil {
		panic("web: bundled web client has no VERSION: " + err.Error())
	}
	return strings.TrimSpace(string(b))
}()

// converseLocales are the translations bundled besides English (Converse
// asks only for those its locales setting lists, and otherwise falls back
// to English rather than fetching a file we do not have).
var converseLocales = func() []string {
	out := []string{"en"}
	entries, _ := webclientFiles.ReadDir("webclient/dist/chunkjs/locales")
	for _, e := range entries {
		if l, ok := strings.CutSuffix(e.Name(), "-LC_MESSAGES-converse-po.js.gz"); ok {
			out = append(out, l)
		}
	}
	return out
}()

// siteRoutes registers / and the web client. Every page this package
// serves for people (rather than clients) is registered here.
func (s *Server) siteRoutes(mux *http.ServeMux) {
	site := s.cfg.Site
	if len(site.Hosts) == 0 {
		return
	}
	s.siteHosts = make(map[string]SiteHost, len(site.Hosts))
	for _, h := range site.Hosts {
		s.siteHosts[strings.ToLower(h.Domain)] = h
	}
	mux.HandleFunc("GET /{$}", s.landing)
	if site.WebClient {
		mux.HandleFunc("GET "+WebClientPath+"{$}", s.webClient)
		mux.HandleFunc("GET "+assetsPath()+"{file...}", serveAsset)
		mux.HandleFunc("GET "+WebClientPath+"LICENSE.txt", serveLicense)
	}
}

func assetsPath() string { return WebClientPath + "converse-" + converseVersion + "/" }

// siteHost is the host the request names, if we serve it: its domain, or
// else the nearest of our domains it is a subdomain of, since a host's web
// side is often reached by a name of its own (xmpp.example.org for
// example.org, whose own name points at a website elsewhere).
func (s *Server) siteHost(r *http.Request) (SiteHost, bool) {
	name := r.Host
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for name != "" {
		if h, ok := s.siteHosts[name]; ok {
			return h, true
		}
		_, name, _ = strings.Cut(name, ".")
	}
	return SiteHost{}, false
}

// securityHeaders are those of every page: no framing (clickjacking on a
// page that takes a password), no sniffing, no Referer to the sites the
// pages link to.
func securityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	host, ok := s.siteHost(r)
	if !ok {
		http.Error(w, "no XMPP service by this name here", http.StatusNotFound)
		return
	}
	securityHeaders(w.Header(), "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct {
		SiteHost
		WebClient, Version, License string
		ClientPorts                 []ClientPort
	}{SiteHost: host, ClientPorts: s.cfg.Site.ClientPorts, Version: converseVersion, License: WebClientPath + "LICENSE.txt"}
	if s.cfg.Site.WebClient {
		data.WebClient = WebClientPath
	}
	if err := landingPage.Execute(w, data); err != nil {
		s.cfg.Log.Debug("landing page", "err", err)
	}
}

func (s *Server) webClient(w http.ResponseWriter, r *http.Request) {
	host, ok := s.siteHost(r)
	if !ok {
		http.Error(w, "no XMPP service by this name here", http.StatusNotFound)
		return
	}
	// The page's one inline script (Converse's settings) runs by its
	// nonce; everything else must come from here. Images and media may
	// come from any https: site (links people send are shown inline),
	// and uploads go to the upload service's own name (connect-src).
	nonce := rand.Text()
	securityHeaders(w.Header(), "default-src 'self'; script-src 'self' 'nonce-"+nonce+"' 'wasm-unsafe-eval'; "+
		"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; media-src 'self' data: blob: https:; "+
		"connect-src 'self' ws: wss: https:; font-src 'self' data:; worker-src 'self' blob:; object-src 'none'; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	assets := assetsPath()
	settings := map[string]any{
		"assets_path":                 strings.TrimSuffix(assets, "/"),
		"discover_connection_methods": false,
		// People type their name; a full address works too.
		"default_domain":     host.Domain,
		"allow_registration": host.Registration,
		"view_mode":          "fullscreen",
		"locales":            converseLocales,
		// Converse's default is a path at the site's root.
		"notification_icon": assets + "images/logo/conversejs-filled.svg",
	}
	if host.Registration {
		settings["registration_domain"] = host.Domain
	}
	data := struct {
		Domain, Nonce, Assets, WebSocketPath string
		Settings                             map[string]any
	}{host.Domain, nonce, assets, WebSocketPath, settings}
	if err := webClientPage.Execute(w, data); err != nil {
		s.cfg.Log.Debug("web client page", "err", err)
	}
}

// assetTypes are the content types of the bundle's files, by extension
// (not from the system's MIME tables, which differ between machines and
// lack some: wasm must be application/wasm for streaming compilation).
var assetTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".wasm": "application/wasm",
	".svg":  "image/svg+xml",
	".ico":  "image/x-icon",
	".png":  "image/png",
	".ttf":  "font/ttf",
	".ogg":  "audio/ogg",
	".mp3":  "audio/mpeg",
}

// serveAsset serves a file of the bundle. Its URL names the release, so
// it never changes: browsers may keep it a year without asking again.
// Text files are stored gzip-compressed and sent so to clients that take
// gzip (every browser), decompressed for the rest.
func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ctype, ok := assetTypes[path.Ext(name)]
	if !ok || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	if b, err := webclientFiles.ReadFile("webclient/dist/" + name); err == nil {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		// ServeContent: browsers ask for ranges of audio files.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
		return
	}
	gz, err := webclientFiles.ReadFile("webclient/dist/" + name + ".gz")
	if err != nil {
		h.Del("Content-Type")
		http.NotFound(w, r)
		return
	}
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header) {
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", strconv.Itoa(len(gz)))
		w.Write(gz)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil { // cannot happen with the bundle the script wrote
		http.Error(w, "corrupt bundle file", http.StatusInternalServerError)
		return
	}
	io.Copy(w, zr)
}

// acceptsGzip reports whether Accept-Encoding allows gzip (RFC 9110
// §12.5.3): named, or covered by "*", with a weight above 0.
func acceptsGzip(h http.Header) bool {
	star := false
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			ok := true
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil || q <= 0 {
						ok = false
					}
				}
			}
			if coding == "*" {
				star = ok
				continue
			}
			return ok
		}
	}
	return star
}

// serveLicense serves the bundled client's licence (MPL-2.0 §3.2: its
// recipients are told how to get its source, which the landing page
// links).
func serveLicense(w http.ResponseWriter, r *http.Request) {
	b, _ := webclientFiles.ReadFile("webclient/LICENSE")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}

var landingPage = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Domain}}: chat with XMPP</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 42em; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0; } .sub { margin-top: 0; color: #555; }
code { background: #f2f2f2; padding: 0 .25em; border-radius: 3px; }
a.button { display: inline-block; padding: .5em 1em; background: #2a6fb0; color: #fff; border-radius: 4px; text-decoration: none; }
td, th { padding: .2em .8em .2em 0; text-align: left; vertical-align: top; }
footer { margin-top: 3em; font-size: .85em; color: #666; }
</style>
</head>
<body>
<h1>{{.Domain}}</h1>
<p class="sub">A chat server for XMPP, the open standard for messaging.</p>

<p>Addresses here look like <code>name@{{.Domain}}</code>, as e-mail
addresses do. With one you can chat with anyone on this server and on any
other XMPP server.</p>
{{if .Registration}}<p>You can create an account here from your app: choose
“create account” or “register” and give <code>{{.Domain}}</code> as the
server.</p>
{{else}}<p>Accounts on this server are made by its administrator: ask them
for one (or for an invitation).</p>
{{end}}
{{- if .WebClient}}
<h2>Chat in your browser</h2>
<p><a class="button" id="web-client" href="{{.WebClient}}">Open the web client</a></p>
<p>Nothing to install: log in with your address and password.</p>
{{end}}
<h2>Apps</h2>
<table>
<tr><th>Android</th><td><a href="https://conversations.im/">Conversations</a></td></tr>
<tr><th>iPhone, iPad, Mac</th><td><a href="https://monal-im.org/">Monal</a></td></tr>
<tr><th>Windows</th><td><a href="https://gajim.org/">Gajim</a></td></tr>
<tr><th>Linux</th><td><a href="https://dino.im/">Dino</a>, <a href="https://gajim.org/">Gajim</a></td></tr>
</table>
<p>Any other XMPP app works too: see <a href="https://xmpp.org/software/?category=client">xmpp.org’s list</a>.</p>

<h2>Connection details</h2>
<p>Apps need only your address and password: they find the server by its
name. If one asks for more, the server is <code>{{.Domain}}</code>
{{- range $i, $p := .ClientPorts}}{{if $i}},{{end}} port <code>{{$p.Port}}</code>
({{if $p.DirectTLS}}direct TLS{{else}}STARTTLS{{end}}){{end}}.</p>
<footer>
{{- if .WebClient}}The web client is <a href="https://conversejs.org/">Converse.js</a> {{.Version}},
under the <a href="{{.License}}">Mozilla Public License 2.0</a>
(<a href="https://github.com/conversejs/converse.js/tree/v{{.Version}}">source</a>).{{end}}
</footer>
</body>
</html>
`))

// webClientPage is the web client's page. Its WebSocket URL is made from
// the scheme the browser used, which behind a TLS-terminating proxy is not
// the one the server saw. The bundle is also loaded by a script element
// (the import below then gets the same module): Converse's OMEMO code
// finds its WebAssembly file next to the script element's URL. The
// converse-footer element is defined empty before Converse defines its
// own (it defines only names still free): in full-screen mode that footer
// shows sponsors' logos fetched from conversejs.org, which would tell a
// third party about every visit. The landing page credits Converse
// instead. (html/template escapes "/" in JS strings as
// "\/", which JS reads as "/".)
var webClientPage = template.Must(template.New("webclient").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Domain}}: web chat</title>
<link rel="icon" href="{{.Assets}}images/favicon.ico">
<link rel="stylesheet" href="{{.Assets}}converse.min.css">
</head>
<body class="converse-fullscreen">
<noscript>The web client needs JavaScript. <a href="/">Other ways to chat on {{.Domain}}</a>.</noscript>
<script nonce="{{.Nonce}}">customElements.define("converse-footer", class extends HTMLElement {});</script>
<script type="module" src="{{.Assets}}converse.min.js"></script>
<script type="module" nonce="{{.Nonce}}">
import converse from "{{.Assets}}converse.min.js";
const settings = {{.Settings}};
settings.websocket_url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + {{.WebSocketPath}};
converse.initialize(settings);
</script>
</body>
</html>
`))
