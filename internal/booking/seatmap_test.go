package booking_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/pkg/queue"
)

func ids(seats []booking.Seat) []string {
	out := make([]string, len(seats))
	for i, s := range seats {
		out[i] = s.ID
	}
	return out
}

func TestSeatMapKeepsTheOperatorsOrder(t *testing.T) {
	seats := []string{"Z9", "A1", "m-3", "B10", "B2"}
	each(t, booking.Options{}, seats, func(t *testing.T, b *bundle) {
		got, err := b.store.Seats(b.ctx, b.room, "ann")
		require.NoError(t, err)
		require.Equal(t, seats, ids(got))
		for _, s := range got {
			require.Equal(t, booking.Available, s.State)
			require.False(t, s.Mine)
		}
	})
}

func TestARoomWithoutSeatMapHasNoSeats(t *testing.T) {
	each(t, booking.Options{}, nil, func(t *testing.T, b *bundle) {
		got, err := b.store.Seats(b.ctx, b.room, "ann")
		require.NoError(t, err)
		require.Empty(t, got)
		_, _, err = b.store.Hold(b.ctx, b.room, "ann", "A1")
		require.ErrorIs(t, err, booking.ErrSeatNotFound)
	})
}

func TestABadSeatMapIsRefusedAndChangesNothing(t *testing.T) {
	tooMany := booking.GridSeats(1001, 100) // 100 100 seats
	cases := map[string]struct {
		seats []string
		msg   string
	}{
		"too many":   {tooMany, "at most 100000 seats, got 100100"},
		"duplicate":  {[]string{"A1", "A2", "A1"}, `seats[2]: "A1" is already seats[0]`},
		"bad char":   {[]string{"A1", "A_2"}, `seats[1]: "A_2" is not a seat id`},
		"empty id":   {[]string{""}, `seats[0]: "" is not a seat id`},
		"too long":   {[]string{strings.Repeat("A", 17)}, "seats[0]"},
		"non-ascii":  {[]string{"Ä1"}, "seats[0]"},
		"with colon": {[]string{"A:1"}, "seats[0]"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
				b.hold(t, "ann", "A1")
				_, err := b.store.PutSeatMap(b.ctx, b.room, c.seats)
				require.ErrorIs(t, err, booking.ErrInvalidSeatMap)
				var me *booking.SeatMapError
				require.True(t, errors.As(err, &me))
				require.Contains(t, err.Error(), c.msg)

				got, err := b.store.Seats(b.ctx, b.room, "ann")
				require.NoError(t, err)
				require.Equal(t, fourSeats, ids(got))
				require.Equal(t, "held+mine", b.states(t, "ann")["A1"])
			})
		})
	}
	_, err := backendStore(t).PutSeatMap(t.Context(), "Bad_Room", fourSeats)
	require.ErrorIs(t, err, queue.ErrInvalidRoom)
}

func backendStore(t *testing.T) *booking.Store {
	s, err := booking.New(backends[0].Client, booking.Options{})
	require.NoError(t, err)
	return s
}

func TestReplacingTheSeatMapKeepsStayingSeatsAndReleasesDroppedOnes(t *testing.T) {
	each(t, booking.Options{MaxPerVisitor: 2}, fourSeats, func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A1")
		annA1 := b.book(t, "ann", "A1")
		b.hold(t, "ann", "A2")
		b.hold(t, "bob", "A3")
		b.book(t, "bob", "A3")
		b.hold(t, "bob", "A4")

		released, err := b.store.PutSeatMap(b.ctx, b.room, []string{"A4", "A1", "B1"})
		require.NoError(t, err)
		require.Equal(t, 2, released, "ann's hold on A2 and bob's booking of A3")

		got, err := b.store.Seats(b.ctx, b.room, "ann")
		require.NoError(t, err)
		require.Equal(t, []string{"A4", "A1", "B1"}, ids(got))
		require.Equal(t, map[string]string{"A4": "held", "A1": "booked+mine", "B1": "available"}, b.states(t, "ann"))
		require.Equal(t, []booking.Booking{annA1}, b.mine(t, "ann").Bookings)
		require.Empty(t, b.mine(t, "ann").Holds)
		require.Empty(t, b.mine(t, "bob").Bookings)
		// bob lost A3, so his limit of 2 has room again.
		b.hold(t, "bob", "B1")
	})
}

func TestAnEmptySeatMapClearsTheRoom(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A1")
		released, err := b.store.PutSeatMap(b.ctx, b.room, []string{})
		require.NoError(t, err)
		require.Equal(t, 1, released)
		got, err := b.store.Seats(b.ctx, b.room, "ann")
		require.NoError(t, err)
		require.Empty(t, got)
		require.Empty(t, b.mine(t, "ann").Holds)
	})
}

func TestASeatMapOfOneHundredThousandSeatsIsAccepted(t *testing.T) {
	seats := booking.GridSeats(1000, 100)
	require.Len(t, seats, booking.MaxSeats)
	each(t, booking.Options{}, nil, func(t *testing.T, b *bundle) {
		start := time.Now()
		_, err := b.store.PutSeatMap(b.ctx, b.room, seats)
		require.NoError(t, err)
		t.Logf("put 100 000 seats in %s", time.Since(start))
		got, err := b.store.Seats(b.ctx, b.room, "ann")
		require.NoError(t, err)
		require.Equal(t, seats, ids(got))
		b.hold(t, "ann", "ALL100")
		// No upload is left behind.
		keys, err := b.rdb.Keys(b.ctx, "wr:{"+b.room+"}:seats:stage:*").Result()
		require.NoError(t, err)
		require.Empty(t, keys)
	})
}

func TestGridSeatsNamesRowsLikeASpreadsheet(t *testing.T) {
	require.Equal(t, []string{"A1", "A2", "B1", "B2"}, booking.GridSeats(2, 2))
	g := booking.GridSeats(28, 1)
	require.Equal(t, []string{"Z1", "AA1", "AB1"}, g[25:])
	require.NoError(t, booking.ValidateSeatMap(booking.GridSeats(1000, 100)))
}

func TestOptionsAreValidated(t *testing.T) {
	for _, o := range []booking.Options{
		{HoldTTL: 500 * time.Millisecond},
		{HoldTTL: 25 * time.Hour},
		{MaxPerVisitor: -1},
		{MaxPerVisitor: 101},
		{SeatsMaxAge: -time.Second},
		{SeatsMaxAge: 11 * time.Second},
	} {
		_, err := booking.New(backends[0].Client, o)
		require.Error(t, err, "%+v", o)
	}
	s, err := booking.New(backends[0].Client, booking.Options{})
	require.NoError(t, err)
	require.Equal(t, booking.Options{HoldTTL: 5 * time.Minute, MaxPerVisitor: 4}, s.Options())
}
