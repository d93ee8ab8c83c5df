package ratelimit

import (
	"hash/maphash"
	"sync"
)

// Concurrent caps how many things (open sockets) each key (a client
// address) holds at once. A limit of 0 disables it; a nil *Concurrent allows
// everything too. Safe for concurrent use.
type Concurrent struct {
	max   int
	seed  maphash.Seed
	shard [shards]countShard
}

type countShard struct {
	mu     sync.Mutex
	counts map[string]int
}

// NewConcurrent returns a cap of limit held at once per key; limit <= 0 allows
// everything.
func NewConcurrent(limit int) *Concurrent {
	c := &Concurrent{max: limit, seed: maphash.MakeSeed()}
	for i := range c.shard {
		c.shard[i].counts = map[string]int{}
	}
	return c
}

// Acquire takes one for key, or reports false when key holds the limit already.
// Every true must be matched by one Release.
func (c *Concurrent) Acquire(key string) bool {
	if c == nil || c.max <= 0 {
		return true
	}
	s := &c.shard[maphash.String(c.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts[key] >= c.max {
		return false
	}
	s.counts[key]++
	return true
}

// Release gives back one that Acquire took for key. A key that holds none
// is forgotten, so memory stays bounded by the keys holding something.
func (c *Concurrent) Release(key string) {
	if c == nil || c.max <= 0 {
		return
	}
	s := &c.shard[maphash.String(c.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.counts[key]; n > 1 {
		s.counts[key] = n - 1
	} else {
		delete(s.counts, key)
	}
}

// Held is how many key holds now (for tests and metrics).
func (c *Concurrent) Held(key string) int {
	if c == nil || c.max <= 0 {
		return 0
	}
	s := &c.shard[maphash.String(c.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key]
}

// Enabled reports whether the cap limits anything.
func (c *Concurrent) Enabled() bool { return c != nil && c.max > 0 }
