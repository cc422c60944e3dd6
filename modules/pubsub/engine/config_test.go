package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

var testLimits = Limits{MaxItems: 100, MaxNodes: 10, MaxPayload: 1000}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string][]string
		ok   bool
	}{
		{"empty", map[string][]string{}, true},
		{"bookmarks", map[string][]string{FieldPersistItems: {"1"}, FieldMaxItems: {"max"}, FieldSendLast: {"never"}, FieldAccessModel: {"whitelist"}}, true},
		{"max items number", map[string][]string{FieldMaxItems: {"100"}}, true},
		{"max items over the limit", map[string][]string{FieldMaxItems: {"101"}}, false},
		{"max items zero", map[string][]string{FieldMaxItems: {"0"}}, false},
		{"bad boolean", map[string][]string{FieldPersistItems: {"yes"}}, false},
		{"authorize unsupported", map[string][]string{FieldAccessModel: {"authorize"}}, false},
		{"unknown field", map[string][]string{"pubsub#frobnicate": {"1"}}, false},
		{"two values", map[string][]string{FieldAccessModel: {"open", "presence"}}, false},
		{"groups", map[string][]string{FieldRosterGroups: {"a", "b"}}, true},
		{"payload size", map[string][]string{FieldMaxPayload: {"1001"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(tc.vals, testLimits)
			if tc.ok != (err == nil) {
				t.Fatalf("validate = %v, want ok %v", err, tc.ok)
			}
			var se *stanza.Error
			if err != nil && (!errors.As(err, &se) || se.Condition != stanza.NotAcceptable) {
				t.Errorf("error %v, want not-acceptable", err)
			}
		})
	}
}

func TestPreconditions(t *testing.T) {
	cfg := merged(normalize(map[string][]string{FieldAccessModel: {"open"}, FieldPersistItems: {"1"}, FieldMaxItems: {"max"}}), true, testLimits)
	for _, tc := range []struct {
		name string
		pre  map[string][]string
		met  bool
	}{
		{"same", map[string][]string{FieldAccessModel: {"open"}}, true},
		{"other model", map[string][]string{FieldAccessModel: {"presence"}}, false},
		{"boolean spelt otherwise", map[string][]string{FieldPersistItems: {"true"}}, true},
		{"max", map[string][]string{FieldMaxItems: {"max"}}, true},
		{"number is not max", map[string][]string{FieldMaxItems: {"100"}}, false},
		{"default value", map[string][]string{FieldSendLast: {"on_sub_and_presence"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := preconditionsMet(cfg, tc.pre); got != tc.met {
				t.Errorf("met = %v, want %v", got, tc.met)
			}
		})
	}
	if n := cfg.MaxItems(testLimits); n != 100 {
		t.Errorf("max = %d items, want the limit 100", n)
	}
	if n := DefaultConfig(true, testLimits).MaxItems(testLimits); n != 1 {
		t.Errorf("PEP default max_items %d, want 1", n)
	}
}

// ImportConfig keeps what an owner could set and drops the rest, as
// XEP-0227 §5.3.1 asks; Prosody 0.12's export lists empty fields.
func TestImportConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		form    string
		want    string // fmt of the kept map
		dropped string
		err     bool
	}{
		{"prosody bookmarks", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
<field var='pubsub#title'/><field var='pubsub#publish_model'/><field var='pubsub#max_items'><value>max</value></field>
<field var='pubsub#persist_items'><value>1</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x>`,
			"map[pubsub#access_model:[whitelist] pubsub#max_items:[max] pubsub#persist_items:[true] pubsub#title:[]]", "[]", false},
		{"unknown and bad values", `<x xmlns='jabber:x:data' type='submit'><field var='x-custom'><value>1</value></field>
<field var='pubsub#access_model'><value>authorize</value></field><field var='pubsub#max_items'><value>1000</value></field>
<field var='pubsub#notify_retract'><value>0</value></field></x>`,
			"map[pubsub#notify_retract:[false]]", "[pubsub#access_model pubsub#max_items x-custom]", false},
		{"other form", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:example</value></field></x>`, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := xml.ParseFragment([]byte(tc.form))
			if err != nil {
				t.Fatal(err)
			}
			cfg, dropped, err := ImportConfig(x, testLimits)
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if tc.err {
				return
			}
			if got := fmt.Sprint(cfg); got != tc.want {
				t.Errorf("kept %s, want %s", got, tc.want)
			}
			if got := fmt.Sprint(dropped); got != tc.dropped && !(len(dropped) == 0 && tc.dropped == "[]") {
				t.Errorf("dropped %s, want %s", got, tc.dropped)
			}
		})
	}
}
