package redistest_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
)

// setup runs the test in parallel with the others (each has its own
// servers) and gives it a context that ends with it.
func setup(t *testing.T) context.Context {
	t.Helper()
	t.Parallel()
	ctx := t.Context()
	return ctx
}

func TestServerAnswersPingSetAndGet(t *testing.T) {
	ctx := setup(t)
	s := redistest.Start(t)
	require.True(t, strings.HasPrefix(s.Addr(), "127.0.0.1:"), s.Addr())

	rdb := s.Client()
	require.Equal(t, "PONG", rdb.Ping(ctx).Val())
	require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())
	got, err := rdb.Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "v", got)
}

func TestServerWithoutOptionsKeepsNothingOnDisk(t *testing.T) {
	ctx := setup(t)
	rdb := redistest.Start(t).Client()

	cfg, err := rdb.ConfigGet(ctx, "*").Result()
	require.NoError(t, err)
	require.Equal(t, "", cfg["save"])
	require.Equal(t, "no", cfg["appendonly"])
}

func TestServersRunSideBySide(t *testing.T) {
	ctx := setup(t)
	a, b := redistest.Start(t), redistest.Start(t)
	require.NotEqual(t, a.Addr(), b.Addr())

	require.NoError(t, a.Client().Set(ctx, "k", "a", 0).Err())
	require.ErrorIs(t, b.Client().Get(ctx, "k").Err(), redis.Nil)
}

func TestServerArgsOverrideDefaults(t *testing.T) {
	ctx := setup(t)
	rdb := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory", "10mb"}}).Client()

	cfg, err := rdb.ConfigGet(ctx, "maxmemory").Result()
	require.NoError(t, err)
	require.Equal(t, "10485760", cfg["maxmemory"])
}

func TestRestartWithAppendOnlyKeepsDataWrittenBefore(t *testing.T) {
	ctx := setup(t)
	s := redistest.Start(t, redistest.Options{AppendOnly: true})
	addr := s.Addr()
	rdb := s.Client()
	require.NoError(t, rdb.Set(ctx, "k", "before", 0).Err())
	require.NoError(t, rdb.RPush(ctx, "list", "a", "b").Err())

	require.NoError(t, s.Restart())

	require.Equal(t, addr, s.Addr(), "clients keep working only if the address stays")
	got, err := rdb.Get(ctx, "k").Result()
	require.NoError(t, err, "the client made before the restart reconnects")
	require.Equal(t, "before", got)
	require.Equal(t, []string{"a", "b"}, rdb.LRange(ctx, "list", 0, -1).Val())
}

func TestRestartWithoutAppendOnlyLosesData(t *testing.T) {
	ctx := setup(t)
	s := redistest.Start(t)
	rdb := s.Client()
	require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())

	require.NoError(t, s.Restart())

	require.ErrorIs(t, rdb.Get(ctx, "k").Err(), redis.Nil)
}

func TestKillStopsServingUntilStart(t *testing.T) {
	ctx := setup(t)
	s := redistest.Start(t)

	require.NoError(t, s.Kill())
	require.NoError(t, s.Kill(), "killing a stopped server does nothing")
	_, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	require.Error(t, err, "nothing listens after Kill")

	require.NoError(t, s.Start())
	require.Error(t, s.Start(), "a running server cannot start twice")
	require.Equal(t, "PONG", s.Client().Ping(ctx).Val())
}

func TestCloseStopsServer(t *testing.T) {
	t.Parallel()
	s, err := redistest.NewServer(redistest.Options{})
	require.NoError(t, err)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice does nothing")

	_, err = net.DialTimeout("tcp", s.Addr(), time.Second)
	require.Error(t, err, "nothing listens after Close")
	require.Error(t, s.Start(), "a closed server stays closed")
}

func TestClusterAcceptsKeysInAllThreeSlotRanges(t *testing.T) {
	ctx := setup(t)
	c := redistest.StartCluster(t)
	require.Len(t, c.Addrs(), 3)

	rdb := c.Client()
	// {b}, {c} and {a} hash to slots 3300, 7365 and 15495: one per master.
	keys := []string{"{a}x", "{b}x", "{c}x"}
	for _, k := range keys {
		require.NoError(t, rdb.Set(ctx, k, k, 0).Err(), k)
	}
	for _, k := range keys {
		require.Equal(t, k, rdb.Get(ctx, k).Val())
	}

	for _, addr := range c.Addrs() {
		node := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { _ = node.Close() })

		info, err := node.ClusterInfo(ctx).Result()
		require.NoError(t, err, addr)
		require.Contains(t, info, "cluster_state:ok", addr)
		require.Contains(t, info, "cluster_slots_assigned:16384", addr)
		require.Equal(t, int64(1), node.DBSize(ctx).Val(), "each master holds one of the keys: %s", addr)
	}
}

func TestMissingRedisServerSaysHowToInstallIt(t *testing.T) {
	t.Setenv("PATH", "")
	const want = "redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server)"

	_, err := redistest.NewServer(redistest.Options{})
	require.EqualError(t, err, want)
	require.ErrorIs(t, err, redistest.ErrNotFound)

	_, err = redistest.NewCluster(redistest.Options{})
	require.EqualError(t, err, want)
}

func TestMissingRedisCliSaysHowToInstallIt(t *testing.T) {
	server, err := exec.LookPath("redis-server")
	require.NoError(t, err)
	bin := t.TempDir()
	require.NoError(t, os.Symlink(server, filepath.Join(bin, "redis-server")))
	t.Setenv("PATH", bin)

	_, err = redistest.NewCluster(redistest.Options{})
	require.EqualError(t, err, "redis-cli not found on PATH: install it (Debian/Ubuntu: apt-get install redis-tools)")
	require.True(t, errors.Is(err, redistest.ErrNotFound))
}

func TestStartFailureShowsTheServerLog(t *testing.T) {
	t.Parallel()
	_, err := redistest.NewServer(redistest.Options{Args: []string{"--no-such-option", "1"}})
	require.Error(t, err)
	require.Contains(t, err.Error(), "no-such-option", "the log tail names the bad option")
}

func TestStartBackendsGivesANodeAndAClusterUntilStopped(t *testing.T) {
	ctx := setup(t)
	backends, stop, err := redistest.StartBackends()
	require.NoError(t, err)
	require.Len(t, backends, 2)
	require.Equal(t, "single", backends[0].Name)
	require.Equal(t, "cluster", backends[1].Name)
	_, isCluster := backends[1].Client.(*redis.ClusterClient)
	require.True(t, isCluster)
	for _, be := range backends {
		require.NoError(t, be.Client.Set(ctx, "{k}x", be.Name, 0).Err(), be.Name)
		require.Equal(t, be.Name, be.Client.Get(ctx, "{k}x").Val())
	}
	stop()
	for _, be := range backends {
		require.Error(t, be.Client.Ping(ctx).Err(), "%s is stopped", be.Name)
	}
}

// A Sentinel set fails a killed primary over to a replica, which keeps what
// was replicated, and turns the old primary, started again, into a replica.
func TestSentinelFailsOverAKilledPrimaryAndTakesItBackAsAReplica(t *testing.T) {
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
