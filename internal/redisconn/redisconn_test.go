package redisconn_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/internal/redistest"
)

func TestFromEnvReadsEveryVariable(t *testing.T) {
	env := map[string]string{
		"REDIS_URL": "redis://h:1/2", "REDIS_CLUSTER_ADDRS": " a:1,b:2 ", "REDIS_SENTINEL_ADDRS": "s:1",
		"REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_PASSWORD": "sp", "REDIS_PASSWORD": "p",
	}
	c := redisconn.FromEnv(func(k string) string { return env[k] })
	require.Equal(t, redisconn.Config{URL: "redis://h:1/2", ClusterAddrs: "a:1,b:2", SentinelAddrs: "s:1",
		SentinelMaster: "m", SentinelPassword: "sp", Password: "p"}, c)
	require.True(t, c.Configured())
	require.False(t, redisconn.Config{Password: "p"}.Configured(), "a password alone names no Redis")
	for _, v := range redisconn.Vars {
		_, ok := env[v.Env]
		require.True(t, ok, "%s is read by FromEnv", v.Env)
	}
}

func TestOpenRefusesAnIncompleteOrAmbiguousConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  redisconn.Config
		want string
	}{
		{redisconn.Config{}, "set REDIS_URL"},
		{redisconn.Config{SentinelAddrs: "127.0.0.1:1"}, "REDIS_SENTINEL_MASTER is required"},
		{redisconn.Config{SentinelAddrs: " , ", SentinelMaster: "m"}, "REDIS_SENTINEL_ADDRS lists no address"},
		{redisconn.Config{SentinelAddrs: "127.0.0.1:1", SentinelMaster: "m", ClusterAddrs: "127.0.0.1:2"}, "not both"},
		{redisconn.Config{URL: "http://x"}, "REDIS_URL"},
	} {
		_, err := c.cfg.Open()
		require.ErrorContains(t, err, c.want, "%+v", c.cfg)
	}
}

// Through real Sentinels: the client finds the primary by name, with the
// Sentinels' and the servers' passwords, and Where names no password.
func TestOpenSentinelFindsThePrimary(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.StartSentinel(t)
	c := redisconn.Config{SentinelAddrs: strings.Join(s.SentinelAddrs(), ","), SentinelMaster: redistest.MasterName}
	rdb, err := c.Open()
	require.NoError(t, err)
	defer rdb.Close()
	require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())
	got, err := s.Data[0].Client().Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "v", got, "the write went to the primary")
	require.Equal(t, "sentinel "+redistest.MasterName+"@"+c.SentinelAddrs, c.Where())

	bad := c
	bad.SentinelMaster = "nobody"
	rdb2, err := bad.Open()
	require.NoError(t, err)
	defer rdb2.Close()
	require.Error(t, rdb2.Ping(ctx).Err(), "a master name the Sentinels do not know fails, not hangs")
}
