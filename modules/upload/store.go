package upload

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Files live flat in the upload folder: <id>.data is the content,
// <id>.meta its metadata (JSON), <id>.part an upload in progress. The
// metadata is written before the content is linked into place, so a
// .data file always has its .meta; a crash leaves at worst a .part or an
// orphan .meta, both removed once they are older than leftoverAge (at
// start and by the sweep).

// meta is what is kept about a stored file.
type meta struct {
	Owner       string    `json:"owner"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
}

type reservation struct {
	owner   string
	size    int64
	expires time.Time
}

// store indexes the files in memory (id → meta, bytes per owner) for the
// quota and for GET; the folder is the truth at start.
type store struct {
	dir string
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	files    map[string]*meta
	used     map[string]int64 // owner → bytes in files
	reserved map[string]reservation
}

var (
	errReused   = errors.New("slot already used")
	errNotFound = errors.New("no such file")
)

func openStore(dir string, cfg Config, log *slog.Logger) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create upload folder: %w", err)
	}
	s := &store{dir: dir, cfg: cfg, log: log, files: map[string]*meta{}, used: map[string]int64{}, reserved: map[string]reservation{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read upload folder: %w", err)
	}
	for _, e := range ents {
		id, ext, _ := strings.Cut(e.Name(), ".")
		if !validID(id) {
			continue
		}
		if ext != "meta" {
			continue
		}
		m, err := readMeta(filepath.Join(dir, e.Name()))
		if err == nil {
			_, err = os.Stat(s.path(id, "data"))
		}
		if err != nil {
			// Incomplete: left by a crash, or being written right now by
			// another node sharing the folder; dropLeftovers decides.
			continue
		}
		s.files[id] = m
		s.used[m.Owner] += m.Size
	}
	s.dropLeftovers(time.Now())
	return s, nil
}

// leftoverAge is how long a .part or a .meta without its .data must have
// been untouched before it counts as left by a crash. An upload in
// progress writes its .part at least every few seconds, and links .data
// right after its .meta; in a cluster other nodes share the folder
// ([upload] path), so what looks incomplete to this node may be another
// node's upload in progress, which a restart here must not destroy.
func leftoverAge(cfg Config) time.Duration {
	return cfg.SlotTimeout.Duration + time.Hour
}

// dropLeftovers removes the .part files and the .meta files without
// .data that are older than leftoverAge: what a crash (of any node
// sharing the folder) left behind.
func (s *store) dropLeftovers(now time.Time) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		s.log.Warn("upload: read folder", "err", err)
		return
	}
	cutoff := now.Add(-leftoverAge(s.cfg))
	for _, e := range ents {
		id, ext, _ := strings.Cut(e.Name(), ".")
		if !validID(id) || (ext != "part" && ext != "meta") {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		if ext == "meta" {
			if _, err := os.Stat(s.path(id, "data")); err == nil {
				continue
			}
		}
		s.mu.Lock()
		_, known := s.files[id]
		s.mu.Unlock()
		if known {
			continue
		}
		s.log.Warn("upload: dropping incomplete file", "id", id, "file", e.Name())
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("upload: remove", "file", e.Name(), "err", err)
		}
	}
}

func readMeta(p string) (*meta, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &m, nil
}

func (s *store) path(id, ext string) string { return filepath.Join(s.dir, id+"."+ext) }

func (s *store) remove(id string) {
	for _, ext := range []string{"data", "meta", "part"} {
		if err := os.Remove(s.path(id, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("upload: remove", "id", id, "err", err)
		}
	}
}

// reserve counts size against owner's quota until expires (the slot's
// PUT deadline) or until the upload completes. When the quota is full it
// returns the time the account's usage will next go down (a file
// expiring or a reservation lapsing), zero if never, and an error.
func (s *store) reserve(id, owner string, size int64, expires, now time.Time) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.cfg.Quota; q > 0 {
		total := s.used[owner]
		var next time.Time
		earlier := func(t time.Time) {
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
		for _, r := range s.reserved {
			if r.owner == owner && now.Before(r.expires) {
				total += r.size
				earlier(r.expires)
			}
		}
		if total+size > q {
			if e := s.cfg.ExpireAfter.Duration; e > 0 {
				for _, m := range s.files {
					if m.Owner == owner {
						earlier(m.Created.Add(e))
					}
				}
			}
			return next, fmt.Errorf("quota: %d + %d bytes > %d", total, size, q)
		}
	}
	s.reserved[id] = reservation{owner: owner, size: size, expires: expires}
	return time.Time{}, nil
}

// put stores the size bytes of body for sl. It fails with errReused when
// the slot's file exists or is being uploaded (a slot is single-use), and
// with another error when body is short or unreadable; the slot then
// stays usable until it expires.
func (s *store) put(sl slot, ctype string, body io.Reader, now time.Time) error {
	part := s.path(sl.ID, "part")
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return errReused
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", part, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(part)
		}
	}()
	if _, err := os.Lstat(s.path(sl.ID, "data")); err == nil {
		return errReused
	}
	n, err := io.Copy(f, io.LimitReader(body, sl.Size))
	if err != nil {
		return fmt.Errorf("read upload: %w", err)
	}
	if n != sl.Size {
		return fmt.Errorf("upload ended after %d of %d bytes", n, sl.Size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", part, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", part, err)
	}
	m := &meta{Owner: sl.Owner, Name: sl.Name, ContentType: ctype, Size: sl.Size, Created: now.UTC()}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(s.path(sl.ID, "meta"), b, 0o600); err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	// Link, not rename: it fails if .data exists, so two uploads racing
	// for one slot cannot both win even across processes.
	if err := os.Link(part, s.path(sl.ID, "data")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errReused
		}
		os.Remove(s.path(sl.ID, "meta"))
		return fmt.Errorf("store upload: %w", err)
	}
	ok = true
	os.Remove(part)
	s.mu.Lock()
	delete(s.reserved, sl.ID)
	s.files[sl.ID] = m
	s.used[m.Owner] += m.Size
	s.mu.Unlock()
	return nil
}

// open returns the file id/name for reading, with its metadata.
func (s *store) open(id, name string, now time.Time) (*os.File, *meta, error) {
	s.mu.Lock()
	m := s.files[id]
	s.mu.Unlock()
	if m == nil {
		// Not in this process's index: with the folder shared by
		// cluster nodes, another node may have stored it since start.
		m = s.adopt(id)
	}
	if m == nil || m.Name != name || s.expired(m, now) {
		return nil, nil, errNotFound
	}
	f, err := os.Open(s.path(id, "data"))
	if err != nil {
		return nil, nil, fmt.Errorf("open upload %s: %w", id, err)
	}
	return f, m, nil
}

// adopt indexes a file another process stored in the folder (a cluster
// node sharing it), or returns nil.
func (s *store) adopt(id string) *meta {
	if _, err := os.Stat(s.path(id, "data")); err != nil {
		return nil
	}
	m, err := readMeta(s.path(id, "meta"))
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.files[id]; old != nil {
		return old
	}
	s.files[id] = m
	s.used[m.Owner] += m.Size
	return m
}

func (s *store) expired(m *meta, now time.Time) bool {
	e := s.cfg.ExpireAfter.Duration
	return e > 0 && !now.Before(m.Created.Add(e))
}

// owners lists the accounts that have stored files.
func (s *store) owners() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.used))
	for o := range s.used {
		out = append(out, o)
	}
	return out
}

// dropOwner deletes owner's files and forgets its reservations (its
// account is gone); it returns how many files it deleted.
func (s *store) dropOwner(owner string) int {
	s.mu.Lock()
	var gone []string
	for id, m := range s.files {
		if m.Owner == owner {
			gone = append(gone, id)
			delete(s.files, id)
		}
	}
	delete(s.used, owner)
	for id, r := range s.reserved {
		if r.owner == owner {
			delete(s.reserved, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.remove(id)
	}
	return len(gone)
}

// sweep deletes expired files and forgets lapsed reservations.
func (s *store) sweep(now time.Time) {
	s.mu.Lock()
	var gone []string
	for id, m := range s.files {
		if s.expired(m, now) {
			gone = append(gone, id)
			delete(s.files, id)
			if s.used[m.Owner] -= m.Size; s.used[m.Owner] <= 0 {
				delete(s.used, m.Owner)
			}
		}
	}
	for id, r := range s.reserved {
		if !now.Before(r.expires) {
			delete(s.reserved, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		// A download in progress keeps its open file (POSIX unlink).
		s.remove(id)
	}
	s.dropLeftovers(now)
	if len(gone) > 0 {
		s.log.Debug("upload: expired files deleted", "count", len(gone))
	}
}
