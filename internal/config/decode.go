package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/xmppd/xmppd/module"
)

// The document is decoded one key at a time (every table as a map of
// toml.Primitive) rather than with one toml.Decode into Config, because a
// single Decode stops at the first bad value and cannot say which [[listen]]
// it was in. Walking the schema ourselves reports every problem with its
// indexed key, and finds unknown keys exactly (case-sensitively; the library
// would quietly accept "Data_Dir" for data_dir).

var unmarshalerType = reflect.TypeFor[toml.Unmarshaler]()

type decoder struct {
	md   toml.MetaData
	name string
	pos  positions
	errs []error
	// sections are the modules' top-level keys, valid beside the
	// core's.
	sections []string
}

func valueOf(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }

func (d *decoder) fail(key, format string, args ...any) {
	p := d.pos.lookup(key)
	d.errs = append(d.errs, &Error{File: d.name, Line: p.Line, Col: p.Col, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// table decodes the keys of one TOML table into the struct rv.
func (d *decoder) table(prims map[string]toml.Primitive, rv reflect.Value, path string) {
	fields := map[string]int{}
	var names []string
	for i := range rv.NumField() {
		tag, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("toml"), ",")
		if tag != "" && tag != "-" {
			fields[tag] = i
			names = append(names, tag)
		}
	}
	if path == "" {
		names = append(names, d.sections...)
	}
	// Report in file order, so the messages read top to bottom.
	keys := make([]string, 0, len(prims))
	for k := range prims {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		pi, pj := d.pos.lookup(join(path, keys[i])), d.pos.lookup(join(path, keys[j]))
		if pi.Line != pj.Line {
			return pi.Line < pj.Line
		}
		if pi.Col != pj.Col {
			return pi.Col < pj.Col
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		key := join(path, k)
		i, ok := fields[k]
		if !ok {
			d.fail(key, "unknown key (valid here: %s)", strings.Join(names, ", "))
			continue
		}
		d.field(prims[k], rv.Field(i), key)
	}
}

func (d *decoder) field(prim toml.Primitive, fv reflect.Value, key string) {
	t := fv.Type()
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		d.leaf(prim, fv, key)
	case t.Kind() == reflect.Struct:
		sub, ok := d.subtable(prim)
		if !ok {
			d.fail(key, "must be a table ([%s]), got %s", key, d.describe(prim))
			return
		}
		d.table(sub, fv, key)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		var elems []toml.Primitive
		if !d.isArray(prim) || d.md.PrimitiveDecode(prim, &elems) != nil {
			d.fail(key, "must be an array of tables ([[%s]]), got %s", key, d.describe(prim))
			return
		}
		out := reflect.MakeSlice(t, len(elems), len(elems))
		for i, e := range elems {
			ekey := key + "[" + strconv.Itoa(i) + "]"
			sub, ok := d.subtable(e)
			if !ok {
				d.fail(ekey, "must be a table, got %s", d.describe(e))
				continue
			}
			d.table(sub, out.Index(i), ekey)
		}
		fv.Set(out)
	default:
		d.leaf(prim, fv, key)
	}
}

func (d *decoder) leaf(prim toml.Primitive, fv reflect.Value, key string) {
	// Decode into a fresh value: a failed decode must not leave a half-set
	// field behind.
	nv := reflect.New(fv.Type())
	if err := d.md.PrimitiveDecode(prim, nv.Interface()); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) { // from our own UnmarshalTOML: already clear
			d.fail(key, "%s", pe.Message)
			return
		}
		d.fail(key, "must be %s, got %s", want(fv.Type()), d.describe(prim))
		return
	}
	fv.Set(nv.Elem())
}

// subtable decodes a table value into its keys. The type is checked first
// because PrimitiveDecode into a map silently accepts a scalar (toml v1.6).
func (d *decoder) subtable(prim toml.Primitive) (map[string]toml.Primitive, bool) {
	var v any
	if d.md.PrimitiveDecode(prim, &v) != nil {
		return nil, false
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, false
	}
	var sub map[string]toml.Primitive
	if d.md.PrimitiveDecode(prim, &sub) != nil {
		return nil, false
	}
	return sub, true
}

func (d *decoder) isArray(prim toml.Primitive) bool {
	var v any
	if d.md.PrimitiveDecode(prim, &v) != nil {
		return false
	}
	switch v.(type) {
	case []any, []map[string]any:
		return true
	}
	return false
}

// describe renders a value for an error message: its TOML type and, for
// scalars, the value itself.
func (d *decoder) describe(prim toml.Primitive) string {
	var v any
	if err := d.md.PrimitiveDecode(prim, &v); err != nil {
		return "a value of another type"
	}
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case map[string]any:
		return "a table"
	case []map[string]any, []any:
		return "an array"
	default:
		return fmt.Sprintf("%s %v", tomlTypeName(v), v)
	}
}

func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return want(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	}
	return t.String()
}

func tomlTypeName(v any) string { return module.TOMLTypeName(v) }

// syntaxError turns a toml parse error into an *Error with its position.
func syntaxError(name string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Line: pe.Position.Line, Col: pe.Position.Col, Msg: "syntax error: " + pe.Message}
	}
	return &Error{File: name, Msg: err.Error()}
}
