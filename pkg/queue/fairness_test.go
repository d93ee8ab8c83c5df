package queue

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const fairnessVisitors = 100000

// joinMany joins n visitors from 50 goroutines and returns the tickets in
// join order. The line is not moving while they join, so the position each
// join returns is its place in the order Redis ran the joins: positions
// must come out as exactly 1..n.
func joinMany(t *testing.T, b *bundle, n int) []string {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("%d joins from 50 goroutines in %v", n, time.Since(start)) }()
	order := make([]string, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	per := n / 50
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				st, _, err := b.store.Join(b.ctx, b.room, JoinRequest{})
				mu.Lock()
				switch {
				case err != nil:
					firstErr = err
				case st.State != StateWaiting || st.Position < 1 || st.Position > int64(n) || order[st.Position-1] != "":
					firstErr = errBadJoin(st)
				default:
					order[st.Position-1] = st.Ticket
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, firstErr)
	for i, tk := range order {
		require.NotEmpty(t, tk, "position %d was never handed out", i+1)
	}
	return order
}

type errBadJoin Status

func (e errBadJoin) Error() string { return "join returned an impossible status" }

// admissionLog gathers tick events from any number of tickers and checks,
// after every tick, that the live admissions never exceed capacity.
type admissionLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *admissionLog) add(ev Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// order is every admission in the order the ticks ran (by event version:
// ticks are serialised in Redis, so versions order them).
func (l *admissionLog) order() []string {
	sort.Slice(l.events, func(i, j int) bool { return l.events[i].Version < l.events[j].Version })
	var out []string
	for _, ev := range l.events {
		out = append(out, admittedTickets(ev)...)
	}
	return out
}

func runFairness(t *testing.T, tickers int) {
	const capacity = 3000
	eachReal(t, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(1000), Capacity: new(capacity), AbandonAfterS: new(0)},
		func(t *testing.T, b *bundle) {
			joined := joinMany(t, b, fairnessVisitors)
			log := &admissionLog{}
			var wg sync.WaitGroup
			done := make(chan struct{})
			errs := make(chan error, tickers+1)
			for i := 0; i < tickers; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-done:
							return
						default:
						}
						ev, err := b.store.Tick(b.ctx, b.room)
						if err != nil {
							errs <- err
							return
						}
						if ev.Version > 0 {
							log.add(ev)
						}
					}
				}()
			}
			// Capacity is checked between scripts, from outside, all along;
			// and time is made to pass for admissions so the line moves.
			deadline := time.Now().Add(2 * time.Minute)
			for {
				s, err := b.store.Stats(b.ctx, b.room)
				require.NoError(t, err)
				require.LessOrEqual(t, s.Admitted, int64(capacity), "capacity exceeded")
				if s.Waiting == 0 || time.Now().After(deadline) {
					break
				}
				if s.Admitted == capacity {
					b.expireAdmissions(t)
				}
			}
			close(done)
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			admitted := log.order()
			require.Len(t, admitted, fairnessVisitors, "each ticket admitted, none twice")
			inversions := 0
			for i := range joined {
				if joined[i] != admitted[i] {
					inversions++
				}
			}
			require.Zero(t, inversions, "admission order equals join order")
		})
}

func TestFairnessOneTickerAdmitsInJoinOrderExactlyOnce(t *testing.T) {
	runFairness(t, 1)
}

func TestFairnessFourTickersAtOnceStillExactlyOnceAndWithinCapacity(t *testing.T) {
	runFairness(t, 4)
}
