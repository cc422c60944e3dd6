package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// A backup taken while the server serves and writes, restored into a new
// data folder, gives a server with the same accounts, uploads and keys.
func TestBackupRestoreWhileServing(t *testing.T) {
	dir := t.TempDir()
	cfgText := testutil.BaseConfig(dir)
	cfgPath := filepath.Join(t.TempDir(), "xmppd.toml")
	os.WriteFile(cfgPath, []byte(cfgText), 0o600)
	srv := testutil.StartIn(t, dir, cfgText)
	srv.AddUser(t, "alice", "alice's password")
	upload := filepath.Join(dir, "upload", "slot1.data")
	os.MkdirAll(filepath.Dir(upload), 0o700)
	os.WriteFile(upload, []byte("an uploaded file"), 0o600)

	// The server keeps writing while the backup reads.
	srv.AddUser(t, "writer0", "password")
	creds, err := storedCredentials("password")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := srv.Accounts().CreateAccount(context.Background(), "localhost", fmt.Sprintf("writer%d", i), creds); err != nil {
				t.Errorf("add an account during the backup: %v", err)
				return
			}
		}
	}()
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	code, stdout, errs := cli(t, "", "backup", "-config", cfgPath, "-o", out)
	close(stop)
	wg.Wait()
	if code != 0 || !strings.Contains(stdout, "backup: "+out) {
		t.Fatalf("backup: %d %q %q", code, stdout, errs)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", st, err)
	}
	names := tarNames(t, out)
	for _, want := range []string{"xmppd.db", "upload/slot1.data", "secret.key", "certs/localhost.crt", "certs/localhost.key"} {
		if !names[want] {
			t.Errorf("backup lacks %s: %v", want, names)
		}
	}
	for n := range names {
		if strings.HasPrefix(n, "xmppd.db-") {
			t.Errorf("backup holds the live database's %s", n)
		}
	}
	srv.Stop(t)

	// Restore into a new folder, start there, log in.
	dir2 := t.TempDir()
	cfg2Text := testutil.BaseConfig(dir2)
	cfg2 := filepath.Join(t.TempDir(), "xmppd.toml")
	os.WriteFile(cfg2, []byte(cfg2Text), 0o600)
	if code, stdout, errs := cli(t, "", "restore", "-config", cfg2, out); code != 0 || !strings.Contains(stdout, "restored into "+dir2+": the database and") {
		t.Fatalf("restore: %d %q %q", code, stdout, errs)
	}
	for _, f := range []string{"secret.key", "certs/localhost.crt", "upload/slot1.data"} {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		b, err := os.ReadFile(filepath.Join(dir2, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s not restored as it was (%v)", f, err)
		}
	}
	srv2 := testutil.StartIn(t, dir2, cfg2Text)
	testutil.Login(t, srv2, "alice", "alice's password", "r")
	if code, out, _ := cli(t, "", "user", "list", "-config", cfg2, "localhost"); code != 0 || !strings.Contains(out, "alice@localhost\nwriter0@localhost\n") {
		t.Errorf("restored accounts: %q", out)
	}

	// Never over an existing database.
	if code, _, errs := cli(t, "", "restore", "-config", cfg2, out); code != 1 || !strings.Contains(errs, "exists: stop the server") {
		t.Errorf("restore over a database: %d %q", code, errs)
	}
}

func TestRestoreRefusesPathsOutsideTheDataFolder(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.tar.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "../escape", Mode: 0o600, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	zw.Close()
	os.WriteFile(bad, buf.Bytes(), 0o600)
	cfg := filepath.Join(dir, "xmppd.toml")
	os.WriteFile(cfg, []byte(testutil.BaseConfig(filepath.Join(dir, "data"))), 0o600)
	if code, _, errs := cli(t, "", "restore", "-config", cfg, bad); code != 1 || !strings.Contains(errs, "outside the data folder") {
		t.Fatalf("restore: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); !os.IsNotExist(err) {
		t.Fatal("file written outside the data folder")
	}
}

func tarNames(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
	}
	return names
}

// With PostgreSQL storage the backup holds the data folder's files and
// says the database needs pg_dump; nothing connects to the database.
func TestBackupWithPostgresCopiesFilesOnly(t *testing.T) {
	dir := t.TempDir()
	pg := "\n[storage]\ndriver = \"postgres\"\ndsn = \"postgres://xmppd@127.0.0.1:1/xmppd\"\n"
	cfgPath := filepath.Join(t.TempDir(), "xmppd.toml")
	os.WriteFile(cfgPath, []byte(testutil.BaseConfig(dir)+pg), 0o600)
	os.WriteFile(filepath.Join(dir, "secret.key"), []byte("key"), 0o600)
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	code, stdout, errs := cli(t, "", "backup", "-o", out, "-config", cfgPath)
	if code != 0 || !strings.Contains(stdout, "pg_dump") {
		t.Fatalf("backup: %d %q %q", code, stdout, errs)
	}
	if names := tarNames(t, out); !names["secret.key"] || names["xmppd.db"] {
		t.Fatalf("backup holds %v", names)
	}
	dir2 := t.TempDir()
	cfg2 := filepath.Join(t.TempDir(), "xmppd.toml")
	os.WriteFile(cfg2, []byte(testutil.BaseConfig(dir2)+pg), 0o600)
	if code, stdout, errs := cli(t, "", "restore", out, "-config", cfg2); code != 0 || !strings.Contains(stdout, "pg_restore") {
		t.Fatalf("restore: %d %q %q", code, stdout, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(dir2, "secret.key")); string(b) != "key" {
		t.Fatalf("secret.key: %q", b)
	}
}
