package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEachAdmissionHasItsOwnIDThatDiesWithIt(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(3)}, func(t *testing.T, b *bundle) {
		tickets := []string{b.join(t).Ticket, b.join(t).Ticket, b.join(t).Ticket}
		ev := b.tick(t)
		require.Len(t, ev.Admitted, 3)
		ids := map[string]bool{}
		for i, a := range ev.Admitted {
			require.NotEmpty(t, a.ID)
			require.NotEqual(t, tickets[i], a.ID, "an admission id is never the ticket")
			require.False(t, ids[a.ID], "admission ids are unique")
			ids[a.ID] = true
			st := b.status(t, a.Ticket)
			require.Equal(t, a.ID, st.AdmissionID, "status names the same admission")
			live, err := b.store.LiveAdmission(b.ctx, b.room, a.ID)
			require.NoError(t, err)
			require.Equal(t, a.Ticket, live.Ticket)
			require.Equal(t, a.ID, live.Subject(), "an anonymous visitor's sub is the admission id")
		}
		// Checkout, leave and expiry each end one admission for good.
		require.NoError(t, b.store.EndAdmission(b.ctx, b.room, tickets[0]))
		require.NoError(t, b.store.Leave(b.ctx, b.room, tickets[1]))
		b.expireAdmissions(t)
		for _, a := range ev.Admitted {
			_, err := b.store.LiveAdmission(b.ctx, b.room, a.ID)
			require.ErrorIs(t, err, ErrAdmissionEnded)
		}
		b.tick(t) // the tick forgets the expired one
		_, err := b.store.LiveAdmission(b.ctx, b.room, ev.Admitted[2].ID)
		require.ErrorIs(t, err, ErrAdmissionEnded)
		for _, bad := range []string{"", tickets[0], "nope", string(make([]byte, 65))} {
			_, err := b.store.LiveAdmission(b.ctx, b.room, bad)
			require.ErrorIs(t, err, ErrAdmissionEnded, "%q", bad)
		}
	})
}

func TestAUserAdmittedAgainGetsANewAdmissionAndTheOldOneStaysDead(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModePassthrough)}, func(t *testing.T, b *bundle) {
		first, _, err := b.store.Join(b.ctx, b.room, JoinRequest{User: "alice"})
		require.NoError(t, err)
		require.Equal(t, StateAdmitted, first.State)
		live, err := b.store.LiveAdmission(b.ctx, b.room, first.AdmissionID)
		require.NoError(t, err)
		require.Equal(t, "alice", live.User)
		require.Equal(t, "alice", live.Subject())

		require.NoError(t, b.store.EndAdmission(b.ctx, b.room, first.Ticket))
		again, created, err := b.store.Join(b.ctx, b.room, JoinRequest{User: "alice"})
		require.NoError(t, err)
		require.True(t, created)
		require.NotEqual(t, first.AdmissionID, again.AdmissionID)
		_, err = b.store.LiveAdmission(b.ctx, b.room, first.AdmissionID)
		require.ErrorIs(t, err, ErrAdmissionEnded, "the old admission's tokens never work again")
		_, err = b.store.LiveAdmission(b.ctx, b.room, again.AdmissionID)
		require.NoError(t, err)
	})
}

func TestARequireUserRoomRefusesAnonymousJoinsButKeepsTheirTicketsPlace(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll)}, func(t *testing.T, b *bundle) {
		anon := b.join(t)
		b.put(t, ConfigPatch{RequireUser: new(true)})
		before := b.status(t, anon.Ticket)
		_, _, err := b.store.Join(b.ctx, b.room, JoinRequest{})
		require.ErrorIs(t, err, ErrUserRequired)
		// A visitor who holds a ticket keeps it on a refresh.
		again, created, err := b.store.Join(b.ctx, b.room, JoinRequest{Ticket: anon.Ticket})
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, before.Position, again.Position)
		st, created, err := b.store.Join(b.ctx, b.room, JoinRequest{User: "bob"})
		require.NoError(t, err)
		require.True(t, created)
		require.EqualValues(t, 2, st.Waiting, "only bob was added")
	})
}

func TestAProofOfWorkAdmitsOneJoinOnce(t *testing.T) {
	each(t, ConfigPatch{Mode: new(ModeQueueAll), PowWork: new(1000)}, func(t *testing.T, b *bundle) {
		_, _, err := b.store.Join(b.ctx, b.room, JoinRequest{})
		require.ErrorIs(t, err, ErrPowRequired)
		exp := time.Now().Add(time.Minute)
		first, created, err := b.store.Join(b.ctx, b.room, JoinRequest{PowID: "c0ffee", PowExpires: exp})
		require.NoError(t, err)
		require.True(t, created)
		_, _, err = b.store.Join(b.ctx, b.room, JoinRequest{PowID: "c0ffee", PowExpires: exp})
		require.ErrorIs(t, err, ErrPowUsed, "a solution is spent once")
		// A rejoin with the ticket needs no new work.
		again, created, err := b.store.Join(b.ctx, b.room, JoinRequest{Ticket: first.Ticket})
		require.NoError(t, err)
		require.False(t, created)
		require.EqualValues(t, 1, again.Waiting)
		// The spent solution goes when its challenge would have expired.
		ttl, err := b.rdb.PTTL(b.ctx, roomKeys(b.room).cfg[:len(roomKeys(b.room).cfg)-3]+"pow:c0ffee").Result()
		require.NoError(t, err)
		require.InDelta(t, time.Minute.Seconds(), ttl.Seconds(), 5)
	})
}

func TestChallengesAreCountedPerAddressOnlyInRoomsWithProofOfWork(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		work, recent, err := b.store.CountChallenge(b.ctx, b.room, "192.0.2.1")
		require.NoError(t, err)
		require.Zero(t, work)
		require.Zero(t, recent)
		b.put(t, ConfigPatch{PowWork: new(5000)})
		for i := range 12 {
			work, recent, err = b.store.CountChallenge(b.ctx, b.room, "192.0.2.1")
			require.NoError(t, err)
			require.Equal(t, 5000, work)
			require.EqualValues(t, i, recent, "challenges before this one")
		}
		_, recent, err = b.store.CountChallenge(b.ctx, b.room, "2001:db8:1:2::/64")
		require.NoError(t, err)
		require.Zero(t, recent, "another address has its own count")
		_, _, err = b.store.CountChallenge(b.ctx, "nope", "192.0.2.1")
		require.ErrorIs(t, err, ErrRoomNotFound)
	})
}

func TestPrequeueVisitorsNotSeenBeforeTheOpeningAreDroppedNotPlaced(t *testing.T) {
	opens := time.Now().Add(2500 * time.Millisecond).UTC()
	each(t, ConfigPatch{Mode: new(ModeQueueAll), OpensAtSet: true, OpensAt: &opens, AbandonAfterS: new(1)}, func(t *testing.T, b *bundle) {
		if time.Until(opens) < 2200*time.Millisecond {
			opens = time.Now().Add(2500 * time.Millisecond).UTC()
			b.put(t, ConfigPatch{OpensAtSet: true, OpensAt: &opens})
		}
		absent, polled, socket := b.join(t), b.join(t), b.join(t)
		sub := b.rdb.Subscribe(b.ctx, Channel(b.room))
		defer sub.Close()
		_, err := sub.Receive(b.ctx)
		require.NoError(t, err)

		// Within abandon_after_s (1 s) before the opening, two are seen: one
		// asks its status, one has a socket (touch).
		time.Sleep(time.Until(opens) - 600*time.Millisecond)
		require.Equal(t, StatePrequeue, b.status(t, polled.Ticket).State)
		require.NoError(t, b.store.Touch(b.ctx, b.room, []string{socket.Ticket}))
		time.Sleep(time.Until(opens) + 50*time.Millisecond)

		b.tick(t)
		var open Event
		for open.Kind != EventOpen {
			msg, err := sub.ReceiveMessage(b.ctx)
			require.NoError(t, err)
			open, err = ParseEvent([]byte(msg.Payload))
			require.NoError(t, err)
		}
		require.Len(t, open.Removed, 1)
		require.Equal(t, Removal{Ticket: absent.Ticket, Reason: ReasonAbandoned}, open.Removed[0])
		require.EqualValues(t, 2, open.Waiting)

		_, err = b.store.Status(b.ctx, b.room, absent.Ticket)
		require.ErrorIs(t, err, ErrTicketNotFound, "the absent visitor holds no place")
		for _, tk := range []string{polled.Ticket, socket.Ticket} {
			require.Equal(t, StateAdmitted, b.status(t, tk).State, "those present were placed and admitted")
		}
	})
}
