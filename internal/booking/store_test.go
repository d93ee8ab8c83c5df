package booking_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/pkg/queue"
)

var fourSeats = []string{"A1", "A2", "A3", "A4"}

func TestHoldLastsTheHoldTTLAndShowsAsMine(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		before := b.redisNow(t)
		h := b.hold(t, "ann", "A2")
		require.Equal(t, "A2", h.Seat)
		require.WithinDuration(t, before.Add(5*time.Minute), h.Until, 2*time.Second)

		require.Equal(t, map[string]string{"A1": "available", "A2": "held+mine", "A3": "available", "A4": "available"}, b.states(t, "ann"))
		require.Equal(t, "held", b.states(t, "bob")["A2"])
		require.Equal(t, []booking.Hold{h}, b.mine(t, "ann").Holds)
		require.Empty(t, b.mine(t, "ann").Bookings)
	})
}

func TestHoldingYourOwnHoldAgainGivesItBackUnextended(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		h := b.hold(t, "ann", "A1")
		require.Equal(t, h, created[booking.Hold](t, false)(b.store.Hold(b.ctx, b.room, "ann", "A1")))
	})
}

func TestHoldBecomesBookingAndCancelFreesTheSeat(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A3")
		bk := b.book(t, "ann", "A3")
		require.Equal(t, "A3", bk.Seat)
		require.Len(t, bk.ID, 22, "16 random bytes, base64url")

		require.Equal(t, "booked+mine", b.states(t, "ann")["A3"])
		require.Equal(t, "booked", b.states(t, "bob")["A3"])
		m := b.mine(t, "ann")
		require.Equal(t, []booking.Booking{bk}, m.Bookings)
		require.Empty(t, m.Holds, "the hold became the booking")

		require.NoError(t, b.store.Cancel(b.ctx, b.room, "ann", "A3"))
		require.Equal(t, "available", b.states(t, "ann")["A3"])
		require.Empty(t, b.mine(t, "ann").Bookings)
		b.hold(t, "bob", "A3")
	})
}

func TestBookingTwiceGivesTheSameBooking(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A1")
		bk := b.book(t, "ann", "A1")
		require.Equal(t, bk, created[booking.Booking](t, false)(b.store.Book(b.ctx, b.room, "ann", "A1")))
	})
}

func TestBookWithoutAHoldNeedsOne(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		_, _, err := b.store.Book(b.ctx, b.room, "ann", "A1")
		require.ErrorIs(t, err, booking.ErrHoldRequired)
		require.Equal(t, "available", b.states(t, "ann")["A1"])
	})
}

func TestSomeoneElsesHoldOrBookingIsUnavailable(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A1")
		_, _, err := b.store.Hold(b.ctx, b.room, "bob", "A1")
		require.ErrorIs(t, err, booking.ErrSeatUnavailable)
		_, _, err = b.store.Book(b.ctx, b.room, "bob", "A1")
		require.ErrorIs(t, err, booking.ErrSeatUnavailable)
		require.ErrorIs(t, b.store.Cancel(b.ctx, b.room, "bob", "A1"), booking.ErrBookingNotFound)

		b.book(t, "ann", "A1")
		_, _, err = b.store.Hold(b.ctx, b.room, "bob", "A1")
		require.ErrorIs(t, err, booking.ErrSeatUnavailable)
		_, _, err = b.store.Hold(b.ctx, b.room, "ann", "A1")
		require.ErrorIs(t, err, booking.ErrSeatUnavailable, "a booked seat cannot be held, even by its owner")
		require.ErrorIs(t, b.store.Cancel(b.ctx, b.room, "bob", "A1"), booking.ErrBookingNotFound)
		require.Equal(t, "booked+mine", b.states(t, "ann")["A1"])
	})
}

func TestUnknownAndMalformedSeatsAreRefused(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		_, _, err := b.store.Hold(b.ctx, b.room, "ann", "Z9")
		require.ErrorIs(t, err, booking.ErrSeatNotFound)
		_, _, err = b.store.Book(b.ctx, b.room, "ann", "Z9")
		require.ErrorIs(t, err, booking.ErrSeatNotFound)
		require.ErrorIs(t, b.store.Cancel(b.ctx, b.room, "ann", "Z9"), booking.ErrSeatNotFound)

		for _, bad := range []string{"", "A 1", "A1:", "ÄÖ", "12345678901234567"} {
			_, _, err = b.store.Hold(b.ctx, b.room, "ann", bad)
			require.ErrorIs(t, err, booking.ErrInvalidSeat, bad)
		}
		_, _, err = b.store.Hold(b.ctx, "Bad_Room", "ann", "A1")
		require.ErrorIs(t, err, queue.ErrInvalidRoom)
		_, _, err = b.store.Hold(b.ctx, b.room, "", "A1")
		require.ErrorIs(t, err, booking.ErrInvalidVisitor)
	})
}

func TestVisitorsMayHoldOrBookAtMostTheLimit(t *testing.T) {
	seats := booking.GridSeats(1, 6)
	each(t, booking.Options{MaxPerVisitor: 3}, seats, func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A1")
		b.hold(t, "ann", "A2")
		b.book(t, "ann", "A2")
		b.hold(t, "ann", "A3")
		_, _, err := b.store.Hold(b.ctx, b.room, "ann", "A4")
		require.ErrorIs(t, err, booking.ErrLimitReached, "two holds and a booking make three")
		b.hold(t, "bob", "A4") // the limit is per visitor

		require.NoError(t, b.store.Cancel(b.ctx, b.room, "ann", "A1"))
		b.hold(t, "ann", "A5")
		require.NoError(t, b.store.Cancel(b.ctx, b.room, "ann", "A2"))
		b.hold(t, "ann", "A6")
	})
}

func TestAHoldFreesItselfWhenItEnds(t *testing.T) {
	each(t, booking.Options{HoldTTL: 2 * time.Second, MaxPerVisitor: 1}, fourSeats, func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A1")
		require.Equal(t, "held", b.states(t, "bob")["A1"])
		time.Sleep(2100 * time.Millisecond)

		require.Equal(t, "available", b.states(t, "bob")["A1"], "free as soon as it ends, before any write")
		require.Empty(t, b.mine(t, "ann").Holds)
		_, _, err := b.store.Book(b.ctx, b.room, "ann", "A1")
		require.ErrorIs(t, err, booking.ErrHoldRequired)
		b.hold(t, "ann", "A2") // the ended hold no longer counts toward the limit of 1
		b.hold(t, "bob", "A1")
	})
}

func TestEndedHoldsAreSweptFromRedis(t *testing.T) {
	each(t, booking.Options{HoldTTL: time.Second}, booking.GridSeats(1, 3), func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A1")
		b.hold(t, "bob", "A2")
		time.Sleep(1100 * time.Millisecond)
		b.hold(t, "cid", "A3") // any write sweeps ended holds

		taken, err := b.rdb.HKeys(b.ctx, "wr:{"+b.room+"}:seats:taken").Result()
		require.NoError(t, err)
		require.Equal(t, []string{"A3"}, taken)
		n, err := b.rdb.Exists(b.ctx, "wr:{"+b.room+"}:seats:mine:ann", "wr:{"+b.room+"}:seats:mine:bob").Result()
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestReleaseHoldsKeepsBookings(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A1")
		bk := b.book(t, "ann", "A1")
		b.hold(t, "ann", "A2")
		b.hold(t, "ann", "A3")
		b.hold(t, "bob", "A4")

		n, err := b.store.ReleaseHolds(b.ctx, b.room, "ann")
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Equal(t, map[string]string{"A1": "booked+mine", "A2": "available", "A3": "available", "A4": "held"}, b.states(t, "ann"))
		require.Equal(t, booking.Holdings{Holds: []booking.Hold{}, Bookings: []booking.Booking{bk}}, withoutNow(b.mine(t, "ann")))
	})
}

func withoutNow(h booking.Holdings) booking.Holdings { h.Now = time.Time{}; return h }

func TestCancelReleasesYourOwnHold(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		b.hold(t, "ann", "A1")
		require.NoError(t, b.store.Cancel(b.ctx, b.room, "ann", "A1"))
		require.Equal(t, "available", b.states(t, "ann")["A1"])
		require.ErrorIs(t, b.store.Cancel(b.ctx, b.room, "ann", "A1"), booking.ErrBookingNotFound)
	})
}

func TestMineListsInSeatMapOrder(t *testing.T) {
	seats := []string{"C3", "A1", "B2", "D4"}
	each(t, booking.Options{}, seats, func(t *testing.T, b *bundle) {
		for _, s := range []string{"D4", "A1", "C3"} {
			b.hold(t, "ann", s)
		}
		m := b.mine(t, "ann")
		got := []string{}
		for _, h := range m.Holds {
			got = append(got, h.Seat)
		}
		require.Equal(t, []string{"C3", "A1", "D4"}, got)
		require.WithinDuration(t, b.redisNow(t), m.Now, 2*time.Second)
	})
}

func TestVisitorIdsMayHoldAnyCharacter(t *testing.T) {
	each(t, booking.Options{}, fourSeats, func(t *testing.T, b *bundle) {
		odd := "user:{42}:ä b"
		b.hold(t, odd, "A1")
		bk := b.book(t, odd, "A1")
		require.Equal(t, "booked+mine", b.states(t, odd)["A1"])
		require.Equal(t, []booking.Booking{bk}, b.mine(t, odd).Bookings)
		require.Equal(t, "booked", b.states(t, "user")["A1"])
	})
}

func TestSeatSnapshotsShowYourOwnChangesAtOnceAndOthersWithinMaxAge(t *testing.T) {
	each(t, booking.Options{SeatsMaxAge: 10 * time.Second, HoldTTL: time.Second}, fourSeats, func(t *testing.T, b *bundle) {
		other, err := booking.New(b.rdb, booking.Options{HoldTTL: time.Second}) // another process
		require.NoError(t, err)
		require.Equal(t, "available", b.states(t, "ann")["A1"])

		_, _, err = other.Hold(b.ctx, b.room, "bob", "A1")
		require.NoError(t, err)
		require.Equal(t, "available", b.states(t, "ann")["A1"], "another process's hold shows only when the snapshot ages out")

		b.hold(t, "ann", "A2")
		require.Equal(t, map[string]string{"A1": "held", "A2": "held+mine", "A3": "available", "A4": "available"},
			b.states(t, "ann"), "a change through this store drops the snapshot")

		time.Sleep(1100 * time.Millisecond)
		require.Equal(t, map[string]string{"A1": "available", "A2": "available", "A3": "available", "A4": "available"},
			b.states(t, "ann"), "holds that end are free even in a snapshot")
	})
}
