// Package pacertest measures a pace from the outside, for the tests of the
// pacers, the admitter and the fault tests: a counting room admits exactly
// one visitor per tick, so its admissions count its ticks.
package pacertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/queue"
)

// CountingRoom creates room with intervalMS between ticks, batch 1, no
// capacity limit, everyone queued and nobody abandoning, and visitors in its
// line (more than the test will tick).
func CountingRoom(t testing.TB, ctx context.Context, store *queue.Store, room string, intervalMS, visitors int) {
	t.Helper()
	_, _, err := store.PutRoom(ctx, room, queue.ConfigPatch{
		Capacity: new(0), BatchSize: new(1), IntervalMS: &intervalMS, Mode: new(queue.ModeQueueAll), AbandonAfterS: new(0),
	})
	require.NoError(t, err)
	for i := range visitors {
		_, _, err := store.Join(ctx, room, queue.JoinRequest{User: fmt.Sprint("u", i)})
		require.NoError(t, err)
	}
}

// Ticks is how many ticks a counting room has had: its admissions.
func Ticks(t testing.TB, ctx context.Context, store *queue.Store, room string) int64 {
	t.Helper()
	st, err := store.Stats(ctx, room)
	require.NoError(t, err)
	return st.AdmittedTotal
}

// Count waits, at most within, for the room's next tick, then counts its
// ticks over d, starting half an interval after that tick so that a tick a
// little early or late is counted once. It returns the count and when that
// first tick came.
func Count(t testing.TB, ctx context.Context, store *queue.Store, room string, d, within time.Duration) (int64, time.Time) {
	t.Helper()
	cfg, err := store.Room(ctx, room)
	require.NoError(t, err)
	c := Ticks(t, ctx, store, room)
	require.Eventually(t, func() bool { return Ticks(t, ctx, store, room) > c }, within, 10*time.Millisecond,
		"room %s does not tick within %s", room, within)
	first := time.Now()
	time.Sleep(cfg.Interval() / 2)
	c0 := Ticks(t, ctx, store, room)
	time.Sleep(d)
	return Ticks(t, ctx, store, room) - c0, first
}

// Within checks, and logs, that got is want ± tol.
func Within(t testing.TB, got, want, tol int64, what string) {
	t.Helper()
	t.Logf("%s: %d (want %d ± %d)", what, got, want, tol)
	require.True(t, got >= want-tol && got <= want+tol, "%s: got %d, want %d ± %d", what, got, want, tol)
}
