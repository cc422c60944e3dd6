package c2s

import (
	"context"
	"sync"
	"time"
)

// lifeCtx is a connection's context.Context, ended once (end). It lives
// inside the conn and makes its Done channel only when someone asks for
// it: an idle session that no handler waited on costs no more than this
// struct (docs/performance.md counts bytes per idle session), where
// context.WithCancel would allocate for every connection.
type lifeCtx struct {
	mu    sync.Mutex
	done  chan struct{}
	ended bool
}

var closedCh = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

func (l *lifeCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (l *lifeCtx) Value(any) any               { return nil }

func (l *lifeCtx) Done() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		if l.ended {
			return closedCh
		}
		l.done = make(chan struct{})
	}
	return l.done
}

func (l *lifeCtx) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return context.Canceled
	}
	return nil
}

// end cancels the context; later calls do nothing.
func (l *lifeCtx) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.ended = true
	if l.done != nil {
		close(l.done)
	}
}

func (l *lifeCtx) String() string { return "c2s session context" }
