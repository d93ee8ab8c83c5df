package queue

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// fillPrequeue puts n visitors in the room's pre-queue by pipelining ZADDs,
// as n joins before opens_at would (without their users or proofs of work),
// and returns them in the pre-queue's shuffled order.
func fillPrequeue(t *testing.T, b *bundle, n int) {
	t.Helper()
	k := roomKeys(b.room)
	const per = 10000
	for off := 0; off < n; off += per {
		_, err := b.rdb.Pipelined(b.ctx, func(p redis.Pipeliner) error {
			zs := make([]redis.Z, 0, per)
			for i := off; i < min(off+per, n); i++ {
				zs = append(zs, redis.Z{Score: float64(shuffleKey()), Member: NewTicket()})
			}
			p.ZAdd(b.ctx, k.pre, zs...)
			return nil
		})
		require.NoError(t, err)
	}
}

func TestAPrequeueOpensInBoundedStepsInItsShuffledOrderAheadOfLaterJoiners(t *testing.T) {
	opens := time.Now().Add(time.Hour).UTC()
	each(t, ConfigPatch{Mode: new(ModeQueueAll), OpensAtSet: true, OpensAt: &opens, AbandonAfterS: new(0), BatchSize: new(5)},
		func(t *testing.T, b *bundle) {
			const n = 3000 // more than a join's step (500), so the tick's steps finish it
			fillPrequeue(t, b, n)
			early := b.join(t)
			require.Equal(t, StatePrequeue, early.State)
			shuffled, err := b.rdb.ZRange(b.ctx, roomKeys(b.room).pre, 0, -1).Result()
			require.NoError(t, err)

			store := New(b.rdb, Options{MaxOpenedPerStep: 300})
			past := time.Now().Add(-time.Second).UTC()
			b.put(t, ConfigPatch{OpensAtSet: true, OpensAt: &past})
			late := b.join(t) // the first script after opening reserves the pre-queue's places
			require.Equal(t, StateWaiting, late.State)
			require.EqualValues(t, n+2, late.Position, "behind the whole pre-queue, placed or not")
			require.EqualValues(t, n+2, late.Waiting)

			ev, err := store.Tick(b.ctx, b.room)
			require.NoError(t, err)
			require.Equal(t, shuffled[:5], admittedTickets(ev), "the head of the shuffled pre-queue is admitted first")
			st, err := store.Stats(b.ctx, b.room)
			require.NoError(t, err)
			require.Zero(t, st.Prequeue, "the tick finished the opening in steps")
			for i, tk := range shuffled[5:] {
				if i%97 == 0 {
					require.EqualValues(t, i+1, b.status(t, tk).Position, "the pre-queue keeps its shuffled order")
				}
			}
			require.EqualValues(t, n+2-5, b.status(t, late.Ticket).Position, "the pre-queue and the early joiner, less 5 admitted")
			keys, err := b.rdb.Exists(b.ctx, roomKeys(b.room).pre, roomKeys(b.room).preseen).Result()
			require.NoError(t, err)
			require.Zero(t, keys)
		})
}

// TestOpeningALargePrequeueNeverBlocksRedis opens a pre-queue of
// WAITROOM_OPEN_N visitors (default 100 000; 1 000 000 for docs/BENCHMARKS.md)
// while joins keep arriving, and reports the slowest command in SLOWLOG.
func TestOpeningALargePrequeueNeverBlocksRedis(t *testing.T) {
	n := 100000
	if v := os.Getenv("WAITROOM_OPEN_N"); v != "" {
		n, _ = strconv.Atoi(v)
	} else if testing.Short() {
		t.Skip("large")
	}
	opens := time.Now().Add(time.Hour).UTC()
	eachOf(t, backends[:1], ConfigPatch{Mode: new(ModeQueueAll), OpensAtSet: true, OpensAt: &opens, AbandonAfterS: new(0), BatchSize: new(100)},
		func(t *testing.T, b *bundle) {
			start := time.Now()
			fillPrequeue(t, b, n)
			t.Logf("filled a pre-queue of %d in %v", n, time.Since(start))
			require.NoError(t, b.rdb.ConfigSet(b.ctx, "slowlog-log-slower-than", "10000").Err())
			require.NoError(t, b.rdb.ConfigSet(b.ctx, "slowlog-max-len", "100000").Err())
			require.NoError(t, b.rdb.Do(b.ctx, "SLOWLOG", "RESET").Err())

			past := time.Now().Add(-time.Second).UTC()
			b.put(t, ConfigPatch{OpensAtSet: true, OpensAt: &past})
			ctx, stop := context.WithCancel(b.ctx)
			var wg sync.WaitGroup
			var worst time.Duration
			var joins int
			wg.Add(1)
			go func() { // joins keep answering during the opening
				defer wg.Done()
				for ctx.Err() == nil {
					t0 := time.Now()
					st, _, err := b.store.Join(b.ctx, b.room, JoinRequest{})
					// The tick admits 100 of the pre-queue, once.
					if err != nil || st.Position <= int64(n-100) {
						t.Errorf("join during the opening: %v, position %d", err, st.Position)
						return
					}
					worst = max(worst, time.Since(t0))
					joins++
				}
			}()
			t0 := time.Now()
			_, err := b.store.Tick(b.ctx, b.room)
			took := time.Since(t0)
			stop()
			wg.Wait()
			require.NoError(t, err)
			logs, err := b.rdb.SlowLogGet(b.ctx, -1).Result()
			require.NoError(t, err)
			var slowest redis.SlowLog
			over25 := 0
			for _, l := range logs {
				if l.Duration > 25*time.Millisecond {
					over25++
				}
				if l.Duration > slowest.Duration {
					slowest = l
				}
			}
			args := slowest.Args
			if len(args) > 2 {
				args = args[:2]
			}
			t.Logf("opened %d in %v; %d joins meanwhile, slowest %v; SLOWLOG (>10 ms): %d entries, %d over 25 ms, largest %v %v",
				n, took, joins, worst, len(logs), over25, slowest.Duration, args)
			if os.Getenv("WAITROOM_OPEN_N") != "" { // a measurement, not a timed unit test on a shared machine
				require.Less(t, slowest.Duration, 50*time.Millisecond, "no script blocks Redis for 50 ms")
			}
			st, err := b.store.Stats(b.ctx, b.room)
			require.NoError(t, err)
			require.Zero(t, st.Prequeue)
			require.EqualValues(t, n+joins-100, st.Waiting, "the pre-queue and the joins, less one tick's admissions")
		})
}
