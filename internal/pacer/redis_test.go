package pacer_test

// The pacers on a real Redis (and the SQS loop on the SQS emulator): what
// is tested is their fencing in Redis, which lets any number of admitters
// tick each room once per interval (lua/due.lua; lua/claim.lua and
// watch.lua), and the loop through SQS. The in-process pacer's own logic is
// tested on a Store in memory in local_memory_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer"
	"github.com/waitroom/waitroom/internal/pacer/pacertest"
	"github.com/waitroom/waitroom/internal/pacer/sqstest"
	"github.com/waitroom/waitroom/pkg/queue"
)

// fence reads a room's SQS loop fence: the message the loop expects next.
func (b *bundle) fence(t *testing.T, room string) (gen, seq int64, ok bool) {
	t.Helper()
	h, err := b.srv.Client().HGetAll(b.ctx, "wr:{"+room+"}:loop").Result()
	require.NoError(t, err)
	if len(h) == 0 {
		return 0, 0, false
	}
	gen, _ = strconv.ParseInt(h["gen"], 10, 64)
	seq, _ = strconv.ParseInt(h["seq"], 10, 64)
	return gen, seq, true
}

// send puts a loop message on the queue, as a duplicate delivery would.
func send(t *testing.T, c *sqs.Client, url string, m pacer.LoopMessage) {
	t.Helper()
	body, err := json.Marshal(m)
	require.NoError(t, err)
	_, err = c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(string(body))})
	require.NoError(t, err)
}

// queued is how many messages the queue holds: visible, in flight and delayed.
func queued(t *testing.T, c *sqs.Client, url string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	require.NoError(t, err)
	n := 0
	for _, v := range out.Attributes {
		i, _ := strconv.Atoi(v)
		n += i
	}
	return n
}

// sqsTicking creates a counting room, starts an SQS pacer on a queue of the
// test's own, and waits for the room's first tick.
func (b *bundle) sqsTicking(t *testing.T, room string, intervalMS int) (c *sqs.Client, url string, stop func()) {
	t.Helper()
	c, url = sqstest.Queue(t)
	b.countingRoom(t, room, intervalMS)
	stop = b.sqsPacer(t, c, url, pacer.SQSOptions{})
	b.waitTicking(t, room, 5*time.Second)
	return c, url, stop
}

func TestLocalTwoPacersTickEachRoomOncePerInterval(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.countingRoom(t, "second", 1000)
	b.countingRoom(t, "quarter", 250)
	b.localPacer(t, pacer.LocalOptions{})
	b.localPacer(t, pacer.LocalOptions{})

	var wg sync.WaitGroup
	var second, quarter int64
	wg.Go(func() { second = b.countTicks(t, "second", 10*time.Second) })
	wg.Go(func() { quarter = b.countTicks(t, "quarter", 5*time.Second) })
	wg.Wait()
	pacertest.Within(t, second, 10, 1, "ticks in 10 s at 1 s, two pacers")
	pacertest.Within(t, quarter, 20, 1, "ticks in 5 s at 250 ms, two pacers")
}

func TestSQSMessagesThatAreNotTheOneTheLoopExpectsRunNoExtraTick(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// send sends the messages, as at-least-once delivery or an old
		// admitter might, for want seconds.
		send func(t *testing.T, b *bundle, c *sqs.Client, url string)
		want int64
	}{
		{"copies of the message expected next and of the one just consumed", func(t *testing.T, b *bundle, c *sqs.Client, url string) {
			for range 20 {
				gen, seq, ok := b.fence(t, "r")
				require.True(t, ok)
				send(t, c, url, pacer.LoopMessage{Room: "r", Gen: gen, Seq: seq})
				send(t, c, url, pacer.LoopMessage{Room: "r", Gen: gen, Seq: seq - 1})
				time.Sleep(500 * time.Millisecond)
			}
		}, 10},
		{"stale generations and a sequence number from nowhere", func(t *testing.T, b *bundle, c *sqs.Client, url string) {
			gen, seq, _ := b.fence(t, "r")
			for i := range 10 {
				send(t, c, url, pacer.LoopMessage{Room: "r", Gen: gen - 1 - int64(i), Seq: seq})
			}
			send(t, c, url, pacer.LoopMessage{Room: "r", Gen: gen, Seq: seq + 5})
			time.Sleep(5 * time.Second)
		}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			c, url, _ := b.sqsTicking(t, "r", 1000)
			c0 := b.admitted(t, "r")
			tc.send(t, b, c, url)
			pacertest.Within(t, b.admitted(t, "r")-c0, tc.want, 1, "ticks at 1 s")
			// The others were deleted: only the loop's own message is left.
			require.Eventually(t, func() bool { return queued(t, c, url) == 1 }, 5*time.Second, 100*time.Millisecond)
		})
	}
}

func TestSQSPauseStopsAdmissionsAndResumeRestartsThem(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.sqsTicking(t, "pause", 500)

	yes, no := true, false
	_, _, err := b.store.PutRoom(b.ctx, "pause", queue.ConfigPatch{Paused: &yes})
	require.NoError(t, err)
	paused := b.admitted(t, "pause")
	time.Sleep(3 * time.Second)
	require.Equal(t, paused, b.admitted(t, "pause"), "admissions while paused")

	_, _, err = b.store.PutRoom(b.ctx, "pause", queue.ConfigPatch{Paused: &no})
	require.NoError(t, err)
	time.Sleep(3 * time.Second)
	pacertest.Within(t, b.admitted(t, "pause")-paused, 6, 1, "ticks in 3 s at 500 ms after resume")
}

func TestSQSBatchSizeChangeHoldsFromTheNextTick(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.sqsTicking(t, "batch", 1000)

	events := make(chan queue.Delivery, 100)
	sub, err := b.store.Subscribe(b.ctx, "batch", events)
	require.NoError(t, err)
	defer sub.Close()
	_, _, err = b.store.PutRoom(b.ctx, "batch", queue.ConfigPatch{BatchSize: new(5)})
	require.NoError(t, err)

	// Events come in order: ticks of batch 1, the config event, then ticks
	// of batch 5.
	seenConfig := false
	deadline := time.After(5 * time.Second)
	for {
		select {
		case d := <-events:
			require.NoError(t, d.Err)
			ev := d.Event
			switch {
			case ev.Kind == queue.EventConfig:
				seenConfig = true
			case ev.Kind == queue.EventTick && !seenConfig:
				require.Len(t, ev.Admitted, 1)
			case ev.Kind == queue.EventTick:
				require.Len(t, ev.Admitted, 5, "the first tick after the change")
				return
			}
		case <-deadline:
			t.Fatal("no tick within 5 s of the change")
		}
	}
}

func TestSQSDeletedRoomLoopEndsAndNewRoomTicksWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, url := sqstest.Queue(t)
	b.sqsPacer(t, c, url, pacer.SQSOptions{})
	time.Sleep(500 * time.Millisecond) // the pacer is up and idle

	b.countingRoom(t, "fresh", 1000)
	took := b.waitTicking(t, "fresh", 3*time.Second)
	require.Less(t, took, 2500*time.Millisecond, "first tick of a new room")

	require.NoError(t, b.store.DeleteRoom(b.ctx, "fresh"))
	require.Eventually(t, func() bool {
		_, _, ok := b.fence(t, "fresh")
		return !ok && queued(t, c, url) == 0
	}, 5*time.Second, 100*time.Millisecond, "the deleted room's fence and message are gone")
	// And it stays ended.
	time.Sleep(2 * time.Second)
	require.Zero(t, queued(t, c, url))
}

func TestSQSSubSecondIntervalKeepsItsPace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, url := sqstest.Queue(t)
	b.countingRoom(t, "quick", 250)
	b.sqsPacer(t, c, url, pacer.SQSOptions{})
	b.sqsPacer(t, c, url, pacer.SQSOptions{})
	pacertest.Within(t, b.countTicks(t, "quick", 5*time.Second), 20, 1, "ticks in 5 s at 250 ms, two admitters")
}

func TestSQSLostMessageIsReseeded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, url, stop := b.sqsTicking(t, "lost", 1000)
	stop() // hands the loop on: its message waits in the queue
	gen, _, _ := b.fence(t, "lost")

	_, err := c.PurgeQueue(b.ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)})
	require.NoError(t, err)
	require.Zero(t, queued(t, c, url))
	lostAt := time.Now()
	c0 := b.admitted(t, "lost")
	b.sqsPacer(t, c, url, pacer.SQSOptions{})
	require.Eventually(t, func() bool { return b.admitted(t, "lost") > c0 }, 10*time.Second, 50*time.Millisecond)
	// interval 1 s + visibility timeout 2 s + slack 1 s, a watchdog pass
	// (1 s) and some leeway for a busy machine.
	require.Less(t, time.Since(lostAt), 7*time.Second, "a lost loop is dead at most interval + visibility timeout (+ slack)")
	newGen, _, _ := b.fence(t, "lost")
	require.Greater(t, newGen, gen)
	pacertest.Within(t, b.countTicks(t, "lost", 4*time.Second), 4, 1, "ticks in 4 s after the re-seed")
}

// cutReceive is the emulator's client with one receive cut after SQS handed
// out its messages, as a dropped connection does: they stay hidden for the
// visibility timeout and then come back, late.
type cutReceive struct {
	*sqs.Client
	armed atomic.Bool
	cut   atomic.Int64 // messages lost with the cut receive
}

func (c *cutReceive) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := c.Client.ReceiveMessage(ctx, in, opts...)
	if err == nil && len(out.Messages) > 0 && c.armed.CompareAndSwap(true, false) {
		c.cut.Add(int64(len(out.Messages)))
		return nil, errors.New("read tcp: connection reset by peer (cut by the test)")
	}
	return out, err
}

// mostIn is the most of times (sorted) that fall in any window of d.
func mostIn(times []time.Time, d time.Duration) (most int, from time.Time) {
	for i, a := range times {
		n := sort.Search(len(times), func(j int) bool { return times[j].Sub(a) > d }) - i
		if n > most {
			most, from = n, a
		}
	}
	return most, from
}

// The loop's message is received and the receive's connection cut before
// the admitter has it: the message comes back a visibility timeout later,
// most of a second past its due time. The room then ticks at once and goes
// on at its pace: it never catches up the lost time, so no 2 s window holds
// more than its pace and one tick.
func TestSQSMessageRedeliveredLateRunsNoBurst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, url := sqstest.Queue(t)
	b.countingRoom(t, "late", 200)
	var mu sync.Mutex
	var ticks []time.Time
	client := &cutReceive{Client: c}
	b.sqsPacer(t, client, url, pacer.SQSOptions{VisibilityTimeout: time.Second, Options: pacer.Options{
		OnTick: func(string, queue.Event, time.Duration) {
			mu.Lock()
			ticks = append(ticks, time.Now())
			mu.Unlock()
		}}})
	b.waitTicking(t, "late", 5*time.Second)
	time.Sleep(time.Second)
	for range 2 {
		client.armed.Store(true)
		require.Eventually(t, func() bool { return !client.armed.Load() }, 3*time.Second, 10*time.Millisecond, "a receive is cut")
		time.Sleep(3 * time.Second)
	}
	mu.Lock()
	defer mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(ticks); i++ {
		gap = max(gap, ticks[i].Sub(ticks[i-1]))
	}
	most, from := mostIn(ticks, 2*time.Second)
	t.Logf("%d ticks in %s, %d messages cut; longest pause %s; most in 2 s: %d (from %s after the first)",
		len(ticks), ticks[len(ticks)-1].Sub(ticks[0]).Round(time.Millisecond), client.cut.Load(), gap.Round(time.Millisecond),
		most, from.Sub(ticks[0]).Round(time.Millisecond))
	require.Greater(t, gap, 700*time.Millisecond, "the cut receive held the loop up")
	require.LessOrEqual(t, most, 11, "never more than the pace (10 in 2 s) and one tick")
}

func TestNewSQSRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, opt := range []pacer.SQSOptions{
		{},
		{QueueURL: "q", VisibilityTimeout: 1500 * time.Millisecond},
		{QueueURL: "q", VisibilityTimeout: 13 * time.Hour},
		{QueueURL: "q", WaitTime: 21 * time.Second},
		{QueueURL: "q", WaitTime: 1500 * time.Millisecond},
		{QueueURL: "q", Slack: -time.Second},
		{QueueURL: "q", MaxInFlight: -1},
	} {
		// Options are checked before anything is used: no store needed.
		_, err := pacer.NewSQS(nil, sqstest.Client(), opt)
		require.Error(t, err, "%+v", opt)
	}
}
