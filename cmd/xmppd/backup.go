package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/xmppd/xmppd/internal/config"
)

// A backup is a gzipped tar file:
//
//	xmppd.db        the SQLite database (absent with PostgreSQL)
//	upload/...      the XEP-0363 files (upload.path, or data_dir/upload)
//	...             every other file of the data folder: certs/, secret.key,
//	                dialback.key (without these, restored tokens, upload
//	                links and pinned certificates would no longer match)
const (
	backupDB     = "xmppd.db"
	backupUpload = "upload"
)

func backupCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, commands["backup"].help) }
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	outPath := fs.String("o", "", "the backup file to write (.tar.gz)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *outPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	dbPath, isSQLite := sqlitePath(cfg)
	if !isSQLite && cfg.Storage.Driver == "sqlite" {
		return errors.New("backup: an in-memory database has nothing to back up")
	}
	if isSQLite {
		if _, err := os.Stat(dbPath); err != nil {
			abs, _ := filepath.Abs(dbPath)
			if *cfgPath == "" {
				return fmt.Errorf("no database at %s: without -config the data folder is ./data in the current directory; run this in the server's folder or give -config FILE", abs)
			}
			return fmt.Errorf("backup: %w", err)
		}
	}

	// Written beside the destination and renamed at the end: a failed
	// backup never leaves a truncated file under the name asked for.
	dir := filepath.Dir(*outPath)
	tmp, err := os.MkdirTemp(dir, ".xmppd-backup-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)

	var snapshot string
	if isSQLite {
		snapshot = filepath.Join(tmp, backupDB)
		if err := sqliteSnapshot(context.Background(), dbPath, snapshot); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(filepath.Join(tmp, "backup.tar.gz"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // keys are secrets
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	n, err := writeBackup(f, cfg, dbPath, snapshot)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(f.Name(), *outPath); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if isSQLite {
		fmt.Fprintf(stdout, "backup: %s (the database and %d files)\n", *outPath, n)
	} else {
		fmt.Fprintf(stdout, "backup: %s (%d files; the %s database is not in it: dump it with pg_dump)\n", *outPath, n, cfg.Storage.Driver)
	}
	return nil
}

// sqliteSnapshot writes a consistent copy of a live database with VACUUM
// INTO: it reads one snapshot (WAL lets the server keep writing
// meanwhile) and writes a compact file with no -wal beside it.
func sqliteSnapshot(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("backup: copy %s: %w", src, err)
	}
	return os.Chmod(dst, 0o600)
}

// writeBackup writes the snapshot (if any), the uploads and the rest of
// the data folder; it returns the number of files besides the database.
func writeBackup(w io.Writer, cfg *config.Config, dbPath, snapshot string) (int, error) {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	n := 0
	if snapshot != "" {
		if err := addFile(tw, snapshot, backupDB); err != nil {
			return 0, err
		}
	}
	uploads, _ := filepath.Abs(cfg.UploadPath())
	if err := addTree(tw, uploads, backupUpload, nil, &n); err != nil {
		return 0, err
	}
	// The rest of the data folder, but not the live database (its
	// snapshot is in already), nor the uploads (above).
	dbAbs, _ := filepath.Abs(dbPath)
	skip := func(abs string) bool {
		return abs == uploads || (dbPath != "" && (abs == dbAbs || abs == dbAbs+"-wal" || abs == dbAbs+"-shm" || abs == dbAbs+"-journal"))
	}
	dataDir, _ := filepath.Abs(cfg.DataDir)
	if err := addTree(tw, dataDir, "", skip, &n); err != nil {
		return 0, err
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	return n, zw.Close()
}

// addTree adds the regular files under root as name/...; a missing root
// adds nothing.
func addTree(tw *tar.Writer, root, name string, skip func(string) bool, n *int) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if skip != nil && skip(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		// Temporary files of atomic writes are half-written by definition,
		// and a backup written into the data folder is not part of it.
		if strings.HasPrefix(d.Name(), ".tmp-") || strings.HasPrefix(d.Name(), ".xmppd-backup-") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if err := addFile(tw, p, path.Join(name, filepath.ToSlash(rel))); err != nil {
			return err
		}
		*n++
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func addFile(tw *tar.Writer, file, name string) error {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone since the walk (an upload expired)
		}
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: int64(st.Mode().Perm()), Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	// Exactly the size in the header: a file still growing would make
	// the archive unreadable.
	if _, err := io.CopyN(tw, f, st.Size()); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func restoreCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, commands["restore"].help) }
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	if err := parseArgs(fs, args); err != nil {
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
	dbPath, isSQLite := sqlitePath(cfg)
	if isSQLite {
		// Never over a database: the server may be running on it, and
		// what is there now would be lost.
		if _, err := os.Stat(dbPath); err == nil {
			abs, _ := filepath.Abs(dbPath)
			return fmt.Errorf("restore: %s exists: stop the server and move the data folder away first", abs)
		}
	}
	src, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	zr, err := gzip.NewReader(src)
	if err != nil {
		return fmt.Errorf("restore: %s: not an xmppd backup: %w", fs.Arg(0), err)
	}
	dataDir := cfg.DataDir
	tr := tar.NewReader(zr)
	n, db := 0, false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("restore: %s: %w", fs.Arg(0), err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(hdr.Name)
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return fmt.Errorf("restore: %s: entry %q is outside the data folder", fs.Arg(0), hdr.Name)
		}
		var dst string
		switch {
		case name == backupDB:
			if !isSQLite {
				return fmt.Errorf("restore: the backup holds a SQLite database but the configuration uses %s: restore into a configuration with SQLite storage", cfg.Storage.Driver)
			}
			dst, db = dbPath, true
		case strings.HasPrefix(name, backupUpload+"/"):
			dst = filepath.Join(cfg.UploadPath(), filepath.FromSlash(strings.TrimPrefix(name, backupUpload+"/")))
		default:
			dst = filepath.Join(dataDir, filepath.FromSlash(name))
		}
		if err := restoreFile(tr, dst, fs.Arg(0), hdr); err != nil {
			return err
		}
		if name != backupDB {
			n++
		}
	}
	abs, _ := filepath.Abs(dataDir)
	if db {
		fmt.Fprintf(stdout, "restored into %s: the database and %d files\n", abs, n)
	} else {
		fmt.Fprintf(stdout, "restored into %s: %d files (no database in the backup: restore it with pg_restore or psql)\n", abs, n)
	}
	return nil
}

func restoreFile(r io.Reader, dst, src string, hdr *tar.Header) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// O_EXCL: a restore adds to an empty folder, it never overwrites.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(hdr.Mode).Perm()&0o700)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("restore: %s: %s: %w", src, hdr.Name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return os.Chtimes(dst, time.Now(), hdr.ModTime)
}
