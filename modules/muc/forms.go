package muc

import (
	"github.com/xmppd/xmppd/xml"
)

// XEP-0004 data forms: just what the MUC forms need.

const nsData = "jabber:x:data"

type option struct{ label, value string }

type field struct {
	v, typ, label string
	values        []string
	options       []option
}

func boolValue(b bool) []string {
	if b {
		return []string{"1"}
	}
	return []string{"0"}
}

// formEl renders a form of type typ (form, result, submit) with a hidden
// FORM_TYPE field first (XEP-0068).
func formEl(typ, title, formType string, fields []field) *xml.Element {
	b := xml.NewBuilder("x", nsData).Attr("type", typ)
	if title != "" {
		b.Start("title", "").Text(title).End()
	}
	if formType != "" {
		b.Start("field", "").Attr("var", "FORM_TYPE").Attr("type", "hidden").Start("value", "").Text(formType).End().End()
	}
	for _, f := range fields {
		b.Start("field", "").Attr("var", f.v)
		if f.typ != "" {
			b.Attr("type", f.typ)
		}
		if f.label != "" {
			b.Attr("label", f.label)
		}
		for _, v := range f.values {
			b.Start("value", "").Text(v).End()
		}
		for _, o := range f.options {
			b.Start("option", "")
			if o.label != "" {
				b.Attr("label", o.label)
			}
			b.Start("value", "").Text(o.value).End().End()
		}
		b.End()
	}
	return b.Element()
}

// form is a parsed data form.
type form struct {
	typ    string
	fields map[string][]string
}

// parseForm reads the first jabber:x:data child of parent, nil if none.
func parseForm(parent *xml.Element) *form {
	if parent == nil {
		return nil
	}
	x := parent.Child("x", nsData)
	if x == nil {
		return nil
	}
	f := &form{typ: x.Attr("type"), fields: map[string][]string{}}
	for c := range x.Children() {
		if c.Name() != "field" || c.Attr("var") == "" {
			continue
		}
		vals := []string{}
		for v := range c.Children() {
			if v.Name() == "value" {
				vals = append(vals, v.Text())
			}
		}
		f.fields[c.Attr("var")] = vals
	}
	return f
}

func (f *form) formType() string { return f.one("FORM_TYPE") }

func (f *form) has(v string) bool { _, ok := f.fields[v]; return ok }

func (f *form) one(v string) string {
	if vals := f.fields[v]; len(vals) > 0 {
		return vals[0]
	}
	return ""
}

// boolean reads an XEP-0004 §3.3 boolean ("1"/"true"), def when absent.
func (f *form) boolean(v string, def bool) (bool, bool) {
	if !f.has(v) {
		return def, true
	}
	switch f.one(v) {
	case "1", "true":
		return true, true
	case "0", "false", "":
		return false, true
	}
	return def, false
}
