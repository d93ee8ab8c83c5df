package queue

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/relay"
)

func TestATickWhoseReplyIsLostIsRetriedAsANoOp(t *testing.T) {
	eachOf(t, backends[:1], ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(2), Capacity: new(0)}, func(t *testing.T, b *bundle) {
		addr := b.rdb.(*redis.Client).Options().Addr
		proxy := relay.Start(t, addr)
		// go-redis's default: a command is resent up to 3 times after a
		// network error.
		rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: 3, PoolSize: 1})
		t.Cleanup(func() { _ = rdb.Close() })
		cut := New(rdb, Options{})
		_, err := cut.Tick(b.ctx, b.room) // loads the script, opens the connection
		require.NoError(t, err)
		var tickets []string
		for range 5 {
			tickets = append(tickets, b.join(t).Ticket)
		}

		proxy.CutNext.Store(true)
		ev, err := cut.Tick(b.ctx, b.room)
		require.NoError(t, err, "go-redis retried the tick")
		require.Equal(t, int64(1), proxy.Cuts.Load(), "the first reply was cut")
		require.Equal(t, tickets[:2], admittedTickets(ev), "the retry answers as the first run")

		st, err := b.store.Stats(b.ctx, b.room)
		require.NoError(t, err)
		require.Equal(t, int64(2), st.Admitted, "one batch admitted, not two")
		require.Equal(t, int64(3), st.Waiting)
		require.Equal(t, int64(1), b.status(t, tickets[2]).Position)
	})
}
