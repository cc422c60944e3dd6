package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runMainEnv makes the test binary act as xmppd (TestMain), so that a test
// can run the real command as a process and send it signals.
const runMainEnv = "XMPPD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// serveProcess is "xmppd serve" running as a process of its own (the
// test binary, through TestMain), so that a test can send it signals.
type serveProcess struct {
	cmd    *exec.Cmd
	logs   *logLines
	exited chan error
	c2s    string // the address of the c2s listener the log names first
	next   int    // the index of the log line after the one naming it
}

// startServe starts "xmppd serve -config cfgPath" and waits until it
// logs its c2s listener. The process is killed at test end if it still
// runs.
func startServe(t *testing.T, cfgPath string) *serveProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "-config", cfgPath)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, logs: &logLines{more: make(chan struct{})}, exited: make(chan error, 1)}
	go func() {
		p.logs.read(t, bufio.NewScanner(stderr))
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	line, next := p.logs.wait(t, 0, `msg=listening type=c2s`)
	p.c2s, p.next = regexp.MustCompile(`address=(\S+)`).FindStringSubmatch(line)[1], next
	return p
}

// stop sends SIGTERM and returns how the process ended; the test fails
// if it has not ended within 15 seconds.
func (p *serveProcess) stop(t *testing.T) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("xmppd did not stop on SIGTERM\n%s", p.logs.all())
		return nil
	}
}

// logLines collects a process's log output and waits for lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced at each new line
}

func (l *logLines) read(t *testing.T, sc *bufio.Scanner) {
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		close(l.more)
		l.more = make(chan struct{})
		l.mu.Unlock()
	}
}

// wait returns the first line from index from on that matches re.
func (l *logLines) wait(t *testing.T, from int, re string) (string, int) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if rx.MatchString(l.lines[i]) {
				l.mu.Unlock()
				return l.lines[i], i + 1
			}
		}
		more := l.more
		l.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no log line matching %q in:\n%s", re, l.all())
		}
	}
}

func (l *logLines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
