package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestFailed(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	disk := errors.New("disk I/O error")
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"nil", context.Background(), nil, false},
		{"not found", context.Background(), fmt.Errorf("roster: %w", ErrNotFound), false},
		{"exists", context.Background(), ErrExists, false},
		{"full", context.Background(), ErrFull, false},
		{"cancelled error", context.Background(), fmt.Errorf("q: %w", context.Canceled), false},
		// Drivers do not all wrap context.Canceled (pgx may report a
		// closed connection): the caller's context decides.
		{"caller gave up", cancelled, disk, false},
		{"deadline: too slow", expired, fmt.Errorf("q: %w", context.DeadlineExceeded), true},
		{"disk", context.Background(), disk, true},
	} {
		if got := Failed(c.ctx, c.err); got != c.want {
			t.Errorf("%s: Failed = %v, want %v", c.name, got, c.want)
		}
	}
}
