package queue

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
)

func newJoinCall(b *bundle, user string) *joinCall {
	return &joinCall{ctx: b.ctx, args: joinArgs{ticket: NewTicket(), user: user, shuffle: shuffleKey(), aid: NewAdmissionID()}}
}

func TestJoinsOfOneBatchAreDecidedOneAfterAnotherInArrivalOrder(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeAuto), Capacity: new(1)}, func(t *testing.T, b *bundle) {
		calls := []*joinCall{newJoinCall(b, ""), newJoinCall(b, "u1"), newJoinCall(b, ""), newJoinCall(b, "u1")}
		res, err := b.store.joinBatch(b.ctx, b.room, NewTicket(), calls)
		require.NoError(t, err)
		require.Len(t, res, 4)
		for _, r := range res {
			require.NoError(t, r.err)
		}
		require.Equal(t, StateAdmitted, res[0].st.State, "the first takes the free place")
		require.NotEmpty(t, res[0].st.AdmissionID)
		require.Equal(t, StateWaiting, res[1].st.State, "capacity 1: the second waits")
		require.Equal(t, int64(1), res[1].st.Position)
		require.Equal(t, "u1", res[1].st.User)
		require.Equal(t, int64(2), res[2].st.Position)
		require.Less(t, res[1].st.Score, res[2].st.Score)
		require.False(t, res[3].created, "the same user in the same batch gets the place back")
		require.Equal(t, res[1].st.Ticket, res[3].st.Ticket)
		require.Equal(t, int64(1), res[3].st.Position)
		require.Equal(t, int64(2), b.status(t, res[2].st.Ticket).Position)
	})
}

func TestARetriedBatchAnswersAsTheFirstRunAndInsertsNothing(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		b.join(t)
		calls := []*joinCall{newJoinCall(b, ""), newJoinCall(b, "u2"), newJoinCall(b, "")}
		id := NewTicket()
		first, err := b.store.joinBatch(b.ctx, b.room, id, calls)
		require.NoError(t, err)
		// go-redis resends the very same command after a lost reply.
		again, err := b.store.joinBatch(b.ctx, b.room, id, calls)
		require.NoError(t, err)
		for i := range calls {
			require.NoError(t, first[i].err)
			require.NoError(t, again[i].err)
			require.Equal(t, first[i].st.Ticket, again[i].st.Ticket)
			require.Equal(t, first[i].st.Position, again[i].st.Position)
			require.Equal(t, first[i].st.Score, again[i].st.Score)
			require.Equal(t, first[i].created, again[i].created)
			require.Equal(t, int64(i+2), again[i].st.Position)
		}
		st, err := b.store.Stats(b.ctx, b.room)
		require.NoError(t, err)
		require.Equal(t, int64(4), st.Waiting, "nobody was inserted twice")
	})
}

func TestConcurrentJoinsShareScriptCalls(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		var mu sync.Mutex
		store := New(b.rdb, Options{})
		var wg sync.WaitGroup
		positions := make([]bool, 401)
		for g := 0; g < 400; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, created, err := store.Join(b.ctx, b.room, JoinRequest{})
				mu.Lock()
				defer mu.Unlock()
				if err != nil || !created || st.Position < 1 || st.Position > 400 || positions[st.Position] {
					t.Errorf("join: %v %v %+v", err, created, st)
					return
				}
				positions[st.Position] = true
			}()
		}
		wg.Wait()
		n, err := b.rdb.ZCard(b.ctx, "wr:{"+b.room+"}:batches").Result()
		require.NoError(t, err)
		require.Less(t, n, int64(400), "some joins went to Redis together")
		t.Logf("400 joins in %d batches", n)
	})
}

func TestAMalformedCompactBatchReplyIsABadReply(t *testing.T) {
	calls := []*joinCall{{args: joinArgs{ticket: "t1"}}, {args: joinArgs{ticket: "t2", user: "u2"}}}
	for _, r := range []batchReply{
		{Kinds: "nn", First: "x 12"}, {Kinds: "nn", First: "0 12"}, {Kinds: "nn", First: "3 x"}, {Kinds: "nn", First: "3"},
		{Kinds: "nn"}, {Kinds: "n", First: "3 12"}, {Kinds: "n.", First: "3 12"}, {Kinds: "nx", First: "3 12"},
		{Kinds: "n.", First: "3 12", Results: []batchJoinRes{{Code: 1, Ticket: "t2", State: StateWaiting}, {Code: 1}}},
	} {
		_, err := r.joinResults("room", calls)
		require.ErrorIs(t, err, luascript.ErrBadReply, "%+v", r)
	}
	r := batchReply{Kinds: "nn", First: "3 12"}
	res, err := r.joinResults("room", calls)
	require.NoError(t, err)
	require.Equal(t, Status{Room: "room", Ticket: "t1", State: StateWaiting, Position: 3, Waiting: 3, Score: 12,
		Now: time.UnixMilli(0).UTC()}, res[0].st)
	require.Equal(t, Status{Room: "room", Ticket: "t2", User: "u2", State: StateWaiting, Position: 4, Waiting: 4, Score: 13,
		Now: time.UnixMilli(0).UTC()}, res[1].st)
	require.True(t, res[0].created && res[1].created)
}
