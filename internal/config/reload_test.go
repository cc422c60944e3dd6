package config

import (
	"slices"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	for _, c := range []struct {
		name       string
		change     func(*Config)
		keys       []string
		restartFor []string
	}{
		{"nothing", func(*Config) {}, nil, nil},
		{"log level", func(c *Config) { c.LogLevel = "debug" }, []string{"log_level"}, nil},
		{"log format", func(c *Config) { c.LogFormat = "json" }, []string{"log_format"}, []string{"log_format"}},
		{"certificate", func(c *Config) { c.Hosts[0].CertFile, c.Hosts[0].KeyFile = "a.crt", "a.key" },
			[]string{"host[0].cert_file", "host[0].key_file"}, nil},
		{"a host more", func(c *Config) { c.Hosts = append(c.Hosts, Host{Domain: "example.org"}) }, []string{"host"}, []string{"host"}},
		{"limits", func(c *Config) {
			c.Limits.ConnectionRate++
			c.Limits.AuthFailureDelay = Duration{Duration: time.Second}
			c.Limits.MaxStanzaBytes++
		}, []string{"limits.max_stanza_bytes", "limits.connection_rate", "limits.auth_failure_delay"}, []string{"limits.max_stanza_bytes"}},
		{"listener", func(c *Config) { c.Listen[0].Address = "127.0.0.1:1" }, []string{"listen[0].address"}, []string{"listen[0].address"}},
		// A module's section: its keys, as the file names them.
		{"module section", func(c *Config) { upload(c).Quota = 1 }, []string{"upload.quota"}, []string{"upload.quota"}},
		{"per-host modules", func(c *Config) { c.Hosts[0].DisableModules = []string{"ping"} }, []string{"host[0].disable_modules"}, []string{"host[0].disable_modules"}},
	} {
		old, new := Default(), Default()
		c.change(new)
		keys := Diff(old, new)
		if !slices.Equal(keys, c.keys) {
			t.Errorf("%s: Diff = %q, want %q", c.name, keys, c.keys)
		}
		var restart []string
		for _, k := range keys {
			if !IsLive(k) {
				restart = append(restart, k)
			}
		}
		if !slices.Equal(restart, c.restartFor) {
			t.Errorf("%s: need a restart: %q, want %q", c.name, restart, c.restartFor)
		}
	}
}
