package booking

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConcurrentMissesOfARoomShareOneRead(t *testing.T) {
	ss := newSnapshots(time.Minute)
	var reads atomic.Int64
	read := func(context.Context, string) (*snapshot, error) {
		reads.Add(1)
		time.Sleep(50 * time.Millisecond)
		return &snapshot{read: time.Now(), ids: []string{"A1"}}, nil
	}
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			snap, err := ss.get(t.Context(), "r", read)
			require.NoError(t, err)
			require.Equal(t, []string{"A1"}, snap.ids)
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, reads.Load())
	_, err := ss.get(t.Context(), "other", read)
	require.NoError(t, err)
	require.EqualValues(t, 2, reads.Load(), "each room has its own snapshot")
}

func TestASnapshotReadBeforeAChangeIsNotKept(t *testing.T) {
	ss := newSnapshots(time.Minute)
	var reads atomic.Int64
	started := make(chan struct{})
	read := func(context.Context, string) (*snapshot, error) {
		if reads.Add(1) == 1 {
			close(started)
			time.Sleep(50 * time.Millisecond)
		}
		return &snapshot{read: time.Now()}, nil
	}
	go func() { _, _ = ss.get(context.Background(), "r", read) }()
	<-started
	ss.drop("r") // a change lands while the first read is in flight
	_, err := ss.get(t.Context(), "r", read)
	require.NoError(t, err)
	require.EqualValues(t, 2, reads.Load(), "the read from before the change was not reused")
	_, err = ss.get(t.Context(), "r", read)
	require.NoError(t, err)
	require.EqualValues(t, 2, reads.Load(), "the fresh one is")
}

func TestASnapshotExpiresAfterMaxAge(t *testing.T) {
	ss := newSnapshots(30 * time.Millisecond)
	var reads atomic.Int64
	read := func(context.Context, string) (*snapshot, error) {
		reads.Add(1)
		return &snapshot{read: time.Now()}, nil
	}
	_, _ = ss.get(t.Context(), "r", read)
	_, _ = ss.get(t.Context(), "r", read)
	require.EqualValues(t, 1, reads.Load())
	time.Sleep(40 * time.Millisecond)
	_, _ = ss.get(t.Context(), "r", read)
	require.EqualValues(t, 2, reads.Load())
}
