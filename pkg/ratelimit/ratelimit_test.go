package ratelimit

import (
	"hash/maphash"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBurstThenRefusedWithRetryAfter(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(2, 3, c.now)
	for i := 0; i < 3; i++ {
		ok, _ := l.Allow("a")
		require.True(t, ok, "burst of 3 allowed")
	}
	ok, wait := l.Allow("a")
	require.False(t, ok)
	require.Equal(t, 500*time.Millisecond, wait, "one token every 1/rate seconds")

	ok, _ = l.Allow("b")
	require.True(t, ok, "another key has its own bucket")

	c.t = c.t.Add(500 * time.Millisecond)
	ok, _ = l.Allow("a")
	require.True(t, ok, "refilled after the wait")
}

func TestZeroRateAllowsEverything(t *testing.T) {
	l := New(0, 1, nil)
	for i := 0; i < 100; i++ {
		ok, _ := l.Allow("a")
		require.True(t, ok)
	}
}

func TestIdleBucketsAreForgotten(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(10, 10, c.now)
	for i := 0; i < 1000; i++ {
		l.Allow(string(rune('a'+i%26)) + time.Duration(i).String())
	}
	c.t = c.t.Add(2 * time.Minute)
	l.Allow("x")
	s := &l.shard[maphash.String(l.seed, "x")%shards]
	require.Len(t, s.buckets, 1, "a shard forgets its refilled buckets when next used")
}
