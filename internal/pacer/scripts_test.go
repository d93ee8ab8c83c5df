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

	"github.com/waitroom/waitroom/internal/luascript"
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
	ctx := t.Context()
	srv := redistest.Start(t)
	return scriptBundle{ctx: ctx, srv: srv, rdb: srv.Client()}
}

func (b scriptBundle) watch(t *testing.T, room string, iv int) watchReply {
	t.Helper()
	res, err := luascript.Do[watchReply](b.ctx, b.rdb, watchScript, []string{loopKey(room)}, iv, testGrace, testKeep)
	require.NoError(t, err)
	return res
}

func (b scriptBundle) claim(t *testing.T, room string, gen, seq int64, iv int) claimReply {
	t.Helper()
	res, err := luascript.Do[claimReply](b.ctx, b.rdb, claimScript, []string{loopKey(room)}, gen, seq, iv, holdMS, testKeep)
	require.NoError(t, err)
	return res
}

// live and stale are the replies of watch.lua for a live loop and of
// claim.lua for a stale message.
var (
	live  = watchReply{Loop: loopLive}
	stale = claimReply{Outcome: claimStale}
)

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
	gen := seeded.Gen
	require.Positive(t, gen)
	require.Equal(t, loopNew, seeded.Loop, "a new loop")

	got := b.claim(t, "r", gen, 0, 1000)
	require.Equal(t, claimed, got.Outcome, "the seed message is claimed")
	require.EqualValues(t, 0, got.WaitMS, "and ticks at once")
	require.EqualValues(t, 1, got.Ticks, "one tick per message at 1 s")
	require.InDelta(t, 1000, got.NextMS, 50, "the next is due one interval later")

	require.Equal(t, stale, b.claim(t, "r", gen, 0, 1000), "a duplicate of the claimed message")
	require.Equal(t, stale, b.claim(t, "r", gen-1, 1, 1000), "an older generation")
	require.Equal(t, stale, b.claim(t, "r", gen, 5, 1000), "a sequence number from nowhere")
	require.Equal(t, stale, b.claim(t, "nowhere", 1, 0, 1000), "a room without a loop")

	got = b.claim(t, "r", gen, 1, 1000)
	require.Equal(t, claimed, got.Outcome, "the next message, arriving early, is claimed")
	require.InDelta(t, 1000, got.WaitMS, 50, "and waits for its due time")
	require.InDelta(t, 2000, got.NextMS, 50, "anchored on the due time")
}

func TestClaimPutsBackAMessageDueLater(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 1000).Gen
	b.setFence(t, "r", "due", b.nowMS(t)+10000)
	got := b.claim(t, "r", gen, 0, 1000)
	require.Equal(t, claimEarly, got.Outcome)
	require.InDelta(t, 10000, got.WaitMS, 50)
	// Put back, not consumed: once due, the same message is claimed.
	b.setFence(t, "r", "due", b.nowMS(t))
	require.Equal(t, claimed, b.claim(t, "r", gen, 0, 1000).Outcome)
}

func TestClaimRunsTheTicksDueWithinTheSecond(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 250).Gen
	got := b.claim(t, "r", gen, 0, 250)
	require.EqualValues(t, 4, got.Ticks, "four ticks of 250 ms per message")
	require.InDelta(t, 1000, got.NextMS, 50)
	got = b.claim(t, "r", gen, 1, 300)
	require.EqualValues(t, 3, got.Ticks, "three ticks of 300 ms per message")
}

// A message claimed late (a redelivery after a crash or a cut receive)
// ticks at once; late by more than half an interval, the time lost stays
// lost: catching up would crowd the next message's ticks behind its own.
func TestClaimLateTicksNowWithoutACatchUpBurst(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name           string
		iv, late, next int
	}{
		{"far behind", 1000, 30000, 1000},
		{"redelivered after a visibility timeout of 1 s", 200, 850, 1000},
		{"late by under half an interval: anchored on the due time", 200, 80, 920},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := setupScripts(t)
			gen := b.watch(t, "r", c.iv).Gen
			b.setFence(t, "r", "due", b.nowMS(t)-int64(c.late))
			got := b.claim(t, "r", gen, 0, c.iv)
			require.Equal(t, claimed, got.Outcome)
			require.EqualValues(t, 0, got.WaitMS)
			require.InDelta(t, c.next, got.NextMS, 30, "the next message due")
		})
	}
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
			res, err := luascript.Do[watchReply](b.ctx, c, watchScript, []string{loopKey("r")}, 1000, testGrace, testKeep)
			if err != nil {
				t.Error(err)
				return
			}
			if res.Gen > 0 {
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
	gen := b.watch(t, "r", 1000).Gen
	b.claim(t, "r", gen, 0, 1000)
	require.Equal(t, live, b.watch(t, "r", 1000), "a live loop")

	// Next tick due 1 s ago: late, but within the visibility timeout.
	now := b.nowMS(t)
	b.setFence(t, "r", "due", now-1000, "beat", now-2000)
	require.Equal(t, live, b.watch(t, "r", 1000), "a loop late by less than the grace")

	// Due longer ago than the grace: silent.
	b.setFence(t, "r", "due", now-testGrace-100, "beat", now-testGrace-1100)
	got := b.watch(t, "r", 1000)
	require.Greater(t, got.Gen, gen, "a new generation")
	require.Equal(t, loopSilent, got.Loop, "re-seeded a silent loop")
	require.Equal(t, stale, b.claim(t, "r", gen, 1, 1000), "the old loop's message is stale")
	require.Equal(t, claimed, b.claim(t, "r", got.Gen, 0, 1000).Outcome, "the new loop's seed is claimed")
}

func TestWatchReseedsSoonAfterTheIntervalIsShortened(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 900000).Gen
	b.claim(t, "r", gen, 0, 900000) // next message in 15 minutes
	require.Equal(t, live, b.watch(t, "r", 900000))
	now := b.nowMS(t)
	b.setFence(t, "r", "beat", now-2000-testGrace-100)
	require.Equal(t, live, b.watch(t, "r", 900000), "still live at the old interval")
	require.Greater(t, b.watch(t, "r", 1000).Gen, gen, "silent at the new one")
}

func TestGenerationsNeverRepeatOnceTheLoopEnds(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 1000).Gen
	res, err := luascript.Do[endReply](b.ctx, b.rdb, endScript, []string{loopKey("r")}, gen-1)
	require.NoError(t, err)
	require.False(t, res.Ended, "another generation's end leaves the loop")
	res, err = luascript.Do[endReply](b.ctx, b.rdb, endScript, []string{loopKey("r")}, gen)
	require.NoError(t, err)
	require.True(t, res.Ended)
	require.Zero(t, b.rdb.Exists(b.ctx, loopKey("r")).Val(), "the fence is removed")

	again := b.watch(t, "r", 1000).Gen
	require.Greater(t, again, gen)
	require.Equal(t, stale, b.claim(t, "r", gen, 0, 1000), "the ended loop's message stays stale")
}

func TestFenceExpiresWithoutItsLoop(t *testing.T) {
	t.Parallel()
	b := setupScripts(t)
	gen := b.watch(t, "r", 1000).Gen
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
			r, err := luascript.Do[dueReply](b.ctx, c, dueScript, []string{timerKey("r")}, 1000, testKeep)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if r.Due {
				wins = append(wins, r.NextMS)
			} else {
				waits = append(waits, r.NextMS)
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
	due := func(iv int) dueReply {
		res, err := luascript.Do[dueReply](b.ctx, b.rdb, dueScript, []string{timerKey("r")}, iv, testKeep)
		require.NoError(t, err)
		return res
	}
	set := func(dueAt, last int64) {
		require.NoError(t, b.rdb.HSet(b.ctx, timerKey("r"), "due", dueAt, "last", last).Err())
	}
	now := b.nowMS(t)
	set(now-100, now-1100)
	got := due(1000)
	require.True(t, got.Due)
	require.InDelta(t, 900, got.NextMS, 50, "one interval after the due time, not after now")

	now = b.nowMS(t)
	set(now-100, now-350)
	got = due(250)
	require.True(t, got.Due)
	require.InDelta(t, 150, got.NextMS, 30, "late by under half an interval: anchored on the due time")

	now = b.nowMS(t)
	set(now-600, now-850)
	got = due(250)
	require.True(t, got.Due)
	require.InDelta(t, 250, got.NextMS, 30, "late by more: one interval from now, the lost time not caught up")

	now = b.nowMS(t)
	set(now-30000, now-31000)
	require.InDelta(t, 1000, due(1000).NextMS, 50, "far behind: one interval from now, no burst")

	now = b.nowMS(t)
	set(now+800000, now-2000)
	require.True(t, due(1000).Due, "a shortened interval holds at once")

	got = due(1000)
	require.False(t, got.Due)
	require.InDelta(t, 1000, got.NextMS, 50)
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
	var calls []luascript.Call
	for i := range 30 {
		calls = append(calls, luascript.Call{Keys: []string{loopKey(fmt.Sprint("room-", i))}, Args: []any{1000, testGrace, testKeep}})
	}
	vals, errs := store.RunScript(ctx, watchScript, calls...)
	for i := range calls {
		r, err := luascript.Decode[watchReply](watchScript, vals[i], errs[i])
		require.NoError(t, err)
		require.Positive(t, r.Gen)
		res, err := luascript.Do[claimReply](ctx, rdb, claimScript, calls[i].Keys, r.Gen, 0, 1000, holdMS, testKeep)
		require.NoError(t, err)
		require.Equal(t, claimed, res.Outcome)
	}
	vals, errs = store.RunScript(ctx, dueScript,
		luascript.Call{Keys: []string{timerKey("a")}, Args: []any{1000, testKeep}},
		luascript.Call{Keys: []string{timerKey("b")}, Args: []any{1000, testKeep}})
	for i := range vals {
		r, err := luascript.Decode[dueReply](dueScript, vals[i], errs[i])
		require.NoError(t, err)
		require.True(t, r.Due)
	}
	gen, err := rdb.HGet(ctx, loopKey("room-0"), "gen").Result()
	require.NoError(t, err)
	_, err = strconv.ParseInt(gen, 10, 64)
	require.NoError(t, err, "gen is stored as a plain integer")
}
