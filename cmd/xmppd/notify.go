package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/xmppd/xmppd/internal/config"
)

// sdNotify tells systemd about the service's state (sd_notify(3)):
// "READY=1" once the listeners are bound, "STOPPING=1" when shutting
// down. socket is $NOTIFY_SOCKET, which systemd sets for Type=notify
// units; without it there is nobody to tell. A name starting with "@" is
// an abstract socket, which package net maps itself.
func sdNotify(socket, state string) error {
	if socket == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// selfSignedFiles names the certificate files the server makes for hosts
// without cert_file (internal/certs keeps them as data_dir/certs/DOMAIN.crt),
// with their contents before the server starts (nil: none yet).
func selfSignedFiles(cfg *config.Config) map[string][]byte {
	out := map[string][]byte{}
	for _, h := range cfg.Hosts {
		if h.CertFile != "" || h.KeyFile != "" {
			continue
		}
		domain := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h.Domain)), ".")
		name := filepath.Join(cfg.DataDir, "certs", domain+".crt")
		b, _ := os.ReadFile(name)
		out[name] = b
	}
	return out
}

// logSelfSigned logs where each self-signed certificate is and its SHA-256
// fingerprint, which clients show when they ask the user to trust it: a
// user can compare the two instead of accepting blindly.
func logSelfSigned(log *slog.Logger, before map[string][]byte) {
	for name, old := range before {
		b, err := os.ReadFile(name)
		if err != nil {
			log.Warn("self-signed certificate unreadable", "file", name, "err", err)
			continue
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			continue
		}
		msg := "self-signed certificate"
		if string(old) != string(b) {
			msg = "self-signed certificate created"
		}
		abs, _ := filepath.Abs(name)
		log.Info(msg, "domain", cert.Subject.CommonName, "file", abs,
			"sha256", fingerprint(blk.Bytes), "expires", cert.NotAfter.UTC().Format("2006-01-02"))
	}
}

// fingerprint is the SHA-256 of a DER certificate as clients and openssl
// (x509 -fingerprint -sha256) print it: upper-case hex pairs with colons.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var sb strings.Builder
	for i, b := range sum {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", b)
	}
	return sb.String()
}
