package disco

import (
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"

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

// capsElement is the <c/> the server puts in its stream features
// (XEP-0115 §6.3), so clients learn its features without a disco query.
func (m *mod) capsElement() *xml.Element {
	return xml.NewBuilder("c", NSCaps).
		Attr("hash", "sha-1").
		Attr("node", CapsNode).
		Attr("ver", capsVer(m.reg.Identities(), m.reg.Features(), m.contact)).
		Element()
}
