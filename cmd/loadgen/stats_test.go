package main

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramBucketsCoverEveryValueOnce(t *testing.T) {
	prevHigh := int64(-1)
	for i := range histBuckets {
		high := bucketHigh(i)
		require.Greater(t, high, prevHigh, "bucket %d", i)
		require.Equal(t, i, bucketOf(prevHigh+1), "lowest value of bucket %d", i)
		require.Equal(t, i, bucketOf(high), "highest value of bucket %d", i)
		prevHigh = high
	}
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h hist
	for v := int64(1); v <= 100; v++ {
		h.record(v)
	}
	require.Equal(t, int64(50), h.quantile(0.50))
	require.Equal(t, int64(99), h.quantile(0.99))
	require.Equal(t, int64(100), h.quantile(1))
	require.Equal(t, int64(1), h.quantile(0))
}

func TestHistogramQuantilesWithinOnePointSixPercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h hist
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(rng.ExpFloat64() * 50000) // µs, mean 50 ms
		h.record(vals[i])
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.quantile(q)
		require.GreaterOrEqual(t, got, exact, "q=%v", q)
		require.LessOrEqual(t, float64(got), float64(exact)*(1+1.0/64)+1, "q=%v", q)
	}
	require.Equal(t, vals[len(vals)-1], h.quantile(1), "the maximum is exact")
}

func TestHistogramNeverReportsAboveTheMaximum(t *testing.T) {
	var h hist
	h.record(1000)
	require.Equal(t, int64(1000), h.quantile(0.5), "1000 shares a bucket up to 1007, but is the maximum")
	h.record(2000)
	require.Equal(t, int64(1007), h.quantile(0.5), "the bucket's upper edge: within 1/64")
}

func TestEmptyDistributionIsZero(t *testing.T) {
	var h hist
	require.Equal(t, Dist{}, h.dist())
	require.Equal(t, Dist{}, distOf(nil))
}

func TestDistOfSortedSample(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	d := distOf(ds)
	require.Equal(t, Dist{N: 100, P50: 50, P99: 99, Max: 100, Mean: 50.5}, d)
	require.Equal(t, 100*time.Millisecond, ds[0], "the input is left as it was")
}

func TestCountersCountByKind(t *testing.T) {
	var c counters
	c.Add("a")
	c.Add("b")
	c.Add("a")
	m, total := c.Snapshot()
	require.Equal(t, map[string]int64{"a": 2, "b": 1}, m)
	require.Equal(t, int64(3), total)
}
