package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

// join is one join request of the load and what came of it.
type join struct {
	worker   int
	sent     time.Time
	answered time.Time
	status   int    // 0: no HTTP answer
	code     string // the error code of a refusal
	err      error  // transport error
	ticket   string
	position int64
}

// Redis is SIGKILLed while visitors join as fast as one waitroom instance
// lets them, stays down for 2 s, and comes back from its append-only file.
// With appendfsync always the "last fsync window" is empty: Redis writes a
// join to the file before it answers, so every join that got a 201 must
// still be in the line, at exactly the position it was told (nobody is
// admitted, so the line only grows at the back), in the order the 201s came
// back. Meanwhile joins get a quick 503, never a 500 or a hang, and the
// instance recovers by itself: /readyz 200 and joins 201 within 5 s of Redis
// being back, with the same process.
func TestRedisKilledUnderJoinLoadKeepsEveryAcknowledgedPlace(t *testing.T) {
	t.Parallel()
	const room, workers = "rush", 16
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	_, key := testproc.SigningKey(t)
	w := startWaitroom(t, "waitroom", []string{"REDIS_URL=redis://" + srv.Addr() + "/0", "WAITROOM_SIGNING_KEY=" + key})
	pid := w.PID()
	hc := newHTTPClient(t, 10*time.Second)
	// No admitter runs, and nobody is dropped for absence: the line only
	// ever grows at the back, so a place told at join is the place for good.
	putRoom(t, ctx, hc, w.Base, room, map[string]any{"mode": "queue_all", "abandon_after_s": 0, "paused": true})

	// The load: workers join back to back until stopped.
	var mu sync.Mutex
	var joins []join
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for !closed(stopLoad) {
				j := join{worker: i, sent: time.Now()}
				a, err := testproc.Send(ctx, hc, http.MethodPost, w.Base+"/api/rooms/"+room+"/tickets", nil, "")
				j.answered, j.status, j.err = time.Now(), a.Status, err
				switch {
				case err != nil:
				case a.Status == http.StatusCreated:
					st, err := decodeStatus(a)
					if err != nil || st.State != "waiting" || st.Ticket == "" {
						j.err = fmt.Errorf("201 with a body that is no waiting status (%v): %s", err, a)
					}
					j.ticket, j.position = st.Ticket, st.Position
				default:
					j.code = a.ErrorCode()
					// The 503s come at once; a short pause keeps a worker
					// from spinning on them.
					time.Sleep(20 * time.Millisecond)
				}
				mu.Lock()
				joins = append(joins, j)
				mu.Unlock()
			}
		})
	}
	snapshot := func() []join {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(joins)
	}
	created := func(js []join, from, to time.Time) int {
		n := 0
		for _, j := range js {
			if j.status == http.StatusCreated && !j.answered.Before(from) && j.answered.Before(to) {
				n++
			}
		}
		return n
	}

	time.Sleep(1500 * time.Millisecond)
	require.NoError(t, srv.Kill())
	killed := time.Now()
	time.Sleep(2 * time.Second)
	require.NoError(t, srv.Start())
	started := time.Now()

	// Recovery, as a load balancer sees it and as visitors do.
	var readyAfter time.Duration
	require.Eventually(t, func() bool {
		a, err := testproc.Send(ctx, hc, http.MethodGet, w.Base+"/readyz", nil, "")
		if err == nil && a.Status == http.StatusOK {
			readyAfter = time.Since(started)
			return true
		}
		return false
	}, 5*time.Second, 20*time.Millisecond, "/readyz answers 200 within 5 s of Redis being back")
	var joinAfter time.Duration
	require.Eventually(t, func() bool {
		for _, j := range snapshot() {
			if j.status == http.StatusCreated && j.sent.After(started) {
				joinAfter = j.answered.Sub(started)
				return true
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond, "joins answer 201 within 5 s of Redis being back")
	time.Sleep(1500 * time.Millisecond)
	close(stopLoad)
	wg.Wait()
	all := snapshot()
	require.Equal(t, pid, w.PID(), "the same waitroom process, never restarted")
	require.True(t, w.Alive(), "waitroom is still running")

	// What the visitors were answered.
	var acked []join
	var maxDown time.Duration
	counts := map[string]int{}
	for _, j := range all {
		switch {
		case j.err != nil:
			require.Failf(t, "a join failed without an HTTP answer", "worker %d at %s: %v", j.worker, j.sent.Sub(killed), j.err)
		case j.status == http.StatusCreated:
			acked = append(acked, j)
			counts["201"]++
		case j.status == http.StatusServiceUnavailable && j.code == "unavailable":
			counts["503 unavailable"]++
			maxDown = max(maxDown, j.answered.Sub(j.sent))
			require.True(t, j.answered.After(killed) && j.sent.Before(started.Add(5*time.Second)),
				"a 503 only while Redis is down or coming back: sent %s after the kill", j.sent.Sub(killed))
		default:
			require.Failf(t, "a join answered neither 201 nor 503 unavailable", "%d %q, sent %s after the kill", j.status, j.code, j.sent.Sub(killed))
		}
	}
	before, down, after := created(all, time.Time{}, killed), created(all, killed, started), created(all, started, time.Now())
	t.Logf("joins: %v; 201 answered before the kill %d, while it was down %d (replies already on their way), after the restart %d; "+
		"slowest 503 %s; /readyz 200 %s and first 201 %s after Redis was back",
		counts, before, down, after, maxDown.Round(time.Millisecond), readyAfter.Round(time.Millisecond), joinAfter.Round(time.Millisecond))
	require.Greater(t, before, 200, "joins acknowledged before the kill")
	require.Greater(t, after, 200, "joins acknowledged after the restart")
	require.Positive(t, counts["503 unavailable"], "joins refused while Redis was down")
	require.Less(t, maxDown, 2500*time.Millisecond, "a join with Redis down is answered at once")

	// Every acknowledged ticket is in the line at the position it was told.
	tickets := make([]string, len(acked))
	for i, j := range acked {
		tickets[i] = j.ticket
	}
	store := queue.New(srv.Client(), queue.Options{})
	truth, err := store.Positions(ctx, room, tickets)
	require.NoError(t, err)
	seenTicket := map[string]bool{}
	for i, j := range acked {
		require.False(t, seenTicket[j.ticket], "ticket %s handed out twice", j.ticket)
		seenTicket[j.ticket] = true
		tp := truth.Tickets[i]
		require.Equal(t, queue.StateWaiting, tp.State,
			"the join acknowledged %s after the kill (worker %d) lost its place", j.answered.Sub(killed), j.worker)
		require.Equal(t, j.position, tp.Position,
			"the join acknowledged %s after the kill (worker %d) was told position %d, holds %d", j.answered.Sub(killed), j.worker, j.position, tp.Position)
	}
	// In acknowledged order: a join answered before another was sent is
	// ahead of it. Walking the line from the back, keep the earliest answer
	// seen behind.
	byPos := slices.Clone(acked)
	slices.SortFunc(byPos, func(a, b join) int { return int(a.position - b.position) })
	var earliestBehind time.Time
	for i := len(byPos) - 1; i >= 0; i-- {
		j := byPos[i]
		if !earliestBehind.IsZero() {
			require.False(t, earliestBehind.Before(j.sent),
				"position %d was joined after a join behind it had been acknowledged", j.position)
		}
		if earliestBehind.IsZero() || j.answered.Before(earliestBehind) {
			earliestBehind = j.answered
		}
	}
	// The line holds the acknowledged joins and at most the few refused ones
	// that Redis had written before it died (their answer was lost with it).
	extra := truth.Waiting - int64(len(acked))
	t.Logf("line: %d waiting, %d acknowledged, %d written but not acknowledged", truth.Waiting, len(acked), extra)
	require.GreaterOrEqual(t, extra, int64(0))
	require.LessOrEqual(t, extra, int64(workers), "only joins in flight at the kill may be in the line unacknowledged")

	// And each visitor asking waitroom sees the same.
	sem := make(chan struct{}, 16)
	var failures sync.Map
	for _, j := range acked {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			a, err := testproc.Send(ctx, hc, http.MethodGet, w.Base+"/api/rooms/"+room+"/tickets/"+j.ticket, nil, "")
			if err != nil {
				failures.Store(j.ticket, err.Error())
				return
			}
			st, err := decodeStatus(a)
			if a.Status != http.StatusOK || err != nil || st.State != "waiting" || st.Position != j.position || st.Waiting != truth.Waiting {
				failures.Store(j.ticket, fmt.Sprintf("told position %d at join, status now %s", j.position, a))
			}
		})
	}
	wg.Wait()
	failures.Range(func(k, v any) bool {
		t.Errorf("ticket %s: %s", k, v)
		return true
	})
	require.NotContains(t, w.Output(), `"status":500`, "no 500 in the waitroom log")
}
