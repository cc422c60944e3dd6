package disco

import (
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

const (
	NSCaps = "http://jabber.org/protocol/caps"
	// CapsNode names the software in XEP-0115 announcements.
	CapsNode = "https://github.com/xmppd/xmppd"
)

// capsVer is the XEP-0115 §5.1 verification string over identities and
// features, hashed with SHA-1 (the hash every client supports) and
// base64-encoded. The server has no extended disco forms yet.
func capsVer(ids []module.Identity, features []string) string {
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
	sum := sha1.Sum([]byte(s.String()))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// capsElement is the <c/> the server puts in its stream features
// (XEP-0115 §6.3), so clients learn its features without a disco query.
func (m *mod) capsElement() *xml.Element {
	return xml.NewBuilder("c", NSCaps).
		Attr("hash", "sha-1").
		Attr("node", CapsNode).
		Attr("ver", capsVer(m.reg.Identities(), m.reg.Features())).
		Element()
}
