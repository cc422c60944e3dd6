package module_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/module"
)

// goModule runs one goroutine through Handle.Go that either ends with the
// module's context or, ignoring it, only when release is closed.
type goModule struct {
	h        *module.Handle
	ignore   bool
	release  chan struct{}
	running  chan struct{}
	returned atomic.Bool
	// sawReturned is what Stop found: the goroutine had returned.
	sawReturned atomic.Bool
	stopErr     error
}

func (m *goModule) Start(h *module.Handle) error {
	m.h = h
	m.running = make(chan struct{})
	h.Go(func(ctx context.Context) {
		defer m.returned.Store(true)
		close(m.running)
		if m.ignore {
			<-m.release
			return
		}
		<-ctx.Done()
	})
	return nil
}

func (m *goModule) Stop() error {
	m.sawReturned.Store(m.returned.Load())
	return m.stopErr
}

func startGoModule(t *testing.T, name string, m *goModule) []module.Started {
	t.Helper()
	h := module.NewRegistry().NewHandle(name, module.Services{Logger: discard})
	if err := m.Start(h); err != nil {
		t.Fatal(err)
	}
	<-m.running
	return []module.Started{{Name: name, Module: m, Handle: h}}
}

// Stopping a module cancels its context and waits for its goroutines
// before its Stop runs: nothing it started outlives it.
func TestGoCancelledAndWaitedOnStop(t *testing.T) {
	base := runtime.NumGoroutine()
	m := &goModule{}
	ms := startGoModule(t, "gotest", m)
	if err := m.h.Context().Err(); err != nil {
		t.Fatalf("context ended before stop: %v", err)
	}
	if err := module.StopAll(context.Background(), ms); err != nil {
		t.Fatalf("StopAll: %v", err)
	}
	if !m.sawReturned.Load() {
		t.Error("Stop ran before the module's goroutine returned")
	}
	if m.h.Context().Err() == nil {
		t.Error("module context not cancelled by stop")
	}
	if m.h.Go(func(context.Context) { t.Error("goroutine started after stop") }) {
		t.Error("Go after stop reported true")
	}
	// The goroutine returned (the fence above); let it and the waiter
	// exit, then the count is back where it was.
	// Polled for up to 10 s: 10,000 Gosched calls took no time at all in a
	// loaded CI run, before the exiting goroutines got a core.
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > base; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d, before start %d", runtime.NumGoroutine(), base)
		}
	}
}

// What goes wrong while stopping is returned, each error naming its
// module: a Stop error, and goroutines still running when the shutdown
// context ends.
func TestStopErrorsReported(t *testing.T) {
	boom := errors.New("boom")
	bad := &goModule{stopErr: boom}
	ms := startGoModule(t, "stoperr", bad)
	err := module.StopAll(context.Background(), ms)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "stoperr") {
		t.Errorf("StopAll = %v, want %v naming module stoperr", err, boom)
	}

	stuck := &goModule{ignore: true, release: make(chan struct{})}
	defer close(stuck.release)
	ms = startGoModule(t, "stuck", stuck)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the shutdown deadline has passed
	err = module.StopAll(ctx, ms)
	if err == nil || !strings.Contains(err.Error(), "module stuck: 1 goroutines still running") {
		t.Errorf("StopAll = %v, want the stuck goroutine reported", err)
	}
}
