package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/internal/invite"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
)

// inviteCmd is "xmppd invite create|list|revoke": invitations
// (modules/invites) made on the database directly, as "xmppd user" does.
func inviteCmd(args []string, stdout, stderr io.Writer) error {
	sub := args[0] // run checked it
	fs := flag.NewFlagSet("invite "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, commands["invite"].help) }
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	admin := fs.Bool("admin", false, "the new account becomes an admin of the host")
	expires := fs.String("expires", "", `validity, e.g. "7d" or "36h" (default [invites] expire_after)`)
	uses := fs.Int("uses", 1, "how many accounts the invite may create")
	username := fs.String("username", "", "the only username the invite creates")
	inviter := fs.String("inviter", "", "account the new one is subscribed to, both ways")
	if err := parseArgs(fs, args[1:]); err != nil {
		return err
	}
	ctx := context.Background()
	cfg, db, err := openStorage(ctx, *cfgPath, false, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)

	switch sub {
	case "create":
		domain := cfg.Hosts[0].Domain
		if fs.NArg() > 1 {
			return errors.New("invite create: at most one DOMAIN")
		}
		if fs.NArg() == 1 {
			domain = strings.ToLower(fs.Arg(0))
			if !slices.Contains(cfg.Domains(), domain) {
				return fmt.Errorf("domain %s is not one of the configured hosts", domain)
			}
		}
		ttl := invitesConfig(cfg).ExpireAfter.Duration
		if *expires != "" {
			if ttl, err = parseValidity(*expires); err != nil {
				return err
			}
		}
		if *uses < 1 {
			return fmt.Errorf("-uses %d: an invite creates at least one account", *uses)
		}
		inv := storage.Invite{ID: invite.NewID(), Domain: domain, Admin: *admin, UsesLeft: *uses,
			Created: now, Expires: now.Add(ttl)}
		if *username != "" {
			j, err := jid.New(*username, domain, "")
			if err != nil || j.Local() == "" {
				return fmt.Errorf("-username %q is not a valid username", *username)
			}
			if ok, err := db.AccountExists(ctx, domain, j.Local()); err != nil {
				return err
			} else if ok {
				return fmt.Errorf("account %s already exists", j)
			}
			inv.Username = j.Local()
		}
		if *inviter != "" {
			j, err := jid.Parse(*inviter)
			if err != nil || j.Local() == "" || j.Resource() != "" || j.Domain() != domain {
				return fmt.Errorf("-inviter %q is not an account of %s (user@%s)", *inviter, domain, domain)
			}
			if ok, err := db.AccountExists(ctx, domain, j.Local()); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("no account %s", j)
			}
			inv.Creator = j.String()
		}
		token, hash := invite.NewToken()
		inv.TokenHash = hash
		if err := db.CreateInvite(ctx, inv); err != nil {
			return err
		}
		// The link first, alone on its line, for scripts (| head -n1).
		uri := invite.URI(domain, inv.Creator, token)
		if link := invite.Link(invite.Base(invitesConfig(cfg).URL, httpListener(cfg), domain, 0), token); link != "" {
			fmt.Fprintln(stdout, link)
		} else {
			fmt.Fprintln(stderr, "xmppd: no http listener and no [invites] url: only the xmpp: URI can be handed out")
		}
		fmt.Fprintln(stdout, uri)
		fmt.Fprintf(stdout, "invite %s for %s, valid until %s%s\n", inv.ID, domain, inv.Expires.Format(time.RFC3339), describe(inv))
	case "list":
		if fs.NArg() > 1 {
			return errors.New("invite list: at most one DOMAIN")
		}
		list, err := db.ListInvites(ctx, strings.ToLower(fs.Arg(0)), now)
		if err != nil {
			return err
		}
		for _, inv := range list {
			fmt.Fprintf(stdout, "%s %s until %s%s\n", inv.ID, inv.Domain, inv.Expires.Format(time.RFC3339), describe(inv))
		}
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("invite revoke: expected one ID (see xmppd invite list)")
		}
		id := fs.Arg(0)
		list, err := db.ListInvites(ctx, "", now)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list, func(inv storage.Invite) bool { return inv.ID == id })
		if i < 0 {
			return fmt.Errorf("no invite %s", id)
		}
		if err := db.RevokeInvite(ctx, list[i].Domain, id); errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no invite %s", id)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked: %s\n", id)
	}
	return nil
}

// describe lists what sets an invite apart from a plain single-use one.
func describe(inv storage.Invite) string {
	var b strings.Builder
	if inv.UsesLeft != 1 {
		fmt.Fprintf(&b, ", %d uses left", inv.UsesLeft)
	}
	if inv.Admin {
		b.WriteString(", admin")
	}
	if inv.Username != "" {
		b.WriteString(", username " + inv.Username)
	}
	if inv.Creator != "" {
		b.WriteString(", inviter " + inv.Creator)
	}
	return b.String()
}

// parseValidity reads -expires: a Go duration ("36h") or whole days
// ("7d", as Snikket's command line takes them).
func parseValidity(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	}
	if err != nil || d < time.Minute || d > 365*24*time.Hour {
		return 0, fmt.Errorf("-expires %q: want a duration from 1m to 365d, such as 7d or 36h", s)
	}
	return d, nil
}
