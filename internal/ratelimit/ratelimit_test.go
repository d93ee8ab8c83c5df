package ratelimit

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testclock"
)

func TestBurstThenRefusedWithRetryAfter(t *testing.T) {
	c := testclock.New(time.Unix(1000, 0))
	l := New(2, 3, c.Now)
	for i := 0; i < 3; i++ {
		ok, _ := l.Allow("a")
		require.True(t, ok, "burst of 3 allowed")
	}
	ok, wait := l.Allow("a")
	require.False(t, ok)
	require.Equal(t, 500*time.Millisecond, wait, "one token every 1/rate seconds")

	ok, _ = l.Allow("b")
	require.True(t, ok, "another key has its own bucket")

	c.Advance(500 * time.Millisecond)
	ok, _ = l.Allow("a")
	require.True(t, ok, "refilled after the wait")
}

func TestZeroRateAllowsEverything(t *testing.T) {
	l := New(0, 1, nil)
	require.False(t, l.Enabled())
	require.False(t, (*Limiter)(nil).Enabled())
	require.True(t, New(1, 1, nil).Enabled())
	for i := 0; i < 100; i++ {
		ok, _ := l.Allow("a")
		require.True(t, ok)
	}
}

func TestIdleBucketsAreForgotten(t *testing.T) {
	c := testclock.New(time.Unix(1000, 0))
	l := New(10, 10, c.Now)
	for i := 0; i < 1000; i++ {
		l.Allow(string(rune('a'+i%26)) + time.Duration(i).String())
	}
	c.Advance(2 * time.Minute)
	l.Allow("x")
	s := &l.shard[maphash.String(l.seed, "x")%shards]
	require.Len(t, s.buckets, 1, "a shard forgets its refilled buckets when next used")
}

func TestConcurrentCapsEachKeyAndForgetsKeysHoldingNothing(t *testing.T) {
	c := NewConcurrent(2)
	require.True(t, c.Acquire("a"))
	require.True(t, c.Acquire("a"))
	require.False(t, c.Acquire("a"), "a holds its 2")
	require.True(t, c.Acquire("b"), "another key has its own count")
	c.Release("a")
	require.Equal(t, 1, c.Held("a"))
	require.True(t, c.Acquire("a"), "a released one")
	c.Release("a")
	c.Release("a")
	c.Release("b")
	for i := range c.shard {
		require.Empty(t, c.shard[i].counts, "a key holding nothing is forgotten")
	}
}

func TestConcurrentZeroOrNilAllowsEverything(t *testing.T) {
	for _, c := range []*Concurrent{NewConcurrent(0), nil} {
		for range 100 {
			require.True(t, c.Acquire("a"))
		}
		c.Release("a")
		require.False(t, c.Enabled())
	}
}

func TestConcurrentHoldsUnderContention(t *testing.T) {
	c := NewConcurrent(10)
	var wg sync.WaitGroup
	var got atomic.Int64
	for range 100 {
		wg.Go(func() {
			if c.Acquire("a") {
				got.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 10, got.Load(), "exactly the cap, however many race for it")
}

func TestAnAddressKeysItsLimitsByIPv4AddressOrIPv6Slash64(t *testing.T) {
	for _, c := range []struct{ ip, key string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.2", "192.0.2.2"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:DB8:1:2:a:b:c:d", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"", ""},
		{"not-an-address", "not-an-address"},
		{"192.0.2.1:8080", "192.0.2.1:8080"},
	} {
		require.Equal(t, c.key, AddrKey(c.ip), c.ip)
	}
}
