package queue

// Store.Subscribe against real Redis: what is tested is Redis's pub/sub
// (ordering, a reconnect after a restart), so no fake would do.

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
)

// subscribed subscribes to room and returns what arrives; the subscription
// ends with the test.
func subscribed(t *testing.T, store *Store, room string) <-chan Delivery {
	t.Helper()
	out := make(chan Delivery, 100)
	sub, err := store.Subscribe(t.Context(), room, out)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sub.Close()) })
	return out
}

// ownServer starts a redis-server of the test's own (to restart) with room
// on it.
func ownServer(t *testing.T, room string) (*redistest.Server, *Store) {
	t.Helper()
	srv := redistest.Start(t)
	store := New(srv.Client(), Options{})
	_, _, err := store.PutRoom(t.Context(), room, ConfigPatch{})
	require.NoError(t, err)
	return srv, store
}

// next waits for the next delivery.
func next(t *testing.T, c <-chan Delivery) Delivery {
	t.Helper()
	select {
	case d := <-c:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered within 10 s")
		return Delivery{}
	}
}

func TestASubscriptionDeliversTheRoomsEventsParsedAndInOrder(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(2)}, func(t *testing.T, b *bundle) {
		got := subscribed(t, b.store, b.room)
		var line []Status
		for range 5 {
			line = append(line, b.join(t))
		}
		require.NoError(t, b.store.Leave(b.ctx, b.room, line[3].Ticket))
		ev := b.tick(t)
		b.put(t, ConfigPatch{BatchSize: new(3)})

		leave := next(t, got)
		require.NoError(t, leave.Err)
		require.False(t, leave.Resubscribed)
		require.Equal(t, EventLeave, leave.Event.Kind)
		require.Equal(t, []Removal{{Ticket: line[3].Ticket, Score: line[3].Score, Reason: ReasonLeft}}, leave.Event.Removed)
		require.Equal(t, ev, next(t, got).Event, "the tick delivers what Tick returned")
		cfg := next(t, got).Event
		require.Equal(t, EventConfig, cfg.Kind)
		require.Equal(t, []int64{leave.Event.Version + 1, leave.Event.Version + 2}, []int64{ev.Version, cfg.Version})
	})
}

func TestAMessageThatIsNotAnEventIsDeliveredAsAnError(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		got := subscribed(t, b.store, b.room)
		require.NoError(t, b.rdb.Publish(b.ctx, Channel(b.room), "not json").Err())
		b.put(t, ConfigPatch{BatchSize: new(3)})
		// On a Cluster the two may come through different nodes, in
		// either order.
		var bad, events int
		for range 2 {
			if d := next(t, got); d.Err != nil {
				bad++
			} else if d.Event.Kind == EventConfig {
				events++
			}
		}
		require.Equal(t, []int{1, 1}, []int{bad, events}, "one error, and the subscription goes on")
	})
}

func TestARestartedRedisIsReportedAsResubscribedAndEventsFlowAgain(t *testing.T) {
	srv, store := ownServer(t, "restart")
	ctx := t.Context()
	got := subscribed(t, store, "restart")

	require.NoError(t, srv.Restart())
	require.True(t, next(t, got).Resubscribed)
	// The server kept nothing: the room is created anew.
	_, created, err := store.PutRoom(ctx, "restart", ConfigPatch{BatchSize: new(4)})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, EventConfig, next(t, got).Event.Kind)
}

func TestClosingASubscriptionEndsItEvenWhileNobodyReads(t *testing.T) {
	srv, store := ownServer(t, "closing")
	ctx := t.Context()
	out := make(chan Delivery) // never read until the end
	sub, err := store.Subscribe(ctx, "closing", out)
	require.NoError(t, err)
	for range 3 {
		_, _, err := store.PutRoom(ctx, "closing", ConfigPatch{BatchSize: new(2)})
		require.NoError(t, err)
	}
	time.Sleep(100 * time.Millisecond) // the events are on their way to out

	closed := make(chan error)
	go func() { closed <- sub.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked")
	}
	require.NoError(t, sub.Close(), "a second Close does nothing")
	select {
	case d := <-out:
		t.Fatalf("delivered after Close: %+v", d)
	case <-time.After(200 * time.Millisecond):
	}
	require.Eventually(t, func() bool {
		n, err := srv.Client().PubSubNumSub(ctx, Channel("closing")).Result()
		return err == nil && n[Channel("closing")] == 0
	}, 5*time.Second, 20*time.Millisecond, "Redis has no subscriber left")
}

func TestSubscribeRefusesABadRoomIdAndReportsAnUnreachableRedis(t *testing.T) {
	store := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), Options{})
	_, err := store.Subscribe(t.Context(), "Not A Room", make(chan Delivery))
	require.ErrorIs(t, err, ErrInvalidRoom)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = store.Subscribe(ctx, "nowhere", make(chan Delivery))
	require.ErrorIs(t, err, ErrUnavailable)
}
