package queue

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/relay"
)

// replicated starts a primary with one replica, in sync, and returns their
// clients.
func replicated(tb testing.TB) (primary, replica *redis.Client) {
	return replicatedBehind(tb, 0)
}

// replicatedBehind is replicated with the replica reaching its primary
// through a link lag slow (relay.StartSlow); 0: directly.
func replicatedBehind(tb testing.TB, lag time.Duration) (primary, replica *redis.Client) {
	tb.Helper()
	var link func(testing.TB, string) string
	if lag > 0 {
		link = func(tb testing.TB, to string) string { return relay.StartSlow(tb, to, lag).Addr() }
	}
	p, r := redistest.StartReplicated(tb, link)
	return p.Client(), r.Client()
}

// With WaitReplicas a join is answered only once a replica has it: right
// after the answer, the replica has every byte the primary had written.
func TestAJoinWithWaitReplicasIsOnTheReplicaWhenAnswered(t *testing.T) {
	ctx := context.Background()
	primary, replica := replicated(t)
	s := New(primary, Options{WaitReplicas: 1, WaitTimeout: time.Second})
	_, _, err := s.PutRoom(ctx, "durable", ConfigPatch{Mode: new(ModeQueueAll)})
	require.NoError(t, err)
	for i := range 20 {
		st, created, err := s.Join(ctx, "durable", JoinRequest{})
		require.NoError(t, err)
		require.True(t, created)
		require.EqualValues(t, i+1, st.Position)
		require.GreaterOrEqual(t, redistest.ReplOffset(t, replica, "slave_repl_offset"), redistest.ReplOffset(t, primary, "master_repl_offset"),
			"join %d: the replica has all the primary wrote", i+1)
	}
}

// Without a replica to confirm it, a join fails as unavailable (503) within
// the timeout, on one node and on each Cluster node alike, and the plain
// store still answers.
func TestAJoinNoReplicaConfirmsIsUnavailable(t *testing.T) {
	t.Parallel()
	for _, be := range backends[:2] {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			s := New(be.Client, Options{WaitReplicas: 1, WaitTimeout: 50 * time.Millisecond})
			room := "nowait" + be.Name
			_, _, err := s.PutRoom(ctx, room, ConfigPatch{Mode: new(ModeQueueAll)})
			require.NoError(t, err)
			start := time.Now()
			_, _, err = s.Join(ctx, room, JoinRequest{})
			require.ErrorIs(t, err, ErrNotReplicated)
			require.ErrorIs(t, err, ErrUnavailable)
			require.Less(t, time.Since(start), time.Second, "it waits the timeout, not longer")
			_, created, err := New(be.Client, Options{}).Join(ctx, room, JoinRequest{})
			require.NoError(t, err)
			require.True(t, created)
		})
	}
}

// With WaitReplicas a tick's event goes out only once a replica has the
// tick: when a subscriber hears of an admission, the replica holds it, so a
// failover to that replica cannot take back what a socket was told.
func TestATickWithWaitReplicasIsOnTheReplicaWhenItsEventIsOut(t *testing.T) {
	ctx := context.Background()
	primary, replica := replicated(t)
	s := New(primary, Options{WaitReplicas: 1, WaitTimeout: time.Second})
	_, _, err := s.PutRoom(ctx, "durable-tick", ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(2)})
	require.NoError(t, err)
	for range 10 {
		_, _, err := s.Join(ctx, "durable-tick", JoinRequest{})
		require.NoError(t, err)
	}
	ps := primary.Subscribe(ctx, Channel("durable-tick"))
	defer ps.Close()
	_, err = ps.Receive(ctx)
	require.NoError(t, err)
	msgs := ps.Channel()
	adm := roomKeys("durable-tick").adm
	for i := range 5 {
		ev, err := s.Tick(ctx, "durable-tick")
		require.NoError(t, err)
		require.Len(t, ev.Admitted, 2)
		select {
		case m := <-msgs:
			// Read the replica the moment the event is in.
			n, err := replica.ZCard(ctx, adm).Result()
			require.NoError(t, err)
			require.EqualValues(t, 2*(i+1), n, "tick %d: the replica has every admission announced", i+1)
			got, err := ParseEvent([]byte(m.Payload))
			require.NoError(t, err)
			require.Equal(t, ev.Version, got.Version)
			require.Equal(t, ev.Admitted, got.Admitted)
		case <-time.After(2 * time.Second):
			t.Fatalf("tick %d: no event", i+1)
		}
	}
}

// Without a replica to confirm it, a tick admits on the primary but
// announces nothing (ErrNotReplicated); the next confirmed tick's event
// skips that version, so subscribers read the room again.
func TestATickNoReplicaConfirmsIsNotAnnounced(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := New(rdb, Options{WaitReplicas: 1, WaitTimeout: 50 * time.Millisecond})
	_, _, err := s.PutRoom(ctx, "unconfirmed", ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(1)})
	require.NoError(t, err)
	st, _, err := New(rdb, Options{}).Join(ctx, "unconfirmed", JoinRequest{})
	require.NoError(t, err)
	ps := rdb.Subscribe(ctx, Channel("unconfirmed"))
	defer ps.Close()
	_, err = ps.Receive(ctx)
	require.NoError(t, err)
	_, err = s.Tick(ctx, "unconfirmed")
	require.ErrorIs(t, err, ErrNotReplicated)
	select {
	case m := <-ps.Channel():
		t.Fatalf("an unconfirmed tick was announced: %s", m.Payload)
	case <-time.After(200 * time.Millisecond):
	}
	got, err := New(rdb, Options{}).Status(ctx, "unconfirmed", st.Ticket)
	require.NoError(t, err)
	require.Equal(t, StateAdmitted, got.State, "the admission stands on the primary")
	_, err = s.Status(ctx, "unconfirmed", st.Ticket)
	require.ErrorIs(t, err, ErrNotReplicated, "but is not shown while no replica has it")
}

// Replication lag, which loopback never has: the replica reaches its primary
// through a link 200 ms slow. Without WAIT a join is acknowledged, and a
// tick announced, while only the primary has them (a failover then would
// lose them); with WAIT both are answered only once the replica has them.
func TestReplicationLagIsWhatWaitReplicasCovers(t *testing.T) {
	t.Parallel()
	const lag = 200 * time.Millisecond
	ctx := context.Background()
	primary, replica := replicatedBehind(t, lag)
	ps := primary.Subscribe(ctx, Channel("lag0"), Channel("lag1"))
	defer ps.Close()
	for range 2 {
		_, err := ps.Receive(ctx)
		require.NoError(t, err)
	}
	events := ps.Channel()
	// onReplica: the replica has everything the primary had written so far.
	onReplica := func() (bool, int64) {
		want := redistest.ReplOffset(t, primary, "master_repl_offset")
		return redistest.ReplOffset(t, replica, "slave_repl_offset") >= want, want
	}
	for _, wait := range []int{0, 1} {
		room := "lag" + strconv.Itoa(wait)
		s := New(primary, Options{WaitReplicas: wait, WaitTimeout: 2 * time.Second})
		_, _, err := s.PutRoom(ctx, room, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(1)})
		require.NoError(t, err)
		start := time.Now()
		_, _, err = s.Join(ctx, room, JoinRequest{})
		require.NoError(t, err)
		joined := time.Since(start)
		joinOnReplica, _ := onReplica()
		_, err = s.Tick(ctx, room)
		require.NoError(t, err)
		select {
		case <-events:
		case <-time.After(2 * time.Second):
			t.Fatal("no tick event")
		}
		// The publish itself is replicated after the WAIT: look for the
		// admission on the replica rather than compare offsets.
		n, err := replica.ZCard(ctx, roomKeys(room).adm).Result()
		require.NoError(t, err)
		tickOnReplica := n == 1
		offset := redistest.ReplOffset(t, primary, "master_repl_offset")
		t.Logf("WAIT %d, replica %s behind: join answered in %s, on the replica then: %v; tick announced, on the replica then: %v",
			wait, lag, joined.Round(time.Millisecond), joinOnReplica, tickOnReplica)
		if wait == 0 {
			require.False(t, joinOnReplica, "without WAIT an acknowledged join is on the primary only")
			require.False(t, tickOnReplica, "without WAIT an announced tick is on the primary only")
		} else {
			require.True(t, joinOnReplica, "with WAIT an acknowledged join is on the replica")
			require.True(t, tickOnReplica, "with WAIT an announced tick is on the replica")
			require.GreaterOrEqual(t, joined, lag, "and the join waited for it")
		}
		require.Eventually(t, func() bool { return redistest.ReplOffset(t, replica, "slave_repl_offset") >= offset },
			5*time.Second, 20*time.Millisecond, "the replica catches up")
	}
}

// BenchmarkJoinWaitReplicas is the cost of WAIT 1 per join on a primary
// with one replica on loopback, without and with the wait: one joiner (the
// latency of a join) and 16 per core (the throughput).
func BenchmarkJoinWaitReplicas(b *testing.B) {
	primary, _ := replicated(b)
	for _, joiners := range []int{1, 16} {
		for _, n := range []int{0, 1} {
			b.Run("joiners="+strconv.Itoa(joiners)+"/wait="+strconv.Itoa(n), func(b *testing.B) {
				ctx := context.Background()
				s := New(primary, Options{WaitReplicas: n, WaitTimeout: time.Second})
				room := "bench-wait" + strconv.Itoa(n) + "-" + strconv.Itoa(joiners)
				_, _, err := s.PutRoom(ctx, room, ConfigPatch{Mode: new(ModeQueueAll)})
				require.NoError(b, err)
				b.ReportAllocs()
				if joiners == 1 {
					for b.Loop() {
						if _, _, err := s.Join(ctx, room, JoinRequest{}); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.SetParallelism(joiners)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, _, err := s.Join(ctx, room, JoinRequest{}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// With WaitReplicas a status shows an admission only once a replica has it:
// asked between a tick and its replication (the moment a tick waits for its
// WAIT), the answer comes after the replica caught up, not before.
func TestAStatusWithWaitReplicasShowsAnAdmissionOnlyOnceAReplicaHasIt(t *testing.T) {
	t.Parallel()
	const lag = 200 * time.Millisecond
	ctx := context.Background()
	primary, replica := replicatedBehind(t, lag)

	fast := New(primary, Options{})
	durable := New(primary, Options{WaitReplicas: 1, WaitTimeout: 2 * time.Second, StatusBatch: -1})
	_, _, err := fast.PutRoom(ctx, "seen", ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(1)})
	require.NoError(t, err)
	st, _, err := fast.Join(ctx, "seen", JoinRequest{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return replica.Exists(ctx, roomKeys("seen").cfg).Val() == 1 },
		5*time.Second, 10*time.Millisecond)
	_, err = fast.Tick(ctx, "seen") // on the primary; the replica is lag behind
	require.NoError(t, err)
	start := time.Now()
	got, err := durable.Status(ctx, "seen", st.Ticket)
	require.NoError(t, err)
	require.Equal(t, StateAdmitted, got.State)
	n, err := replica.ZCard(ctx, roomKeys("seen").adm).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the replica has the admission the status showed")
	require.GreaterOrEqual(t, time.Since(start), lag/2, "the answer waited for the replica")

	// A waiting visitor's answer writes presence but needs no admission
	// covered; an unconfirmed admission is not shown (503, not admitted).
	s2, _, err := fast.Join(ctx, "seen", JoinRequest{})
	require.NoError(t, err)
	got, err = durable.Status(ctx, "seen", s2.Ticket)
	require.NoError(t, err)
	require.Equal(t, StateWaiting, got.State)
	alone := redistest.Start(t)
	unconfirmed := New(alone.Client(), Options{WaitReplicas: 1, WaitTimeout: 50 * time.Millisecond})
	_, _, err = unconfirmed.PutRoom(ctx, "alone", ConfigPatch{Mode: new(ModeAuto), Capacity: new(1)})
	require.NoError(t, err)
	a, _, err := New(alone.Client(), Options{}).Join(ctx, "alone", JoinRequest{})
	require.NoError(t, err)
	require.Equal(t, StateAdmitted, a.State)
	_, err = unconfirmed.Status(ctx, "alone", a.Ticket)
	require.ErrorIs(t, err, ErrNotReplicated)
}
