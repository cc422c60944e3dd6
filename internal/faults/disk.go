package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The disk cases put the data folder on a small ext4 file system of its
// own (a loop device; root only) and make it full, or read-only the way a
// failing disk does (ext4's errors=remount-ro, triggered through
// /sys/fs/ext4/<dev>/trigger_fs_error: a plain `mount -o remount,ro` is
// refused while xmppd holds its database open for writing). Messages to
// an offline account must then either be stored, or bounced to their
// sender with an error: nothing the server acknowledged may be lost. The
// failures must show in xmppd_storage_errors_total.

// diskPad keeps a backlog of 350 under the 1 MiB outbound queue: the disk
// cases test storage, not the offline backlog (a case of its own).
const diskPad = 1 << 10

// loopFS is a small ext4 file system on a loop device.
type loopFS struct {
	img, mnt string
}

func (s *Suite) mountLoop(sizeMiB int) (*loopFS, string) {
	if os.Geteuid() != 0 {
		return nil, "needs root (mount of a loop device); run scripts/faults.sh as root"
	}
	for _, tool := range []string{"mount", "umount", "mkfs.ext4", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, tool + " not found (e2fsprogs, mount)"
		}
	}
	fs := &loopFS{img: filepath.Join(s.tmp, fmt.Sprintf("disk-%d.img", time.Now().UnixNano())), mnt: filepath.Join(s.tmp, fmt.Sprintf("mnt-%d", time.Now().UnixNano()))}
	if err := os.MkdirAll(fs.mnt, 0o700); err != nil {
		return nil, err.Error()
	}
	f, err := os.Create(fs.img)
	if err == nil {
		err = f.Truncate(int64(sizeMiB) << 20)
		f.Close()
	}
	if err != nil {
		return nil, err.Error()
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", fs.img).CombinedOutput(); err != nil {
		return nil, fmt.Sprintf("mkfs.ext4: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := fs.mount(); err != nil {
		return nil, err.Error()
	}
	return fs, ""
}

func (fs *loopFS) mount() error {
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", fs.img, fs.mnt).CombinedOutput(); err != nil {
		return fmt.Errorf("mount -o loop (no loop devices in this container?): %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (fs *loopFS) umount() error {
	if out, err := exec.Command("umount", fs.mnt).CombinedOutput(); err != nil {
		return fmt.Errorf("umount: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (fs *loopFS) cleanup() {
	exec.Command("umount", fs.mnt).Run()
	os.Remove(fs.img)
}

// fill writes a file until the file system is full.
func (fs *loopFS) fill() (int64, error) {
	f, err := os.Create(filepath.Join(fs.mnt, "filler"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			return n, err
		}
	}
	// Small writes too, for the last blocks.
	for {
		w, err := f.Write(buf[:512])
		n += int64(w)
		if err != nil {
			break
		}
	}
	f.Sync()
	return n, nil
}

// errorRO makes the file system read-only as ext4 does on an I/O error.
func (fs *loopFS) errorRO() error {
	syncFS(fs.mnt)
	out, err := exec.Command("findmnt", "-no", "SOURCE", fs.mnt).Output()
	if err != nil {
		return fmt.Errorf("findmnt: %v", err)
	}
	dev := filepath.Base(strings.TrimSpace(string(out)))
	p := filepath.Join("/sys/fs/ext4", dev, "trigger_fs_error")
	if err := os.WriteFile(p, []byte("xmppd fault suite: read-only storage\n"), 0o200); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	probe := filepath.Join(fs.mnt, "probe")
	if err := os.WriteFile(probe, []byte("x"), 0o600); !errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("file system still writable after the error (%v)", err)
	}
	return nil
}

// syncFS writes the file system's dirty pages out (sync -f: syncfs(2)),
// so the fault hits only what is written after it.
func syncFS(dir string) {
	exec.Command("sync", "-f", dir).Run()
}

func caseDiskFull(ctx context.Context, s *Suite) Result {
	return diskCase(ctx, s, "disk-full", false)
}

func caseReadOnly(ctx context.Context, s *Suite) Result {
	return diskCase(ctx, s, "read-only", true)
}

func diskCase(ctx context.Context, s *Suite, name string, readOnly bool) Result {
	fs, why := s.mountLoop(48)
	if fs == nil {
		return skip(name, "%s", why)
	}
	defer fs.cleanup()
	users := map[string]string{"dsnd": "password1", "drcv": "password1"}
	srv, err := s.start(ctx, Options{DataDir: filepath.Join(fs.mnt, "data")}, users)
	if err != nil {
		return fail(name, "start: %v", err)
	}
	defer srv.Kill()
	o := dialOpts{addr: srv.StartTLS}
	c, err := login(o, "dsnd", "password1", "pc")
	if err != nil {
		return fail(name, "%v", err)
	}
	if _, err := c.enableSM(false); err != nil {
		return fail(name, "%v", err)
	}
	snd := &smSender{tag: "dk", c: c, bounced: map[int]string{}, done: make(chan struct{})}
	go snd.readLoop()
	pad := " " + strings.Repeat("d", diskPad)
	seq := 0
	sendN := func(n int) error {
		for k := 0; k < n; k++ {
			seq++
			key := msgKey("dk", 0, seq)
			m := "<message to='drcv@" + domain + "' type='chat' id='" + key + "'><body>" + key + pad + "</body></message>"
			if err := c.send(m); err != nil {
				return err
			}
		}
		c.send("<r xmlns='" + nsSM + "'/>")
		deadline := time.Now().Add(30 * time.Second)
		for snd.acked.Load() < int64(seq) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if snd.acked.Load() < int64(seq) {
			return fmt.Errorf("%d of %d messages acknowledged in 30s", snd.acked.Load(), seq)
		}
		return nil
	}
	// Before the fault: stored as usual.
	if err := sendN(50); err != nil {
		return fail(name, "before the fault: %v", err)
	}
	before := seq
	errs0, err := srv.Metric("xmppd_storage_errors_total")
	if err != nil {
		return fail(name, "%v", err)
	}
	var fault string
	if readOnly {
		if err := fs.errorRO(); err != nil {
			return skip(name, "could not make the file system read-only: %v", err)
		}
		fault = "file system read-only (ext4 error)"
	} else {
		n, err := fs.fill()
		if err != nil {
			return fail(name, "fill: %v", err)
		}
		fault = fmt.Sprintf("disk filled (%.1f MiB filler)", float64(n)/(1<<20))
	}
	sendErr := sendN(300)
	during := seq - before
	errs1, merr := srv.Metric("xmppd_storage_errors_total")
	snd.mu.Lock()
	bounced := map[int]string{}
	for k, v := range snd.bounced {
		bounced[k] = v
	}
	snd.mu.Unlock()
	acked := int(snd.acked.Load())
	c.close()
	<-snd.done

	// Recovery: space freed, or the file system checked and mounted
	// again (a read-only ext4 needs a new mount), then the receiver logs
	// in and collects its offline messages.
	if readOnly {
		if _, err := srv.Stop(20 * time.Second); err != nil {
			s.logf("%s: stop: %v", name, err)
		}
		if err := fs.umount(); err != nil {
			return fail(name, "%v", err)
		}
		exec.Command("e2fsck", "-fy", fs.img).Run()
		if err := fs.mount(); err != nil {
			return fail(name, "%v", err)
		}
		if err := srv.Start(ctx); err != nil {
			return fail(name, "restart after the file system check: %v", err)
		}
	} else {
		os.Remove(filepath.Join(fs.mnt, "filler"))
	}
	r := &smReceiver{tag: "dk", stream: 1}
	rc, err := login(o, "drcv", "password1", "phone")
	if err != nil {
		return fail(name, "after recovery: %v", err)
	}
	r.c = rc
	rc.send("<presence/>")
	if err := collectQuiet(r, rc, 1, false); err != nil {
		return fail(name, "after recovery: %v (server log: %s)", err, srv.LogTail(12))
	}
	rc.close()
	got := map[int]int{}
	for _, g := range r.got {
		got[g.seq]++
	}
	lost, lied, twice := 0, 0, 0
	for q := 1; q <= acked; q++ {
		_, b := bounced[q]
		switch {
		case got[q] == 0 && !b:
			lost++
		case got[q] > 0 && b:
			lied++ // bounced as failed, yet stored
		}
		if got[q] > 1 {
			twice++
		}
	}
	conds := map[string]int{}
	for _, v := range bounced {
		conds[v]++
	}
	var cl []string
	for k, v := range conds {
		cl = append(cl, fmt.Sprintf("%d %s", v, k))
	}
	errDelta := errs1 - errs0
	figures := fmt.Sprintf("%s; %d sent during the fault: acknowledged %d (all phases), stored and delivered %d, bounced %d (%s), lost %d, bounced yet delivered %d, delivered twice %d; xmppd_storage_errors_total +%.0f",
		fault, during, acked, len(got), len(bounced), strings.Join(cl, ", "), lost, lied, twice, errDelta)
	switch {
	case sendErr != nil:
		return fail(name, "during the fault: %v; %s", sendErr, figures)
	case merr != nil:
		return fail(name, "metrics: %v; %s", merr, figures)
	case lost > 0 || lied > 0 || twice > 0:
		return fail(name, "%s", figures)
	case len(bounced) == 0:
		return fail(name, "nothing failed to store, so nothing was tested (%s)", figures)
	case errDelta < float64(len(bounced)):
		return fail(name, "not every failed write was counted: %s", figures)
	}
	return pass(name, "%s", figures)
}
