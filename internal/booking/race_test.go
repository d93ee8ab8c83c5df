package booking_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/booking"
)

func TestThousandVisitorsRacingForOneSeatMakeExactlyOneBooking(t *testing.T) {
	each(t, booking.Options{}, []string{"A1", "A2"}, func(t *testing.T, b *bundle) {
		const visitors = 1000
		var (
			start   = make(chan struct{})
			wg      sync.WaitGroup
			holds   atomic.Int64
			booked  atomic.Int64
			winner  atomic.Value
			badErrs = make(chan error, 2*visitors)
		)
		for i := range visitors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := fmt.Sprintf("visitor-%d", i)
				<-start
				if _, _, err := b.store.Hold(b.ctx, b.room, v, "A1"); err == nil {
					holds.Add(1)
				} else if !errors.Is(err, booking.ErrSeatUnavailable) {
					badErrs <- err
				}
				// Everyone tries to book, holder or not.
				bk, created, err := b.store.Book(b.ctx, b.room, v, "A1")
				switch {
				case err == nil && created:
					booked.Add(1)
					winner.Store([2]string{v, bk.ID})
				case err == nil:
					badErrs <- fmt.Errorf("%s: booking not created", v)
				case !errors.Is(err, booking.ErrSeatUnavailable) && !errors.Is(err, booking.ErrHoldRequired):
					badErrs <- err
				}
			}()
		}
		close(start)
		wg.Wait()
		close(badErrs)
		for err := range badErrs {
			t.Error(err)
		}
		require.EqualValues(t, 1, holds.Load(), "one hold")
		require.EqualValues(t, 1, booked.Load(), "one booking")

		w := winner.Load().([2]string)
		require.Equal(t, []booking.Booking{{Seat: "A1", ID: w[1]}}, b.mine(t, w[0]).Bookings)
		require.Equal(t, map[string]string{"A1": "booked+mine", "A2": "available"}, b.states(t, w[0]))
		total := 0
		for i := range visitors {
			total += len(b.mine(t, fmt.Sprintf("visitor-%d", i)).Bookings)
		}
		require.Equal(t, 1, total, "exactly one booking across all visitors")
	})
}

// Many visitors hold, book and sometimes cancel random seats of a whole map
// at once. In the end every seat is booked at most once, every booking a
// visitor was told about (and did not cancel) is there, and nothing else is.
func TestManyVisitorsRacingOverASeatMapLoseNoBookingAndDoubleBookNoSeat(t *testing.T) {
	seats := booking.GridSeats(10, 20) // 200 seats
	const visitors, attempts = 100, 60
	each(t, booking.Options{MaxPerVisitor: 4}, seats, func(t *testing.T, b *bundle) {
		type told struct{ visitor, id string }
		var (
			mu     sync.Mutex
			ledger = map[string]told{} // seat -> the booking its owner was told about
			errs   = make(chan error, visitors*attempts)
			wg     sync.WaitGroup
			start  = make(chan struct{})
		)
		for i := range visitors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := fmt.Sprintf("v%03d", i)
				rng := rand.New(rand.NewPCG(uint64(i), 7))
				var mine []string
				<-start
				for range attempts {
					if len(mine) > 0 && rng.IntN(5) == 0 { // cancel one of ours now and then
						k := rng.IntN(len(mine))
						seat := mine[k]
						// Take it out of the ledger first: once cancelled the seat may
						// be booked by someone else at once.
						mu.Lock()
						delete(ledger, seat)
						mu.Unlock()
						if err := b.store.Cancel(b.ctx, b.room, v, seat); err != nil {
							errs <- fmt.Errorf("%s cancel %s: %w", v, seat, err)
						}
						mine = append(mine[:k], mine[k+1:]...)
						continue
					}
					seat := seats[rng.IntN(len(seats))]
					_, _, err := b.store.Hold(b.ctx, b.room, v, seat)
					if errors.Is(err, booking.ErrSeatUnavailable) || errors.Is(err, booking.ErrLimitReached) {
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("%s hold %s: %w", v, seat, err)
						continue
					}
					bk, created, err := b.store.Book(b.ctx, b.room, v, seat)
					if err != nil || !created {
						errs <- fmt.Errorf("%s book %s after holding it: created=%v, %v", v, seat, created, err)
						continue
					}
					mu.Lock()
					if prev, taken := ledger[seat]; taken {
						errs <- fmt.Errorf("seat %s booked by %s while %s holds booking %s", seat, v, prev.visitor, prev.id)
					}
					ledger[seat] = told{v, bk.ID}
					mu.Unlock()
					mine = append(mine, seat)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		require.NotEmpty(t, ledger)

		// What the store holds, seen through each visitor's bookings...
		stored := map[string]told{}
		for i := range visitors {
			v := fmt.Sprintf("v%03d", i)
			m := b.mine(t, v)
			require.Empty(t, m.Holds, "every hold became a booking")
			for _, bk := range m.Bookings {
				prev, dup := stored[bk.Seat]
				require.False(t, dup, "seat %s booked by %s and %s", bk.Seat, prev.visitor, v)
				stored[bk.Seat] = told{v, bk.ID}
			}
		}
		// ...is exactly what visitors were told, no booking lost or invented.
		require.Equal(t, ledger, stored)
		// And the seat list agrees.
		list, err := b.store.Seats(b.ctx, b.room, "")
		require.NoError(t, err)
		n := 0
		for _, s := range list {
			if s.State == booking.Booked {
				n++
				require.Contains(t, ledger, s.ID)
			}
		}
		require.Equal(t, len(ledger), n)
		t.Logf("%d of %d seats booked", n, len(seats))
	})
}
