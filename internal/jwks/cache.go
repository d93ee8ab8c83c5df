package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Errors of Cache.Key, checked with errors.Is.
var (
	// ErrUnknownKey: the set holds no usable key with that kid and algorithm,
	// even after the refetch the rules allowed. The token's fault.
	ErrUnknownKey = errors.New("jwks: no such key")
	// ErrUnavailable: the key is not cached and the set could not be fetched
	// or decoded. The key server's fault, not the token's.
	ErrUnavailable = errors.New("jwks: keys unavailable")
)

// MaxBodyBytes bounds a fetched set; real sets are a few KiB.
const MaxBodyBytes = 1 << 20

// Options configures a Cache.
type Options struct {
	// URL is where the set is fetched with GET. Required unless Fetch is set.
	URL string
	// Fetch, when set, replaces the HTTP fetch of URL (an in-process key
	// source). It gets a context with FetchTimeout. Default nil.
	Fetch func(ctx context.Context) ([]byte, error)
	// HTTPClient fetches URL. Default http.DefaultClient.
	HTTPClient *http.Client
	// Algorithms are the algorithms whose keys are kept; keys for others are
	// skipped. Default all of Algorithms (RS256, ES256, EdDSA).
	Algorithms []string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MinRefetchInterval is the least time between the starts of two
	// fetches, so that tokens with made-up kids cannot make the Cache hammer
	// the key server. Default 10s.
	MinRefetchInterval time.Duration
	// FetchTimeout bounds one fetch. Default 5s.
	FetchTimeout time.Duration
	// MaxAge is how long fetched keys are trusted without a refetch, so that
	// a key dropped from the set stops verifying even if no unknown kid ever
	// comes; a refetch that fails keeps the old keys. Default 0: keys are
	// kept until an unknown kid causes a refetch.
	MaxAge time.Duration
}

// WithDefaults returns the options with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if len(o.Algorithms) == 0 {
		o.Algorithms = Algorithms
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinRefetchInterval == 0 {
		o.MinRefetchInterval = 10 * time.Second
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = 5 * time.Second
	}
	return o
}

func (o Options) validate() error {
	if o.URL == "" && o.Fetch == nil {
		return errors.New("jwks: URL or Fetch must be set")
	}
	return o.Validate()
}

// Validate checks every field but the key source (URL, Fetch), which New
// also requires: a verifier that may run without a key set checks its
// settings for one with it.
func (o Options) Validate() error {
	for _, alg := range o.Algorithms {
		if !slices.Contains(Algorithms, alg) {
			return fmt.Errorf("jwks: Algorithms may hold only %v, got %q", Algorithms, alg)
		}
	}
	switch {
	case o.MinRefetchInterval < 0:
		return fmt.Errorf("jwks: MinRefetchInterval must not be negative, got %s", o.MinRefetchInterval)
	case o.FetchTimeout < 0:
		return fmt.Errorf("jwks: FetchTimeout must not be negative, got %s", o.FetchTimeout)
	case o.MaxAge < 0:
		return fmt.Errorf("jwks: MaxAge must not be negative, got %s", o.MaxAge)
	}
	return nil
}

// Cache holds the keys of one fetched set. A lookup that misses refetches
// the set, at most once per MinRefetchInterval, and concurrent misses share
// one fetch. It is safe for concurrent use.
type Cache struct {
	opt Options

	mu        sync.Mutex
	set       *Set          // keys of the last good fetch; nil before one
	setAt     time.Time     // start of the fetch that gave set
	fetched   bool          // a fetch has been started before
	fetchedAt time.Time     // start of the last fetch
	fetchErr  error         // outcome of the last finished fetch
	inflight  chan struct{} // closed when the running fetch ends; nil when none runs
}

// New returns a Cache. It fetches nothing yet: the first Key does.
func New(opt Options) (*Cache, error) {
	opt = opt.WithDefaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	return &Cache{opt: opt}, nil
}

// Key returns the key with this kid that verifies alg. The error wraps
// ErrUnknownKey when the set has no such key, ErrUnavailable when the key is
// not cached and the set could not be fetched, or the context's error when
// ctx ends while waiting for a fetch.
func (c *Cache) Key(ctx context.Context, kid, alg string) (Key, error) {
	c.mu.Lock()
	k, ok := c.set.Lookup(kid, alg)
	stale := c.opt.MaxAge > 0 && c.opt.Now().Sub(c.setAt) >= c.opt.MaxAge
	if ok && !stale {
		c.mu.Unlock()
		return k, nil
	}
	done := c.inflight
	if done == nil {
		if c.fetched && c.opt.Now().Sub(c.fetchedAt) < c.opt.MinRefetchInterval {
			err := c.fetchErr
			c.mu.Unlock()
			switch {
			case ok:
				return k, nil
			case err != nil:
				return Key{}, fmt.Errorf("%w: last fetch failed: %w", ErrUnavailable, err)
			}
			return Key{}, fmt.Errorf("%w: kid %q for %s", ErrUnknownKey, kid, alg)
		}
		done = make(chan struct{})
		c.inflight = done
		c.fetched = true
		c.fetchedAt = c.opt.Now()
		// The fetch is shared, so one caller giving up must not cancel it
		// for the others: it keeps ctx's values but not its cancellation.
		go c.refresh(context.WithoutCancel(ctx), c.fetchedAt, done)
	}
	c.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
		if ok {
			return k, nil
		}
		return Key{}, fmt.Errorf("jwks: waiting for the key set: %w", ctx.Err())
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.set.Lookup(kid, alg); ok {
		return k, nil
	}
	if c.fetchErr != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrUnavailable, c.fetchErr)
	}
	return Key{}, fmt.Errorf("%w: kid %q for %s", ErrUnknownKey, kid, alg)
}

// refresh fetches the set, replaces the cached keys on success (so keys
// dropped from the set stop verifying) and closes done.
func (c *Cache) refresh(ctx context.Context, started time.Time, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.FetchTimeout)
	defer cancel()
	set, err := c.fetch(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetchErr = err
	if err == nil {
		c.set, c.setAt = set, started
	}
	c.inflight = nil
	close(done)
}

func (c *Cache) fetch(ctx context.Context) (*Set, error) {
	var body []byte
	if c.opt.Fetch != nil {
		b, err := c.opt.Fetch(ctx)
		if err != nil {
			return nil, fmt.Errorf("fetch JWKS: %w", err)
		}
		body = b
	} else {
		b, err := c.get(ctx)
		if err != nil {
			return nil, err
		}
		body = b
	}
	return Parse(body, c.opt.Algorithms...)
}

func (c *Cache) get(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.opt.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.opt.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS %s: status %s", c.opt.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", c.opt.URL, err)
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("fetch JWKS %s: body over %d bytes", c.opt.URL, MaxBodyBytes)
	}
	return body, nil
}
