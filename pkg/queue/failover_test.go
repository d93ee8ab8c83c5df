package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/relay"
)

// A tick caught by the death of its primary, with Options.WaitReplicas 1
// (ADMITTER_TICK_WAIT_REPLICAS=1), as in finding 8 of docs/RELIABILITY.md.
// The primary is SIGKILLed while the tick waits for its replica, or before
// the tick's reply reaches the admitter, and its replica is promoted.
// These tests pin down what the admitter, the sockets and the visitors see.

// drain returns the events that came on msgs within d.
func drain(t *testing.T, msgs <-chan *redis.Message, d time.Duration) []Event {
	t.Helper()
	var out []Event
	deadline := time.After(d)
	for {
		select {
		case m := <-msgs:
			ev, err := ParseEvent([]byte(m.Payload))
			require.NoError(t, err)
			out = append(out, ev)
		case <-deadline:
			return out
		}
	}
}

// subscribe is a hub on c: the room's events as c's node publishes them.
func subscribe(t *testing.T, c *redis.Client, room string) <-chan *redis.Message {
	t.Helper()
	ps := c.Subscribe(context.Background(), Channel(room))
	t.Cleanup(func() { _ = ps.Close() })
	_, err := ps.Receive(context.Background())
	require.NoError(t, err)
	return ps.Channel()
}

// A tick whose primary is SIGKILLed before the tick is confirmed (in its
// WAIT, or before its script's reply arrives) fails for the admitter with
// ErrUnavailable and no admission, no hub hears of it, and a status asked
// meanwhile shows the admission only if the replica has it. A tick no
// replica had is gone from the promoted node with its version and
// admission ids: its visitors are still in line at their places, and the
// next tick admits them, once each and in order, under new ids. A tick the
// replica had stands, unannounced, and the next event skips its version so
// hubs read the room again. Either way every visitor is admitted once.
func TestATickCaughtInAFailoverIsAnnouncedOnlyIfItSurvives(t *testing.T) {
	for _, tc := range []struct {
		name string
		// onReplica: the replica has the tick when the primary dies;
		// otherwise the replication stream is held back from the tick on.
		onReplica bool
		// cutReply: the primary dies before the tick's script answers
		// (its reply is stalled); otherwise while the tick waits in WAIT.
		cutReply bool
	}{
		{name: "no replica has it, the primary dies in its WAIT: it is lost unannounced and the next tick admits its visitors once"},
		{name: "no replica has it, the primary dies before its reply: it is lost unannounced and the next tick admits its visitors once", cutReply: true},
		{name: "the replica has it, the primary dies before its reply: it stands unannounced and the next event's version skips it", onReplica: true, cutReply: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testATickCaughtInAFailover(t, tc.onReplica, tc.cutReply)
		})
	}
}

func testATickCaughtInAFailover(t *testing.T, onReplica, cutReply bool) {
	const room, batch, visitors = "failover", 5, 12
	f := redistest.StartFailover(t)
	ctx := context.Background()
	rdb := f.Client(t)
	// The admitter's store, and a waitroom instance's; WAIT far longer than
	// the test, so a tick or status that returns did not time out.
	admitter := New(rdb, Options{WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	waitroom := New(rdb, Options{WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	_, _, err := admitter.PutRoom(ctx, room, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(batch)})
	require.NoError(t, err)
	_, err = admitter.Tick(ctx, room) // an empty line: loads the script
	require.NoError(t, err)
	var tickets []string
	for i := range visitors {
		st, created, err := waitroom.Join(ctx, room, JoinRequest{})
		require.NoError(t, err)
		require.True(t, created)
		require.EqualValues(t, i+1, st.Position)
		tickets = append(tickets, st.Ticket)
	}
	k := roomKeys(room)
	announced, err := f.P.Get(ctx, k.ver).Int64()
	require.NoError(t, err)
	heard := subscribe(t, f.P, room) // a hub on the primary
	f.InSync(t)

	// The tick.
	if !onReplica {
		f.Repl.All.Store(true)
	}
	if cutReply {
		f.Replies.Next.Store(true)
	}
	type tickResult struct {
		ev  Event
		err error
		at  time.Time
	}
	ticked := make(chan tickResult, 1)
	go func() {
		ev, err := admitter.Tick(ctx, room)
		ticked <- tickResult{ev, err, time.Now()}
	}()
	require.Eventually(t, func() bool { return f.P.ZCard(ctx, k.adm).Val() == batch }, 5*time.Second, time.Millisecond,
		"the tick ran on the primary")
	waiting := 0 // clients of the primary blocked in WAIT
	if cutReply {
		require.Eventually(t, func() bool { return f.Replies.Stalled.Load() == 1 }, 5*time.Second, time.Millisecond,
			"the tick's reply is held back")
	} else {
		waiting++
		require.Eventually(t, func() bool { return f.Blocked(t) == waiting }, 5*time.Second, time.Millisecond,
			"the tick waits for its replica")
	}
	if onReplica {
		f.InSync(t)
	} else {
		require.Zero(t, f.R.ZCard(ctx, k.adm).Val(), "the replica has no admission")
	}
	lostVersion, err := f.P.Get(ctx, k.ver).Int64()
	require.NoError(t, err)
	require.Equal(t, announced+1, lostVersion, "the tick took the next version")
	lostIDs, err := f.P.HMGet(ctx, k.aid, tickets[:batch]...).Result()
	require.NoError(t, err)

	// A visitor at the head asks for their status in that window.
	type statusResult struct {
		st  Status
		err error
	}
	asked := make(chan statusResult, 1)
	go func() {
		st, err := waitroom.Status(ctx, room, tickets[0])
		asked <- statusResult{st, err}
	}()
	var told *statusResult
	if onReplica {
		r := <-asked
		told = &r
		require.NoError(t, r.err)
		require.Equal(t, StateAdmitted, r.st.State, "an admission the replica has is shown")
		require.Equal(t, lostIDs[0], r.st.AdmissionID)
	} else {
		waiting++
		var early *statusResult
		require.Eventually(t, func() bool {
			select {
			case r := <-asked:
				early = &r
				return true
			default:
				return f.Blocked(t) == waiting
			}
		}, 5*time.Second, time.Millisecond, "the status waits for the replica")
		if early != nil {
			t.Fatalf("a status answered while no replica had the admission: %s %q, %v", early.st.State, early.st.AdmissionID, early.err)
		}
	}

	// The failover.
	require.Empty(t, ticked, "the tick has not returned before the kill")
	f.Kill(t)
	killed := time.Now()
	tr := <-ticked
	require.ErrorIs(t, tr.err, ErrUnavailable, "the admitter is told the tick failed")
	require.NotErrorIs(t, tr.err, ErrNotReplicated, "by the dead connection, not a WAIT that timed out")
	require.Empty(t, tr.ev.Admitted, "no admission is reported to the admitter")
	require.Less(t, tr.at.Sub(killed), time.Second, "at once")
	if told == nil {
		r := <-asked
		require.ErrorIs(t, r.err, ErrUnavailable, "the status is unavailable (503), not admitted")
		require.Empty(t, r.st.AdmissionID, "no entry token")
	}
	require.Empty(t, drain(t, heard, 100*time.Millisecond), "no hub was told of the tick")
	f.Promote(t)

	// On the promoted node.
	stats, err := waitroom.Stats(ctx, room)
	require.NoError(t, err)
	if onReplica {
		require.EqualValues(t, batch, stats.Admitted, "the tick stands")
		require.EqualValues(t, visitors-batch, stats.Waiting)
		require.Equal(t, lostVersion, stats.Version)
	} else {
		require.Zero(t, stats.Admitted, "the tick is gone")
		require.Zero(t, stats.AdmittedTotal)
		require.EqualValues(t, visitors, stats.Waiting)
		require.Equal(t, announced, stats.Version, "so is its version")
		for _, id := range lostIDs {
			_, err := waitroom.LiveAdmission(ctx, room, id.(string))
			require.ErrorIs(t, err, ErrAdmissionEnded, "its admission ids find nothing")
		}
		for i, tk := range tickets {
			st, err := waitroom.Status(ctx, room, tk)
			require.NoError(t, err)
			require.Equal(t, StateWaiting, st.State, "visitor %d is still in line", i+1)
			require.EqualValues(t, i+1, st.Position, "at their place")
		}
	}

	// The next ticks, once the promoted node has a replica again.
	f.Rejoin(t)
	hub := subscribe(t, f.R, room)
	admittedBy := map[string]string{} // ticket -> admission id
	var order []string
	if onReplica {
		for i, tk := range tickets[:batch] {
			admittedBy[tk] = lostIDs[i].(string)
			order = append(order, tk)
		}
	}
	var versions []int64
	for len(order) < visitors {
		ev, err := admitter.Tick(ctx, room)
		require.NoError(t, err)
		require.NotEmpty(t, ev.Admitted)
		var got []Event
		select {
		case m := <-hub:
			e, err := ParseEvent([]byte(m.Payload))
			require.NoError(t, err)
			got = append(got, e)
		case <-time.After(2 * time.Second):
			t.Fatal("the tick was not announced")
		}
		got = append(got, drain(t, hub, 20*time.Millisecond)...)
		require.Len(t, got, 1, "each tick is announced once")
		require.Equal(t, ev.Version, got[0].Version)
		require.Equal(t, ev.Admitted, got[0].Admitted)
		versions = append(versions, ev.Version)
		for _, a := range ev.Admitted {
			_, twice := admittedBy[a.Ticket]
			require.False(t, twice, "%s admitted twice", a.Ticket)
			for _, lost := range lostIDs {
				require.NotEqual(t, lost, a.ID, "a lost admission id is not handed out again")
			}
			admittedBy[a.Ticket] = a.ID
			order = append(order, a.Ticket)
		}
	}
	require.Equal(t, tickets, order, "admitted once each, in join order")
	if onReplica {
		require.Equal(t, lostVersion+1, versions[0], "the next event skips the unannounced tick's version: hubs read the room again")
	} else {
		require.Equal(t, lostVersion, versions[0], "the next event follows the last announced one: no gap")
	}
	for i := 1; i < len(versions); i++ {
		require.Equal(t, versions[i-1]+1, versions[i])
	}
	stats, err = waitroom.Stats(ctx, room)
	require.NoError(t, err)
	require.EqualValues(t, visitors, stats.AdmittedTotal, "every visitor admitted once")
	for _, tk := range tickets {
		st, err := waitroom.Status(ctx, room, tk)
		require.NoError(t, err)
		require.Equal(t, StateAdmitted, st.State)
		require.Equal(t, admittedBy[tk], st.AdmissionID, "the status shows the admission announced")
		_, err = waitroom.LiveAdmission(ctx, room, st.AdmissionID)
		require.NoError(t, err, "its entry token's admission is live")
	}
	if told != nil {
		require.Equal(t, told.st.AdmissionID, admittedBy[tickets[0]], "the admission shown in the window survived")
	}
	t.Logf("tick returned %s after the kill: %v; %d bytes of replication held back, %d of replies; next versions %v (lost/unannounced %d, last announced %d)",
		tr.at.Sub(killed).Round(time.Microsecond), tr.err, f.Repl.Dropped.Load(), f.Replies.Dropped.Load(), versions, lostVersion, announced)
}

// The same with the Sentinels deciding, and the client internal/redisconn
// opens for REDIS_SENTINEL_ADDRS: replica B falls behind first, so a tick's
// WAIT 1 is confirmed by replica A alone and the tick is announced; then A
// falls behind too, and the primary is SIGKILLed while a second tick waits
// in its WAIT. The Sentinels promote A, the replica with the higher
// replication offset: the announced tick survives (a WAIT 1 that one
// replica confirmed is not undone by promoting the other), and only the
// unannounced one is lost.
func TestSentinelPromotesTheReplicaThatConfirmedATickAndLosesOnlyTheUnannouncedOne(t *testing.T) {
	t.Parallel()
	const room, batch, visitors = "sentinel", 5, 15
	ctx := context.Background()
	set := redistest.StartSentinel(t, redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	primary, a, b := set.Data[0], set.Data[1], set.Data[2]
	pc, ac, bc := primary.Client(), a.Client(), b.Client()
	// Each replica reaches the primary through a relay of its own, to be
	// held back.
	relays := map[*redistest.Server]*relay.Relay{}
	for _, r := range []*redistest.Server{a, b} {
		relays[r] = relay.Start(t, primary.Addr())
		host, port, _ := strings.Cut(relays[r].Addr(), ":")
		require.NoError(t, r.Client().Do(ctx, "REPLICAOF", host, port).Err())
		rc := r.Client()
		require.Eventually(t, func() bool {
			info := rc.Info(ctx, "replication").Val()
			return strings.Contains(info, "master_port:"+port+"\r") && strings.Contains(info, "master_link_status:up") &&
				strings.Contains(info, "master_sync_in_progress:0")
		}, 10*time.Second, 10*time.Millisecond, "the replica goes through its relay")
	}
	conn := redisconn.Config{SentinelAddrs: strings.Join(set.SentinelAddrs(), ","), SentinelMaster: redistest.MasterName}
	rdb, err := conn.Open()
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	admitter := New(rdb, Options{WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	waitroom := New(rdb, Options{WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	_, _, err = admitter.PutRoom(ctx, room, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(batch)})
	require.NoError(t, err)
	var tickets []string
	for range visitors {
		st, _, err := waitroom.Join(ctx, room, JoinRequest{})
		require.NoError(t, err)
		tickets = append(tickets, st.Ticket)
	}
	k := roomKeys(room)
	heard := subscribe(t, pc, room)
	inSync := func(r *redis.Client) {
		want := redistest.ReplOffset(t, pc, "master_repl_offset")
		require.Eventually(t, func() bool { return redistest.ReplOffset(t, r, "slave_repl_offset") >= want },
			5*time.Second, 5*time.Millisecond)
	}
	inSync(ac)
	inSync(bc)

	relays[b].All.Store(true)
	first, err := admitter.Tick(ctx, room)
	require.NoError(t, err, "A confirms the tick")
	require.Equal(t, tickets[:batch], admittedTickets(first))
	got := drain(t, heard, 100*time.Millisecond)
	require.Len(t, got, 1)
	require.Equal(t, first.Version, got[0].Version, "and it is announced")
	require.EqualValues(t, batch, ac.ZCard(ctx, k.adm).Val(), "A has it")
	require.Zero(t, bc.ZCard(ctx, k.adm).Val(), "B has not")

	relays[a].All.Store(true)
	ticked := make(chan error, 1)
	go func() {
		_, err := admitter.Tick(ctx, room)
		ticked <- err
	}()
	blocked := func() bool { return strings.Contains(pc.Info(ctx, "clients").Val(), "blocked_clients:1\r") }
	require.Eventually(t, func() bool { return pc.ZCard(ctx, k.adm).Val() == 2*batch && blocked() }, 5*time.Second,
		time.Millisecond, "the second tick ran on the primary and waits for a replica")
	lostVersion, err := pc.Get(ctx, k.ver).Int64()
	require.NoError(t, err)

	require.NoError(t, primary.Kill())
	killed := time.Now()
	err = <-ticked
	require.ErrorIs(t, err, ErrUnavailable, "the second tick failed")
	require.NotErrorIs(t, err, ErrNotReplicated)
	require.Empty(t, drain(t, heard, 100*time.Millisecond), "and was not announced")
	bounded, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	promoted, err := set.WaitFailover(bounded, primary)
	require.NoError(t, err)
	failedOver := time.Since(killed)
	require.Same(t, a, promoted, "the Sentinels promote A, which has every tick announced")

	// B follows A again: the promoted node can confirm a WAIT 1.
	require.NoError(t, set.WaitReplicaOf(bounded, b, a))
	resynced := time.Since(killed)
	hub := subscribe(t, ac, room)
	order := append([]string(nil), tickets[:batch]...)
	var versions []int64
	failed := 0
	for len(order) < visitors {
		var ev Event
		require.Eventually(t, func() bool {
			// The failover client may still hold a connection to the dead
			// primary: a tick then fails, as the admitter's would.
			if ev, err = admitter.Tick(ctx, room); err != nil {
				failed++
				return false
			}
			return true
		}, 10*time.Second, 50*time.Millisecond, "the admitter ticks on the promoted node")
		require.NotEmpty(t, ev.Admitted)
		select {
		case m := <-hub:
			e, err := ParseEvent([]byte(m.Payload))
			require.NoError(t, err)
			require.Equal(t, ev.Version, e.Version, "each tick is announced")
		case <-time.After(2 * time.Second):
			t.Fatal("the tick was not announced")
		}
		versions = append(versions, ev.Version)
		order = append(order, admittedTickets(ev)...)
	}
	require.Equal(t, tickets, order, "each visitor admitted once, in join order")
	require.Equal(t, lostVersion, versions[0], "the next event follows the last announced one")
	stats, err := waitroom.Stats(ctx, room)
	require.NoError(t, err)
	require.EqualValues(t, visitors, stats.AdmittedTotal)
	for _, tk := range tickets {
		st, err := waitroom.Status(ctx, room, tk)
		require.NoError(t, err)
		require.Equal(t, StateAdmitted, st.State)
	}
	t.Logf("failover %s, B a replica of A %s after the kill; replication held back: A %d bytes, B %d; ticks failed after: %d; versions after %v (lost %d)",
		failedOver.Round(time.Millisecond), resynced.Round(time.Millisecond), relays[a].Dropped.Load(), relays[b].Dropped.Load(), failed, versions, lostVersion)
}

// Without WaitReplicas a tick is announced at once. If its primary dies
// before the replica has it, the promoted replica gives the next event the
// same version: its id differs, and Positions gives the id of the store's
// version, so a subscriber that applied the lost event can tell.
func TestATickLostAfterItsAnnouncementLeavesItsVersionToAnEventWithAnotherID(t *testing.T) {
	t.Parallel()
	const room, batch = "announced", 2
	ctx := context.Background()
	f := redistest.StartFailover(t)
	s := New(f.Client(t), Options{})
	_, _, err := s.PutRoom(ctx, room, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(batch)})
	require.NoError(t, err)
	var tickets []string
	for range 2 * batch {
		st, _, err := s.Join(ctx, room, JoinRequest{})
		require.NoError(t, err)
		tickets = append(tickets, st.Ticket)
	}
	before, err := s.Positions(ctx, room, nil)
	require.NoError(t, err)
	require.NotEmpty(t, before.EventID, "the config event has an id")
	heard := subscribe(t, f.P, room)
	f.InSync(t)

	f.Repl.All.Store(true)
	lost, err := s.Tick(ctx, room)
	require.NoError(t, err)
	got := drain(t, heard, 100*time.Millisecond)
	require.Len(t, got, 1)
	require.Equal(t, lost.Version, got[0].Version, "the tick is announced")
	require.Equal(t, lost.ID, got[0].ID)
	require.NotEmpty(t, lost.ID)
	at, err := s.Positions(ctx, room, nil)
	require.NoError(t, err)
	require.Equal(t, Positions{Version: lost.Version, EventID: lost.ID}, Positions{Version: at.Version, EventID: at.EventID})

	f.Kill(t)
	f.Promote(t)
	var back Positions
	require.Eventually(t, func() bool {
		back, err = s.Positions(ctx, room, nil)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the client finds the promoted node")
	require.Equal(t, Positions{Version: before.Version, EventID: before.EventID}, Positions{Version: back.Version, EventID: back.EventID},
		"the promoted node is back at the event before the tick")
	next, err := s.Tick(ctx, room)
	require.NoError(t, err)
	require.Equal(t, tickets[:batch], admittedTickets(next), "the next tick admits the same visitors")
	require.Equal(t, lost.Version, next.Version, "under the lost tick's version")
	require.NotEqual(t, lost.ID, next.ID, "and another id")
	at, err = s.Positions(ctx, room, nil)
	require.NoError(t, err)
	require.Equal(t, Positions{Version: next.Version, EventID: next.ID}, Positions{Version: at.Version, EventID: at.EventID})
}
