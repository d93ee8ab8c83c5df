package queue

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// backdate moves a waiting ticket's line score d into the past, as if it had
// joined that long ago (it stays at the head only if it was there).
func (b *bundle) backdate(t *testing.T, ticket string, d time.Duration) {
	t.Helper()
	k := roomKeys(b.room)
	ids, err := b.rdb.ZRange(b.ctx, k.gens, 0, -1).Result()
	require.NoError(t, err)
	for _, id := range ids {
		gk := "wr:{" + b.room + "}:line:" + id
		if sc, err := b.rdb.ZScore(b.ctx, gk, ticket).Result(); err == nil {
			require.NoError(t, b.rdb.ZAddXX(b.ctx, gk, redis.Z{Score: sc - float64(d.Milliseconds()*ticksPerMS), Member: ticket}).Err())
			return
		}
	}
	t.Fatalf("ticket %s is not in the line", ticket)
}

// ageGenerations makes every line generation look ended long ago: the
// visitors in them have been absent longer than abandon_after_s.
func (b *bundle) ageGenerations(t *testing.T) {
	t.Helper()
	k := roomKeys(b.room)
	ids, err := b.rdb.ZRange(b.ctx, k.gens, 0, -1).Result()
	require.NoError(t, err)
	for _, id := range ids {
		require.NoError(t, b.rdb.ZAddXX(b.ctx, k.gens, redis.Z{Score: 1, Member: id}).Err())
	}
}

// missArrivals moves every arrival deadline into the past.
func (b *bundle) missArrivals(t *testing.T) {
	t.Helper()
	uk := "wr:{" + b.room + "}:unarrived"
	ids, err := b.rdb.ZRange(b.ctx, uk, 0, -1).Result()
	require.NoError(t, err)
	for _, id := range ids {
		require.NoError(t, b.rdb.ZAddXX(b.ctx, uk, redis.Z{Score: 1, Member: id}).Err())
	}
}

func (b *bundle) history(t *testing.T, step time.Duration) History {
	t.Helper()
	h, err := b.store.History(b.ctx, b.room, time.Now().Add(-time.Hour), step)
	require.NoError(t, err)
	return h
}

func TestHistoryAfterAScriptedSaleEqualsWhatHappened(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), Capacity: new(3), BatchSize: new(2), AbandonAfterS: new(60)}, func(t *testing.T, b *bundle) {
		var tk []string
		for range 6 {
			tk = append(tk, b.join(t).Ticket)
		}
		b.backdate(t, tk[0], 100*time.Second)
		require.NoError(t, b.store.Leave(b.ctx, b.room, tk[5])) // left the line
		require.Len(t, b.tick(t).Admitted, 2)                   // 0 and 1
		require.Len(t, b.tick(t).Admitted, 1)                   // 2: capacity 3
		require.NoError(t, b.store.Leave(b.ctx, b.room, tk[0])) // an admission ends
		require.NoError(t, b.store.EndAdmission(b.ctx, b.room, tk[1]))
		b.ageGenerations(t)
		ev := b.tick(t) // 3 and 4 abandoned
		require.Len(t, ev.Removed, 2)
		b.expireAdmissions(t)
		require.Len(t, b.tick(t).Ended, 1) // 2's time is up

		b.put(t, ConfigPatch{ArriveWithinS: new(60)})
		g, h := b.join(t), b.join(t)
		ev = b.tick(t)
		require.Equal(t, []string{g.Ticket, h.Ticket}, admittedTickets(ev))
		_, err := b.store.Arrive(b.ctx, b.room, ev.Admitted[0].ID) // g arrives
		require.NoError(t, err)
		b.missArrivals(t)
		ev = b.tick(t)
		require.Equal(t, []Ending{{Ticket: h.Ticket, Reason: ReasonNoShow}}, ev.Ended)

		for _, step := range []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute} {
			hist := b.history(t, step)
			require.Equal(t, step, hist.Step)
			counts := HistoryCounts{Arrived: 8, Admitted: 5, Abandoned: 2, Left: 1, Ended: 3, NoShow: 1}
			want := HistorySummary{HistoryCounts: counts, PeakWaiting: hist.Summary.PeakWaiting}
			got := hist.Summary
			got.WaitP50, got.WaitP95 = nil, nil
			require.Equal(t, want, got, "step %s", step)
			var sum HistorySummary
			for _, p := range hist.Points {
				sum.add(p.HistoryCounts)
				require.Zero(t, p.T.UnixMilli()%step.Milliseconds())
			}
			sum.PeakWaiting = want.PeakWaiting
			require.Equal(t, want, sum)
			last := hist.Points[len(hist.Points)-1]
			require.EqualValues(t, 0, last.Waiting)
			require.EqualValues(t, 1, last.AdmittedNow, "g is inside")
			require.GreaterOrEqual(t, hist.Summary.PeakWaiting, int64(3))
			// 5 admissions: four at once (bucket 0), one after 100 s.
			require.NotNil(t, hist.Summary.WaitP50)
			require.Equal(t, 0.0, *hist.Summary.WaitP50)
			require.InEpsilon(t, 100, *hist.Summary.WaitP95, 0.09)
		}

		tot, err := b.store.HistoryTotals(b.ctx, b.room)
		require.NoError(t, err)
		require.Equal(t, HistoryTotals{HistoryCounts: HistoryCounts{Arrived: 8, Admitted: 5, Abandoned: 2, Left: 1, Ended: 3, NoShow: 1}, WaitBuckets: tot.WaitBuckets,
			WaitSum: tot.WaitSum}, tot)
		require.InDelta(t, 100, tot.WaitSum.Seconds(), 2)
		require.EqualValues(t, 4, tot.WaitBuckets[0])
		require.EqualValues(t, 1, tot.WaitBuckets[27], "100 s lies in [2^6.5, 2^6.75)")

		// Another store over the same Redis (another instance) reads the same.
		other, err := New(b.rdb, Options{}).History(b.ctx, b.room, time.Now().Add(-time.Hour), time.Minute)
		require.NoError(t, err)
		require.Equal(t, b.history(t, time.Minute).Summary, other.Summary)
	})
}

func TestNoShowFreesItsPlaceForTheNextVisitorAtTheNextTick(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), Capacity: new(1), ArriveWithinS: new(30)}, func(t *testing.T, b *bundle) {
		first, second := b.join(t), b.join(t)
		ev := b.tick(t)
		require.Equal(t, []string{first.Ticket}, admittedTickets(ev))
		require.Empty(t, b.tick(t).Admitted, "capacity 1 is taken")
		b.missArrivals(t)
		ev = b.tick(t)
		require.Equal(t, []Ending{{Ticket: first.Ticket, Reason: ReasonNoShow}}, ev.Ended)
		require.Equal(t, []string{second.Ticket}, admittedTickets(ev), "the place goes to the next visitor")
		_, err := b.store.Status(b.ctx, b.room, first.Ticket)
		require.ErrorIs(t, err, ErrTicketNotFound)
		_, err = b.store.LiveAdmission(b.ctx, b.room, ev.Admitted[0].ID)
		require.NoError(t, err, "the second arrives")
		b.missArrivals(t)
		require.Empty(t, b.tick(t).Ended, "one who arrived is no no-show")
		require.EqualValues(t, 1, b.history(t, time.Minute).Summary.NoShow)
	})
}

func TestArrivalDeadlineOffOrAdmissionGoneIsNoNoShow(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), Capacity: new(5), ArriveWithinS: new(30)}, func(t *testing.T, b *bundle) {
		a, c := b.join(t), b.join(t)
		require.Len(t, b.tick(t).Admitted, 2)
		require.NoError(t, b.store.Leave(b.ctx, b.room, a.Ticket))
		b.put(t, ConfigPatch{ArriveWithinS: new(0)})
		b.missArrivals(t)
		require.Empty(t, b.tick(t).Ended)
		st := b.status(t, c.Ticket)
		require.Equal(t, StateAdmitted, st.State)
		n, err := b.rdb.Exists(b.ctx, "wr:{"+b.room+"}:unarrived").Result()
		require.NoError(t, err)
		require.Zero(t, n, "the deadlines are gone once swept")
	})
}

func TestAdmittedAtJoinCountsAsAZeroWait(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		st := b.join(t)
		require.Equal(t, StateAdmitted, st.State)
		h := b.history(t, 10*time.Second)
		require.EqualValues(t, 1, h.Summary.Arrived)
		require.EqualValues(t, 1, h.Summary.Admitted)
		require.Equal(t, 0.0, *h.Summary.WaitP50)
	})
}

func TestHistoryRefusesABadStepAndAnUnknownRoom(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		_, err := b.store.History(b.ctx, b.room, time.Now(), 15*time.Second)
		require.ErrorIs(t, err, ErrInvalidHistoryStep)
		_, err = b.store.History(b.ctx, "nope-"+b.room, time.Now(), time.Minute)
		require.ErrorIs(t, err, ErrRoomNotFound)
		_, err = b.store.History(b.ctx, "Bad", time.Now(), time.Minute)
		require.ErrorIs(t, err, ErrInvalidRoom)
	})
}

func TestAnIdleRoomWritesNoHistory(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		for range 3 {
			b.tick(t)
		}
		n, err := b.rdb.Exists(b.ctx, historyTotalsKey(b.room)).Result()
		require.NoError(t, err)
		require.Zero(t, n, "every write of the history writes the totals too")
		h := b.history(t, time.Minute)
		require.Len(t, h.Points, 1, "only the current step, the room's first")
	})
}

func TestWaitQuantileIsTheNearestRankAtTheBucketsMiddle(t *testing.T) {
	require.Nil(t, waitQuantile(make([]int64, historyBuckets), 0.5))
	b := make([]int64, historyBuckets)
	b[0], b[27] = 19, 1
	require.Equal(t, 0.0, *waitQuantile(b, 0.95))
	b[27] = 2
	require.Equal(t, 98.7, *waitQuantile(b, 0.95))
	require.InDelta(t, 90.5, WaitBucketUpper(26), 0.1)
}

func TestPrequeuedVisitorsDroppedAtTheOpeningCountAsAbandoned(t *testing.T) {
	opens := time.Now().Add(1500 * time.Millisecond).UTC()
	each(t, ConfigPatch{Mode: new(ModeQueueAll), OpensAtSet: true, OpensAt: &opens, AbandonAfterS: new(60), Paused: new(true)}, func(t *testing.T, b *bundle) {
		if time.Now().After(opens) {
			opens = time.Now().Add(1500 * time.Millisecond).UTC()
			b.put(t, ConfigPatch{OpensAtSet: true, OpensAt: &opens})
		}
		gone, stayed := b.join(t), b.join(t)
		require.Equal(t, StatePrequeue, gone.State)
		// Last seen long before the opening: it will not be placed.
		require.NoError(t, b.rdb.ZAdd(b.ctx, "wr:{"+b.room+"}:preseen", redis.Z{Score: 1, Member: gone.Ticket}).Err())
		time.Sleep(time.Until(opens) + 50*time.Millisecond)
		b.tick(t)
		require.Equal(t, StateWaiting, b.status(t, stayed.Ticket).State)
		h := b.history(t, 10*time.Second)
		require.EqualValues(t, 2, h.Summary.Arrived)
		require.EqualValues(t, 1, h.Summary.Abandoned, "the unseen visitor was abandoned at the opening")
	})
}
