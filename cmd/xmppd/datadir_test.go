package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnreadableDataFolderProcess: xmppd started by a user who may not
// use its data folder says which folder and that it is a permission
// problem. Root may use any folder, so as root the server runs as nobody
// (uid 65534) from a copy of the test binary that user can execute.
func TestUnreadableDataFolderProcess(t *testing.T) {
	dir := t.TempDir()
	// t.TempDir's folder and its parent are 0700.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil { // root's
		t.Fatal(err)
	}
	bin := os.Args[0]
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		for d := filepath.Dir(filepath.Dir(dir)); ; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
				t.Skipf("%s is closed to other users (TMPDIR): nobody could run xmppd below it", d)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
		bin = filepath.Join(dir, "xmppd")
		copyFile(t, os.Args[0], bin)
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	} else {
		if err := os.Chmod(data, 0o000); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(data, 0o700)
	}
	cfgPath := filepath.Join(dir, "xmppd.toml")
	conf := fmt.Sprintf("data_dir = %q\n\n[[listen]]\ntype = \"c2s\"\naddress = \"127.0.0.1:0\"\n", data)
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "-config", cfgPath)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("xmppd started on a folder it cannot use:\n%s", out)
	}
	if !strings.Contains(string(out), "data folder "+data+": permission denied") {
		t.Fatalf("the error does not name the folder and the permission problem (%v):\n%s", err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
