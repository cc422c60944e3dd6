package disco

import (
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"
	"sync"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/modules/internal/caps"
	"github.com/xmppd/xmppd/xml"
)

const (
	NSCaps = caps.NS
	// CapsNode names the software in XEP-0115 announcements.
	CapsNode = "https://github.com/xmppd/xmppd"
	// NSServerInfo is the FORM_TYPE of XEP-0157 contact addresses.
	NSServerInfo = "http://jabber.org/network/serverinfo"
	nsData       = "jabber:x:data"
)

// capsVer is the XEP-0115 §5.1 verification string over identities and
// features and the one extended form the server has (XEP-0157 contact
// addresses, FORM_TYPE serverinfo; §5.1 steps 6-8), hashed with SHA-1 (the
// hash every client supports) and base64-encoded.
func capsVer(ids []module.Identity, features []string, form map[string][]string) string {
	idStrs := make([]string, 0, len(ids))
	for _, id := range ids {
		// category/type/lang/name; no xml:lang on our identities.
		idStrs = append(idStrs, id.Category+"/"+id.Type+"//"+id.Name)
	}
	slices.Sort(idStrs) // byte order, as §5.1 step 2 asks
	feats := slices.Clone(features)
	slices.Sort(feats)
	feats = slices.Compact(feats)
	var s strings.Builder
	for _, id := range idStrs {
		s.WriteString(id)
		s.WriteByte('<')
	}
	for _, f := range feats {
		s.WriteString(f)
		s.WriteByte('<')
	}
	if len(form) > 0 {
		s.WriteString(NSServerInfo + "<")
		vars := make([]string, 0, len(form))
		for v := range form {
			vars = append(vars, v)
		}
		slices.Sort(vars)
		for _, v := range vars {
			s.WriteString(v + "<")
			vals := slices.Clone(form[v])
			slices.Sort(vals)
			for _, val := range vals {
				s.WriteString(val + "<")
			}
		}
	}
	sum := sha1.Sum([]byte(s.String()))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// capsElement is the <c/> the server puts in the stream features of s
// (XEP-0115 §6.3), so clients learn its features without a disco query.
func (m *mod) capsElement(s module.Stream) *xml.Element {
	return xml.NewBuilder("c", NSCaps).
		Attr("hash", "sha-1").
		Attr("node", CapsNode).
		Attr("ver", m.hostVer(s.Domain())).
		Element()
}

// hostCaps caches the caps ver of each virtual host. XEP-0115 §5 has
// the ver hash exactly what disco#info answers, and a host that disables
// modules ([[host]] disable_modules) answers fewer features than the
// others: a client caching by ver would otherwise take one host's
// features for another's.
type hostCaps struct {
	mu sync.Mutex
	m  map[string]capsEntry
}

// capsEntry is a host's ver and the registry's slices it was computed
// from. The registry publishes immutable slices and new ones on every
// change, so the same slices mean the same identities and features.
type capsEntry struct {
	ids   []module.Identity
	feats []string
	ver   string
}

// maxCapsHosts bounds the cache; past it, it starts again.
const maxCapsHosts = 4096

// hostVer returns host's caps ver, over what info answers for host.
func (m *mod) hostVer(host string) string {
	hc := &m.caps
	ids, feats := m.reg.Identities(), m.reg.FeaturesFor(host)
	hc.mu.Lock()
	e, ok := hc.m[host]
	hc.mu.Unlock()
	if ok && sameSlice(e.ids, ids) && sameSlice(e.feats, feats) {
		return e.ver
	}
	ver := capsVer(ids, feats, m.contact)
	hc.mu.Lock()
	if hc.m == nil || len(hc.m) >= maxCapsHosts {
		hc.m = map[string]capsEntry{}
	}
	hc.m[host] = capsEntry{ids: ids, feats: feats, ver: ver}
	hc.mu.Unlock()
	return ver
}

// sameSlice reports whether a and b are the same slice (not merely equal).
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
