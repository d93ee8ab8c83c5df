package pacertest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer/pacertest"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/pkg/queue"
)

func TestACountingRoomAdmitsOneVisitorPerTickAndCountIsTheirPace(t *testing.T) {
	ctx := t.Context()
	store := queue.New(redistest.Start(t).Client(), queue.Options{})
	pacertest.CountingRoom(t, ctx, store, "count", 200, 50)
	require.Zero(t, pacertest.Ticks(t, ctx, store, "count"))

	// A tick every 200 ms, played by the test as an admitter would.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_, _ = store.Tick(ctx, "count")
			}
		}
	}()
	n, first := pacertest.Count(t, ctx, store, "count", time.Second, 5*time.Second)
	close(stop)
	<-done
	require.False(t, first.IsZero())
	pacertest.Within(t, n, 5, 1, "ticks in 1 s at 200 ms")
	require.Positive(t, pacertest.Ticks(t, ctx, store, "count"))
}
