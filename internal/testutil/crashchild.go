package testutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/server"
	"github.com/xmppd/xmppd/storage"
)

// CrashChild is an xmppd that the test binary runs in a child process of
// its own, for durability tests that kill it with SIGKILL (no shutdown,
// no final flush) and start it again on the same data directory. It
// serves localhost on a STARTTLS c2s listener at a free port, with no
// s2s.
type CrashChild struct {
	// Env is the environment variable that names the data directory and
	// makes the test binary the child; one per package.
	Env string
	// Config is TOML added to the child's configuration (after the
	// listener: a table such as [muc]).
	Config   string
	Users    []string // accounts the child creates at localhost
	Password string   // theirs
}

// Main is the package's TestMain: in the child it serves until killed
// (and exits 1 if it cannot), otherwise it runs the tests.
func (c CrashChild) Main(m *testing.M) {
	if dir := os.Getenv(c.Env); dir != "" {
		if err := c.serve(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serve runs the child's server on dir, prints its c2s address on stdout
// (the parent reads it) and serves.
func (c CrashChild) serve(dir string) error {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
data_dir = %q
[[host]]
domain = "localhost"
[[listen]]
type = "c2s"
address = "127.0.0.1:0"
tls = "starttls"
%s`, dir, c.Config)), "child.toml")
	if err != nil {
		return err
	}
	cfg.S2S.Enabled = false
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	for _, u := range c.Users {
		creds, err := auth.DeriveCredentials(c.Password, auth.DefaultIterations)
		if err != nil {
			return err
		}
		sc := make([]storage.Credential, len(creds))
		for i, cr := range creds {
			sc[i] = storage.Credential(cr)
		}
		// A restarted child finds its accounts in place.
		if err := srv.Accounts().CreateAccount(context.Background(), "localhost", u, sc); err != nil && !errors.Is(err, storage.ErrExists) {
			return err
		}
	}
	fmt.Println(srv.Addrs()[0].String())
	return srv.Serve()
}

// SkipShortOrRace skips a durability test under -short (it starts and
// kills server processes) and under the race detector: the commit
// windows such tests hold the server to are stated for a normal build.
func (c CrashChild) SkipShortOrRace(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts and kills a server process")
	}
	if raceEnabled {
		t.Skip("the window is stated for a normal build; the race detector slows the database writer 10-20x")
	}
}

// Start runs the child on dir and returns its process, to kill, and its
// c2s address. The test's cleanup kills it if the test did not.
func (c CrashChild) Start(t testing.TB, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), c.Env+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child server: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// Login signs user in at the child's address (STARTTLS, SCRAM-SHA-256)
// and binds the resource "r".
func (c CrashChild) Login(t testing.TB, addr, user string) *Client {
	t.Helper()
	cl := NewClient(t, Dial(t, addr))
	cl.Open("localhost")
	cl.StartTLS("localhost")
	if r := cl.AuthSCRAM("SCRAM-SHA-256", user, c.Password, "", nil); !r.OK {
		t.Fatalf("login %s: %s", user, r.Condition)
	}
	cl.Restart("localhost")
	cl.Bind("r")
	return cl
}
