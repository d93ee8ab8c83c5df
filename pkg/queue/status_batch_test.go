package queue

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// statusMix joins admitted visitors (some with a user), waiting ones and
// returns their tickets with unknown ones among them.
func statusMix(t *testing.T, b *bundle) []string {
	t.Helper()
	var tickets []string
	for i := range 24 {
		req := JoinRequest{}
		if i%5 == 0 {
			req.User = NewTicket()
		}
		st, _, err := b.store.Join(b.ctx, b.room, req)
		require.NoError(t, err)
		tickets = append(tickets, st.Ticket)
		if i%4 == 0 {
			tickets = append(tickets, NewTicket()) // unknown
		}
	}
	return tickets
}

// sameErr says err is wanted's named error, or both are nil.
func sameErr(err, wanted error) bool {
	return (err == nil) == (wanted == nil) && errors.Is(err, ErrTicketNotFound) == errors.Is(wanted, ErrTicketNotFound)
}

// singleStatus is what status.lua answers, with the clock left out.
func singleStatus(t *testing.T, b *bundle, single *Store, ticket string) (Status, error) {
	t.Helper()
	st, err := single.Status(b.ctx, b.room, ticket)
	st.Now = time.Time{}
	return st, err
}

func TestConcurrentStatusRequestsEachGetTheSinglePathsAnswer(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeAuto), Capacity: new(4)}, func(t *testing.T, b *bundle) {
		tickets := statusMix(t, b)
		single := New(b.rdb, Options{StatusBatch: -1})
		want := make([]Status, len(tickets))
		wantErr := make([]error, len(tickets))
		admitted := 0
		for i, tk := range tickets {
			want[i], wantErr[i] = singleStatus(t, b, single, tk)
			if want[i].State == StateAdmitted {
				admitted++
			}
		}
		require.Equal(t, 4, admitted)

		// One batch of them all (a ticket twice), then concurrent callers
		// that the batcher groups as they come.
		calls := make([]*call[string], 0, len(tickets)+1)
		for _, tk := range append(tickets, tickets[3]) {
			calls = append(calls, &call[string]{ctx: b.ctx, args: tk})
		}
		res, err := b.store.statusBatch(b.ctx, b.room, calls)
		require.NoError(t, err)
		for i, r := range res {
			w := i % len(tickets)
			if i == len(tickets) {
				w = 3
			}
			r.st.Now = time.Time{}
			require.True(t, sameErr(r.err, wantErr[w]), "%s: %v, want %v", tickets[w], r.err, wantErr[w])
			require.Equal(t, want[w], r.st, tickets[w])
			require.False(t, r.created)
		}
		var wg sync.WaitGroup
		for round := range 3 {
			for i, tk := range tickets {
				wg.Go(func() {
					st, err := b.store.Status(b.ctx, b.room, tk)
					st.Now = time.Time{}
					if !sameErr(err, wantErr[i]) || !reflect.DeepEqual(st, want[i]) {
						t.Errorf("round %d, %s: %+v %v, want %+v %v", round, tk, st, err, want[i], wantErr[i])
					}
				})
			}
		}
		wg.Wait()
	})
}

func TestBatchedStatusInThePrequeueRecordsPresence(t *testing.T) {
	opens := time.Now().Add(time.Hour).UTC()
	each(t, ConfigPatch{Mode: new(ModeQueueAll), OpensAtSet: true, OpensAt: &opens}, func(t *testing.T, b *bundle) {
		a, c := b.join(t), b.join(t)
		single := New(b.rdb, Options{StatusBatch: -1})
		want, err := singleStatus(t, b, single, a.Ticket)
		require.NoError(t, err)
		k := roomKeys(b.room)
		require.NoError(t, b.rdb.ZAddXX(b.ctx, k.preseen, redis.Z{Score: 1, Member: c.Ticket}).Err())
		calls := []*call[string]{{ctx: b.ctx, args: a.Ticket}, {ctx: b.ctx, args: NewTicket()}, {ctx: b.ctx, args: c.Ticket}}
		res, err := b.store.statusBatch(b.ctx, b.room, calls)
		require.NoError(t, err)
		res[0].st.Now = time.Time{}
		require.Equal(t, want, res[0].st)
		require.ErrorIs(t, res[1].err, ErrTicketNotFound)
		require.Equal(t, StatePrequeue, res[2].st.State)
		require.EqualValues(t, 2, res[2].st.Waiting)
		seen, err := b.rdb.ZScore(b.ctx, k.preseen, c.Ticket).Result()
		require.NoError(t, err)
		require.Greater(t, seen, 1.0, "the status counted as presence")
	})
}

// A status of a visitor whose generation has ended opens the next one and
// moves the visitor there: the waiting count must still see that visitor.
func TestAStatusThatOpensAGenerationCountsEveryoneWaiting(t *testing.T) {
	// abandon_after_s 4: generations of 1 s (lib.lua's gen_len).
	each(t, ConfigPatch{Mode: new(ModeQueueAll), AbandonAfterS: new(4)}, func(t *testing.T, b *bundle) {
		first := b.join(t)
		b.join(t)
		b.join(t)
		single := New(b.rdb, Options{StatusBatch: -1})
		for _, s := range []*Store{single, b.store} {
			time.Sleep(1100 * time.Millisecond) // the current generation ends
			st, err := s.Status(b.ctx, b.room, first.Ticket)
			require.NoError(t, err)
			require.EqualValues(t, 1, st.Position)
			require.EqualValues(t, 3, st.Waiting)
		}
	})
}
