package faults

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is one real xmppd process: the binary under test, started as a
// child with its own data folder, configuration and loopback ports. The
// ports stay the same across restarts, so a case can kill the process and
// start it again on the same data.
type Server struct {
	Bin     string
	Dir     string // data folder
	CfgPath string

	StartTLS, DirectTLS, HTTP, S2S, Admin string // listener addresses

	cmd  *exec.Cmd
	done chan error
	log  *os.File
}

// Options shape the configuration of one server.
type Options struct {
	DataDir string // "" = a new folder under the suite's temp folder
	Limits  string // extra lines for the [limits] table
	Extra   string // extra TOML appended at the end
	HTTP    bool   // an http listener (direct TLS)
	S2S     bool   // an s2s listener (STARTTLS)
}

// newServer writes the configuration; Start runs it.
func (s *Suite) newServer(o Options) (*Server, error) {
	dir := o.DataDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp(s.tmp, "data-"); err != nil {
			return nil, err
		}
	}
	srv := &Server{Bin: s.Bin, Dir: dir}
	var err error
	ports := func() string {
		if err != nil {
			return ""
		}
		var a string
		a, err = freePort()
		return a
	}
	srv.StartTLS, srv.DirectTLS, srv.Admin = ports(), ports(), ports()
	if o.HTTP {
		srv.HTTP = ports()
	}
	if o.S2S {
		srv.S2S = ports()
	}
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	level := "info"
	if os.Getenv("XMPPD_FAULTS_DEBUG") != "" {
		level = "debug"
	}
	fmt.Fprintf(&b, "data_dir = %q\nlog_level = %q\n\n[[host]]\ndomain = \"localhost\"\n\n", dir, level)
	fmt.Fprintf(&b, "[[listen]]\ntype = \"c2s\"\naddress = %q\ntls = \"starttls\"\n\n", srv.StartTLS)
	fmt.Fprintf(&b, "[[listen]]\ntype = \"c2s\"\naddress = %q\ntls = \"direct\"\n\n", srv.DirectTLS)
	fmt.Fprintf(&b, "[[listen]]\ntype = \"admin\"\naddress = %q\n\n", srv.Admin)
	if o.HTTP {
		fmt.Fprintf(&b, "[[listen]]\ntype = \"http\"\naddress = %q\ntls = \"direct\"\n\n", srv.HTTP)
	}
	if o.S2S {
		fmt.Fprintf(&b, "[[listen]]\ntype = \"s2s\"\naddress = %q\ntls = \"starttls\"\n\n", srv.S2S)
		b.WriteString("[s2s]\nenabled = false\n\n")
	}
	b.WriteString("[limits]\n" + o.Limits + "\n\n")
	b.WriteString("[archive]\nmax_page = 10000\n\n")
	b.WriteString(o.Extra)
	// The configuration lives beside, not inside, the data folder: the
	// disk cases make the data folder full or read-only.
	cf, err := os.CreateTemp(s.tmp, "xmppd-*.toml")
	if err != nil {
		return nil, err
	}
	srv.CfgPath = cf.Name()
	if _, err := cf.WriteString(b.String()); err != nil {
		cf.Close()
		return nil, err
	}
	if err := cf.Close(); err != nil {
		return nil, err
	}
	return srv, nil
}

// freePort returns a loopback address with a port nobody listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// AddUser creates an account with the CLI, the password on stdin.
func (srv *Server) AddUser(ctx context.Context, jid, password string) error {
	cmd := exec.CommandContext(ctx, srv.Bin, "user", "add", "-config", srv.CfgPath, jid)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("xmppd user add %s: %w: %s", jid, err, bytes.TrimSpace(out))
	}
	return nil
}

// Start runs the process and waits until its listeners answer.
func (srv *Server) Start(ctx context.Context) error {
	if srv.cmd != nil {
		return errors.New("already running")
	}
	lf, err := os.OpenFile(srv.CfgPath+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(srv.Bin, "serve", "-config", srv.CfgPath)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	srv.cmd, srv.log, srv.done = cmd, lf, make(chan error, 1)
	go func() { srv.done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-srv.done:
			srv.cmd = nil
			lf.Close()
			return fmt.Errorf("xmppd exited at start (%v): %s", err, srv.LogTail(8))
		case <-ctx.Done():
			srv.Kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if srv.ready() {
			return nil
		}
	}
	srv.Kill()
	return fmt.Errorf("xmppd not ready in 20s: %s", srv.LogTail(8))
}

func (srv *Server) ready() bool {
	for _, a := range []string{srv.StartTLS, srv.DirectTLS, srv.HTTP, srv.S2S} {
		if a == "" {
			continue
		}
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	_, err := srv.Metric("xmppd_sessions_bound")
	return err == nil
}

// Pid is the running process's id (0 when stopped).
func (srv *Server) Pid() int {
	if srv.cmd == nil {
		return 0
	}
	return srv.cmd.Process.Pid
}

// Kill ends the process with SIGKILL: no shutdown code runs.
func (srv *Server) Kill() {
	if srv.cmd == nil {
		return
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.done
	srv.cmd = nil
	srv.log.Close()
}

// Stop sends SIGTERM (the graceful shutdown) and waits up to limit; then
// SIGKILL. It returns how long the shutdown took and whether it was
// graceful.
func (srv *Server) Stop(limit time.Duration) (time.Duration, error) {
	if srv.cmd == nil {
		return 0, nil
	}
	start := time.Now()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-srv.done:
		srv.cmd = nil
		srv.log.Close()
		return time.Since(start), err
	case <-time.After(limit):
		srv.cmd.Process.Signal(syscall.SIGKILL)
		<-srv.done
		srv.cmd = nil
		srv.log.Close()
		return time.Since(start), fmt.Errorf("no exit %v after SIGTERM: killed", limit)
	}
}

// LogTail returns the last n lines of the server's log, on one line.
func (srv *Server) LogTail(n int) string {
	b, _ := os.ReadFile(srv.CfgPath + ".log")
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// LogCount counts log lines containing s.
func (srv *Server) LogCount(s string) int {
	b, _ := os.ReadFile(srv.CfgPath + ".log")
	return bytes.Count(b, []byte(s))
}

// Metric sums every series of a Prometheus metric on the admin listener's
// /metrics (a counter with labels, such as one per operation, counts as
// its total). A metric with no series is 0: a labelled counter shows
// nothing until its first increment.
func (srv *Server) Metric(name string) (float64, error) {
	cl := http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get("http://" + srv.Admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return sumMetric(resp.Body, name)
}

func sumMetric(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum float64
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric with this prefix
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", name, line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return sum, nil
}

// RSS is the process's resident memory in bytes (VmRSS).
func (srv *Server) RSS() (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(srv.Pid()), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// OpenFDs counts the process's open file descriptors (sockets included).
func (srv *Server) OpenFDs() int {
	ents, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(srv.Pid()), "fd"))
	return len(ents)
}
