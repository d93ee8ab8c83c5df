package jwks_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/jwks"
	"github.com/waitroom/waitroom/internal/testclock"
	"github.com/waitroom/waitroom/internal/testproc"
)

// cacheBundle is a key server that counts its fetches and serves what the
// test sets, and a Cache reading from it on a fake clock.
type cacheBundle struct {
	clock *testclock.Clock
	pub   ed25519.PublicKey // served under kid "k1"
	keys  *testproc.KeyServer
	cache *jwks.Cache
}

func setupCache(t *testing.T, opt jwks.Options) *cacheBundle {
	t.Helper()
	b := &cacheBundle{clock: testclock.New(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	b.pub = pub
	// A delay lets concurrent misses pile up behind one fetch.
	b.keys = testproc.StartKeyServer(t, marshalSet(t, okpJWK(pub, "k1")), 20*time.Millisecond)

	if opt.URL == "" && opt.Fetch == nil {
		opt.URL = b.keys.URL
	}
	if opt.Now == nil {
		opt.Now = b.clock.Now
	}
	b.cache, err = jwks.New(opt)
	require.NoError(t, err)
	return b
}

func (b *cacheBundle) serve(t *testing.T, keys ...map[string]any) {
	t.Helper()
	b.keys.Serve(marshalSet(t, keys...))
}

func (b *cacheBundle) key(kid string) (jwks.Key, error) {
	return b.cache.Key(context.Background(), kid, jwks.EdDSA)
}

func TestAKnownKeyIsFetchedOnceAndThenServedFromTheCache(t *testing.T) {
	b := setupCache(t, jwks.Options{})
	for range 3 {
		k, err := b.key("k1")
		require.NoError(t, err)
		require.True(t, b.pub.Equal(k.Public))
	}
	require.EqualValues(t, 1, b.keys.Fetches())
}

func TestAnUnknownKidRefetchesOnceAndIsThenRefused(t *testing.T) {
	b := setupCache(t, jwks.Options{})
	_, err := b.key("k1")
	require.NoError(t, err)
	require.EqualValues(t, 1, b.keys.Fetches())

	b.clock.Advance(10 * time.Second)
	_, err = b.key("made-up-1")
	require.ErrorIs(t, err, jwks.ErrUnknownKey)
	require.NotErrorIs(t, err, jwks.ErrUnavailable)
	require.EqualValues(t, 2, b.keys.Fetches(), "an unknown kid refetches once")

	b.clock.Advance(9 * time.Second)
	_, err = b.key("made-up-2")
	require.ErrorIs(t, err, jwks.ErrUnknownKey)
	require.EqualValues(t, 2, b.keys.Fetches(), "a second unknown kid within MinRefetchInterval does not fetch")

	b.clock.Advance(time.Second)
	_, err = b.key("made-up-3")
	require.ErrorIs(t, err, jwks.ErrUnknownKey)
	require.EqualValues(t, 3, b.keys.Fetches(), "once the interval has passed, one more fetch")
}

func TestAKeyAddedToTheSetIsFoundByTheRefetchItsKidCauses(t *testing.T) {
	b := setupCache(t, jwks.Options{})
	_, err := b.key("k1")
	require.NoError(t, err)
	next, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	b.serve(t, okpJWK(next, "k2"), okpJWK(b.pub, "k1"))

	b.clock.Advance(10 * time.Second)
	k, err := b.key("k2")
	require.NoError(t, err)
	require.True(t, next.Equal(k.Public))
}

func TestAFloodOfUnknownKidsSharesOneFetch(t *testing.T) {
	b := setupCache(t, jwks.Options{})
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			_, err := b.key("made-up-" + string(rune('a'+i%26)))
			require.ErrorIs(t, err, jwks.ErrUnknownKey)
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, b.keys.Fetches())
}

func TestADownKeyServerIsUnavailableNotAnUnknownKey(t *testing.T) {
	b := setupCache(t, jwks.Options{})
	b.keys.SetStatus(http.StatusServiceUnavailable)
	_, err := b.key("k1")
	require.ErrorIs(t, err, jwks.ErrUnavailable)
	require.NotErrorIs(t, err, jwks.ErrUnknownKey)
	require.ErrorContains(t, err, "503")

	_, err = b.key("k1")
	require.ErrorIs(t, err, jwks.ErrUnavailable, "within the interval the last failure is reported")
	require.EqualValues(t, 1, b.keys.Fetches())

	b.keys.SetStatus(http.StatusOK)
	b.clock.Advance(10 * time.Second)
	_, err = b.key("k1")
	require.NoError(t, err, "the server is back: the next allowed fetch succeeds")
}

func TestAFailedRefetchKeepsTheKeysAlreadyFetched(t *testing.T) {
	b := setupCache(t, jwks.Options{})
	_, err := b.key("k1")
	require.NoError(t, err)
	b.keys.SetStatus(http.StatusInternalServerError)
	b.clock.Advance(10 * time.Second)
	_, err = b.key("made-up")
	require.ErrorIs(t, err, jwks.ErrUnavailable)
	_, err = b.key("k1")
	require.NoError(t, err)
}

func TestAnOversizedOrUndecodableBodyIsUnavailable(t *testing.T) {
	for name, body := range map[string]string{
		"over 1 MiB": `{"keys":[],"pad":"` + strings.Repeat("a", jwks.MaxBodyBytes) + `"}`,
		"not JSON":   "<html>",
	} {
		t.Run(name, func(t *testing.T) {
			b := setupCache(t, jwks.Options{})
			b.keys.Serve([]byte(body))
			_, err := b.key("k1")
			require.ErrorIs(t, err, jwks.ErrUnavailable)
		})
	}
}

func TestAHangingKeyServerFailsWithinFetchTimeout(t *testing.T) {
	hang := testproc.HangingServer(t)
	b := setupCache(t, jwks.Options{URL: hang.URL, FetchTimeout: 100 * time.Millisecond})

	start := time.Now()
	_, err := b.key("k1")
	require.ErrorIs(t, err, jwks.ErrUnavailable)
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestALookupGivesUpWhenItsContextEnds(t *testing.T) {
	b := setupCache(t, jwks.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.cache.Key(ctx, "k1", jwks.EdDSA)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, jwks.ErrUnknownKey)
}

func TestKeysOlderThanMaxAgeAreRefetchedSoADroppedKeyStopsVerifying(t *testing.T) {
	b := setupCache(t, jwks.Options{MaxAge: time.Hour})
	_, err := b.key("k1")
	require.NoError(t, err)

	b.clock.Advance(59 * time.Minute)
	_, err = b.key("k1")
	require.NoError(t, err)
	require.EqualValues(t, 1, b.keys.Fetches(), "young keys need no fetch")

	b.keys.SetStatus(http.StatusServiceUnavailable)
	b.clock.Advance(time.Minute)
	_, err = b.key("k1")
	require.NoError(t, err, "a failed refetch keeps the old keys")
	require.EqualValues(t, 2, b.keys.Fetches())

	b.keys.SetStatus(http.StatusOK)
	other, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	b.serve(t, okpJWK(other, "k9"))
	b.clock.Advance(10 * time.Second)
	_, err = b.key("k1")
	require.ErrorIs(t, err, jwks.ErrUnknownKey, "k1 left the set")
	require.EqualValues(t, 3, b.keys.Fetches())
}

func TestFetchReplacesHTTP(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	raw := marshalSet(t, okpJWK(pub, "in-process"))
	b := setupCache(t, jwks.Options{Fetch: func(context.Context) ([]byte, error) { return raw, nil }})
	_, err = b.key("in-process")
	require.NoError(t, err)
	require.Zero(t, b.keys.Fetches())

	failing := setupCache(t, jwks.Options{Fetch: func(context.Context) ([]byte, error) { return nil, errors.New("no keys yet") }})
	_, err = failing.key("in-process")
	require.ErrorIs(t, err, jwks.ErrUnavailable)
	require.ErrorContains(t, err, "no keys yet")
}

func TestNewRefusesBadOptions(t *testing.T) {
	for name, opt := range map[string]jwks.Options{
		"no key source":             {},
		"an unknown algorithm":      {URL: "http://x/jwks.json", Algorithms: []string{"HS256"}},
		"negative refetch interval": {URL: "http://x/jwks.json", MinRefetchInterval: -time.Second},
		"negative fetch timeout":    {URL: "http://x/jwks.json", FetchTimeout: -time.Second},
		"negative max age":          {URL: "http://x/jwks.json", MaxAge: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := jwks.New(opt)
			require.Error(t, err)
		})
	}
}
