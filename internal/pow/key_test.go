package pow_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pow"
	"github.com/waitroom/waitroom/internal/redistest"
)

// keyBundle is one real Redis and two clients of it: two instances.
type keyBundle struct {
	ctx  context.Context
	srv  *redistest.Server
	a, b redis.UniversalClient
}

func setupRedis(t *testing.T) *keyBundle {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	return &keyBundle{ctx: context.Background(), srv: srv, a: srv.Client(), b: srv.Client()}
}

func TestTwoInstancesStartingAtOnceGetTheSameKey(t *testing.T) {
	k := setupRedis(t)
	var wg sync.WaitGroup
	keys := make([][]byte, 2)
	errs := make([]error, 2)
	for i, c := range []redis.UniversalClient{k.a, k.b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = pow.SharedKey(k.ctx, c, "")
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Len(t, keys[0], 32)
	require.Equal(t, keys[0], keys[1])

	// A later start, and a restart, read the same key.
	again, err := pow.SharedKey(k.ctx, k.a, "")
	require.NoError(t, err)
	require.Equal(t, keys[0], again)
	stored, err := k.a.Get(k.ctx, pow.KeyRedisKey).Result()
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(keys[0]), stored)
	ttl, err := k.a.TTL(k.ctx, pow.KeyRedisKey).Result()
	require.NoError(t, err)
	require.Equal(t, time.Duration(-1), ttl, "the key never expires")
}

func TestAChallengeFromOneInstanceVerifiesOnTheOtherAndOnlyInItsRoom(t *testing.T) {
	k := setupRedis(t)
	keyA, err := pow.SharedKey(k.ctx, k.a, "")
	require.NoError(t, err)
	keyB, err := pow.SharedKey(k.ctx, k.b, "")
	require.NoError(t, err)

	ch, err := pow.NewChallenge(keyA, "concert", 2000, now)
	require.NoError(t, err)
	payload := encode(t, fields(ch, solve(t, ch)))
	sol, err := pow.Verify(keyB, "concert", payload, now)
	require.NoError(t, err)
	require.Equal(t, ch.Challenge, sol.ID)
	_, err = pow.Verify(keyB, "theatre", payload, now)
	require.ErrorIs(t, err, pow.ErrInvalid)
}

func TestAConfiguredKeyWinsInHexOrBase64AndRedisIsNotTouched(t *testing.T) {
	k := setupRedis(t)
	raw := []byte("an operator's key of 32+ bytes!!!!")
	for _, s := range []string{
		hex.EncodeToString(raw),
		strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
		" " + hex.EncodeToString(raw) + "\n",
	} {
		key, err := pow.SharedKey(k.ctx, k.a, s)
		require.NoError(t, err, s)
		require.Equal(t, raw, key, s)
	}
	n, err := k.a.Exists(k.ctx, pow.KeyRedisKey).Result()
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestABadConfiguredKeyIsRefused(t *testing.T) {
	k := setupRedis(t)
	for _, s := range []string{
		hex.EncodeToString(make([]byte, 31)),                // too short
		base64.StdEncoding.EncodeToString(make([]byte, 16)), // too short
		"not a key at all!",
		"abc", // odd hex
	} {
		_, err := pow.SharedKey(k.ctx, k.a, s)
		require.Error(t, err, s)
	}
}

func TestAGarbledKeyInRedisIsAnErrorNotAWeakKey(t *testing.T) {
	k := setupRedis(t)
	require.NoError(t, k.a.Set(k.ctx, pow.KeyRedisKey, "short", 0).Err())
	_, err := pow.SharedKey(k.ctx, k.a, "")
	require.ErrorContains(t, err, pow.KeyRedisKey)
}

func TestAnUnreachableRedisIsAnError(t *testing.T) {
	k := setupRedis(t)
	require.NoError(t, k.srv.Kill())
	ctx, cancel := context.WithTimeout(k.ctx, 2*time.Second)
	defer cancel()
	_, err := pow.SharedKey(ctx, k.a, "")
	require.Error(t, err)
}

func TestTheSharedKeyWorksOnARedisCluster(t *testing.T) {
	cluster := redistest.StartCluster(t)
	a, b := cluster.Client(), cluster.Client()
	ctx := context.Background()
	keyA, err := pow.SharedKey(ctx, a, "")
	require.NoError(t, err)
	keyB, err := pow.SharedKey(ctx, b, "")
	require.NoError(t, err)
	require.Equal(t, keyA, keyB)
}
