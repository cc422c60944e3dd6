package config

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/xmppd/xmppd/module"
)

// TestExampleDocumentsEveryOption holds xmppd.example.toml to the
// declarations: every key of every section, the core's and the modules'
// (module.RegisterConfig), appears in it, commented out with its default.
// The other direction, a key in the example that nothing declares, is
// TestExampleUncommented's unknown-key error.
func TestExampleDocumentsEveryOption(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if _, err := toml.Decode(string(uncomment(data)), &doc); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, spec := range module.ConfigSpecs() {
		missing = append(missing, missingKeys(reflect.TypeOf(spec.New()).Elem(), doc[spec.Section], spec.Section)...)
	}
	missing = append(missing, missingKeys(reflect.TypeFor[Config](), doc, "")...)
	sort.Strings(missing)
	for _, k := range missing {
		if documentedElsewhere[k] {
			continue
		}
		t.Errorf("%s is not in %s: document it there (commented out, with its default)", k, examplePath)
	}
	if len(module.ConfigSpecs()) < 9 {
		t.Errorf("only %d module sections declared: modules/all not linked?", len(module.ConfigSpecs()))
	}
}

// documentedElsewhere are the core's keys the example leaves to the
// docs: uncommented, they would turn the example into a cluster node or
// pin a federation route.
var documentedElsewhere = map[string]bool{
	"cluster":          true, // docs/clustering.md
	"s2s.route":        true, // README.md, federation
	"component.parent": true, // derived from the domain
}

// uncomment turns the example's commented settings into settings, as
// TestExampleUncommented does.
func uncomment(data []byte) []byte {
	return regexp.MustCompile(`(?m)^#(\[\[?[a-z_]+\]\]?$|[a-z_]+ = )`).ReplaceAll(data, []byte("$1"))
}

// missingKeys lists the keys of type t (a struct, or a slice of structs
// for an array of tables) that the decoded TOML value v lacks.
func missingKeys(t reflect.Type, v any, path string) []string {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
		if t.Kind() != reflect.Struct {
			return nil
		}
		// An array of tables: each key in one element or another.
		merged := map[string]any{}
		switch elems := v.(type) {
		case []map[string]any:
			for _, e := range elems {
				for k, x := range e {
					merged[k] = x
				}
			}
		case []any:
			for _, e := range elems {
				if m, ok := e.(map[string]any); ok {
					for k, x := range m {
						merged[k] = x
					}
				}
			}
		}
		v = merged
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	table, _ := v.(map[string]any)
	if v == nil {
		return []string{"[" + path + "]"}
	}
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := join(path, name)
		x, ok := table[name]
		if !ok {
			out = append(out, key)
			continue
		}
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct || ft.Kind() == reflect.Slice {
			out = append(out, missingKeys(ft, x, key)...)
		}
	}
	return out
}
