package testclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testclock"
)

func TestTheClockStandsStillUntilItIsAdvanced(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := testclock.New(start)
	require.Equal(t, start, c.Now())
	time.Sleep(time.Millisecond)
	require.Equal(t, start, c.Now())

	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Advance(time.Second); _ = c.Now() })
	}
	wg.Wait()
	require.Equal(t, start.Add(10*time.Second), c.Now())
}
