package booking_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/internal/redistest"
)

// backends are the Redis deployments every test runs against: one node and
// a 3-node Cluster, both real redis-server processes started for this run.
var backends []redistest.Backend

func TestMain(m *testing.M) {
	redistest.Main(m, "booking tests", func(b []redistest.Backend) (func(), error) {
		backends = b
		return func() {}, nil
	})
}

// bundle is what a test needs: a store, its Redis, a fresh room with a seat
// map.
type bundle struct {
	ctx   context.Context
	store *booking.Store
	rdb   redis.UniversalClient
	room  string
}

var roomSeq atomic.Int64

// each runs the test once per backend, each time with a new room whose seat
// map is seats, and a store with opt.
func each(t *testing.T, opt booking.Options, seats []string, test func(t *testing.T, b *bundle)) {
	t.Helper()
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			store, err := booking.New(be.Client, opt)
			require.NoError(t, err)
			b := &bundle{ctx: context.Background(), store: store, rdb: be.Client, room: fmt.Sprintf("b%d", roomSeq.Add(1))}
			if seats != nil {
				_, err := store.PutSeatMap(b.ctx, b.room, seats)
				require.NoError(t, err)
			}
			test(t, b)
		})
	}
}

func (b *bundle) hold(t *testing.T, visitor, seat string) booking.Hold {
	t.Helper()
	return created[booking.Hold](t, true)(b.store.Hold(b.ctx, b.room, visitor, seat))
}

func (b *bundle) book(t *testing.T, visitor, seat string) booking.Booking {
	t.Helper()
	return created[booking.Booking](t, true)(b.store.Book(b.ctx, b.room, visitor, seat))
}

// created checks the reply of a Hold or Book: no error, and created as
// want (false: it gave back what was there). It returns what the call gave.
func created[T any](t *testing.T, want bool) func(T, bool, error) T {
	return func(v T, created bool, err error) T {
		t.Helper()
		require.NoError(t, err)
		require.Equal(t, want, created)
		return v
	}
}

// states returns seat -> state as visitor sees it, with a "+mine" suffix on
// the visitor's own seats.
func (b *bundle) states(t *testing.T, visitor string) map[string]string {
	t.Helper()
	seats, err := b.store.Seats(b.ctx, b.room, visitor)
	require.NoError(t, err)
	out := map[string]string{}
	for _, s := range seats {
		v := string(s.State)
		if s.Mine {
			v += "+mine"
		}
		out[s.ID] = v
	}
	return out
}

func (b *bundle) mine(t *testing.T, visitor string) booking.Holdings {
	t.Helper()
	h, err := b.store.Mine(b.ctx, b.room, visitor)
	require.NoError(t, err)
	return h
}

// redisNow is Redis's clock, which every script uses.
func (b *bundle) redisNow(t *testing.T) time.Time {
	t.Helper()
	now, err := b.rdb.Time(b.ctx).Result()
	require.NoError(t, err)
	return now
}
