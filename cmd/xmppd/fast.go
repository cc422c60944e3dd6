package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/jid"
)

// fastCmd lists or revokes an account's XEP-0484 tokens.
func fastCmd(args []string, stdout, stderr io.Writer) error {
	sub := args[0] // run checked it
	fs := flag.NewFlagSet("fast "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, commands["fast"].help) }
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	if err := parseArgs(fs, args[1:]); err != nil {
		return err
	}
	if n := fs.NArg(); n < 1 || n > 2 || (sub == "list" && n != 1) {
		return fmt.Errorf("fast %s: expected a JID (user@domain)%s", sub, map[string]string{"revoke": " and optionally a client id"}[sub])
	}
	ctx := context.Background()
	cfg, db, err := openStorage(ctx, *cfgPath, false, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	j, err := accountArg(cfg, fs.Arg(0))
	if err != nil {
		return err
	}
	if ok, err := db.AccountExists(ctx, j.Domain(), j.Local()); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("no account %s", j)
	}
	if sub == "revoke" {
		n, err := db.RevokeFastTokens(ctx, j.Domain(), j.Local(), fs.Arg(1))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %d tokens of %s\n", n, j)
		return nil
	}
	toks, err := db.ListFastTokens(ctx, j.Domain(), j.Local())
	if err != nil {
		return err
	}
	now := time.Now()
	for _, t := range toks {
		slot, exp := "current", t.Expiry.Format(time.RFC3339)
		if t.New {
			slot = "new"
		}
		if !t.Expiry.After(now) {
			exp += " (expired)"
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\n", t.AgentID, slot, t.Mechanism, exp, t.Label)
	}
	return nil
}

// accountArg parses a bare JID of one of the configured hosts.
func accountArg(cfg *config.Config, arg string) (jid.JID, error) {
	j, err := jid.Parse(arg)
	if err != nil || j.Local() == "" || j.Resource() != "" {
		return jid.JID{}, fmt.Errorf("%q is not a bare JID (user@domain)", arg)
	}
	for _, h := range cfg.Hosts {
		if h.Domain == j.Domain() {
			return j, nil
		}
	}
	return jid.JID{}, fmt.Errorf("domain %s is not one of the configured hosts", j.Domain())
}
