package pacer

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/pkg/queue"
)

// The scripts' contracts, tested against a real Redis (and a Cluster).

const (
	testGrace = 3000  // ms: visibility timeout + slack
	testKeep  = 60000 // ms
)

type scriptBundle struct {
	ctx context.Context
	srv *redistest.Server
	rdb *redis.Client
}

func setupScripts(t *testing.T) scriptBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	srv := redistest.Start(t)
	return scriptBundle{ctx: ctx, srv: srv, rdb: srv.Client()}
}

func (b scriptBundle) watch(t *testing.T, room string, iv int) []int64 {
	t.Helper()
	res, err := watchScript.Run(b.ctx, b.rdb, []string{loopKey(room)}, iv, testGrace, testKeep).Slice()
	require.NoError(t, err)
	return ints(res)
}

func (b scriptBundle) claim(t *testing.T, room string, gen, seq int64, iv int) []int64 {
	t.Helper()
	res, err := claimScript.Run(b.ctx, b.rdb, []string{loopKey(room)}, gen, seq, iv, holdMS, testKeep).Slice()
	require.NoError(t, err)
	return ints(res)
}

// nowMS is Redis's time.
func (b scriptBundle) nowMS(t *testing.T) int64 {
	t.Helper()
	tm, err := b.rdb.Time(b.ctx).Result()
	require.NoError(t, err)
	return tm.UnixMilli()
}

// setFence overwrites fields of a room's fence, to put it in the past.
func (b scriptBundle) setFence(t *testing.T, room string, fields ...any) {
	t.Helper()
	require.NoError(t, b.rdb.HSet(b.ctx, loopKey(room), fields...).Err())
}

func TestClaimTakesTheExpectedMessageExactlyOnce(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	seeded := b.watch(t, "r", 1000)
	require.Len(t, seeded, 2)
	gen := seeded[0]
	require.Positive(t, gen)
	require.EqualValues(t, 1, seeded[1], "a new loop")

	got := b.claim(t, "r", gen, 0, 1000)
	require.EqualValues(t, 1, got[0], "the seed message is claimed")
	require.EqualValues(t, 0, got[1], "and ticks at once")
	require.EqualValues(t, 1, got[2], "one tick per message at 1 s")
	require.InDelta(t, 1000, got[3], 50, "the next is due one interval later")

	require.Equal(t, []int64{0}, b.claim(t, "r", gen, 0, 1000), "a duplicate of the claimed message")
	require.Equal(t, []int64{0}, b.claim(t, "r", gen-1, 1, 1000), "an older generation")
	require.Equal(t, []int64{0}, b.claim(t, "r", gen, 5, 1000), "a sequence number from nowhere")
	require.Equal(t, []int64{0}, b.claim(t, "nowhere", 1, 0, 1000), "a room without a loop")

	got = b.claim(t, "r", gen, 1, 1000)
	require.EqualValues(t, 1, got[0], "the next message, arriving early, is claimed")
	require.InDelta(t, 1000, got[1], 50, "and waits for its due time")
	require.InDelta(t, 2000, got[3], 50, "anchored on the due time")
}

func TestClaimPutsBackAMessageDueLater(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 1000)[0]
	b.setFence(t, "r", "due", b.nowMS(t)+10000)
	got := b.claim(t, "r", gen, 0, 1000)
	require.EqualValues(t, 2, got[0])
	require.InDelta(t, 10000, got[1], 50)
	// Put back, not consumed: once due, the same message is claimed.
	b.setFence(t, "r", "due", b.nowMS(t))
	require.EqualValues(t, 1, b.claim(t, "r", gen, 0, 1000)[0])
}

func TestClaimRunsTheTicksDueWithinTheSecond(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 250)[0]
	got := b.claim(t, "r", gen, 0, 250)
	require.EqualValues(t, 4, got[2], "four ticks of 250 ms per message")
	require.InDelta(t, 1000, got[3], 50)
	got = b.claim(t, "r", gen, 1, 300)
	require.EqualValues(t, 3, got[2], "three ticks of 300 ms per message")
}

func TestClaimFarBehindTicksNowWithoutABurst(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 1000)[0]
	b.setFence(t, "r", "due", b.nowMS(t)-30000)
	got := b.claim(t, "r", gen, 0, 1000)
	require.EqualValues(t, 1, got[0])
	require.EqualValues(t, 0, got[1])
	require.InDelta(t, 1000, got[3], 50, "the next one interval from now, not from the missed due time")
}

func TestWatchSeedsARoomOnceAmongManyAdmitters(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	const admitters = 20
	clients := make([]*redis.Client, admitters)
	for i := range clients {
		clients[i] = b.srv.Client()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seeds := 0
	start := make(chan struct{})
	for _, c := range clients {
		wg.Go(func() {
			<-start
			res, err := watchScript.Run(b.ctx, c, []string{loopKey("r")}, 1000, testGrace, testKeep).Slice()
			if err != nil {
				t.Error(err)
				return
			}
			if ints(res)[0] > 0 {
				mu.Lock()
				seeds++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, 1, seeds)
}

func TestWatchLeavesALiveLoopAndReseedsASilentOne(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 1000)[0]
	b.claim(t, "r", gen, 0, 1000)
	require.Equal(t, []int64{0}, b.watch(t, "r", 1000), "a live loop")

	// Next tick due 1 s ago: late, but within the visibility timeout.
	now := b.nowMS(t)
	b.setFence(t, "r", "due", now-1000, "beat", now-2000)
	require.Equal(t, []int64{0}, b.watch(t, "r", 1000), "a loop late by less than the grace")

	// Due longer ago than the grace: silent.
	b.setFence(t, "r", "due", now-testGrace-100, "beat", now-testGrace-1100)
	got := b.watch(t, "r", 1000)
	require.Greater(t, got[0], gen, "a new generation")
	require.EqualValues(t, 2, got[1], "re-seeded a silent loop")
	require.Equal(t, []int64{0}, b.claim(t, "r", gen, 1, 1000), "the old loop's message is stale")
	require.EqualValues(t, 1, b.claim(t, "r", got[0], 0, 1000)[0], "the new loop's seed is claimed")
}

func TestWatchReseedsSoonAfterTheIntervalIsShortened(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 900000)[0]
	b.claim(t, "r", gen, 0, 900000) // next message in 15 minutes
	require.Equal(t, []int64{0}, b.watch(t, "r", 900000))
	now := b.nowMS(t)
	b.setFence(t, "r", "beat", now-2000-testGrace-100)
	require.Equal(t, []int64{0}, b.watch(t, "r", 900000), "still live at the old interval")
	require.Greater(t, b.watch(t, "r", 1000)[0], gen, "silent at the new one")
}

func TestGenerationsNeverRepeatOnceTheLoopEnds(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 1000)[0]
	res, err := endScript.Run(b.ctx, b.rdb, []string{loopKey("r")}, gen-1).Int64()
	require.NoError(t, err)
	require.Zero(t, res, "another generation's end leaves the loop")
	res, err = endScript.Run(b.ctx, b.rdb, []string{loopKey("r")}, gen).Int64()
	require.NoError(t, err)
	require.EqualValues(t, 1, res)
	require.Zero(t, b.rdb.Exists(b.ctx, loopKey("r")).Val(), "the fence is removed")

	again := b.watch(t, "r", 1000)[0]
	require.Greater(t, again, gen)
	require.Equal(t, []int64{0}, b.claim(t, "r", gen, 0, 1000), "the ended loop's message stays stale")
}

func TestFenceExpiresWithoutItsLoop(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 1000)[0]
	b.claim(t, "r", gen, 0, 1000)
	ttl := b.rdb.PTTL(b.ctx, loopKey("r")).Val()
	require.InDelta(t, float64(1000+testKeep), float64(ttl.Milliseconds()), 100)
}

func TestDueHandsEachTickToOneCaller(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wins []int64
	var waits []int64
	start := make(chan struct{})
	for range 20 {
		c := b.srv.Client()
		wg.Go(func() {
			<-start
			res, err := dueScript.Run(b.ctx, c, []string{timerKey("r")}, 1000, testKeep).Slice()
			if err != nil {
				t.Error(err)
				return
			}
			r := ints(res)
			mu.Lock()
			defer mu.Unlock()
			if r[0] == 1 {
				wins = append(wins, r[1])
			} else {
				waits = append(waits, r[1])
			}
		})
	}
	close(start)
	wg.Wait()
	require.Len(t, wins, 1)
	require.InDelta(t, 1000, wins[0], 50)
	for _, w := range waits {
		require.InDelta(t, 1000, w, 100)
	}
}

func TestDueAnchorsOnTheDueTime(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	due := func(iv int) []int64 {
		res, err := dueScript.Run(b.ctx, b.rdb, []string{timerKey("r")}, iv, testKeep).Slice()
		require.NoError(t, err)
		return ints(res)
	}
	set := func(dueAt, last int64) {
		require.NoError(t, b.rdb.HSet(b.ctx, timerKey("r"), "due", dueAt, "last", last).Err())
	}
	now := b.nowMS(t)
	set(now-100, now-1100)
	got := due(1000)
	require.EqualValues(t, 1, got[0])
	require.InDelta(t, 900, got[1], 50, "one interval after the due time, not after now")

	now = b.nowMS(t)
	set(now-600, now-850)
	got = due(250)
	require.EqualValues(t, 1, got[0])
	require.InDelta(t, -350, got[1], 50, "late by under a second: the next is due at once, caught up")

	now = b.nowMS(t)
	set(now-30000, now-31000)
	require.InDelta(t, 1000, due(1000)[1], 50, "far behind: one interval from now, no burst")

	now = b.nowMS(t)
	set(now+800000, now-2000)
	require.EqualValues(t, 1, due(1000)[0], "a shortened interval holds at once")

	got = due(1000)
	require.EqualValues(t, 0, got[0])
	require.InDelta(t, 1000, got[1], 50)
}

func TestDelaySeconds(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    time.Duration
		most int32
		want int32
	}{
		{-time.Second, 900, 0},
		{0, 900, 0},
		{800 * time.Millisecond, 900, 0},
		{900 * time.Millisecond, 900, 1},
		{1000 * time.Millisecond, 900, 1},
		{1890 * time.Millisecond, 900, 1},
		{1910 * time.Millisecond, 900, 2},
		{901 * time.Second, 900, 900},
		{20 * time.Hour, 43200, 43200},
	} {
		require.Equal(t, c.want, delaySeconds(c.d, c.most), "%s", c.d)
	}
}

func TestScriptsRunOnACluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rdb := redistest.StartCluster(t).Client()
	store := queue.New(rdb, queue.Options{})
	// Many rooms, so the pipeline spans every node; the scripts are not
	// loaded yet, so every call meets NOSCRIPT first.
	var calls []queue.ScriptCall
	for i := range 30 {
		calls = append(calls, queue.ScriptCall{Keys: []string{loopKey(fmt.Sprint("room-", i))}, Args: []any{1000, testGrace, testKeep}})
	}
	vals, errs := store.RunScript(ctx, watchScript, calls...)
	for i := range calls {
		require.NoError(t, errs[i])
		r := ints(vals[i])
		require.Positive(t, r[0])
		res, err := claimScript.Run(ctx, rdb, calls[i].Keys, r[0], 0, 1000, holdMS, testKeep).Slice()
		require.NoError(t, err)
		require.EqualValues(t, 1, ints(res)[0])
	}
	vals, errs = store.RunScript(ctx, dueScript,
		queue.ScriptCall{Keys: []string{timerKey("a")}, Args: []any{1000, testKeep}},
		queue.ScriptCall{Keys: []string{timerKey("b")}, Args: []any{1000, testKeep}})
	for i := range vals {
		require.NoError(t, errs[i])
		require.EqualValues(t, 1, ints(vals[i])[0])
	}
	gen, err := rdb.HGet(ctx, loopKey("room-0"), "gen").Result()
	require.NoError(t, err)
	_, err = strconv.ParseInt(gen, 10, 64)
	require.NoError(t, err, "gen is stored as a plain integer")
}
