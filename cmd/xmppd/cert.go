package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/xmppd/xmppd/internal/certs"
)

// certCmd is "xmppd cert import DIR": Let's Encrypt's live folders into
// the data folder, as prosodyctl cert import does.
func certCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cert import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	fs.Usage = func() { fmt.Fprint(stderr, commands["cert"].help); fs.PrintDefaults() }
	// args[0] is the subcommand (only "import" so far).
	if err := parseArgs(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return flag.ErrHelp
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var domains []string
	for _, h := range cfg.Hosts {
		if h.CertFile != "" {
			// The server reads that host's files, not the data folder.
			fmt.Fprintf(stdout, "%s: skipped: cert_file is set (%s); the server reads that file\n", h.Domain, h.CertFile)
			continue
		}
		domains = append(domains, h.Domain)
	}
	if len(domains) == 0 {
		return errors.New("every host has cert_file: nothing to import")
	}
	res, err := certs.Import(cfg.DataDir, domains, fs.Arg(0), time.Now())
	if err != nil {
		return err
	}
	n := 0
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Domain, r.Err))
			continue
		}
		n++
		fmt.Fprintf(stdout, "%s: imported %s (expires %s)\n", r.Domain, r.From, r.NotAfter.UTC().Format(time.DateOnly))
	}
	if n > 0 {
		if cfg.ACME.On() {
			// SetManaged wins over the data folder's certificate.
			fmt.Fprintln(stdout, "note: [acme] is on: these hosts use the imported certificates only until ACME's arrive (remove [acme] to keep them)")
		}
		fmt.Fprintln(stdout, "reload the server to use them: systemctl reload xmppd (SIGHUP)")
	}
	return errors.Join(errs...)
}
