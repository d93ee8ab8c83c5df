package booking_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/booking"
)

// Standalone mode runs on miniredis, an in-memory Redis with its own Lua
// interpreter; every script must run there the same way.
func TestEveryScriptRunsOnTheStandaloneStore(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := booking.New(rdb, booking.Options{HoldTTL: time.Second, MaxPerVisitor: 2})
	require.NoError(t, err)
	b := &bundle{ctx: context.Background(), store: s, rdb: rdb, room: "demo"}

	_, err = s.PutSeatMap(b.ctx, b.room, booking.GridSeats(10, 10))
	require.NoError(t, err)
	b.hold(t, "ann", "A1")
	bk := b.book(t, "ann", "A1")
	b.hold(t, "ann", "A2")
	_, _, err = s.Hold(b.ctx, b.room, "ann", "A3")
	require.ErrorIs(t, err, booking.ErrLimitReached)
	_, _, err = s.Hold(b.ctx, b.room, "bob", "A1")
	require.ErrorIs(t, err, booking.ErrSeatUnavailable)
	_, _, err = s.Book(b.ctx, b.room, "bob", "A3")
	require.ErrorIs(t, err, booking.ErrHoldRequired)

	st := b.states(t, "ann")
	require.Len(t, st, 100)
	require.Equal(t, "booked+mine", st["A1"])
	require.Equal(t, "held+mine", st["A2"])
	m2 := b.mine(t, "ann")
	require.Equal(t, []booking.Booking{bk}, m2.Bookings)
	require.Len(t, m2.Holds, 1)

	time.Sleep(1100 * time.Millisecond)
	require.Equal(t, "available", b.states(t, "bob")["A2"], "the hold ended")
	b.hold(t, "bob", "A2")
	n, err := s.ReleaseHolds(b.ctx, b.room, "bob")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, s.Cancel(b.ctx, b.room, "ann", "A1"))

	released, err := s.PutSeatMap(b.ctx, b.room, []string{"A1", "Z1"})
	require.NoError(t, err)
	require.Zero(t, released)
	require.Equal(t, map[string]string{"A1": "available", "Z1": "available"}, b.states(t, "ann"))
}
