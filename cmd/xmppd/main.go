// Command xmppd is the XMPP server and its operator's tool.
//
//	xmppd [serve] [-config FILE] [-pprof ADDR]  run the server (no file: domain localhost, data in ./data)
//	xmppd user add|passwd|del JID     manage accounts (password prompted, or read from stdin)
//	xmppd user list [DOMAIN]
//	xmppd import FILE.xml ... | export [-o FILE.xml]   XEP-0227
//	xmppd backup -o FILE | restore FILE               data folder and SQLite database
//	xmppd cert import DIR             take Let's Encrypt's certificates (live/<name>/) for the hosts
//	xmppd check                       check configuration, certificates, DNS, ports, data folder; log in once
//	xmppd status                      ask the running server (its admin listener)
//	xmppd session list|kick [JID]
//	xmppd version | -version | help [COMMAND] | COMMAND -help
//
// Flags may come before or after the command.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/server"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
)

var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: xmppd [COMMAND] [-config FILE] [ARGS]

Commands (flags may come before or after the command; "xmppd COMMAND -help" says more):
  serve          run the server (the default; without -config: domain localhost, data in ./data)
  user           add, passwd, del, list accounts
  invite         create, list, revoke invitation links (XEP-0401)
  import         import XEP-0227 files (from Prosody or ejabberd)
  export         write accounts, archives, PEP/pubsub nodes, rooms as XEP-0227
  backup         copy database, uploads and keys into one file, while the server runs
  restore        put a backup into an empty data folder
  cert           import Let's Encrypt's certificates (cert import /etc/letsencrypt/live)
  check          check configuration, certificates, DNS, ports, data folder, and log in once
  status         ask the running server (its admin listener)
  session        list or kick the running server's sessions
  fast           list or revoke an account's FAST login tokens
  version        print the version (also: xmppd -version)
  help           this text
`)
}

// A command's help text, printed by "xmppd COMMAND -help" and on misuse.
// subs, when set, are its subcommands (in order): "user add", ...
type command struct {
	help string
	subs []string
}

var commands = map[string]command{
	"serve": {help: `usage: xmppd [serve] [-config FILE] [-pprof 127.0.0.1:6060]

Runs the server. Without -config: the domain localhost, data in ./data.
  -config FILE   configuration file (TOML; xmppd.example.toml documents it)
  -pprof ADDR    serve net/http/pprof on ADDR for profiling (opt-in; never expose it publicly)
`},
	"user": {subs: []string{"add", "passwd", "del", "list"}, help: `usage:
  xmppd user add [-config FILE] JID      create an account (password prompted, or one line from stdin)
  xmppd user passwd [-config FILE] JID   set a new password
  xmppd user del [-config FILE] JID      delete an account and its data
  xmppd user list [-config FILE] [DOMAIN]

Works on the data directly (the server may run). Passwords need
[registration] min_password_length characters, as for in-band registration.
`},
	"invite": {subs: []string{"create", "list", "revoke"}, help: `usage:
  xmppd invite create [-config FILE] [-admin] [-expires 7d] [-uses N] [-username NAME] [-inviter JID] [DOMAIN]
                                       print a new invitation link (DOMAIN: the first host)
  xmppd invite list [-config FILE] [DOMAIN]
  xmppd invite revoke [-config FILE] ID

An invitation creates an account even where registration is off: the link
opens a page where the invitee picks a username and password, or their XMPP
app with the token (XEP-0401). -admin: the account becomes an admin of the
host. -expires: how long the link works (Go duration or days, "7d"; default
[invites] expire_after). -uses: accounts it may create (default 1).
-username: the only username it creates. -inviter: an account of the host
the new account is subscribed to (both ways). Works on the data directly.
`},
	"import": {help: `usage: xmppd import [-config FILE] FILE.xml ...

Imports XEP-0227 files (accounts with their SCRAM keys, rosters, vCards, private
XML, offline messages, message archives, PEP nodes) from Prosody's or ejabberd's
export, and what xmppd export writes besides (pubsub service nodes, MUC rooms).
Accounts and rooms that exist already are left as they are, but their archives
and PEP nodes are merged: a message whose id is stored already is not stored
again. Malformed parts are reported with the file and left out. Run it with the
server stopped.
`},
	"export": {help: `usage: xmppd export [-config FILE] [-o FILE.xml] [DOMAIN ...]

Writes the hosts' accounts as one XEP-0227 document (xmppd import reads it back):
credentials, rosters, vCards, private XML, offline messages, message archives,
PEP nodes; then the nodes of each host's pubsub service and the persistent rooms
of its MUC service (with their archives) as <host/> elements of their own.
`},
	"backup": {help: `usage: xmppd backup [-config FILE] -o FILE.tar.gz

Copies the SQLite database (a consistent snapshot, VACUUM INTO: the server may
run), the uploaded files, the certificates and keys of the data folder into one
gzipped tar file (mode 0600: it holds the keys). With PostgreSQL storage it
copies the files only: dump the database with pg_dump (docs/deploy.md).
`},
	"restore": {help: `usage: xmppd restore [-config FILE] FILE.tar.gz

Puts a backup made by xmppd backup into the configuration's data folder, which
must hold no database yet (stop the server and move the old folder away first).
The server migrates the database at its next start.
`},
	"check": {help: `usage: xmppd check [-config FILE] [-dns HOST:PORT]

Run it before and after going live. One line per check, ok, warn, FAIL or
skip, each FAIL with how to fix it; the exit status is 0 only when nothing
FAILed:
  config     every error of the file at once
  cert       each host's certificate: key, expiry, chain (system roots and
             [s2s] ca_file), the host's name; a warning when the service
             names (conference., upload., pubsub.) are not covered; hosts
             under [acme] are reported as managed by the server
  dns        SRV _xmpp-client._tcp, _xmpps-client._tcp, _xmpp-server._tcp
             of each host for the listeners there are, and their targets'
             A/AAAA records pointing at this machine; with an s2s listener,
             the services' names reachable by other servers (skipped
             without DNS)
  port       each listener answers on this machine
  data       the data folder is writable and closed to other users
  self-test  a temporary account on the first host logs in over each c2s
             listener and sends itself a message; it is deleted afterwards
  -dns ADDR  ask this DNS server instead of the system's resolver
`},
	"cert": {subs: []string{"import"}, help: `usage: xmppd cert import [-config FILE] DIR

Copies each host's certificate and key from DIR, laid out as certbot's
/etc/letsencrypt/live (one folder per certificate with fullchain.pem and
privkey.pem; DIR may be /etc/letsencrypt), into the data folder's certs/,
where the server reads the certificate of a host without cert_file. A folder
named after the host is tried first, then any whose certificate covers it;
the one valid longest wins. Run as root, the copies are given to the owner
of the data folder. Then reload the server (SIGHUP, systemctl reload xmppd).
Hosts with cert_file are skipped: the server reads that file.
`},
	"status": {help: `usage: xmppd status [-config FILE] [-admin ADDR]

Asks the running server (its admin listener, from the configuration or -admin):
version, uptime, hosts, listeners, sessions, memory.
`},
	"session": {subs: []string{"list", "kick"}, help: `usage:
  xmppd session list [-config FILE] [-admin ADDR]
  xmppd session kick [-config FILE] [-admin ADDR] FULL-JID
                                      end a session (stream error policy-violation)
`},
	"fast": {subs: []string{"list", "revoke"}, help: `usage:
  xmppd fast list [-config FILE] JID             the account's XEP-0484 (FAST) tokens, one line per
                                                 token: client id, slot, mechanism, expiry, client name
  xmppd fast revoke [-config FILE] JID [CLIENT]  revoke the tokens of one client (its id from list),
                                                 or of all the account's clients

Works on the data directly (the server may run). A revoked client logs in with
the password again; setting a password (user passwd) revokes every token.
`},
	"version": {help: "usage: xmppd version\n"},
	"help":    {help: "usage: xmppd help [COMMAND]\n"},
}

// valueFlags are the flags that take a value, so that the command can be
// found after them: xmppd -config FILE user add JID.
// "admin" is also invite create's boolean: a flag after it is never taken
// as its value.
var valueFlags = map[string]bool{"config": true, "pprof": true, "admin": true, "o": true, "dns": true,
	"expires": true, "uses": true, "username": true, "inviter": true}

// flagName returns the name of a flag argument ("-config=x" -> "config",
// with hasValue) or "" for a non-flag.
func flagName(arg string) (name string, hasValue bool) {
	if len(arg) < 2 || arg[0] != '-' || arg == "--" {
		return "", false
	}
	name = strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue
}

// splitArgs separates flags (with their values) from the other arguments,
// as far as a "--".
func splitArgs(args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i:]...)
		}
		name, hasValue := flagName(a)
		if name == "" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if valueFlags[name] && !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

func isHelp(flags []string) bool {
	for _, f := range flags {
		if n, _ := flagName(f); n == "h" || n == "help" {
			return true
		}
	}
	return false
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags, pos := splitArgs(args)
	cmd := "serve"
	if len(pos) > 0 && pos[0] != "--" {
		cmd, pos = pos[0], pos[1:]
	} else {
		for _, f := range flags {
			if n, _ := flagName(f); n == "version" || n == "v" {
				fmt.Fprintln(stdout, "xmppd", version)
				return 0
			}
		}
		if isHelp(flags) {
			usage(stdout)
			return 0
		}
	}
	c, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "xmppd: unknown command %q; the commands are: %s\n", cmd, strings.Join(commandNames(), ", "))
		return 2
	}
	if isHelp(flags) {
		fmt.Fprint(stdout, c.help)
		return 0
	}
	if c.subs != nil {
		// The subcommand first, then every flag, then the rest:
		// "xmppd -config f user add JID" is "xmppd user add -config f JID".
		if len(pos) == 0 {
			fmt.Fprintf(stderr, "xmppd %s: which one? %s\n\n%s", cmd, strings.Join(c.subs, ", "), c.help)
			return 2
		}
		if !slices.Contains(c.subs, pos[0]) {
			fmt.Fprintf(stderr, "xmppd: unknown command %q; the %s commands are: %s\n", cmd+" "+pos[0], cmd, strings.Join(c.subs, ", "))
			return 2
		}
		args = append(append([]string{pos[0]}, flags...), pos[1:]...)
	} else {
		args = append(flags, pos...)
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stderr)
	case "user":
		err = user(args, stdin, stdout, stderr)
	case "invite":
		err = inviteCmd(args, stdout, stderr)
	case "import":
		err = importCmd(args, stdout, stderr)
	case "export":
		err = exportCmd(args, stdout, stderr)
	case "backup":
		err = backupCmd(args, stdout, stderr)
	case "restore":
		err = restoreCmd(args, stdout, stderr)
	case "cert":
		err = certCmd(args, stdout, stderr)
	case "check":
		err = checkCmd(args, stdout, stderr)
	case "status":
		err = status(args, stdout, stderr)
	case "session":
		err = session(args, stdout, stderr)
	case "fast":
		err = fastCmd(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "xmppd", version)
	case "help":
		if h, ok := commands[firstOr(pos, "")]; ok {
			fmt.Fprint(stdout, h.help)
		} else {
			usage(stdout)
		}
	}
	if err != nil {
		var fe flagError
		if errors.Is(err, flag.ErrHelp) || errors.As(err, &fe) {
			return 2 // the usage is printed already
		}
		if errors.Is(err, errChecksFailed) {
			return 1 // each failure is printed already
		}
		fmt.Fprintln(stderr, "xmppd:", err)
		return 1
	}
	return 0
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

func commandNames() []string {
	names := slices.Sorted(maps.Keys(commands))
	return names
}

// flagError is a bad flag, which package flag has reported with the usage.
type flagError struct{ error }

func (e flagError) Unwrap() error { return e.error }

// parseArgs parses flags wherever they are among the arguments (flag.Parse
// stops at the first non-flag); afterwards fs.Args() are the others.
func parseArgs(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return flagError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// openStorage loads the configuration and opens its storage, for the
// commands that work on the data directly (the server need not run).
//
// It never makes a database nobody asked for: run away from the server's
// folder without -config, "./data" is some other, empty folder, and
// adding an account there would succeed and be invisible to the server.
// So a missing SQLite file is an error naming the folder, unless the
// command creates data (create) and a configuration file was given.
func openStorage(ctx context.Context, cfgPath string, create bool, stderr io.Writer) (*config.Config, *sqldb.DB, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	if path, ok := sqlitePath(cfg); ok {
		_, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			abs, _ := filepath.Abs(path)
			if cfgPath == "" {
				return nil, nil, fmt.Errorf("no database at %s: without -config the data folder is ./data in the current directory (%s); run this in the server's folder or give -config FILE", abs, filepath.Dir(abs))
			}
			if !create {
				return nil, nil, fmt.Errorf("no database at %s (the data folder of %s): has the server ever run with this configuration?", abs, cfgPath)
			}
			fmt.Fprintf(stderr, "xmppd: no database yet: creating %s\n", abs)
		case err != nil:
			return nil, nil, fmt.Errorf("database: %w", err)
		}
	}
	db, err := server.OpenStorage(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}

// sqlitePath returns the file of a SQLite storage (not for :memory:).
func sqlitePath(cfg *config.Config) (string, bool) {
	if cfg.Storage.Driver != "" && cfg.Storage.Driver != "sqlite" {
		return "", false
	}
	base, query, _ := strings.Cut(cfg.DSN(), "?")
	base = strings.TrimPrefix(base, "file:")
	if base == "" || base == ":memory:" || strings.Contains(query, "mode=memory") {
		return "", false
	}
	return base, true
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
	fs.Usage = func() { fmt.Fprint(stderr, commands["serve"].help) }
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
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
	certsBefore := selfSignedFiles(cfg)
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	log.Info("xmppd started", "version", version, "domains", cfg.Domains(), "data_dir", cfg.DataDir)
	logSelfSigned(log, certsBefore)
	janitorCtx, stopJanitor := context.WithCancel(ctx)
	defer stopJanitor()
	go returnFreeMemory(janitorCtx, log)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	// The listeners are bound (server.New): connections made from now on
	// wait in the kernel's backlog until Serve accepts them, so systemd
	// may start what depends on xmppd.
	notifySocket := os.Getenv("NOTIFY_SOCKET")
	if err := sdNotify(notifySocket, "READY=1"); err != nil {
		log.Warn("cannot tell systemd the server is ready", "err", err)
	}
	go func() {
		sig, cur := <-sigs, cfg
		for ; sig == syscall.SIGHUP; sig = <-sigs {
			cur = reload(*cfgPath, cur, srv, level, log)
		}
		log.Info("shutting down", "signal", sig.String())
		sdNotify(notifySocket, "STOPPING=1")
		// A cluster node first gives its XEP-0198 clients handover_wait
		// to resume on other nodes.
		grace := 10 * time.Second
		if cur.Cluster.Enabled() {
			grace += cur.Cluster.HandoverWait.Duration
		}
		sctx, cancel := context.WithTimeout(context.Background(), grace)
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
	sub := args[0] // run checked it
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, commands["user"].help) }
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	if err := parseArgs(fs, args[1:]); err != nil {
		return err
	}
	ctx := context.Background()
	cfg, db, err := openStorage(ctx, *cfgPath, sub == "add", stderr)
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
	j, err := accountArg(cfg, fs.Arg(0))
	if err != nil {
		return err
	}
	switch sub {
	case "add", "passwd":
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		// The policy of in-band registration (XEP-0077), so an operator
		// cannot hand out what a user could not choose.
		if min := max(cfg.Registration.MinPasswordLength, 1); utf8.RuneCountInString(pw) < min {
			return fmt.Errorf("the password must have at least %d characters ([registration] min_password_length)", min)
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
		} else if err = db.SetCredentials(ctx, j.Domain(), j.Local(), sc); err == nil {
			// XEP-0484: a new password ends the clients' FAST tokens.
			_, err = db.RevokeFastTokens(ctx, j.Domain(), j.Local(), "")
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
