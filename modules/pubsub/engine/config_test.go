package engine

import (
	"errors"
	"testing"

	"github.com/xmppd/xmppd/stanza"
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
