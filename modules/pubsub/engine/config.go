package engine

import (
	"slices"
	"strconv"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// Node configuration fields (XEP-0060 §16.4.4, FORM_TYPE
// http://jabber.org/protocol/pubsub#node_config). Only those the engine
// acts on are offered; a submitted form naming another field is refused
// (§8.2.5.3 "not-acceptable") and so is a publish-options precondition
// on one (§7.1.5: "MUST reject the publication upon encountering unknown
// fields").
const (
	FieldAccessModel     = "pubsub#access_model"
	FieldPublishModel    = "pubsub#publish_model"
	FieldMaxItems        = "pubsub#max_items"
	FieldPersistItems    = "pubsub#persist_items"
	FieldDeliverPayloads = "pubsub#deliver_payloads"
	FieldDeliverNotif    = "pubsub#deliver_notifications"
	FieldNotifyRetract   = "pubsub#notify_retract"
	FieldNotifyDelete    = "pubsub#notify_delete"
	FieldNotifyConfig    = "pubsub#notify_config"
	FieldSendLast        = "pubsub#send_last_published_item"
	FieldNotificationTyp = "pubsub#notification_type"
	FieldRosterGroups    = "pubsub#roster_groups_allowed"
	FieldTitle           = "pubsub#title"
	FieldType            = "pubsub#type"
	FieldMaxPayload      = "pubsub#max_payload_size"
)

// fieldKind is how a field's values are checked and compared.
type fieldKind int

const (
	kindBool fieldKind = iota
	kindList           // list-single with options
	kindText
	kindMulti // text-multi / list-multi: any values
	kindMax   // a positive integer or "max"
	kindInt
)

type fieldDef struct {
	name    string
	kind    fieldKind
	label   string
	options []string
}

var fields = []fieldDef{
	{FieldTitle, kindText, "A friendly name for the node", nil},
	{FieldType, kindText, "The type of node data, usually the namespace of the payload", nil},
	{FieldAccessModel, kindList, "Who may subscribe and retrieve items", []string{"open", "presence", "roster", "whitelist"}},
	{FieldRosterGroups, kindMulti, "Roster groups allowed to subscribe (access model roster)", nil},
	{FieldPublishModel, kindList, "Who may publish items", []string{"publishers", "subscribers", "open"}},
	{FieldMaxItems, kindMax, "Maximum number of items to persist", nil},
	{FieldPersistItems, kindBool, "Persist items to storage", nil},
	{FieldMaxPayload, kindInt, "Maximum payload size in bytes", nil},
	{FieldDeliverNotif, kindBool, "Deliver event notifications", nil},
	{FieldDeliverPayloads, kindBool, "Deliver payloads with event notifications", nil},
	{FieldNotifyRetract, kindBool, "Notify subscribers when items are removed from the node", nil},
	{FieldNotifyDelete, kindBool, "Notify subscribers when the node is deleted", nil},
	{FieldNotifyConfig, kindBool, "Notify subscribers when the node configuration changes", nil},
	{FieldSendLast, kindList, "When to send the last published item", []string{"never", "on_sub", "on_sub_and_presence"}},
	{FieldNotificationTyp, kindList, "Message type of event notifications", []string{"headline", "normal"}},
	// Accepted and kept (clients send them in publish-options and
	// configure forms), without effect on what the engine does.
	{"pubsub#description", kindText, "A description of the node", nil},
	{"pubsub#language", kindText, "The default language of the node", nil},
	{"pubsub#notify_sub", kindBool, "Notify owners about new subscribers and unsubscribes (not implemented)", nil},
	{"pubsub#presence_based_delivery", kindBool, "Deliver notifications only to available users (not implemented)", nil},
	{"pubsub#purge_offline", kindBool, "Purge all items when the relevant publisher goes offline (not implemented)", nil},
	{"pubsub#itemreply", kindList, "Whom replies to items go to (not implemented)", []string{"owner", "publisher"}},
	{"pubsub#item_expire", kindText, "Seconds after which items expire (not implemented)", nil},
}

func fieldOf(name string) *fieldDef {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

// Config is a node configuration as the engine uses it, read from the
// stored form values (storage.PubSubNode.Config) over the defaults.
type Config map[string][]string

// DefaultConfig is the configuration of a new node: XEP-0163 §8's
// recommended defaults for PEP (access model presence, payloads
// delivered, last item sent on presence), XEP-0060's for a service node
// (open).
func DefaultConfig(pep bool, limits Limits) Config {
	c := Config{
		FieldAccessModel:                 {"open"},
		FieldPublishModel:                {"publishers"},
		FieldMaxItems:                    {"10"},
		FieldPersistItems:                {"true"},
		FieldMaxPayload:                  {strconv.Itoa(limits.MaxPayload)},
		FieldDeliverNotif:                {"true"},
		FieldDeliverPayloads:             {"true"},
		FieldNotifyRetract:               {"true"},
		FieldNotifyDelete:                {"true"},
		FieldNotifyConfig:                {"false"},
		FieldSendLast:                    {"on_sub"},
		FieldNotificationTyp:             {"headline"},
		"pubsub#notify_sub":              {"false"},
		"pubsub#presence_based_delivery": {"false"},
		"pubsub#purge_offline":           {"false"},
	}
	if pep {
		c[FieldAccessModel] = []string{"presence"}
		c[FieldSendLast] = []string{"on_sub_and_presence"}
		// A PEP node is usually a singleton (mood, tune, avatar
		// metadata, OMEMO device list); a client that wants more says
		// so (bookmarks: max).
		c[FieldMaxItems] = []string{"1"}
	}
	if limits.MaxItems > 0 && limits.MaxItems < 10 && !pep {
		c[FieldMaxItems] = []string{strconv.Itoa(limits.MaxItems)}
	}
	return c
}

// merged returns the stored values over the defaults.
func merged(stored map[string][]string, pep bool, limits Limits) Config {
	c := DefaultConfig(pep, limits)
	for k, v := range stored {
		c[k] = v
	}
	return c
}

func (c Config) str(name string) string {
	if v := c[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c Config) flag(name string) bool { return parseBool(c.str(name)) }

// AccessModel is pubsub#access_model.
func (c Config) AccessModel() string { return c.str(FieldAccessModel) }

// MaxItems is the number of items kept, "max" being the server's limit.
func (c Config) MaxItems(limits Limits) int {
	v := c.str(FieldMaxItems)
	if v == "max" {
		return limits.MaxItems
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 1
	}
	if limits.MaxItems > 0 && n > limits.MaxItems {
		return limits.MaxItems
	}
	return n
}

func parseBool(s string) bool { return s == "1" || s == "true" }

func isBool(s string) bool {
	switch s {
	case "0", "1", "true", "false":
		return true
	}
	return false
}

// canon gives the comparable form of a value (XEP-0004 §3.3: boolean
// "1" and "true" are the same).
func canon(k fieldKind, v string) string {
	if k == kindBool {
		if parseBool(v) {
			return "true"
		}
		return "false"
	}
	return v
}

// formValues reads the fields of a data form (XEP-0004) other than
// FORM_TYPE, and the FORM_TYPE.
func formValues(x *xml.Element) (formType string, vals map[string][]string) {
	vals = map[string][]string{}
	for f := range x.Children() {
		if f.Name() != "field" {
			continue
		}
		var vs []string
		for v := range f.Children() {
			if v.Name() == "value" {
				vs = append(vs, v.Text())
			}
		}
		if f.Attr("var") == "FORM_TYPE" {
			if len(vs) > 0 {
				formType = vs[0]
			}
			continue
		}
		vals[f.Attr("var")] = vs
	}
	return formType, vals
}

// validate checks submitted values; the error is the one §8.2.5.3 and
// §7.1.5 give (not-acceptable for a bad value, or an unknown field).
func validate(vals map[string][]string, limits Limits) error {
	for name, vs := range vals {
		f := fieldOf(name)
		if f == nil {
			return stanza.NewError(stanza.NotAcceptable, "unsupported field "+name)
		}
		if f.kind != kindMulti && len(vs) > 1 {
			return stanza.NewError(stanza.NotAcceptable, "more than one value for "+name)
		}
		if len(vs) == 0 {
			if f.kind == kindText || f.kind == kindMulti {
				continue
			}
			return stanza.NewError(stanza.NotAcceptable, "no value for "+name)
		}
		v := vs[0]
		switch f.kind {
		case kindBool:
			if !isBool(v) {
				return stanza.NewError(stanza.NotAcceptable, name+" is a boolean")
			}
		case kindList:
			if !slices.Contains(f.options, v) {
				return stanza.NewError(stanza.NotAcceptable, "unsupported value of "+name)
			}
		case kindMax:
			if v == "max" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || (limits.MaxItems > 0 && n > limits.MaxItems) {
				return stanza.NewError(stanza.NotAcceptable, name+" must be max or 1 to "+strconv.Itoa(limits.MaxItems))
			}
		case kindInt:
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || (limits.MaxPayload > 0 && n > limits.MaxPayload) {
				return stanza.NewError(stanza.NotAcceptable, name+" must be 1 to "+strconv.Itoa(limits.MaxPayload))
			}
		}
	}
	return nil
}

// normalize stores booleans canonically so that stored configs compare.
func normalize(vals map[string][]string) map[string][]string {
	out := make(map[string][]string, len(vals))
	for k, vs := range vals {
		if f := fieldOf(k); f != nil && f.kind == kindBool && len(vs) == 1 {
			vs = []string{canon(kindBool, vs[0])}
		}
		out[k] = vs
	}
	return out
}

// preconditionsMet reports whether every precondition holds in c
// (§7.1.5: each field checked against the node configuration of the same
// name).
func preconditionsMet(c Config, pre map[string][]string) bool {
	for name, want := range pre {
		f := fieldOf(name)
		have := c[name]
		if f.kind == kindMulti {
			a, b := slices.Clone(have), slices.Clone(want)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				return false
			}
			continue
		}
		if len(want) == 0 {
			if len(have) > 0 && have[0] != "" {
				return false
			}
			continue
		}
		if len(have) == 0 || canon(f.kind, have[0]) != canon(f.kind, want[0]) {
			return false
		}
	}
	return true
}

// form renders c as a data form of type typ ("form" or "result") with
// FORM_TYPE formType.
func (c Config) form(b *xml.Builder, typ, formType string) {
	b.Start("x", NSData).Attr("type", typ)
	b.Start("field", "").Attr("var", "FORM_TYPE").Attr("type", "hidden").Start("value", "").Text(formType).End().End()
	for _, f := range fields {
		b.Start("field", "").Attr("var", f.name).Attr("label", f.label)
		switch f.kind {
		case kindBool:
			b.Attr("type", "boolean")
		case kindList:
			b.Attr("type", "list-single")
		case kindMulti:
			b.Attr("type", "text-multi")
		default:
			b.Attr("type", "text-single")
		}
		for _, v := range c[f.name] {
			b.Start("value", "").Text(v).End()
		}
		for _, o := range f.options {
			b.Start("option", "").Start("value", "").Text(o).End().End()
		}
		b.End()
	}
	b.End()
}

// ImportConfig reads a node configuration form exported by another server
// (XEP-0227 §4 "PEP node configuration") as the store keeps it. As
// XEP-0227 asks, fields the engine does not know are left out, and so are
// values it would refuse from an owner's form and fields without a value
// (Prosody writes every field, empty ones included); dropped names them.
// The error is for a form of another FORM_TYPE.
func ImportConfig(x *xml.Element, limits Limits) (cfg map[string][]string, dropped []string, err error) {
	ft, vals := formValues(x)
	if ft != "" && ft != NSNodeConfig {
		return nil, nil, stanza.NewError(stanza.BadRequest, "FORM_TYPE must be "+NSNodeConfig)
	}
	keep := map[string][]string{}
	for name, vs := range vals {
		f := fieldOf(name)
		if f != nil && len(vs) == 0 && f.kind != kindText && f.kind != kindMulti {
			continue // no value: the default applies
		}
		if f == nil || validate(map[string][]string{name: vs}, limits) != nil {
			dropped = append(dropped, name)
			continue
		}
		keep[name] = vs
	}
	slices.Sort(dropped)
	return normalize(keep), dropped, nil
}

// MaxItemsOf is how many items a node with the stored configuration cfg
// keeps.
func MaxItemsOf(cfg map[string][]string, pep bool, limits Limits) int {
	return merged(cfg, pep, limits).MaxItems(limits)
}
