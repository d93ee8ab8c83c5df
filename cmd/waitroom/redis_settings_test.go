package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redisconn"
)

// Sentinel's settings name a Redis as REDIS_URL does (no standalone, the
// admin token required), and the join durability settings are read and
// bounded.
func TestSentinelAndJoinWaitSettings(t *testing.T) {
	env := map[string]string{
		"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379,127.0.0.1:26380", "REDIS_SENTINEL_MASTER": "main",
		"REDIS_SENTINEL_PASSWORD": "sp", "REDIS_PASSWORD": "p", "WAITROOM_ADMIN_TOKEN": "t",
		"WAITROOM_JOIN_WAIT_REPLICAS": "1", "WAITROOM_JOIN_WAIT_TIMEOUT": "250ms",
	}
	get := func(k string) string { return env[k] }
	c, err := parseConfig(nil, get, io.Discard)
	require.NoError(t, err)
	require.False(t, c.Standalone())
	require.Equal(t, redisconn.Config{SentinelAddrs: "127.0.0.1:26379,127.0.0.1:26380", SentinelMaster: "main",
		SentinelPassword: "sp", Password: "p"}, c.Redis)
	require.Equal(t, 1, c.JoinWaitReplicas)
	require.Equal(t, 250*time.Millisecond, c.JoinWaitTimeout)

	delete(env, "WAITROOM_ADMIN_TOKEN")
	_, err = parseConfig(nil, get, io.Discard)
	require.ErrorContains(t, err, "(WAITROOM_ADMIN_TOKEN) is required")

	for k, v := range map[string]string{"WAITROOM_JOIN_WAIT_REPLICAS": "-1", "WAITROOM_JOIN_WAIT_TIMEOUT": "0s"} {
		bad := map[string]string{"WAITROOM_ADMIN_TOKEN": "t", "REDIS_URL": "redis://127.0.0.1:1", k: v}
		_, err := parseConfig(nil, func(k string) string { return bad[k] }, io.Discard)
		require.Error(t, err, "%s=%s", k, v)
	}
	c, err = parseConfig(nil, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	require.Zero(t, c.JoinWaitReplicas, "off by default")
}
