// Package ratelimit is a token bucket per key (a client address), used to
// keep one address from opening thousands of tickets or hammering an
// endpoint. It is in-process: each waitroom instance limits what it sees.
package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

const shards = 64

// Limiter allows each key Rate events per second with bursts of Burst.
// The zero Rate disables it. Safe for concurrent use.
type Limiter struct {
	rate  float64
	burst float64
	now   func() time.Time
	seed  maphash.Seed
	shard [shards]shard
}

type shard struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a limiter of rate events per second per key with bursts of
// burst; now is the clock (time.Now when nil). rate <= 0 allows everything.
func New(rate float64, burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if burst < 1 {
		burst = 1
	}
	l := &Limiter{rate: rate, burst: float64(burst), now: now, seed: maphash.MakeSeed()}
	for i := range l.shard {
		l.shard[i].buckets = map[string]*bucket{}
	}
	return l
}

// Enabled reports whether l limits anything: a caller may skip working out
// the key when it does not.
func (l *Limiter) Enabled() bool { return l != nil && l.rate > 0 }

// Allow takes one token for key. When none is left it reports false and how
// long until one is (for Retry-After).
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if !l.Enabled() {
		return true, 0
	}
	s := &l.shard[maphash.String(l.seed, key)%shards]
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l.sweep(s, now)
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		s.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// sweep forgets buckets that have refilled completely: they behave exactly
// like a new bucket, so memory stays bounded by the recently active keys.
func (l *Limiter) sweep(s *shard, now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range s.buckets {
		if now.Sub(b.at) > full {
			delete(s.buckets, k)
		}
	}
}
