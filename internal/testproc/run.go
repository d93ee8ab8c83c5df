package testproc

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Run is Start for code in the test's own process: it runs run(ctx) in a
// goroutine until stop is called or the test ends. stop cancels ctx, as
// SIGTERM does, and the test fails unless run returns nil within. Calling
// stop again returns at once.
func Run(t testing.TB, within time.Duration, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after its context ended", err)
			}
		case <-time.After(within):
			t.Errorf("run did not return within %s of its context ending", within)
		}
	})
	t.Cleanup(stop)
	return stop
}
