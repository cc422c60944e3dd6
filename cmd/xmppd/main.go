// Command xmppd is the XMPP server and its operator's tool.
//
//	xmppd [serve] [-config FILE] [-pprof ADDR]  run the server (no file: domain localhost, data in ./data)
//	xmppd user add|passwd|del JID     manage accounts (password prompted, or read from stdin)
//	xmppd user list [DOMAIN]
//	xmppd status                      ask the running server (its admin listener)
//	xmppd session list|kick [JID]
//	xmppd version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/server"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
)

var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  xmppd [serve] [-config FILE] [-pprof 127.0.0.1:6060]
                                      run the server (-pprof: profiling endpoint, opt-in)
  xmppd user add [-config FILE] JID   create an account (password prompted or read from stdin)
  xmppd user passwd [-config FILE] JID
  xmppd user del [-config FILE] JID
  xmppd user list [-config FILE] [DOMAIN]
  xmppd import [-config FILE] FILE.xml ...
                                      import XEP-0227 files (accounts, rosters, vCards, private XML,
                                      offline messages) from Prosody's or ejabberd's export
  xmppd export [-config FILE] [-o FILE.xml] [DOMAIN ...]
                                      write the accounts as one XEP-0227 document
  xmppd status [-config FILE] [-admin ADDR]
                                      the running server: version, uptime, listeners, sessions, memory
  xmppd session list [-config FILE] [-admin ADDR]
  xmppd session kick [-config FILE] [-admin ADDR] FULL-JID
                                      end a session (stream error policy-violation)
  xmppd version
`)
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stderr)
	case "user":
		err = user(args, stdin, stdout, stderr)
	case "import":
		err = importCmd(args, stdout, stderr)
	case "export":
		err = exportCmd(args, stdout, stderr)
	case "status":
		err = status(args, stdout, stderr)
	case "session":
		err = session(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "xmppd", version)
	case "help", "-h", "--help":
		usage(stdout)
	default:
		usage(stderr)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintln(stderr, "xmppd:", err)
		return 1
	}
	return 0
}

// openStorage loads the configuration and opens its storage, for the
// commands that work on the data directly (the server need not run).
func openStorage(ctx context.Context, cfgPath string) (*config.Config, *sqldb.DB, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	db, err := server.OpenStorage(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

// storedCredentials derives the SCRAM keys of a password for every hash:
// the password itself is never stored.
func storedCredentials(password string) ([]storage.Credential, error) {
	cs, err := auth.DeriveCredentials(password, auth.DefaultIterations)
	if err != nil {
		return nil, err
	}
	out := make([]storage.Credential, len(cs))
	for i, c := range cs {
		out[i] = storage.Credential(c)
	}
	return out, nil
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

// newLogger logs at level, which a configuration reload changes.
func newLogger(cfg *config.Config, level *slog.LevelVar, w io.Writer) *slog.Logger {
	setLevel(level, cfg)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func setLevel(level *slog.LevelVar, cfg *config.Config) {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	level.Set(lvl)
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML); none: built-in defaults")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060) for profiling; off by default, never expose it publicly")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// "xmppd -config f user add ..." would otherwise start a server.
		return fmt.Errorf("serve: unexpected argument %q (flags go after the command: xmppd user add -config FILE JID)", fs.Arg(0))
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg, level, stderr)
	if *pprofAddr != "" {
		if err := startPprof(*pprofAddr, log); err != nil {
			return err
		}
	}
	if cfg.Limits.MemoryLimit > 0 {
		// Process-wide, so here and not in internal/server (tests run
		// several servers in one process).
		debug.SetMemoryLimit(memoryLimit(cfg))
	}
	ctx := context.Background()
	server.Version = version
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	domains := make([]string, 0, len(cfg.Hosts))
	for _, h := range cfg.Hosts {
		domains = append(domains, h.Domain)
	}
	log.Info("xmppd started", "version", version, "domains", domains, "data_dir", cfg.DataDir)
	janitorCtx, stopJanitor := context.WithCancel(ctx)
	defer stopJanitor()
	go returnFreeMemory(janitorCtx, time.Minute, log)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		sig, cur := <-sigs, cfg
		for ; sig == syscall.SIGHUP; sig = <-sigs {
			cur = reload(*cfgPath, cur, srv, level, log)
		}
		log.Info("shutting down", "signal", sig.String())
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("shutdown incomplete", "err", err)
		}
	}()
	err = srv.Serve()
	srv.Shutdown(context.Background())
	log.Info("xmppd stopped")
	return err
}

// reload is SIGHUP: the configuration file is read again and what can
// change while running is applied (certificates, log level, connection
// and memory limits; Server.Reload logs what needs a restart). A file
// that does not load changes nothing.
func reload(cfgPath string, cur *config.Config, srv *server.Server, level *slog.LevelVar, log *slog.Logger) *config.Config {
	log.Info("reloading configuration", "signal", "SIGHUP", "config", cfgPath)
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		log.Error("configuration reload failed, nothing changed", "err", err)
		return cur
	}
	if err := srv.Reload(cfg); err != nil {
		log.Error("configuration reload failed, nothing changed", "err", err)
		return cur
	}
	setLevel(level, cfg)
	if cfg.Limits.MemoryLimit != cur.Limits.MemoryLimit {
		// Only on a change: a limit from GOMEMLIMIT stays otherwise.
		debug.SetMemoryLimit(memoryLimit(cfg))
	}
	return cfg
}

// memoryLimit is the Go runtime's soft limit for cfg: none (the runtime's
// "no limit", math.MaxInt64) unless configured.
func memoryLimit(cfg *config.Config) int64 {
	if l := cfg.Limits.MemoryLimit; l > 0 {
		return l
	}
	return math.MaxInt64
}

func user(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return flag.ErrHelp
	}
	sub := args[0]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx := context.Background()
	cfg, db, err := openStorage(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()

	if sub == "list" {
		domain := fs.Arg(0)
		names, err := db.ListAccounts(ctx, domain)
		if err != nil {
			return err
		}
		for _, n := range names {
			if domain != "" {
				n += "@" + domain
			}
			fmt.Fprintln(stdout, n)
		}
		return nil
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("user %s: expected one JID (user@domain)", sub)
	}
	j, err := jid.Parse(fs.Arg(0))
	if err != nil || j.Local() == "" || j.Resource() != "" {
		return fmt.Errorf("%q is not a bare JID (user@domain)", fs.Arg(0))
	}
	served := false
	for _, h := range cfg.Hosts {
		served = served || h.Domain == j.Domain()
	}
	if !served {
		return fmt.Errorf("domain %s is not one of the configured hosts", j.Domain())
	}
	switch sub {
	case "add", "passwd":
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		sc, err := storedCredentials(pw)
		if err != nil {
			return err
		}
		if sub == "add" {
			err = db.CreateAccount(ctx, j.Domain(), j.Local(), sc)
			if errors.Is(err, storage.ErrExists) {
				return fmt.Errorf("account %s already exists", j)
			}
		} else {
			err = db.SetCredentials(ctx, j.Domain(), j.Local(), sc)
		}
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no account %s", j)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", map[string]string{"add": "created", "passwd": "password changed"}[sub], j)
	case "del":
		if err := db.DeleteAccount(ctx, j.Domain(), j.Local()); errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no account %s", j)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted: %s\n", j)
	default:
		usage(stderr)
		return flag.ErrHelp
	}
	return nil
}

// readPassword prompts twice without echo on a terminal; from a pipe it
// reads one line (for scripts: echo secret | xmppd user add a@localhost).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("passwords do not match")
		}
		if len(a) == 0 {
			return "", errors.New("empty password")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}
