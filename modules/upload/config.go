package upload

import (
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/xmppd/xmppd/module"
)

func init() {
	module.RegisterConfig("upload", module.ConfigSpec{
		Section: "upload",
		New: func() any {
			return &Config{
				Enabled:     true,
				Subdomain:   "upload",
				MaxFileSize: 50 << 20,
				Quota:       1 << 30,
				ExpireAfter: module.Duration{Duration: 7 * 24 * time.Hour},
				SlotTimeout: module.Duration{Duration: 5 * time.Minute},
			}
		},
		Check: func(v any, c *module.ConfigCheck) { v.(*Config).check(c) },
	})
}

// Config is the [upload] section: the XEP-0363 service that serves
// Subdomain.<host> for each virtual host; files are PUT to and fetched
// from the first http listener.
type Config struct {
	// Enabled serves the upload service; default true (it is not offered
	// when there is no http listener and no URL).
	Enabled bool `toml:"enabled"`
	// Subdomain is prepended to each host's domain; default "upload".
	Subdomain string `toml:"subdomain"`
	// MaxFileSize is the largest file in bytes, advertised in disco
	// (XEP-0363 §3). Default 52428800 (50 MiB).
	MaxFileSize int64 `toml:"max_file_size"`
	// Quota is the bytes one account may have stored at once (files not
	// yet expired plus slots not yet used); 0 = unlimited. Default
	// 1073741824 (1 GiB).
	Quota int64 `toml:"quota"`
	// ExpireAfter is how long a file is kept after its upload; 0 keeps
	// files forever. Default 168h (one week).
	ExpireAfter module.Duration `toml:"expire_after"`
	// SlotTimeout is how long a PUT URL may be used. Default 5m (XEP-0363
	// §8 recommends around 300s: a client uploads right away).
	SlotTimeout module.Duration `toml:"slot_timeout"`
	// Path is the folder files are stored in; "" (default) is
	// DataDir/upload (Folder).
	Path string `toml:"path"`
	// URL is the public base URL of the http listener, such as
	// "https://upload.example.org" behind a reverse proxy; default: the
	// host's domain with the first http listener's scheme and port.
	URL string `toml:"url"`
}

// Folder is where files are stored: Path, or dataDir/upload.
func (u *Config) Folder(dataDir string) string {
	if u.Path != "" {
		return u.Path
	}
	return filepath.Join(dataDir, "upload")
}

// Labels implements module.ServiceLabels: upload.<host> is served when
// clients can reach the files (an http listener, or a URL in front).
func (u *Config) Labels(http bool) map[string]string {
	if !u.Enabled || (u.URL == "" && !http) {
		return nil
	}
	return map[string]string{"subdomain": u.Subdomain}
}

func (u *Config) check(c *module.ConfigCheck) {
	u.Subdomain = strings.ToLower(strings.TrimSpace(u.Subdomain))
	u.URL = strings.TrimSuffix(strings.TrimSpace(u.URL), "/")
	if msg := module.CheckLabel(u.Subdomain, "upload"); msg != "" {
		c.Failf("subdomain", "%s", msg)
	}
	if u.MaxFileSize < 1 || u.MaxFileSize > 1<<40 {
		c.Failf("max_file_size", "must be between 1 and %d bytes, got %d", int64(1)<<40, u.MaxFileSize)
	}
	if u.Quota < 0 {
		c.Failf("quota", "must be 0 (unlimited) or more bytes, got %d", u.Quota)
	} else if u.Quota != 0 && u.Quota < u.MaxFileSize {
		c.Failf("quota", "must be 0 (unlimited) or at least max_file_size (%d), got %d: no file could ever be uploaded", u.MaxFileSize, u.Quota)
	}
	c.DurRange("expire_after", u.ExpireAfter, 0, 100*365*24*time.Hour)
	if d := u.ExpireAfter.Duration; d != 0 && d < time.Second {
		c.Failf("expire_after", "must be 0 (keep forever) or at least 1s, got %s", d)
	}
	c.DurRange("slot_timeout", u.SlotTimeout, time.Second, 24*time.Hour)
	if e := u.ExpireAfter.Duration; e >= time.Second && e < u.SlotTimeout.Duration {
		// Single use rests on the file existing: once swept, a PUT URL
		// still valid could store it again.
		c.Failf("expire_after", "must be 0 or at least slot_timeout (%s), got %s: a file must outlive its upload URL", u.SlotTimeout.Duration, e)
	}
	if u.URL != "" {
		p, err := url.Parse(u.URL)
		switch {
		case err != nil || p.Host == "" || p.Opaque != "":
			c.Failf("url", "must be an absolute URL such as \"https://upload.example.org\", got %q", u.URL)
		case p.Scheme != "https" && p.Scheme != "http":
			// XEP-0363 §4: the host MUST provide TLS; plain http is for
			// tests and proxies that terminate TLS elsewhere.
			c.Failf("url", "must be an https:// URL, got %q", u.URL)
		case p.RawQuery != "" || p.Fragment != "":
			c.Failf("url", "must not have a query or fragment, got %q", u.URL)
		}
	}
}
