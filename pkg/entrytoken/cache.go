package entrytoken

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// DefaultCacheSize is the default bound of a Cache: about 30 MB at its
// fullest.
const DefaultCacheSize = 100000

// cacheTTL bounds how long a token is trusted without a new signature
// check, so a key dropped from the JWKS stops admitting within a minute.
const cacheTTL = time.Minute

// CacheOptions configure a Cache.
type CacheOptions struct {
	// Size bounds the tokens remembered. 0 means DefaultCacheSize;
	// negative turns the cache off (every Verify checks the signature).
	Size int
	// Now is the clock of the entries' ends. Default time.Now.
	Now func() time.Time
}

// Cache is a Verifier that remembers the claims of the tokens it accepted,
// keyed by the SHA-256 of the whole token (signature included, so a forged
// token never hits). An entry lasts until the token's exp, at most a
// minute; a hit still checks the room. Only the signature check is spared:
// whether the admission is still live is the caller's to check every time.
// It is safe for concurrent use.
type Cache struct {
	v    *Verifier
	size int // < 0: off
	now  func() time.Time

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	claims *VerifiedClaims
	until  time.Time
}

// NewCache returns a Cache in front of v.
func NewCache(v *Verifier, opt CacheOptions) *Cache {
	if opt.Size == 0 {
		opt.Size = DefaultCacheSize
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Cache{v: v, size: opt.Size, now: opt.Now, entries: map[[sha256.Size]byte]cachedToken{}}
}

// Verify is Verifier.Verify, answered from the cache when the token was
// accepted within the last minute and has not expired.
func (tc *Cache) Verify(ctx context.Context, token, room string) (*VerifiedClaims, error) {
	if tc.size < 0 {
		return tc.v.Verify(ctx, token, room)
	}
	// The token's bytes in a buffer on the stack: a hit, the gateway's
	// every request, allocates nothing (a token is well under 1 KiB).
	var buf [1024]byte
	key := sha256.Sum256(append(buf[:0], token...))
	now := tc.now()
	tc.mu.RLock()
	e, ok := tc.entries[key]
	tc.mu.RUnlock()
	if ok && now.Before(e.until) {
		if e.claims.Room != room {
			return nil, fmt.Errorf("%w: token is for room %q, not %q", ErrWrongRoom, e.claims.Room, room)
		}
		return e.claims, nil
	}
	claims, err := tc.v.Verify(ctx, token, room)
	if err != nil {
		return nil, err
	}
	until := now.Add(cacheTTL)
	if claims.ExpiresAt.Before(until) {
		until = claims.ExpiresAt
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if len(tc.entries) >= tc.size {
		tc.evict(now)
	}
	tc.entries[key] = cachedToken{claims: claims, until: until}
	return claims, nil
}

// evict drops the ended entries, and if that is not enough a quarter of the
// rest (map order is random, so which is arbitrary). Called with mu held.
func (tc *Cache) evict(now time.Time) {
	for k, e := range tc.entries {
		if !now.Before(e.until) {
			delete(tc.entries, k)
		}
	}
	drop := len(tc.entries) - tc.size*3/4
	for k := range tc.entries {
		if drop <= 0 {
			break
		}
		delete(tc.entries, k)
		drop--
	}
}
