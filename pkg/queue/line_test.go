package queue

import (
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
)

func TestJoinersQueueInArrivalOrderWithExactPositions(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		var tickets []string
		for i := 1; i <= 5; i++ {
			st := b.join(t)
			require.Len(t, st.Ticket, TicketLen)
			require.True(t, ValidTicket(st.Ticket))
			require.Equal(t, StateWaiting, st.State)
			require.EqualValues(t, i, st.Position)
			require.EqualValues(t, i-1, st.Ahead())
			require.EqualValues(t, i, st.Waiting)
			require.Nil(t, st.ETA, "no ETA before anyone was admitted")
			tickets = append(tickets, st.Ticket)
		}
		st := b.status(t, tickets[2])
		require.EqualValues(t, 3, st.Position)
		require.EqualValues(t, 5, st.Waiting)
	})
}

func TestRejoinKeepsThePlace(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		first := b.join(t)
		b.join(t)
		again, created, err := b.store.Join(b.ctx, b.room, JoinRequest{Ticket: first.Ticket})
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, first.Ticket, again.Ticket)
		require.EqualValues(t, 1, again.Position)
		require.EqualValues(t, 2, again.Waiting, "no second place was made")

		// An unknown or malformed ticket just gets a new place.
		for _, bad := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "not-a-ticket", ""} {
			st, created, err := b.store.Join(b.ctx, b.room, JoinRequest{Ticket: bad})
			require.NoError(t, err)
			require.True(t, created)
			require.NotEqual(t, bad, st.Ticket)
		}
	})
}

func TestOnePlacePerUser(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		a, created, err := b.store.Join(b.ctx, b.room, JoinRequest{User: "alice"})
		require.NoError(t, err)
		require.True(t, created)
		b.join(t)
		again, created, err := b.store.Join(b.ctx, b.room, JoinRequest{User: "alice"})
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, a.Ticket, again.Ticket)
		require.Equal(t, "alice", again.User)

		// Once alice leaves, she may join again, at the back.
		require.NoError(t, b.store.Leave(b.ctx, b.room, a.Ticket))
		back, created, err := b.store.Join(b.ctx, b.room, JoinRequest{User: "alice"})
		require.NoError(t, err)
		require.True(t, created)
		require.EqualValues(t, 2, back.Position)

		_, _, err = b.store.Join(b.ctx, b.room, JoinRequest{User: string(make([]byte, MaxUserLen+1))})
		require.ErrorIs(t, err, ErrInvalidUser)
	})
}

func TestAutoAdmitsAtOnceWhileNobodyWaitsAndCapacityIsFree(t *testing.T) {
	each(t, ConfigPatch{Capacity: new(2)}, func(t *testing.T, b *bundle) {
		for i := 0; i < 2; i++ {
			st, _, err := b.store.Join(b.ctx, b.room, JoinRequest{})
			require.NoError(t, err)
			require.Equal(t, StateAdmitted, st.State)
			require.WithinDuration(t, st.Now.Add(600*time.Second), st.AdmissionEnds, time.Second)
		}
		third := b.join(t)
		require.Equal(t, StateWaiting, third.State, "capacity is full")
		require.EqualValues(t, 1, third.Position)
	})
}

func TestAutoQueuesWhileSomeoneWaitsEvenWithFreeCapacity(t *testing.T) {
	each(t, ConfigPatch{Capacity: new(10), Paused: new(true)}, func(t *testing.T, b *bundle) {
		first := b.join(t)
		require.Equal(t, StateWaiting, first.State, "never admitted at join while paused")
		b.put(t, ConfigPatch{Paused: new(false)})
		second := b.join(t)
		require.Equal(t, StateWaiting, second.State, "someone is waiting: no overtaking")
		require.EqualValues(t, 2, second.Position)
	})
}

func TestTwoJoinersNeverBothTakeTheLastPlace(t *testing.T) {
	each(t, ConfigPatch{Capacity: new(1)}, func(t *testing.T, b *bundle) {
		var mu sync.Mutex
		admitted := 0
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, _, err := b.store.Join(b.ctx, b.room, JoinRequest{})
				require.NoError(t, err)
				if st.State == StateAdmitted {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 1, admitted)
		s, err := b.store.Stats(b.ctx, b.room)
		require.NoError(t, err)
		require.EqualValues(t, 49, s.Waiting)
	})
}

func TestPassthroughAdmitsEveryoneIgnoringCapacity(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModePassthrough), Capacity: new(1)}, func(t *testing.T, b *bundle) {
		for i := 0; i < 3; i++ {
			st, _, err := b.store.Join(b.ctx, b.room, JoinRequest{})
			require.NoError(t, err)
			require.Equal(t, StateAdmitted, st.State)
		}
	})
}

func TestRejectRefusesNewJoinersButKeepsThoseInLine(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		st := b.join(t)
		b.put(t, ConfigPatch{Mode: new(ModeReject)})
		_, _, err := b.store.Join(b.ctx, b.room, JoinRequest{})
		require.ErrorIs(t, err, ErrRoomClosed)
		again, created, err := b.store.Join(b.ctx, b.room, JoinRequest{Ticket: st.Ticket})
		require.NoError(t, err)
		require.False(t, created)
		require.EqualValues(t, 1, again.Position)
		s, err := b.store.Stats(b.ctx, b.room)
		require.NoError(t, err)
		require.EqualValues(t, 1, s.Waiting, "the refused join changed nothing")
	})
}

func TestUnknownRoomAndTicket(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		_, _, err := b.store.Join(b.ctx, "no-such-room", JoinRequest{})
		require.ErrorIs(t, err, ErrRoomNotFound)
		_, err = b.store.Status(b.ctx, b.room, NewTicket())
		require.ErrorIs(t, err, ErrTicketNotFound)
		_, err = b.store.Status(b.ctx, b.room, "short")
		require.ErrorIs(t, err, ErrTicketNotFound)
		require.ErrorIs(t, b.store.Leave(b.ctx, b.room, NewTicket()), ErrTicketNotFound)
		_, err = b.store.Tick(b.ctx, "no-such-room")
		require.ErrorIs(t, err, ErrRoomNotFound)
	})
}

func TestTickAdmitsFromTheHeadUpToBatchSizeAndNeverPastCapacity(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(3), Capacity: new(5)}, func(t *testing.T, b *bundle) {
		var tickets []string
		for i := 0; i < 8; i++ {
			tickets = append(tickets, b.join(t).Ticket)
		}
		ev := b.tick(t)
		require.Equal(t, tickets[:3], admittedTickets(ev))
		require.EqualValues(t, 5, ev.Waiting)
		ev = b.tick(t)
		require.Equal(t, tickets[3:5], admittedTickets(ev), "only 2 places left")
		ev = b.tick(t)
		require.Empty(t, ev.Admitted, "capacity full")

		st := b.status(t, tickets[0])
		require.Equal(t, StateAdmitted, st.State)
		st = b.status(t, tickets[5])
		require.EqualValues(t, 1, st.Position)
		require.NotNil(t, st.ETA, "the room has a measured rate now")
	})
}

func TestLeaveFreesThePlaceOrTheCapacityAtOnce(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(10), Capacity: new(1)}, func(t *testing.T, b *bundle) {
		a, c, d := b.join(t), b.join(t), b.join(t)
		ev := b.tick(t)
		require.Equal(t, []string{a.Ticket}, admittedTickets(ev))

		// Leaving the line moves those behind up.
		require.NoError(t, b.store.Leave(b.ctx, b.room, c.Ticket))
		require.EqualValues(t, 1, b.status(t, d.Ticket).Position)
		_, err := b.store.Status(b.ctx, b.room, c.Ticket)
		require.ErrorIs(t, err, ErrTicketNotFound)

		// Ending the admission frees capacity for the next tick.
		require.Empty(t, b.tick(t).Admitted)
		require.NoError(t, b.store.Leave(b.ctx, b.room, a.Ticket))
		require.Equal(t, []string{d.Ticket}, admittedTickets(b.tick(t)))
		require.ErrorIs(t, b.store.Leave(b.ctx, b.room, a.Ticket), ErrTicketNotFound, "left once only")
	})
}

func TestPausedRoomAdmitsNobody(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), Paused: new(true)}, func(t *testing.T, b *bundle) {
		st := b.join(t)
		require.Empty(t, b.tick(t).Admitted)
		require.Equal(t, StateWaiting, b.status(t, st.Ticket).State, "joining still works, the place is kept")
		b.put(t, ConfigPatch{Paused: new(false)})
		require.Equal(t, []string{st.Ticket}, admittedTickets(b.tick(t)))
	})
}

func TestExpiredAdmissionsEndAndTheirCapacityGoesToTheNext(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), Capacity: new(2), BatchSize: new(5)}, func(t *testing.T, b *bundle) {
		a, c, d := b.join(t), b.join(t), b.join(t)
		require.Len(t, b.tick(t).Admitted, 2)
		b.expireAdmissions(t)
		_, err := b.store.Status(b.ctx, b.room, a.Ticket)
		require.ErrorIs(t, err, ErrTicketNotFound, "an admission past its end is over at once")
		ev := b.tick(t)
		require.ElementsMatch(t, []Ending{{a.Ticket, ReasonAdmissionEnded}, {c.Ticket, ReasonAdmissionEnded}}, ev.Ended)
		require.Equal(t, []string{d.Ticket}, admittedTickets(ev))
	})
}

func TestAbsentVisitorsLoseThePlaceAfterAbandonAfter(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), AbandonAfterS: new(1), Paused: new(true)}, func(t *testing.T, b *bundle) {
		gone1, present, gone2 := b.join(t), b.join(t), b.join(t)
		var ev Event
		deadline := time.Now().Add(4 * time.Second)
		for time.Now().Before(deadline) {
			b.status(t, present.Ticket) // a status request counts as presence
			ev = b.tick(t)
			if len(ev.Removed) > 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		require.ElementsMatch(t, []Removal{
			{Ticket: gone1.Ticket, Score: gone1.Score, Reason: ReasonAbandoned},
			{Ticket: gone2.Ticket, Score: gone2.Score, Reason: ReasonAbandoned},
		}, ev.Removed)
		st := b.status(t, present.Ticket)
		require.EqualValues(t, 1, st.Position)
		require.EqualValues(t, 1, st.Waiting)
	})
}

func TestOpenSocketsKeepVisitorsPresentThroughTouch(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), AbandonAfterS: new(1), Paused: new(true)}, func(t *testing.T, b *bundle) {
		kept, gone := b.join(t), b.join(t)
		start := time.Now()
		for time.Since(start) < 3*time.Second {
			require.NoError(t, b.store.Touch(b.ctx, b.room, []string{kept.Ticket, NewTicket()}))
			b.tick(t)
			time.Sleep(100 * time.Millisecond)
		}
		_, err := b.store.Status(b.ctx, b.room, gone.Ticket)
		require.ErrorIs(t, err, ErrTicketNotFound)
		require.EqualValues(t, 1, b.status(t, kept.Ticket).Position)
	})
}

func TestNeverAbandonedWhenAbandonAfterIsZero(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), AbandonAfterS: new(0), Paused: new(true)}, func(t *testing.T, b *bundle) {
		st := b.join(t)
		// Make every generation look ancient: still nobody may be dropped.
		k := roomKeys(b.room)
		ids, err := b.rdb.ZRange(b.ctx, k.gens, 0, -1).Result()
		require.NoError(t, err)
		for _, id := range ids {
			require.NoError(t, b.rdb.ZAdd(b.ctx, k.gens, redis.Z{Score: 1, Member: id}).Err())
		}
		require.Empty(t, b.tick(t).Removed)
		require.EqualValues(t, 1, b.status(t, st.Ticket).Position)
	})
}

func TestPrequeueEntersTheLineShuffledAheadOfLaterJoiners(t *testing.T) {
	opens := time.Now().Add(1500 * time.Millisecond).UTC()
	each(t, ConfigPatch{Mode: new(ModeQueueAll), OpensAtSet: true, OpensAt: &opens}, func(t *testing.T, b *bundle) {
		if time.Now().After(opens) {
			opens = time.Now().Add(1500 * time.Millisecond).UTC()
			b.put(t, ConfigPatch{OpensAtSet: true, OpensAt: &opens})
		}
		const n = 200
		var arrival []string
		for i := 0; i < n; i++ {
			st := b.join(t)
			require.Equal(t, StatePrequeue, st.State)
			require.Zero(t, st.Position)
			require.EqualValues(t, i+1, st.Waiting)
			require.True(t, st.OpensAt.Equal(opens.Truncate(time.Millisecond)))
			arrival = append(arrival, st.Ticket)
		}
		require.Empty(t, b.tick(t).Admitted, "nobody is admitted before opens_at")
		time.Sleep(time.Until(opens) + 50*time.Millisecond)

		// The first join after opening opens the pre-queue itself, so the
		// late joiner is behind all of it even before any tick.
		late := b.join(t)
		require.EqualValues(t, n+1, late.Position)

		got := make([]string, n)
		seen := map[int64]bool{}
		for _, tk := range arrival {
			st := b.status(t, tk)
			require.Equal(t, StateWaiting, st.State)
			require.False(t, seen[st.Position], "positions are distinct")
			seen[st.Position] = true
			got[st.Position-1] = tk
		}
		require.ElementsMatch(t, arrival, got, "the line is a permutation of the pre-queue")
		require.NotEqual(t, arrival, got, "not the arrival order (chance of equality 1/200!)")
		inPlace := 0
		for i := range got {
			if got[i] == arrival[i] {
				inPlace++
			}
		}
		require.Less(t, inPlace, 10, "a fair shuffle leaves about one visitor in place")
	})
}

func TestTickEventIsPublishedAndShiftsPositionsExactly(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(2), AbandonAfterS: new(0)}, func(t *testing.T, b *bundle) {
		sub := b.rdb.Subscribe(b.ctx, Channel(b.room))
		defer sub.Close()
		_, err := sub.Receive(b.ctx)
		require.NoError(t, err)

		var line []Status
		for i := 0; i < 10; i++ {
			line = append(line, b.join(t))
		}
		require.NoError(t, b.store.Leave(b.ctx, b.room, line[5].Ticket))
		msg, err := sub.ReceiveMessage(b.ctx)
		require.NoError(t, err)
		leave, err := ParseEvent([]byte(msg.Payload))
		require.NoError(t, err)
		require.Equal(t, EventLeave, leave.Kind)

		ev := b.tick(t)
		msg, err = sub.ReceiveMessage(b.ctx)
		require.NoError(t, err)
		published, err := ParseEvent([]byte(msg.Payload))
		require.NoError(t, err)
		require.Equal(t, ev, published, "the tick returns what it published")
		require.Equal(t, leave.Version+1, ev.Version, "versions count events without gaps")

		// Everyone's new position follows from the events alone.
		for i, st := range line {
			if i < 2 || i == 5 {
				continue
			}
			want := st.Position - leave.Shift().Below(st.Score) - ev.Shift().Below(st.Score)
			require.Equal(t, want, b.status(t, st.Ticket).Position)
		}
	})
}

func TestLineStaysFirstComeFirstServedWhenTheClockStepsBack(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		before := b.join(t)
		// As if Redis's clock had been an hour ahead and then stepped back:
		// the last score handed out lies an hour in the future.
		k := roomKeys(b.room)
		ahead := before.Score + int64(time.Hour/time.Millisecond)*ticksPerMS
		require.NoError(t, b.rdb.Set(b.ctx, k.clock, ahead, 0).Err())
		after1, after2 := b.join(t), b.join(t)
		require.Equal(t, ahead+1, after1.Score, "the INCR tiebreaker keeps counting up")
		require.Equal(t, ahead+2, after2.Score)
		require.EqualValues(t, 2, after1.Position)
		require.EqualValues(t, 3, after2.Position)
	})
}

func TestScoresEncodeArrivalTimeExactly(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		st := b.join(t)
		require.WithinDuration(t, st.Now, ArrivalTime(st.Score), 5*time.Millisecond)
		// The largest score before 2094 is still below 2^53: exact in float64.
		last := (time.Date(2094, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() - epochMS) * ticksPerMS
		require.Less(t, last+ticksPerMS, int64(1)<<53)
		require.Equal(t, last, int64(float64(last)))
	})
}

func TestStatsReportTheRoomsFigures(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(2)}, func(t *testing.T, b *bundle) {
		for i := 0; i < 5; i++ {
			b.join(t)
		}
		time.Sleep(20 * time.Millisecond)
		b.tick(t)
		s, err := b.store.Stats(b.ctx, b.room)
		require.NoError(t, err)
		require.EqualValues(t, 3, s.Waiting)
		require.EqualValues(t, 2, s.Admitted)
		require.EqualValues(t, 2, s.AdmittedTotal)
		require.EqualValues(t, 2, s.AdmittedLastMinute)
		require.Greater(t, s.OldestWait, 10*time.Millisecond)
		require.Less(t, s.OldestWait, 5*time.Second)
	})
}

func TestStoreErrorsWhenRedisIsUnreachable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	s := New(rdb, Options{})
	_, _, err := s.Join(t.Context(), "r", JoinRequest{})
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = s.Tick(t.Context(), "r")
	require.ErrorIs(t, err, ErrUnavailable)
}

func TestARetriedJoinKeepsThePlaceItGot(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		k := roomKeys(b.room).all()
		ticket := NewTicket()
		run := func() statusReply {
			res, err := luascript.Do[statusReply](b.ctx, b.rdb, b.store.sc.join, k, ticket, "", "", shuffleKey())
			require.NoError(t, err)
			return res
		}
		first := run()
		b.join(t)      // someone joins behind
		again := run() // the same command once more, as a client retry sends it
		require.True(t, again.Created, "still reported as the new ticket it was")
		require.Equal(t, first.Ticket, again.Ticket)
		require.Equal(t, first.Score, again.Score, "same score: the place did not move")
		require.EqualValues(t, 1, again.Position)
		require.EqualValues(t, 2, again.Waiting, "no second place")
	})
}
