package pacer_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer"
	"github.com/waitroom/waitroom/internal/pacer/pacertest"
	"github.com/waitroom/waitroom/pkg/queue"
)

func TestLocalTwoPacersTickEachRoomOncePerInterval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.countingRoom(t, "second", 1000)
	b.countingRoom(t, "quarter", 250)
	b.localPacer(t, pacer.LocalOptions{})
	b.localPacer(t, pacer.LocalOptions{})

	var wg sync.WaitGroup
	var second, quarter int64
	wg.Go(func() { second = b.countTicks(t, "second", 10*time.Second) })
	wg.Go(func() { quarter = b.countTicks(t, "quarter", 5*time.Second) })
	wg.Wait()
	pacertest.Within(t, second, 10, 1, "ticks in 10 s at 1 s, two pacers")
	pacertest.Within(t, quarter, 20, 1, "ticks in 5 s at 250 ms, two pacers")
}

func TestLocalNewRoomTicksSoonAndDeletedRoomStops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ticks atomic.Int64
	b.localPacer(t, pacer.LocalOptions{Options: pacer.Options{OnTick: func(string, queue.Event, time.Duration) {
		ticks.Add(1)
	}}})
	time.Sleep(300 * time.Millisecond)

	b.countingRoom(t, "fresh", 500)
	took := b.waitTicking(t, "fresh", 3*time.Second)
	require.Less(t, took, 2*time.Second, "first tick of a new room")

	require.NoError(t, b.store.DeleteRoom(b.ctx, "fresh"))
	time.Sleep(200 * time.Millisecond) // a tick in flight may finish
	n := ticks.Load()
	time.Sleep(2 * time.Second)
	require.Equal(t, n, ticks.Load(), "ticks after the room was deleted")

	// Created again, it ticks again.
	b.countingRoom(t, "fresh", 500)
	b.waitTicking(t, "fresh", 3*time.Second)
}

func TestLocalOnTickReportsEveryTick(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.countingRoom(t, "hook", 200)
	var mu sync.Mutex
	var events []queue.Event
	var rooms []string
	var took []time.Duration
	stop := b.localPacer(t, pacer.LocalOptions{Options: pacer.Options{OnTick: func(room string, ev queue.Event, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		rooms = append(rooms, room)
		events = append(events, ev)
		took = append(took, d)
	}}})
	b.waitTicking(t, "hook", 3*time.Second)
	time.Sleep(time.Second)
	stop()

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, events)
	admitted := 0
	for i, ev := range events {
		require.Equal(t, "hook", rooms[i])
		require.Positive(t, took[i])
		require.Equal(t, queue.EventTick, ev.Kind)
		admitted += len(ev.Admitted)
	}
	require.EqualValues(t, b.admitted(t, "hook"), admitted)
}
