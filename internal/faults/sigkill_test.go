package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// The room of the SIGKILL test: a long line drained at 50 every 250 ms.
const (
	killRoom     = "drain"
	killBatch    = 50
	killInterval = 250 * time.Millisecond
	killLine     = 2000 // visitors in line before the room opens: 10 s of ticks
)

// killBundle is the product scaled out as production runs it: two waitroom
// instances and two admitters on one Redis, the test's own view of the
// room's events, and the visitors with their pages.
type killBundle struct {
	ctx       context.Context
	store     *queue.Store
	events    *eventLog
	waitrooms [2]*testproc.Server
	admitters [2]*testproc.Process
	http      *http.Client
	verifier  *entrytoken.Verifier

	mu       sync.Mutex
	down     [2]bool // a waitroom instance is killed and not yet back
	visitors []*visitor
	pages    *pages
}

// visitor is one acknowledged ticket and every socket its page opened, the
// live one last. order is its place in the join order, from 0.
type visitor struct {
	ticket string
	order  int
	told   int64 // position at join

	mu      sync.Mutex
	sockets []*socket
	dials   int
}

func (v *visitor) allSockets() []*socket {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.sockets)
}

// admitted lists the admitted messages over all the visitor's sockets.
func (v *visitor) admitted() []testproc.Message {
	var out []testproc.Message
	for _, s := range v.allSockets() {
		for _, m := range s.Messages() {
			if m.Type == "admitted" {
				out = append(out, m)
			}
		}
	}
	return out
}

func setupKill(t *testing.T, pacerName string) *killBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	srv := redistest.Start(t)
	redisEnv := "REDIS_URL=redis://" + srv.Addr() + "/0"
	b := &killBundle{ctx: ctx, store: queue.New(srv.Client(), queue.Options{}), http: newHTTPClient(t, 10*time.Second)}
	b.events = recordEvents(t, ctx, srv.Client(), killRoom)

	_, key := testproc.SigningKey(t)
	for i := range b.waitrooms {
		b.waitrooms[i] = startWaitroom(t, fmt.Sprintf("waitroom-%d", i+1), []string{redisEnv, "WAITROOM_SIGNING_KEY=" + key})
	}
	env := []string{redisEnv, "ADMITTER_METRICS_ADDR=127.0.0.1:0"}
	if pacerName == "sqs" {
		env = append(env, admitterSQSEnv(t, nil)...)
	}
	for i := range b.admitters {
		b.admitters[i] = startAdmitter(t, fmt.Sprintf("admitter-%d", i+1), env)
	}
	b.verifier = jwksVerifier(t, b.http, b.waitrooms[:])
	b.pages = newPages(t, ctx)
	return b
}

// instance returns a waitroom instance that is up, preferring i.
func (b *killBundle) instance(i int) (int, *testproc.Server) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down[i%2] {
		i++
	}
	return i % 2, b.waitrooms[i%2]
}

func (b *killBundle) add(v *visitor) {
	b.mu.Lock()
	b.visitors = append(b.visitors, v)
	b.mu.Unlock()
}

func (b *killBundle) all() []*visitor {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.visitors)
}

// page keeps the visitor's socket open as the waiting page does: when it
// drops before the visitor was admitted, it reconnects after a short pause
// through whichever instance the load balancer offers; once admitted, the
// page goes on to the booking site and the socket is no longer needed.
func (b *killBundle) page(v *visitor, first int) {
	b.pages.keep(first, func(ctx context.Context, pick int) (int, *socket, error) {
		i, w := b.instance(pick)
		v.mu.Lock()
		v.dials++
		v.mu.Unlock()
		s, err := dialSocket(ctx, w.Addr, w.Name, killRoom, v.ticket)
		return i, s, err
	}, func(s *socket) bool {
		v.mu.Lock()
		v.sockets = append(v.sockets, s)
		v.mu.Unlock()
		// Once admitted, the socket stays open: a second admission would
		// show on it.
		return !s.WaitFor("admitted")
	})
}

// joinLine has n visitors join the paused room through both instances at
// once; the place each is told is its place for good, so it is the join
// order.
func (b *killBundle) joinLine(t *testing.T, n int) {
	t.Helper()
	told := make([]testproc.TicketStatus, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			a, err := testproc.Send(b.ctx, b.http, http.MethodPost, b.waitrooms[i%2].Base+"/api/rooms/"+killRoom+"/tickets", nil, "")
			if err == nil && a.Status != http.StatusCreated {
				err = fmt.Errorf("join: %s", a)
			}
			if err == nil {
				told[i], err = decodeStatus(a)
			}
			if err != nil {
				failed.Store(err)
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		require.NoError(t, err)
	}
	slices.SortFunc(told, func(x, y testproc.TicketStatus) int { return int(x.Position - y.Position) })
	for i, st := range told {
		require.EqualValues(t, i+1, st.Position, "the paused line is numbered 1..%d", n)
		v := &visitor{ticket: st.Ticket, order: i, told: st.Position}
		b.add(v)
		b.page(v, i%2)
	}
}

// The whole product drains a long line while, over and over, an admitter is
// SIGKILLed at a random point of its tick cycle and a waitroom instance is
// SIGKILLed a few milliseconds after a tick, in the middle of pushing it to
// its sockets; each comes back a moment later, and meanwhile more visitors
// join. Every page reconnects as the real one does. In the end every visitor
// was admitted exactly once, nobody was lost, the admissions followed the
// join order, and Redis, the room's events, each visitor's HTTP status and
// each socket tell the same story.
func TestSIGKILLMidTickAndMidPushAdmitsEveryoneOnceInOrder(t *testing.T) {
	t.Parallel()
	for _, pacerName := range []string{"local", "sqs"} {
		t.Run(pacerName+" pacer", func(t *testing.T) {
			t.Parallel()
			testSIGKILL(t, pacerName)
		})
	}
}

func testSIGKILL(t *testing.T, pacerName string) {
	b := setupKill(t, pacerName)
	putRoom(t, b.ctx, b.http, b.waitrooms[0].Base, killRoom, map[string]any{
		"mode": "queue_all", "capacity": 0, "batch_size": killBatch, "interval_ms": int(killInterval / time.Millisecond),
		"session_ttl_s": 3600, "abandon_after_s": 0, "paused": true,
	})
	b.joinLine(t, killLine)
	for _, v := range b.all() {
		require.Eventually(t, func() bool {
			for _, s := range v.allSockets() {
				if _, ok := s.Last(); ok {
					return true
				}
			}
			return false
		}, 10*time.Second, 10*time.Millisecond, "visitor %d: a first message", v.order+1)
		m, _ := v.allSockets()[0].Last()
		require.Equal(t, "position", m.Type, "visitor %d", v.order+1)
		require.Equal(t, v.told, m.Position, "visitor %d: first position", v.order+1)
	}

	// More visitors join, one after the other, while the faults go on.
	joinerDone := make(chan struct{})
	var unacked atomic.Int64 // joins without an answer: Redis may hold them
	stopJoining := make(chan struct{})
	go func() {
		defer close(joinerDone)
		for k := 0; !closed(stopJoining); k++ {
			i, w := b.instance(k)
			a, err := testproc.Send(b.ctx, b.http, http.MethodPost, w.Base+"/api/rooms/"+killRoom+"/tickets", nil, "")
			switch {
			case err != nil:
				unacked.Add(1)
			case a.Status == http.StatusCreated:
				st, err := decodeStatus(a)
				if err == nil {
					v := &visitor{ticket: st.Ticket, order: len(b.all()), told: st.Position}
					b.add(v)
					b.page(v, i)
				}
			default:
				unacked.Add(1)
				t.Errorf("a join during the faults answered %s", a)
			}
			time.Sleep(40 * time.Millisecond)
		}
	}()

	v0 := b.events.latest.Load()
	putRoom(t, b.ctx, b.http, b.waitrooms[1].Base, killRoom, map[string]any{"paused": false})
	opened := time.Now()

	// The faults: alternately an admitter and a waitroom instance, each
	// right after a tick event, until the initial line is nearly through.
	var kills []string
	after := v0
	for k := 0; ; k++ {
		st, err := b.store.Stats(b.ctx, killRoom)
		require.NoError(t, err)
		if len(kills) == 10 || st.Waiting < 2*killBatch || time.Since(opened) > 30*time.Second {
			break
		}
		after, err = b.events.next(b.ctx, after)
		require.NoError(t, err, "the room ticks")
		if k%2 == 0 {
			i := rand.IntN(2)
			time.Sleep(rand.N(killInterval)) // anywhere in the tick cycle
			b.admitters[i].Kill()
			kills = append(kills, fmt.Sprintf("admitter-%d@%s", i+1, time.Since(opened).Round(time.Millisecond)))
			require.NoError(t, b.admitters[i].Start())
		} else {
			i := rand.IntN(2)
			time.Sleep(rand.N(10 * time.Millisecond)) // while it pushes the tick
			b.mu.Lock()
			b.down[i] = true
			b.mu.Unlock()
			b.waitrooms[i].Kill()
			kills = append(kills, fmt.Sprintf("waitroom-%d@%s", i+1, time.Since(opened).Round(time.Millisecond)))
			time.Sleep(300 * time.Millisecond) // its pages reconnect to the other
			require.NoError(t, b.waitrooms[i].Restart(20*time.Second))
			b.mu.Lock()
			b.down[i] = false
			b.mu.Unlock()
		}
		time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond)
	}
	close(stopJoining)
	<-joinerDone
	t.Logf("%s pacer: %d SIGKILLs: %v", pacerName, len(kills), kills)
	require.GreaterOrEqual(t, len(kills), 6, "several kills of each")

	// Everybody gets through.
	var st queue.Stats
	require.Eventually(t, func() bool {
		var err error
		st, err = b.store.Stats(b.ctx, killRoom)
		return err == nil && st.Waiting == 0
	}, 30*time.Second, 50*time.Millisecond, "the line drains")
	drained := time.Since(opened)
	vs := b.all()
	done := make(chan struct{})
	go func() { b.pages.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		for _, v := range vs {
			if len(v.admitted()) == 0 {
				t.Errorf("visitor %d (%d dials) never told of its admission", v.order+1, v.dials)
			}
		}
		t.FailNow()
	}
	time.Sleep(500 * time.Millisecond) // a duplicate admission would have arrived

	// The events: contiguous versions, each admission once, in join order,
	// never more than a batch per tick nor more ticks than the pace allows.
	events, bad := b.events.all()
	require.Empty(t, bad, "unparsable events")
	admittedAt := map[string]queue.Admission{}
	var order []string
	ticks := 0
	for i, ev := range events {
		if i > 0 {
			require.Equal(t, events[i-1].Version+1, ev.Version, "the room's events are contiguous")
		}
		require.LessOrEqual(t, len(ev.Admitted), killBatch, "event %d admitted more than a batch", ev.Version)
		if len(ev.Admitted) > 0 {
			ticks++
		}
		for _, a := range ev.Admitted {
			prev, twice := admittedAt[a.Ticket]
			require.False(t, twice, "ticket %s admitted twice: at %s and at %s", a.Ticket, prev.Ends(), a.Ends())
			admittedAt[a.Ticket] = a
			order = append(order, a.Ticket)
		}
	}
	require.LessOrEqual(t, ticks, int(drained/killInterval)+2, "admitting ticks in %s at one per %s", drained, killInterval)
	require.EqualValues(t, len(admittedAt), st.AdmittedTotal, "Redis counted each admission once")
	require.EqualValues(t, len(admittedAt), st.Admitted, "every admission is live")
	extra := len(admittedAt) - len(vs)
	require.GreaterOrEqual(t, extra, 0)
	require.LessOrEqual(t, int64(extra), unacked.Load(), "only joins whose answer was lost may be admitted unacknowledged")
	ours := map[string]bool{}
	for _, v := range vs {
		ours[v.ticket] = true
	}
	var got []string
	for _, tk := range order {
		if ours[tk] {
			got = append(got, tk)
		}
	}
	want := make([]string, len(vs))
	for i, v := range vs {
		require.Equal(t, i, v.order)
		want[i] = v.ticket
	}
	require.Equal(t, len(want), len(got), "every acknowledged visitor admitted")
	for i := range want {
		require.Equal(t, want[i], got[i], "admission %d is not the %d-th visitor to join", i+1, i+1)
	}

	// Redis, the HTTP status and every socket agree with the events.
	tickets := make([]string, len(vs))
	for i, v := range vs {
		tickets[i] = v.ticket
	}
	truth, err := b.store.Positions(b.ctx, killRoom, tickets)
	require.NoError(t, err)
	var dials, reconnected, twiceTold, toldOnConnect int
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var failures sync.Map
	for i, v := range vs {
		a := admittedAt[v.ticket]
		require.Equal(t, queue.StateAdmitted, truth.Tickets[i].State, "visitor %d", v.order+1)
		require.True(t, a.Ends().Equal(truth.Tickets[i].AdmissionEnds), "visitor %d: admission end", v.order+1)
		wantExp := a.Ends().Format(time.RFC3339)

		dials += v.dials
		if v.dials > 1 {
			reconnected++
		}
		adm := v.admitted()
		if len(adm) > 1 {
			twiceTold++
		}
		require.NotEmpty(t, adm, "visitor %d was told of its admission", v.order+1)
		for _, s := range v.allSockets() {
			n := 0
			for _, m := range s.Messages() {
				if m.Type == "admitted" {
					n++
				}
			}
			require.LessOrEqual(t, n, 1, "visitor %d on %s: admitted messages on one socket", v.order+1, s.via)
		}
		for _, m := range adm {
			require.Equal(t, wantExp, m.ExpiresAt, "visitor %d: every admitted message is the one admission", v.order+1)
		}
		prev := v.told
		for _, s := range v.allSockets() {
			if ms := s.Messages(); len(ms) > 0 && ms[0].Type == "admitted" {
				toldOnConnect++ // admitted while its socket was down, or in the push a kill cut short
			}
			for _, m := range s.Messages() {
				switch m.Type {
				case "position":
					require.LessOrEqual(t, m.Position, prev, "visitor %d: positions only go down", v.order+1)
					require.GreaterOrEqual(t, m.Position, int64(1), "visitor %d", v.order+1)
					prev = m.Position
				case "admitted":
				default:
					require.Failf(t, "unexpected message", "visitor %d on %s: %+v", v.order+1, s.via, m)
				}
			}
		}
		last := v.allSockets()[len(v.allSockets())-1]
		m, _ := last.Last()
		require.Equal(t, "admitted", m.Type, "visitor %d: the live socket's last message", v.order+1)

		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, w := b.instance(v.order)
			a, err := testproc.Send(b.ctx, b.http, http.MethodGet, w.Base+"/api/rooms/"+killRoom+"/tickets/"+v.ticket, nil, "")
			if err != nil {
				failures.Store(v.order+1, err.Error())
				return
			}
			hs, err := decodeStatus(a)
			if a.Status != http.StatusOK || err != nil || hs.State != "admitted" || hs.ExpiresAt != wantExp {
				failures.Store(v.order+1, fmt.Sprintf("status %s, want admitted until %s", a, wantExp))
				return
			}
			for _, tok := range []string{hs.EntryToken, adm[0].EntryToken} {
				c, err := b.verifier.Verify(b.ctx, tok, killRoom)
				if err != nil || c.Subject == v.ticket || c.Subject != c.ID || c.ExpiresAt.Format(time.RFC3339) != wantExp {
					failures.Store(v.order+1, fmt.Sprintf("entry token: %v %+v", err, c))
				}
			}
		})
	}
	wg.Wait()
	failures.Range(func(k, v any) bool {
		t.Errorf("visitor %d: %s", k, v)
		return true
	})
	t.Logf("%s pacer: %d visitors (%d joined during the faults) admitted once each in join order in %s over %d ticks; "+
		"%d dials, %d pages reconnected, %d told of their admission on reconnecting, %d told twice; %d joins unanswered, %d admitted without answer",
		pacerName, len(vs), len(vs)-killLine, drained.Round(time.Millisecond), ticks, dials, reconnected, toldOnConnect, twiceTold, unacked.Load(), extra)
	for _, a := range b.admitters {
		require.NotContains(t, a.Output(), `"level":"ERROR"`, "%s logged an error", a.Name)
	}
	for _, w := range b.waitrooms {
		require.NotContains(t, w.Output(), `"status":500`, "%s answered 500", w.Name)
	}
}
