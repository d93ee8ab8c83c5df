package entrytoken_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testclock"
	"github.com/waitroom/waitroom/pkg/entrytoken"
)

func TestTheCacheSparesTheCheckForAMinuteAndStillChecksTheRoom(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	tok := b.sign(t, b.signer)
	cache := entrytoken.NewCache(b.verifier, entrytoken.CacheOptions{Now: b.clock.Now})
	claims, err := cache.Verify(ctx, tok, "concert")
	require.NoError(t, err)
	require.Equal(t, "user-42", claims.Subject)
	hit := testing.AllocsPerRun(100, func() { _, _ = cache.Verify(ctx, tok, "concert") })
	require.Zero(t, hit, "a hit (the gateway's every request) allocates nothing")
	_, err = cache.Verify(ctx, tok, "theatre")
	require.ErrorIs(t, err, entrytoken.ErrWrongRoom, "a hit still checks the room")

	// The cache runs on a clock of its own here: while the verifier would
	// now refuse the token (expired), the cache answers for a minute, then
	// checks again.
	cacheClock := testclock.New(base)
	cache = entrytoken.NewCache(b.verifier, entrytoken.CacheOptions{Now: cacheClock.Now})
	_, err = cache.Verify(ctx, tok, "concert")
	require.NoError(t, err)
	b.clock.Advance(11 * time.Minute)
	cacheClock.Advance(59 * time.Second)
	_, err = cache.Verify(ctx, tok, "concert")
	require.NoError(t, err, "answered from the cache")
	cacheClock.Advance(time.Second)
	_, err = cache.Verify(ctx, tok, "concert")
	require.ErrorIs(t, err, entrytoken.ErrInvalidToken, "checked again after a minute")

	off := entrytoken.NewCache(b.verifier, entrytoken.CacheOptions{Size: -1, Now: b.clock.Now})
	_, err = off.Verify(ctx, tok, "concert")
	require.ErrorIs(t, err, entrytoken.ErrInvalidToken, "off: every token is checked")
}

func TestTheCacheNeverHoldsATokenPastItsExpiry(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	tok, err := b.signer.Sign(entrytoken.Claims{Room: "concert", Subject: "u", ID: "adm-2", ExpiresAt: b.clock.Now().Add(20 * time.Second)})
	require.NoError(t, err)
	cache := entrytoken.NewCache(b.verifier, entrytoken.CacheOptions{Size: 1, Now: b.clock.Now})
	_, err = cache.Verify(ctx, tok, "concert")
	require.NoError(t, err)
	b.clock.Advance(20*time.Second + entrytoken.MaxLeeway + time.Second)
	_, err = cache.Verify(ctx, tok, "concert")
	require.ErrorIs(t, err, entrytoken.ErrInvalidToken)
	_, err = cache.Verify(ctx, b.sign(t, b.signer), "concert")
	require.NoError(t, err, "a full cache makes room")
}
