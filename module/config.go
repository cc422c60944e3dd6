package module

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// A module owns its section of the configuration file: it declares the
// section's Go type with its defaults and its checks (ConfigSpec), and
// internal/config decodes the section from the file into that type, with
// the line of every bad value and unknown key, as it does for the core's
// own sections. The module reads the result with ConfigOf. So a new
// option touches the module's folder and the example file, and no
// module imports internal/config (modules/all/imports_test.go).

// ConfigSpec declares one module's section.
type ConfigSpec struct {
	// Section is the TOML key: "archive" for an [archive] table,
	// "external_service" for [[external_service]] tables.
	Section string
	// New returns the defaults: a pointer to a struct whose fields carry
	// toml tags (a table), or to a slice of such structs (an array of
	// tables). Each call returns a new value.
	New func() any
	// Check, when set, puts the decoded value (what New returned, the
	// file's keys decoded over it) in canonical form and reports what is
	// wrong with it through c.
	Check func(v any, c *ConfigCheck)
}

// ServiceLabels is implemented by a section value whose module serves
// components at label.<host> (multi-user chat at conference.example.org):
// the core puts those names in certificates and refuses two services on
// one name. http tells whether the server has an http listener.
type ServiceLabels interface {
	// Labels maps the key of each served subdomain in the section
	// ("subdomain") to its DNS label; services switched off are left out.
	Labels(http bool) map[string]string
}

// The declarations, made in init() like Register's and only read after:
// they describe types, not a server, so servers share them safely.
var (
	specsMu  sync.Mutex
	specs    = map[string]ConfigSpec{} // by module name
	sections = map[string]string{}     // section → module name
)

// RegisterConfig declares module name's section. Call it from init(),
// next to Register. A section declared twice, or one that is not a
// struct or slice pointer, is a programming error: it panics.
func RegisterConfig(name string, spec ConfigSpec) {
	specsMu.Lock()
	defer specsMu.Unlock()
	if spec.Section == "" || spec.New == nil {
		panic("module " + name + ": config spec without section or New")
	}
	if m, dup := sections[spec.Section]; dup {
		panic(fmt.Sprintf("module %s: section [%s] is already module %s's", name, spec.Section, m))
	}
	if _, dup := specs[name]; dup {
		panic("module " + name + ": config declared twice")
	}
	specs[name] = spec
	sections[spec.Section] = name
}

// NamedSpec is a ConfigSpec with the module that declared it.
type NamedSpec struct {
	Module string
	ConfigSpec
}

// ConfigSpecs lists the declared sections, sorted by section.
func ConfigSpecs() []NamedSpec {
	specsMu.Lock()
	defer specsMu.Unlock()
	out := make([]NamedSpec, 0, len(specs))
	for n, s := range specs {
		out = append(out, NamedSpec{n, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Section < out[j].Section })
	return out
}

func specOf(name string) (ConfigSpec, bool) {
	specsMu.Lock()
	defer specsMu.Unlock()
	s, ok := specs[name]
	return s, ok
}

// ConfigOf returns the module's section as the type its ConfigSpec.New
// returns (a pointer). The value is shared by the server: read it, never
// write it. A handle made without configuration (tests that build
// Services by hand) gets the defaults.
func ConfigOf[T any](h *Handle) T {
	spec, ok := specOf(h.Name)
	if !ok {
		panic("module " + h.Name + ": ConfigOf without RegisterConfig")
	}
	v, ok := h.Sections[spec.Section]
	if !ok || v == nil {
		v = spec.New()
		if spec.Check != nil {
			spec.Check(v, &ConfigCheck{fail: func(string, string) {}})
		}
	}
	t, ok := v.(T)
	if !ok {
		var zero T
		panic(fmt.Sprintf("module %s: section [%s] is a %T, not a %T", h.Name, spec.Section, v, zero))
	}
	return t
}

// ConfigCheck collects what is wrong with a section. Keys are relative to
// the section: "subdomain" for [muc] subdomain, "[1].host" for the second
// [[external_service]]'s host; the core adds the section and the line.
type ConfigCheck struct {
	fail func(key, msg string)
	// Domains are the configured virtual hosts, for checks that compare
	// against them.
	Domains []string
}

// NewConfigCheck is used by the core: fail receives each problem with
// its key relative to the section.
func NewConfigCheck(domains []string, fail func(key, msg string)) *ConfigCheck {
	return &ConfigCheck{fail: fail, Domains: domains}
}

// Failf reports a problem with key.
func (c *ConfigCheck) Failf(key, format string, args ...any) {
	c.fail(key, fmt.Sprintf(format, args...))
}

// OneOf reports got unless it is one of allowed.
func (c *ConfigCheck) OneOf(key, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	c.Failf(key, "must be one of %s, got %q", strings.Join(allowed, ", "), got)
}

// IntRange reports got outside [lo, hi].
func (c *ConfigCheck) IntRange(key string, got, lo, hi int) {
	if got < lo || got > hi {
		c.Failf(key, "must be between %d and %d, got %d", lo, hi, got)
	}
}

// DurRange reports got outside [lo, hi].
func (c *ConfigCheck) DurRange(key string, got Duration, lo, hi time.Duration) {
	if got.Duration < lo || got.Duration > hi {
		c.Failf(key, "must be between %s and %s, got %s", lo, hi, got.Duration)
	}
}

// Duration is a time.Duration read from a TOML string such as "30s".
type Duration struct{ time.Duration }

// UnmarshalTOML accepts only strings: a bare integer would be ambiguous
// (seconds? nanoseconds?), so it is refused with a hint instead of guessed.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("must be a duration string such as \"30s\" or \"250ms\", got %s %v", TOMLTypeName(v), v)
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("must be a duration such as \"30s\" or \"250ms\", got %q", s)
	}
	d.Duration = dur
	return nil
}

// UnmarshalText lets Duration be read from other text formats (flags, env).
func (d *Duration) UnmarshalText(b []byte) error { return d.UnmarshalTOML(string(b)) }

// MarshalText writes the "30s" form, so an encoded configuration reads back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// TOMLTypeName names the TOML type of a decoded value for messages.
func TOMLTypeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	case map[string]any:
		return "table"
	case []any, []map[string]any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// CheckDomain does basic hostname syntax checks on an already lowercased
// domain and returns what is wrong, or "". Internationalized names are
// accepted as-is (no IDNA mapping here); only characters that can never be
// in a domainpart, and malformed labels, are refused.
func CheckDomain(d string) string {
	if d == "" {
		return "must not be empty"
	}
	if len(d) > 253 {
		return fmt.Sprintf("must be at most 253 bytes, got %d", len(d))
	}
	if !utf8.ValidString(d) {
		return "must be valid UTF-8"
	}
	for _, r := range d {
		if r == '@' || r == '/' || r == '\\' || r == ':' || r == '"' || r == '\'' || r == '<' || r == '>' || r == '&' ||
			unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Sprintf("%q is not a valid domain: it contains %q", d, r)
		}
	}
	for _, label := range strings.Split(d, ".") {
		switch {
		case label == "":
			return fmt.Sprintf("%q is not a valid domain: empty label", d)
		case len(label) > 63:
			return fmt.Sprintf("%q is not a valid domain: label %q is longer than 63 bytes", d, label)
		case strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-"):
			return fmt.Sprintf("%q is not a valid domain: label %q starts or ends with '-'", d, label)
		}
	}
	return ""
}

// CheckBareJID returns what is wrong with an already lowercased bare JID
// in a configuration list (admins, room creators), or "".
func CheckBareJID(j string) string {
	if at := strings.IndexByte(j, '@'); at <= 0 || strings.ContainsAny(j, "/ ") || CheckDomain(j[at+1:]) != "" {
		return fmt.Sprintf("%q is not a bare JID (user@example.org)", j)
	}
	return ""
}

// CheckLabel returns what is wrong with a service subdomain label, or "".
func CheckLabel(label, example string) string {
	if label == "" || strings.Contains(label, ".") || CheckDomain(label+".example.org") != "" {
		return fmt.Sprintf("must be one DNS label such as %q, got %q", example, label)
	}
	return ""
}
