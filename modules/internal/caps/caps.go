// Package caps holds XEP-0115 entity capabilities code more than one
// module needs (the disco module announces the server's caps, the pubsub
// module verifies clients'): shared code of modules lives under
// modules/internal, since modules do not import each other.
package caps

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/xmppd/xmppd/xml"
)

const (
	// NS is the namespace of XEP-0115's <c/>.
	NS     = "http://jabber.org/protocol/caps"
	nsInfo = "http://jabber.org/protocol/disco#info"
	nsData = "jabber:x:data"
)

// Ver computes the XEP-0115 §5.1 verification string of an entity
// from its disco#info <query/> (identities with xml:lang, features,
// XEP-0128 extended forms), hashed with hash ("sha-1", "sha-256" or
// "sha-512", the names of §5.1's IANA registry) and base64-encoded. It
// fails on what §5.4 step 3 says makes a reply invalid for caps: two
// identical identities or features, or two forms with one FORM_TYPE; forms
// without a FORM_TYPE are ignored (§5.4 3.6). Modules verify clients'
// caps with it before caching what a ver means.
func Ver(query *xml.Element, hash string) (string, error) {
	var h interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
	switch hash {
	case "sha-1":
		h = sha1.New()
	case "sha-256":
		h = sha256.New()
	case "sha-512":
		h = sha512.New()
	default:
		return "", fmt.Errorf("caps: unsupported hash %q", hash)
	}
	var ids, feats []string
	type form struct {
		typ    string
		fields []string // "var<v1<v2<", sorted
	}
	var forms []form
	for c := range query.Children() {
		switch {
		case c.Name() == "identity" && c.NS() == nsInfo:
			ids = append(ids, c.Attr("category")+"/"+c.Attr("type")+"/"+c.Attr("xml:lang")+"/"+c.Attr("name"))
		case c.Name() == "feature" && c.NS() == nsInfo:
			feats = append(feats, c.Attr("var"))
		case c.Name() == "x" && c.NS() == nsData:
			var f form
			hasType := false
			for fl := range c.Children() {
				if fl.Name() != "field" {
					continue
				}
				var vals []string
				for v := range fl.Children() {
					if v.Name() == "value" {
						vals = append(vals, v.Text())
					}
				}
				if fl.Attr("var") == "FORM_TYPE" {
					if len(vals) != 1 || hasType {
						return "", errors.New("caps: FORM_TYPE with other than one value")
					}
					f.typ, hasType = vals[0], true
					continue
				}
				slices.Sort(vals)
				f.fields = append(f.fields, fl.Attr("var")+"<"+strings.Join(vals, "<")+"<")
			}
			if !hasType {
				continue
			}
			slices.Sort(f.fields)
			forms = append(forms, f)
		}
	}
	slices.Sort(ids)
	slices.Sort(feats)
	if len(slices.Compact(slices.Clone(ids))) != len(ids) || len(slices.Compact(slices.Clone(feats))) != len(feats) {
		return "", errors.New("caps: duplicate identity or feature")
	}
	slices.SortFunc(forms, func(a, b form) int { return strings.Compare(a.typ, b.typ) })
	for i := 1; i < len(forms); i++ {
		if forms[i].typ == forms[i-1].typ {
			return "", errors.New("caps: two forms with one FORM_TYPE")
		}
	}
	var s strings.Builder
	for _, id := range ids {
		s.WriteString(id + "<")
	}
	for _, f := range feats {
		s.WriteString(f + "<")
	}
	for _, f := range forms {
		s.WriteString(f.typ + "<")
		for _, fl := range f.fields {
			s.WriteString(fl)
		}
	}
	h.Write([]byte(s.String()))
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}
