package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Imported is what Import did for one host.
type Imported struct {
	Domain string
	// From is the folder the certificate came from; "" when none fitted.
	From     string
	NotAfter time.Time
	// Err says why nothing was imported for the host (or why the copy
	// failed).
	Err error
}

// Import looks in src for a certificate of each domain, in the layout of
// certbot's /etc/letsencrypt/live (src may also be /etc/letsencrypt):
// one folder per certificate holding fullchain.pem and privkey.pem. A
// folder named after the domain is tried first, then every other folder
// whose certificate covers the domain (a certificate named after another
// of its names); of those that load and are not expired, the one valid
// longest wins. It is copied to dir/certs/<domain>.crt and .key, where
// Load finds it (the files the self-signed certificate would be kept
// in), so a Reload (SIGHUP) or a restart uses it.
//
// When run as root (certbot's keys are root's), the copies are given to
// the owner of dir, the user the server runs as.
func Import(dir string, domains []string, src string, now time.Time) ([]Imported, error) {
	if fi, err := os.Stat(filepath.Join(src, "live")); err == nil && fi.IsDir() {
		src = filepath.Join(src, "live")
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return nil, fmt.Errorf("certificates to import: %w", err)
	}
	out := make([]Imported, 0, len(domains))
	for _, d := range domains {
		domain := normalize(d)
		res := Imported{Domain: domain}
		if err := checkDomain(domain); err != nil {
			res.Err = err
			out = append(out, res)
			continue
		}
		names := []string{domain}
		for _, e := range ents {
			if e.Name() != domain && (e.IsDir() || e.Type()&fs.ModeSymlink != 0) {
				names = append(names, e.Name())
			}
		}
		var (
			best     *tls.Certificate
			bestPEM  [2][]byte
			problems []error
		)
		for _, name := range names {
			folder := filepath.Join(src, name)
			certPEM, errC := os.ReadFile(filepath.Join(folder, "fullchain.pem"))
			keyPEM, errK := os.ReadFile(filepath.Join(folder, "privkey.pem"))
			if errors.Is(errC, fs.ErrNotExist) && name != domain {
				continue // not a certificate folder (README, ...)
			}
			if err := errors.Join(errC, errK); err != nil {
				problems = append(problems, err)
				continue
			}
			c, err := tls.X509KeyPair(certPEM, keyPEM)
			if err == nil {
				err = ensureLeaf(&c)
			}
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", folder, err))
				continue
			}
			if c.Leaf.VerifyHostname(domain) != nil {
				if name == domain {
					problems = append(problems, fmt.Errorf("%s: certificate is for %v, not %s", folder, c.Leaf.DNSNames, domain))
				}
				continue
			}
			if now.After(c.Leaf.NotAfter) {
				problems = append(problems, fmt.Errorf("%s: expired on %s", folder, c.Leaf.NotAfter.UTC().Format(time.DateOnly)))
				continue
			}
			if best == nil || c.Leaf.NotAfter.After(best.Leaf.NotAfter) {
				best, bestPEM, res.From = &c, [2][]byte{certPEM, keyPEM}, folder
			}
		}
		if best == nil {
			res.Err = fmt.Errorf("no valid certificate for %s in %s", domain, src)
			if len(problems) > 0 {
				res.Err = fmt.Errorf("%w: %w", res.Err, errors.Join(problems...))
			}
			out = append(out, res)
			continue
		}
		res.NotAfter = best.Leaf.NotAfter
		res.Err = install(dir, domain, bestPEM[0], bestPEM[1])
		out = append(out, res)
	}
	return out, nil
}

// install writes an imported pair where Load keeps a host's certificate.
func install(dir, domain string, certPEM, keyPEM []byte) error {
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return err
	}
	keyFile, certFile := filepath.Join(certDir, domain+".key"), filepath.Join(certDir, domain+".crt")
	// Key first, as selfSigned does: a pair caught half-written does
	// not match and is not used.
	if err := writeFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(certFile, certPEM, 0o644); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	for _, f := range []string{certDir, keyFile, certFile} {
		if err := os.Chown(f, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("give %s to the data folder's owner: %w", f, err)
		}
	}
	return nil
}
