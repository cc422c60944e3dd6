package acme

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/mholt/acmez/v3/acme"
)

// CommandSolver solves DNS-01 challenges (RFC 8555 §8.4) with a program,
// for servers that own neither port 80 nor 443 and whose DNS provider has
// no libdns module built in: it is run as
//
//	Command present _acme-challenge.example.org. <value>
//	Command cleanup _acme-challenge.example.org. <value>
//
// and must add, then remove, that TXT record. present must return only
// once the record is published on the zone's authoritative servers: the
// CA looks it up right after.
type CommandSolver struct {
	Command string
}

// Present adds the challenge's TXT record.
func (s CommandSolver) Present(ctx context.Context, chal acme.Challenge) error {
	return s.run(ctx, "present", chal)
}

// CleanUp removes it.
func (s CommandSolver) CleanUp(ctx context.Context, chal acme.Challenge) error {
	return s.run(ctx, "cleanup", chal)
}

func (s CommandSolver) run(ctx context.Context, action string, chal acme.Challenge) error {
	name := chal.DNS01TXTRecordName()
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	cmd := exec.CommandContext(ctx, s.Command, action, name, chal.DNS01KeyAuthorization())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dns_command %s %s: %w: %s", action, name, err, strings.TrimSpace(out.String()))
	}
	return nil
}
