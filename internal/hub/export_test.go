package hub

import "testing"

// ReadWithGoroutines makes the hub read every socket of the calling test
// with a goroutine of its own, as where there is no epoll. Not for
// parallel tests.
func ReadWithGoroutines(t testing.TB) {
	old := pollerOff
	pollerOff = true
	t.Cleanup(func() { pollerOff = old })
}
