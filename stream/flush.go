package stream

import "time"

// Flushed lets the goroutine closing a stream wait until its writer has
// written what was queued (the stream error and closing tag), on a
// channel rather than by polling. It lives beside the writer's state and
// is guarded by the same mutex: the closer calls Wait holding it, the
// writer calls Idle holding it whenever it stops. The zero value is ready.
type Flushed struct {
	ch chan struct{}
}

// Wait returns a channel closed by the writer's next Idle (mutex held).
func (f *Flushed) Wait() <-chan struct{} {
	if f.ch == nil {
		f.ch = make(chan struct{})
	}
	return f.ch
}

// WaitIf is Wait when a writer runs and nil otherwise (mutex held), so a
// closer that finds the writer stopped does not wait at all.
func (f *Flushed) WaitIf(writing bool) <-chan struct{} {
	if !writing {
		return nil
	}
	return f.Wait()
}

// Idle wakes whoever waits: the writer has nothing more to write (mutex
// held). Without a waiter it costs a nil check.
func (f *Flushed) Idle() {
	if f.ch != nil {
		close(f.ch)
		f.ch = nil
	}
}

// Await waits on ch (from Wait) for at most d: a writer stuck on a peer
// that does not read still ends within its write timeout, and the close
// goes on regardless. It reports whether the writer finished; a nil ch
// (from WaitIf, no writer) has nothing to wait for.
func Await(ch <-chan struct{}, d time.Duration) bool {
	if ch == nil {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
