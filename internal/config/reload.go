package config

import (
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// live are the settings a running server applies when it reloads its
// configuration (SIGHUP), by key with list indexes left out. Everything
// else takes effect at the next start. The certificate files are read
// again at every reload whether or not their names changed: renewing a
// certificate replaces the files, not the configuration.
var live = map[string]bool{
	"log_level":                     true,
	"host.cert_file":                true,
	"host.key_file":                 true,
	"limits.max_connections_per_ip": true,
	"limits.connection_rate":        true,
	"limits.connection_burst":       true,
	"limits.auth_failure_delay":     true,
	"limits.auth_failure_max_delay": true,
	"limits.memory_limit":           true,
}

var index = regexp.MustCompile(`\[\d+\]`)

// IsLive reports whether a key from Diff can change without a restart.
func IsLive(key string) bool { return live[index.ReplaceAllString(key, "")] }

// Diff lists the settings that differ between two configurations, as
// TOML keys ("limits.connection_rate", "host[1].cert_file"); a list
// whose length changed is one key ("host").
func Diff(old, new *Config) []string {
	var out []string
	diff(reflect.ValueOf(*old), reflect.ValueOf(*new), "", &out)
	names := make([]string, 0, len(old.Modules))
	for name := range old.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a, b := reflect.ValueOf(old.Modules[name]), reflect.ValueOf(new.Modules[name])
		if !b.IsValid() || a.Type() != b.Type() {
			out = append(out, name)
			continue
		}
		diff(a.Elem(), b.Elem(), name, &out)
	}
	return out
}

func diff(a, b reflect.Value, key string, out *[]string) {
	switch {
	case a.Kind() == reflect.Struct && hasTOMLFields(a.Type()):
		for i := range a.NumField() {
			f := a.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if key != "" {
				name = key + "." + name
			}
			diff(a.Field(i), b.Field(i), name, out)
		}
	case a.Kind() == reflect.Slice && a.Len() == b.Len() && a.Type().Elem().Kind() == reflect.Struct:
		for i := range a.Len() {
			diff(a.Index(i), b.Index(i), key+"["+strconv.Itoa(i)+"]", out)
		}
	case !reflect.DeepEqual(a.Interface(), b.Interface()):
		*out = append(*out, key)
	}
}

func hasTOMLFields(t reflect.Type) bool {
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") != "" {
			return true
		}
	}
	return false
}
