package redistest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
)

// A Sentinel set fails a killed primary over to a replica, which keeps what
// was replicated, and turns the old primary, started again, into a replica.
func TestSentinelFailsOverAKilledPrimaryAndTakesItBackAsAReplica(t *testing.T) {
	t.Parallel()
	ctx := setup(t)
	s := redistest.StartSentinel(t)
	require.Len(t, s.Data, 3)
	require.Len(t, s.SentinelAddrs(), 3)
	old, err := s.Primary(ctx)
	require.NoError(t, err)
	require.Same(t, s.Data[0], old)

	rdb := s.Client()
	require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())
	n, err := rdb.Wait(ctx, 2, time.Second).Result()
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "both replicas have the write")

	require.NoError(t, old.Kill())
	killed := time.Now()
	p, err := s.WaitFailover(ctx, old)
	require.NoError(t, err)
	t.Logf("failover in %s", time.Since(killed).Round(time.Millisecond))
	require.Eventually(t, func() bool { return rdb.Get(ctx, "k").Val() == "v" }, 10*time.Second, 50*time.Millisecond,
		"the failover client reaches the new primary, which has the write")

	require.NoError(t, old.Start())
	require.NoError(t, s.WaitReplicaOf(ctx, old, p))
}

// A Cluster with a replica per primary fails over the primary of a key's
// slot, and takes the old primary back as a replica.
func TestClusterWithReplicasFailsOverAKilledPrimary(t *testing.T) {
	t.Parallel()
	ctx := setup(t)
	c := redistest.StartClusterWithReplicas(t)
	require.Len(t, c.Nodes(), 6)
	rdb := c.Client()
	old, err := c.PrimaryFor(ctx, "{room}k")
	require.NoError(t, err)
	// Replication is asynchronous: the write reaches the replica before the
	// kill only if we wait for it, on the connection that wrote it.
	oc := old.Client()
	require.NoError(t, oc.Set(ctx, "{room}k", "v", 0).Err())
	n, err := oc.Wait(ctx, 1, 5*time.Second).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the replica has the write")

	require.NoError(t, old.Kill())
	killed := time.Now()
	p, err := c.WaitFailover(ctx, "{room}k", old)
	require.NoError(t, err)
	t.Logf("failover in %s", time.Since(killed).Round(time.Millisecond))
	require.Eventually(t, func() bool {
		rdb.ReloadState(ctx) // go-redis itself would only every 10 s (redisconn reloads on errors)
		return rdb.Get(ctx, "{room}k").Val() == "v"
	}, 10*time.Second, 100*time.Millisecond)

	require.NoError(t, old.Start())
	require.NoError(t, c.WaitReplicaOf(ctx, old, p))
}
