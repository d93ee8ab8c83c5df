package main

import (
	"math"
	"math/bits"
	"sort"
	"sync"
	"time"
)

// The latency histogram is log-linear, like HDR Histogram: values below 128
// have a bucket each, and every octave above is cut into 64 equal buckets, so
// a reported percentile is at most 1/64 (1.6 %) above the true value. Its size
// is fixed (about 18 KiB) however many values it holds, which is what lets
// the tool record 100 000 sockets' delays for every tick without keeping them.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits // exact buckets for 0..127
	histHalf    = histSub / 2      // buckets per octave above
	histOctaves = 40               // up to 2^47 µs: years
	histBuckets = histSub + histOctaves*histHalf
)

// hist counts values (microseconds here) in log-linear buckets, and keeps the
// exact count, sum, minimum and maximum. Not safe for concurrent use; see
// syncHist.
type hist struct {
	counts   [histBuckets]uint64
	n        int64
	sum      int64
	min, max int64
}

func bucketOf(v int64) int {
	if v < histSub {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - histSubBits // v>>e is in [histHalf, histSub)
	return min(histSub+(e-1)*histHalf+int(v>>e)-histHalf, histBuckets-1)
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	j := i - histSub
	e := j/histHalf + 1
	m := int64(j%histHalf + histHalf)
	return (m+1)<<e - 1
}

func (h *hist) record(v int64) {
	v = max(v, 0)
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += v
	h.counts[bucketOf(v)]++
}

func (h *hist) reset() { *h = hist{} }

// quantile is the value at or below which a fraction q of the values lie,
// rounded up to its bucket's upper edge and never above the true maximum.
func (h *hist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(h.n))), 1)
	var seen int64
	for i, c := range h.counts {
		seen += int64(c)
		if seen >= rank {
			return max(min(bucketHigh(i), h.max), h.min)
		}
	}
	return h.max
}

// Dist is the summary of a latency distribution, in milliseconds.
type Dist struct {
	N    int64   `json:"n"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

func usToMS(us int64) float64 { return math.Round(float64(us)/10) / 100 }

func (h *hist) dist() Dist {
	if h.n == 0 {
		return Dist{}
	}
	return Dist{N: h.n, P50: usToMS(h.quantile(0.50)), P99: usToMS(h.quantile(0.99)),
		Max: usToMS(h.max), Mean: usToMS(h.sum / h.n)}
}

// syncHist is a hist of durations that many goroutines record into.
type syncHist struct {
	mu sync.Mutex
	h  hist
}

func (s *syncHist) Record(d time.Duration) {
	s.mu.Lock()
	s.h.record(d.Microseconds())
	s.mu.Unlock()
}

func (s *syncHist) Dist() Dist {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h.dist()
}

// distOf summarises a small set of durations exactly (sorted sample): used
// across tick waves, of which there are at most a few thousand.
func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) float64 {
		i := max(int(math.Ceil(q*float64(len(s))))-1, 0)
		return usToMS(s[i].Microseconds())
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Dist{N: int64(len(s)), P50: at(0.50), P99: at(0.99), Max: usToMS(s[len(s)-1].Microseconds()),
		Mean: usToMS((sum / time.Duration(len(s))).Microseconds())}
}

// counters counts events by kind (errors, retries).
type counters struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *counters) Add(kind string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[kind]++
	c.mu.Unlock()
}

// Snapshot returns a copy of the counts and their total.
func (c *counters) Snapshot() (map[string]int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.m))
	var total int64
	for k, v := range c.m {
		out[k] = v
		total += v
	}
	return out, total
}
