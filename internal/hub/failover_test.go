package hub_test

// The hub through a failover of its Redis that loses an event it had
// applied: with ADMITTER_TICK_WAIT_REPLICAS=0 (the default) a tick is
// announced before any replica has it, and a replica promoted without it
// gives the next event the same version.

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/hub"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

// A tick announced by a primary that dies before its replica has it is lost
// with its version; the promoted replica's next tick admits the same
// visitors under new admission ids and takes the same version. The hub,
// which applied the lost tick, must not skip the new one as seen: every
// socket ends with the store's truth, the re-admitted told of their new
// admission (an entry token for the live admission id), every position
// exact. The hub finds the promoted node before the next events or after
// them, and the next event is the tick or a visitor leaving.
func TestAfterAFailoverLosesAnAnnouncedTickEverySocketEndsWithTheStoresTruth(t *testing.T) {
	for _, tc := range []struct {
		name string
		// hubFirst: the hub is subscribed to the promoted node before the
		// next events; otherwise it finds the node after them.
		hubFirst bool
		// leave: a visitor still in line leaves before the next tick.
		leave bool
	}{
		{name: "the hub is back before the next tick", hubFirst: true},
		{name: "the next tick comes before the hub is back"},
		{name: "the hub is back before a leave and the next tick", hubFirst: true, leave: true},
		{name: "a leave and the next tick come before the hub is back", leave: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testAFailoverLosingAnAnnouncedTick(t, tc.hubFirst, tc.leave)
		})
	}
}

const failoverRoom, failoverBatch = "failover", 5

// failoverBundle is a hub on a primary whose replica is held back, with
// sockets of waiting visitors.
type failoverBundle struct {
	*bundle
	f *redistest.Failover
	// hubFollows: the hub's client finds the promoted node (the
	// admitter's does at once).
	hubFollows *atomic.Bool
	admitter   *queue.Store // WaitReplicas 0, the default
	truth      *queue.Store // reads the replica, the primary to be
	tickets    []string
	clients    []*testproc.Socket
}

func setupFailover(t *testing.T) *failoverBundle {
	t.Helper()
	const visitors = 12
	f := redistest.StartFailover(t)
	fb := &failoverBundle{f: f, hubFollows: new(atomic.Bool)}
	// The hub's client goes straight to the primary: f.Replies stalls the
	// admitter's replies.
	hubRDB := redistest.DialClient(t, func() string {
		if fb.hubFollows.Load() {
			return f.Replica.Addr()
		}
		return f.Primary.Addr()
	})
	fb.bundle = setup(t, onClient(hubRDB))
	fb.admitter = queue.New(f.Client(t), queue.Options{})
	fb.truth = queue.New(f.R, queue.Options{})
	_, _, err := fb.admitter.PutRoom(fb.ctx, failoverRoom, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(failoverBatch)})
	require.NoError(t, err)
	_, err = fb.admitter.Tick(fb.ctx, failoverRoom) // an empty line: loads the script
	require.NoError(t, err)
	fb.tickets = fb.join(t, failoverRoom, visitors, nil)
	fb.clients = fb.dialAll(t, failoverRoom, fb.tickets)
	waitCounts(t, fb.clients, func(int) int { return 1 })
	f.InSync(t)
	// From now on the replica gets nothing more.
	f.Repl.All.Store(true)
	return fb
}

func testAFailoverLosingAnAnnouncedTick(t *testing.T, hubFirst, leave bool) {
	const room, batch, leaver = failoverRoom, failoverBatch, 6 // leaver: an index
	ctx := context.Background()
	fb := setupFailover(t)
	b, f, hubFollows, admitter, truth, tickets, clients := fb.bundle, fb.f, fb.hubFollows, fb.admitter, fb.truth, fb.tickets, fb.clients

	// The tick, announced by the primary while its replica is held back.
	lost, err := admitter.Tick(ctx, room)
	require.NoError(t, err)
	require.Equal(t, tickets[:batch], admittedTickets(lost))
	waitCounts(t, clients, func(int) int { return 2 })
	for i, c := range clients[:batch] {
		require.Equal(t, lost.Admitted[i].ID, tokenID(t, b, room, last(c)), "client %d has the lost tick's entry token", i)
	}
	require.Zero(t, f.R.Exists(ctx, queue.KeyPrefix(room)+"adm").Val(), "the replica has no admission")

	// The failover.
	f.Kill(t)
	f.Promote(t)
	if hubFirst {
		hubFollows.Store(true)
		require.Eventually(t, func() bool {
			return f.R.PubSubNumSub(ctx, queue.Channel(room)).Val()[queue.Channel(room)] == 1
		}, settle, 5*time.Millisecond, "the hub subscribes to the promoted node")
	}
	next := queue.Event{}
	if leave {
		require.Eventually(t, func() bool { return admitter.Leave(ctx, room, tickets[leaver]) == nil }, settle,
			20*time.Millisecond, "the admitter's client finds the promoted node")
	}
	require.Eventually(t, func() bool {
		next, err = admitter.Tick(ctx, room)
		return err == nil
	}, settle, 20*time.Millisecond, "the admitter ticks on the promoted node")
	require.Equal(t, tickets[:batch], admittedTickets(next), "the next tick admits the same visitors")
	for i, a := range next.Admitted {
		require.NotEqual(t, lost.Admitted[i].ID, a.ID, "under new admission ids")
	}
	if leave {
		require.Equal(t, lost.Version+1, next.Version, "the leave took the lost tick's version")
	} else {
		require.Equal(t, lost.Version, next.Version, "the next tick takes the lost tick's version")
	}
	hubFollows.Store(true)

	// Every socket ends with the store's truth, and events flow on.
	present, presentTickets := clients, tickets
	if leave {
		closed(t, clients[leaver])
		require.Equal(t, queue.ReasonLeft, last(clients[leaver]).Reason, "the leaver's socket hears it")
		present = append(append([]*testproc.Socket(nil), clients[:leaver]...), clients[leaver+1:]...)
		presentTickets = append(append([]string(nil), tickets[:leaver]...), tickets[leaver+1:]...)
	}
	requireTruth(t, b, truth, room, presentTickets, present)
	after, err := admitter.Tick(ctx, room)
	require.NoError(t, err)
	require.Len(t, after.Admitted, batch)
	requireTruth(t, b, truth, room, presentTickets, present)
	t.Logf("lost tick v%d, next event v%d; %d bytes of replication held back", lost.Version, next.Version, f.Repl.Dropped.Load())
}

// A tick whose primary dies after announcing it, before its reply reaches
// the admitter: go-redis's retry runs it again, with the same arguments, on
// the promoted node, which does not know its id. The retry admits the same
// visitors under the same admission ids, but its event, of the same
// version, has another id: the hub reads the room again, and the entry
// tokens it sent stay good.
func TestATickWhoseReplyIsCutInAFailoverIsRetriedOnThePromotedNodeAndTheSocketsKeepTheTruth(t *testing.T) {
	t.Parallel()
	const room, batch = failoverRoom, failoverBatch
	fb := setupFailover(t)
	f, ctx := fb.f, fb.ctx
	ps := f.P.Subscribe(ctx, queue.Channel(room))
	t.Cleanup(func() { _ = ps.Close() })
	_, err := ps.Receive(ctx)
	require.NoError(t, err)

	f.Replies.Next.Store(true)
	type result struct {
		ev  queue.Event
		err error
	}
	ticked := make(chan result, 1)
	go func() {
		ev, err := fb.admitter.Tick(ctx, room)
		ticked <- result{ev, err}
	}()
	var announced queue.Event
	select {
	case m := <-ps.Channel():
		announced, err = queue.ParseEvent([]byte(m.Payload))
		require.NoError(t, err)
	case <-time.After(settle):
		t.Fatal("the tick was not announced")
	}
	require.Equal(t, fb.tickets[:batch], admittedTickets(announced))
	waitCounts(t, fb.clients, func(int) int { return 2 })
	require.Eventually(t, func() bool { return f.Replies.Stalled.Load() == 1 }, settle, time.Millisecond,
		"the tick's reply is held back")
	require.Empty(t, ticked, "the admitter has no reply")

	// The replica is promoted first, so that the admitter's retry reaches
	// it; then the primary dies.
	f.Promote(t)
	f.Kill(t)
	r := <-ticked
	require.NoError(t, r.err, "the retry ran on the promoted node")
	require.Equal(t, announced.Version, r.ev.Version, "under the announced tick's version")
	ids := func(ev queue.Event) (out []string) {
		for _, a := range ev.Admitted {
			out = append(out, a.Ticket+" "+a.ID)
		}
		return out
	}
	require.Equal(t, ids(announced), ids(r.ev), "admitting the same visitors under the same ids")
	t.Logf("the retry's admissions end %v later", time.Duration(r.ev.AdmissionEndsMS-announced.AdmissionEndsMS)*time.Millisecond)
	require.NotEqual(t, announced.ID, r.ev.ID, "with another event id")
	fb.hubFollows.Store(true)
	requireTruth(t, fb.bundle, fb.truth, room, fb.tickets, fb.clients)
	after, err := fb.admitter.Tick(ctx, room)
	require.NoError(t, err)
	require.Len(t, after.Admitted, batch)
	requireTruth(t, fb.bundle, fb.truth, room, fb.tickets, fb.clients)
}

// The same when the hub's subscription outlives the failover (a proxy in
// front of the store keeps it), so that the hub hears of it only by the
// next event, which has the version of the lost tick, applied here, under
// another id. A leave on the promoted node comes first, then the tick.
func TestAnEventOfAVersionAppliedUnderAnotherIDResynchronisesTheRoom(t *testing.T) {
	b := setup(t)
	const room = "proxied"
	tickets, clients := b.waiting(t, room, 6, queue.ConfigPatch{BatchSize: new(2)})
	before := b.mem.snapshot(room)
	lost := b.tick(t, room)
	waitCounts(t, clients, func(int) int { return 2 })
	require.Equal(t, lost.Admitted[0].ID, tokenID(t, b, room, last(clients[0])))

	b.mem.failover(room, before)
	require.NoError(t, b.line.Leave(b.ctx, room, tickets[3]))
	closed(t, clients[3])
	require.Equal(t, queue.ReasonLeft, last(clients[3]).Reason, "the leaver's socket hears it")
	present := append(append([]*testproc.Socket(nil), clients[:3]...), clients[4:]...)
	presentTickets := append(append([]string(nil), tickets[:3]...), tickets[4:]...)
	requireTruth(t, b, b.line, room, presentTickets, present)
	require.Equal(t, "position", last(clients[0]).Type, "the lost tick's admission is taken back")

	next := b.tick(t, room)
	require.Equal(t, lost.Version+1, next.Version)
	require.Equal(t, admittedTickets(lost), admittedTickets(next))
	requireTruth(t, b, b.line, room, presentTickets, present)
}

// A socket that attaches after the store went back, with the subscription
// intact and no event since, reads a standing older than the version the
// hub applied: the hub checks the store, finds it went back, and the socket
// gets its standing then, not after the next event (or never, when none
// comes: a closed sale).
func TestASocketAttachingAfterTheStoreWentBackGetsItsStandingWithoutANewEvent(t *testing.T) {
	b := setup(t)
	const room = "proxied"
	tickets, clients := b.waiting(t, room, 6, queue.ConfigPatch{BatchSize: new(2)})
	before := b.mem.snapshot(room)
	b.tick(t, room)
	waitCounts(t, clients, func(int) int { return 2 })

	b.mem.failover(room, before)
	// The lost tick admitted tickets[0]; tickets[4] waited behind.
	again := b.dialAll(t, room, []string{tickets[0], tickets[4]})
	requireTruth(t, b, b.line, room, []string{tickets[0], tickets[4]}, again)
	require.Equal(t, "position", last(again[0]).Type, "the lost admission is not told")
	// The others (the two dialled again replaced their first sockets).
	requireTruth(t, b, b.line, room, []string{tickets[1], tickets[2], tickets[3], tickets[5]},
		[]*testproc.Socket{clients[1], clients[2], clients[3], clients[5]})
}

// requireTruth waits until the last message of every client tells where its
// ticket stands in the store: an exact position, or an entry token for the
// live admission (checked on Redis).
func requireTruth(t *testing.T, b *bundle, store hub.Store, room string, tickets []string, clients []*testproc.Socket) {
	t.Helper()
	var wrong string
	deadline := time.Now().Add(settle)
	for {
		if wrong = untrue(t, b, store, room, tickets, clients); wrong == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a socket does not tell the store's truth: %s", wrong)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// untrue describes the first client whose last message is not its ticket's
// standing in the store, or is "".
func untrue(t *testing.T, b *bundle, store hub.Store, room string, tickets []string, clients []*testproc.Socket) string {
	t.Helper()
	pos, err := store.Positions(b.ctx, room, tickets)
	require.NoError(t, err)
	for i, tp := range pos.Tickets {
		m := last(clients[i])
		switch tp.State {
		case queue.StateWaiting:
			if m.Type != "position" || m.Position != tp.Position {
				return fmt.Sprintf("client %d at position %d was told %s", i, tp.Position, m.Raw)
			}
		case queue.StateAdmitted:
			if m.Type != "admitted" {
				return fmt.Sprintf("client %d, admitted, was told %s", i, m.Raw)
			}
			if id := tokenID(t, b, room, m); id != tp.AdmissionID {
				return fmt.Sprintf("client %d, admitted as %s, has an entry token for %s", i, tp.AdmissionID, id)
			}
			if qs, ok := store.(*queue.Store); ok {
				if _, err := qs.LiveAdmission(b.ctx, room, tp.AdmissionID); err != nil {
					return fmt.Sprintf("client %d: admission %s: %v", i, tp.AdmissionID, err)
				}
			}
		default:
			return fmt.Sprintf("client %d: ticket in state %q", i, tp.State)
		}
	}
	return ""
}

// tokenID is the admission id (jti) of an admitted message's entry token.
func tokenID(t *testing.T, b *bundle, room string, m testproc.Message) string {
	t.Helper()
	claims, err := b.verifier.Verify(b.ctx, m.EntryToken, room)
	require.NoError(t, err)
	return claims.ID
}

func admittedTickets(ev queue.Event) []string {
	var out []string
	for _, a := range ev.Admitted {
		out = append(out, a.Ticket)
	}
	return out
}
