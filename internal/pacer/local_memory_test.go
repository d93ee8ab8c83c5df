package pacer

// The in-process pacer's own logic on memStore, a Store in memory: listing
// rooms, ending a deleted room's ticks, OnTick, riding out a failing store,
// the shutdown. A real Redis adds nothing to these; what its fencing adds
// (two pacers tick a room once per interval) is tested in redis_test.go.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

// memStore is a Store in memory. It plays due.lua for one process: every
// claim of a due tick wins, and the next falls due one interval later.
type memStore struct {
	mu      sync.Mutex
	rooms   map[string]queue.Config
	events  map[string][]queue.Event // what Tick returned, per room
	failing bool                     // every call fails as if Redis were down
	// hold, if set, runs inside every Tick: a slow tick.
	hold func(ctx context.Context)
	// badDue, if set, is due.lua's reply: one the script never sends.
	badDue any
}

var _ Store = (*memStore)(nil)

var errDown = fmt.Errorf("memStore is failing: %w", queue.ErrUnavailable)

func newMemStore() *memStore {
	return &memStore{rooms: map[string]queue.Config{}, events: map[string][]queue.Event{}}
}

// down reports the failure of a call while the store is failing.
func (m *memStore) down() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return errDown
	}
	return nil
}

func (m *memStore) Rooms(context.Context) ([]queue.RoomConfig, error) {
	if err := m.down(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []queue.RoomConfig
	for id, cfg := range m.rooms {
		out = append(out, queue.RoomConfig{Room: id, Config: cfg})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out, nil
}

func (m *memStore) Room(_ context.Context, room string) (queue.Config, error) {
	if err := m.down(); err != nil {
		return queue.Config{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, ok := m.rooms[room]
	if !ok {
		return queue.Config{}, queue.ErrRoomNotFound
	}
	return cfg, nil
}

func (m *memStore) Tick(ctx context.Context, room string) (queue.Event, error) {
	if err := m.down(); err != nil {
		return queue.Event{}, err
	}
	if m.hold != nil {
		m.hold(ctx)
		if err := ctx.Err(); err != nil {
			return queue.Event{}, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rooms[room]; !ok {
		return queue.Event{}, queue.ErrRoomNotFound
	}
	n := int64(len(m.events[room]) + 1)
	ev := queue.Event{Version: n, Kind: queue.EventTick, Admitted: []queue.Admission{{Ticket: queue.NewTicket()}}}
	m.events[room] = append(m.events[room], ev)
	return ev, nil
}

func (m *memStore) RunScript(_ context.Context, script *luascript.Script, calls ...luascript.Call) ([]any, []error) {
	vals, errs := make([]any, len(calls)), make([]error, len(calls))
	for i, c := range calls {
		switch {
		case script != dueScript:
			errs[i] = errors.New("memStore plays only due.lua")
		default:
			errs[i] = m.down()
			m.mu.Lock()
			bad := m.badDue
			m.mu.Unlock()
			if errs[i] == nil && bad != nil {
				vals[i] = bad
			} else if errs[i] == nil {
				vals[i] = fmt.Sprintf(`{"due":true,"next_ms":%d}`, c.Args[0]) // won; next in interval_ms
			}
		}
	}
	return vals, errs
}

func (m *memStore) put(room string, intervalMS int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg := queue.DefaultConfig(room)
	cfg.IntervalMS = intervalMS
	m.rooms[room] = cfg
}

func (m *memStore) delete(room string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.rooms, room)
}

func (m *memStore) setFailing(failing bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failing = failing
}

// ticks is how many ticks the room has had.
func (m *memStore) ticks(room string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events[room])
}

// runLocal runs an in-process pacer on m until the test ends or stop.
func runLocal(t *testing.T, m *memStore, opt LocalOptions) (stop func()) {
	t.Helper()
	opt.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	return testproc.Run(t, 10*time.Second, NewLocal(m, opt).Run)
}

func TestLocalTicksANewRoomSoonAndStopsADeletedOne(t *testing.T) {
	t.Parallel()
	m := newMemStore()
	runLocal(t, m, LocalOptions{})
	time.Sleep(300 * time.Millisecond) // the pacer is up and idle

	start := time.Now()
	m.put("fresh", 500)
	require.Eventually(t, func() bool { return m.ticks("fresh") > 0 }, 3*time.Second, 10*time.Millisecond)
	require.Less(t, time.Since(start), 2*time.Second, "first tick of a new room")

	m.delete("fresh")
	time.Sleep(200 * time.Millisecond) // a tick in flight may finish
	n := m.ticks("fresh")
	time.Sleep(2 * time.Second)
	require.Equal(t, n, m.ticks("fresh"), "ticks after the room was deleted")

	// Created again, it ticks again.
	m.put("fresh", 500)
	require.Eventually(t, func() bool { return m.ticks("fresh") > n }, 3*time.Second, 10*time.Millisecond)
}

func TestLocalOnTickReportsEveryTick(t *testing.T) {
	t.Parallel()
	m := newMemStore()
	m.put("hook", 100)
	var mu sync.Mutex
	var rooms []string
	var events []queue.Event
	var took []time.Duration
	stop := runLocal(t, m, LocalOptions{Options: Options{OnTick: func(room string, ev queue.Event, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		rooms, events, took = append(rooms, room), append(events, ev), append(took, d)
	}}})
	require.Eventually(t, func() bool { return m.ticks("hook") >= 5 }, 5*time.Second, 10*time.Millisecond)
	stop()

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, m.events["hook"], events, "every tick, in order, with what it changed")
	for i := range rooms {
		require.Equal(t, "hook", rooms[i])
		require.Positive(t, took[i])
	}
}

func TestLocalRidesOutAStoreThatFailsForAWhile(t *testing.T) {
	t.Parallel()
	m := newMemStore()
	m.put("flaky", 100)
	runLocal(t, m, LocalOptions{})
	require.Eventually(t, func() bool { return m.ticks("flaky") > 0 }, 3*time.Second, 10*time.Millisecond)

	// Listing, claims and ticks all fail: no ticks, and no end of Run.
	m.setFailing(true)
	time.Sleep(200 * time.Millisecond)
	n := m.ticks("flaky")
	time.Sleep(time.Second)
	require.Equal(t, n, m.ticks("flaky"))

	m.setFailing(false)
	require.Eventually(t, func() bool { return m.ticks("flaky") > n }, 8*time.Second, 10*time.Millisecond,
		"ticks resume once the store answers (the retries back off to at most 5 s)")
}

func TestLocalStopWaitsForTheTickInFlightAtMostShutdownTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	for _, tc := range []struct {
		name string
		hold time.Duration // how long the tick takes
		ends bool          // whether it ends before the timeout
	}{
		{"a tick that ends in time is waited for", 200 * time.Millisecond, true},
		{"a tick that does not is cut off", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newMemStore()
			m.put("slow", 1000)
			started := make(chan struct{}, 1)
			var cut atomic.Bool
			m.hold = func(ctx context.Context) {
				select {
				case started <- struct{}{}:
				default:
				}
				select {
				case <-time.After(tc.hold):
				case <-ctx.Done():
					cut.Store(true)
				}
			}
			var reported atomic.Int64
			stop := runLocal(t, m, LocalOptions{Options: Options{ShutdownTimeout: timeout,
				OnTick: func(string, queue.Event, time.Duration) { reported.Add(1) }}})
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("no tick")
			}

			begin := time.Now()
			stop()
			took := time.Since(begin)
			if tc.ends {
				require.Less(t, took, timeout)
				require.False(t, cut.Load())
				require.EqualValues(t, 1, reported.Load())
			} else {
				require.GreaterOrEqual(t, took, timeout)
				require.True(t, cut.Load(), "the tick's context ends at the timeout")
				require.Zero(t, reported.Load())
			}
		})
	}
}
