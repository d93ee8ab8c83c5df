package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultHistoryRetention is how long a room's history is kept by default.
const DefaultHistoryRetention = 48 * time.Hour

// HistoryStepMS is the step the scripts record at (lua/history.lua); a
// history is read at a multiple of it.
const HistoryStepMS = 10000

// historyBuckets is the number of wait buckets (0..72, lua/history.lua).
const historyBuckets = 73

// historyLookback is how many steps before since a read looks back for the
// gauges to carry into the first step (an idle room writes none).
const historyLookback = 360

func historyPrelude(retention time.Duration) string {
	return fmt.Sprintf("local HIST_TTL_S = %d\n", int64(retention/time.Second))
}

func historyKey(room string, n int64) string {
	return KeyPrefix(room) + "h:" + strconv.FormatInt(n, 10)
}

func historyTotalsKey(room string) string { return KeyPrefix(room) + "htot" }

// HistoryCounts are what a room's history counts: joined, admitted, dropped
// for absence, left the line or pre-queue, admissions ended (time up,
// checkout, leave, the operator), admissions ended for not arriving.
type HistoryCounts struct {
	Arrived, Admitted, Abandoned, Left, Ended, NoShow int64
}

// historyCounts reads the counts of a history hash: a step's or the totals'.
func historyCounts(f map[string]string) HistoryCounts {
	get := func(k string) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	return HistoryCounts{Arrived: get("ar"), Admitted: get("ad"), Abandoned: get("ab"), Left: get("lf"),
		Ended: get("en"), NoShow: get("ns")}
}

func (c *HistoryCounts) add(o HistoryCounts) {
	c.Arrived += o.Arrived
	c.Admitted += o.Admitted
	c.Abandoned += o.Abandoned
	c.Left += o.Left
	c.Ended += o.Ended
	c.NoShow += o.NoShow
}

// HistoryPoint is one step of a room's history.
type HistoryPoint struct {
	// T is the step's start.
	T time.Time
	// The counts of the step.
	HistoryCounts
	// Waiting and AdmittedNow are the line and the live admissions at the
	// step's last tick (carried from the step before when it had none).
	Waiting, AdmittedNow int64
	// WaitP50 and WaitP95 are the wait (line entry to admission) of those
	// admitted in the step, in seconds, within 9% (see WaitBuckets); nil
	// when nobody was admitted.
	WaitP50, WaitP95 *float64
	buckets          [historyBuckets]int64
	peak             int64 // the longest line at a tick of the step
}

// HistorySummary adds up a history's points.
type HistorySummary struct {
	HistoryCounts
	// PeakWaiting is the longest the line was after a tick.
	PeakWaiting int64
	// WaitP50 and WaitP95 are over every admission of the range.
	WaitP50, WaitP95 *float64
}

// History is a room's sale history over a range.
type History struct {
	Room    string
	Step    time.Duration
	Points  []HistoryPoint
	Summary HistorySummary
}

// ErrInvalidHistoryStep: the step is not a positive multiple of 10 s.
var ErrInvalidHistoryStep = errors.New("history step must be a positive multiple of 10s")

// History reads the room's history from since (rounded down to a step) to
// now, at step (a multiple of 10 s), one point per step, the current one
// included. since is clamped to the retention and to the room's first
// recorded step (the current step alone when nothing is recorded). A deleted room's history stays readable until it expires.
// Errors: ErrInvalidRoom, ErrInvalidHistoryStep, ErrRoomNotFound,
// ErrUnavailable.
func (s *Store) History(ctx context.Context, room string, since time.Time, step time.Duration) (History, error) {
	if !ValidRoomID(room) {
		return History{}, ErrInvalidRoom
	}
	stepMS := step.Milliseconds()
	if stepMS <= 0 || stepMS%HistoryStepMS != 0 {
		return History{}, ErrInvalidHistoryStep
	}
	now, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return History{}, storeErr("history", err)
	}
	var first *redis.StringCmd
	var cfgLen *redis.IntCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		first = p.HGet(ctx, historyTotalsKey(room), "f")
		cfgLen = p.HLen(ctx, roomKeys(room).cfg)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return History{}, storeErr("history", err)
	}
	firstStep, ferr := first.Int64()
	if cfgLen.Val() == 0 && ferr != nil {
		return History{}, ErrRoomNotFound
	}
	nowMS := now.UnixMilli()
	from := max(since.UnixMilli(), nowMS-s.opt.HistoryRetention.Milliseconds())
	if ferr == nil {
		from = max(from, firstStep*HistoryStepMS)
	} else {
		from = nowMS // nothing recorded yet: the current step alone
	}
	from = min(from, nowMS)
	from -= ((from % stepMS) + stepMS) % stepMS
	lo, hi := from/HistoryStepMS, nowMS/HistoryStepMS

	steps := make([]*redis.MapStringStringCmd, hi-lo+1)
	seeds := make([]*redis.SliceCmd, historyLookback)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range seeds {
			seeds[i] = p.HMGet(ctx, historyKey(room, lo-1-int64(i)), "w", "i")
		}
		for n := lo; n <= hi; n++ {
			steps[n-lo] = p.HGetAll(ctx, historyKey(room, n))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return History{}, storeErr("history", err)
	}
	var waiting, inside int64
	for _, c := range seeds { // the nearest earlier step with gauges
		if v := c.Val(); len(v) == 2 && v[0] != nil {
			waiting, _ = strconv.ParseInt(fmt.Sprint(v[0]), 10, 64)
			inside, _ = strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
			break
		}
	}

	h := History{Room: room, Step: step}
	per := stepMS / HistoryStepMS
	var all [historyBuckets]int64
	for n := lo; n <= hi; n += per {
		pt := HistoryPoint{T: time.UnixMilli(n * HistoryStepMS).UTC()}
		for m := n; m < n+per && m <= hi; m++ {
			f := steps[m-lo].Val()
			if len(f) == 0 {
				continue
			}
			get := func(k string) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
			pt.add(historyCounts(f))
			if _, ok := f["w"]; ok {
				waiting, inside = get("w"), get("i")
			}
			pt.peak = max(pt.peak, get("pw"))
			for k := range pt.buckets {
				if v, ok := f["b"+strconv.Itoa(k)]; ok {
					c, _ := strconv.ParseInt(v, 10, 64)
					pt.buckets[k] += c
				}
			}
		}
		pt.Waiting, pt.AdmittedNow = waiting, inside
		pt.WaitP50, pt.WaitP95 = waitQuantile(pt.buckets[:], 0.5), waitQuantile(pt.buckets[:], 0.95)
		for k, c := range pt.buckets {
			all[k] += c
		}
		sm := &h.Summary
		sm.add(pt.HistoryCounts)
		sm.PeakWaiting = max(sm.PeakWaiting, pt.Waiting, pt.peak)
		h.Points = append(h.Points, pt)
	}
	h.Summary.WaitP50, h.Summary.WaitP95 = waitQuantile(all[:], 0.5), waitQuantile(all[:], 0.95)
	return h, nil
}

// WaitBucketUpper is the upper bound, in seconds, of wait bucket k
// (lua/history.lua): 1 s for bucket 0, 2^(k/4) s above.
func WaitBucketUpper(k int) float64 {
	if k == 0 {
		return 1
	}
	return math.Pow(2, float64(k)/4)
}

// waitQuantile is the nearest-rank q-quantile of the bucket counts, at the
// bucket's geometric middle (0 for bucket 0) rounded to 0.1 s; nil when the
// counts are all 0.
func waitQuantile(buckets []int64, q float64) *float64 {
	var n int64
	for _, c := range buckets {
		n += c
	}
	if n == 0 {
		return nil
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen int64
	for k, c := range buckets {
		seen += c
		if seen >= rank {
			v := 0.0
			if k > 0 {
				v = math.Round(math.Pow(2, (float64(k)-0.5)/4)*10) / 10
			}
			return &v
		}
	}
	return nil
}

// HistoryTotals are a room's history counters since its first event (while
// kept), for Prometheus.
type HistoryTotals struct {
	HistoryCounts
	// WaitBuckets[k] counts the admissions whose wait fell in bucket k
	// (upper bound WaitBucketUpper(k)).
	WaitBuckets []int64
	// WaitSum is the sum of those waits.
	WaitSum time.Duration
}

// HistoryTotals reads the room's totals; a room with no history has zeros.
// Errors: ErrInvalidRoom, ErrUnavailable.
func (s *Store) HistoryTotals(ctx context.Context, room string) (HistoryTotals, error) {
	if !ValidRoomID(room) {
		return HistoryTotals{}, ErrInvalidRoom
	}
	f, err := s.rdb.HGetAll(ctx, historyTotalsKey(room)).Result()
	if err != nil {
		return HistoryTotals{}, storeErr("history totals", err)
	}
	get := func(k string) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	t := HistoryTotals{HistoryCounts: historyCounts(f), WaitBuckets: make([]int64, historyBuckets),
		WaitSum: time.Duration(get("ws")) * time.Millisecond}
	for k := range t.WaitBuckets {
		t.WaitBuckets[k] = get("b" + strconv.Itoa(k))
	}
	return t, nil
}

// Arrive records that the admission behind an entry token's jti was used
// at the site (a gateway or forward-auth pass, or POST .../arrive), so that
// arrive_within_s does not end it. LiveAdmission records the same, for the
// booking API. Errors: as LiveAdmission.
func (s *Store) Arrive(ctx context.Context, room, admissionID string) (ActiveAdmission, error) {
	return s.LiveAdmission(ctx, room, admissionID)
}
