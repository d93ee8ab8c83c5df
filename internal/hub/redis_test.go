package hub_test

// The hub on a real redis-server: these test how it meets Redis (the real
// events, scores and rate figures, presence and abandonment, a dropped
// subscription, the pre-queue's opening), which memStore does not model.

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

func TestEveryVisitorSeesTheirExactPositionOnConnectAndAfterEveryTickUntilAdmitted(t *testing.T) {
	t.Parallel()
	b := setup(t, onRedis)
	const room, n, batch = "concert", 1000, 100
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(batch), Capacity: new(0)})
	user := func(i int) string {
		if i%3 == 0 {
			return fmt.Sprintf("user-%d", i)
		}
		return ""
	}
	tickets := b.join(t, room, n, user)
	clients := b.dialAll(t, room, tickets)
	require.Eventually(t, func() bool { return b.hub.Sockets() == n }, settle, 5*time.Millisecond)

	// On connect: the position, before anyone was admitted (no ETA yet).
	waitCounts(t, clients, func(int) int { return 1 })
	b.requireExact(t, room, tickets, clients, &queue.Event{})
	var shape map[string]any
	require.NoError(t, json.Unmarshal([]byte(last(clients[41]).Raw), &shape))
	require.Equal(t, map[string]any{"type": "position", "position": 42.0, "ahead": 41.0, "waiting": float64(n), "eta_seconds": nil}, shape)

	// Every tick admits the head of the line and moves everyone else up by
	// exactly one message; the admitted get their entry token.
	for k := 1; k <= n/batch; k++ {
		ev := b.tick(t, room)
		require.Len(t, ev.Admitted, batch)
		start := time.Now()
		waitCounts(t, clients, func(i int) int { return 1 + min(k, i/batch+1) })
		t.Logf("tick %d: %d sockets updated in %v", k, n-(k-1)*batch, time.Since(start))
		b.requireExact(t, room, tickets, clients, &ev)
	}

	truth, _ := b.truth(t, room, tickets)
	for i, c := range clients {
		msgs := c.Messages()
		for j, m := range msgs[:len(msgs)-1] {
			require.Equal(t, int64(i+1-j*batch), m.Position, "client %d, message %d", i, j)
		}
		adm := msgs[len(msgs)-1]
		require.Equal(t, "admitted", adm.Type)
		require.Equal(t, "/booking/"+room, adm.TargetURL)
		ends := truth[tickets[i]].AdmissionEnds
		require.Equal(t, ends.Format(time.RFC3339), adm.ExpiresAt)
		claims, err := b.verifier.Verify(b.ctx, adm.EntryToken, room)
		require.NoError(t, err, "client %d", i)
		aid := truth[tickets[i]].AdmissionID
		require.NotEmpty(t, aid)
		require.Equal(t, aid, claims.ID, "jti is the admission id")
		want := user(i)
		if want == "" {
			want = aid
		}
		require.Equal(t, want, claims.Subject, "sub is the user, else the admission id")
		require.NotEqual(t, tickets[i], claims.Subject, "sub is never the ticket")
		require.Equal(t, ends.Unix(), claims.ExpiresAt.Unix())
		require.True(t, c.Open(), "an admitted socket stays open until the admission ends")
	}
}

func TestLeavesAndAbandonsInTheMiddleShiftOnlyThoseBehind(t *testing.T) {
	t.Parallel()
	// Open sockets count as presence: the hub touches their tickets, so
	// only the visitors without a socket are abandoned.
	b := setup(t, onRedis, func(c *config) { c.opt.TouchInterval = 100 * time.Millisecond })
	const room = "gig"
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), Paused: new(true), AbandonAfterS: new(1)})
	tickets := b.join(t, room, 10, nil)
	absent := map[int]bool{3: true, 6: true}
	var present []string
	for i, tk := range tickets {
		if !absent[i] {
			present = append(present, tk)
		}
	}
	clients := b.dialAll(t, room, present) // positions 1, 2, 3, 5, 6, 8, 9, 10
	waitCounts(t, clients, func(int) int { return 1 })
	b.requireExact(t, room, present, clients, nil)

	// The visitor at position 2 leaves: those in front hear nothing, those
	// behind move up one, and the leaver's socket expires and closes.
	require.NoError(t, b.line.Leave(b.ctx, room, present[1]))
	require.Equal(t, queue.ReasonLeft, nth(t, clients[1], 2).Reason)
	require.Equal(t, websocket.CloseNormalClosure, closed(t, clients[1]))
	rest := append([]*testproc.Socket{clients[0]}, clients[2:]...)
	restTickets := append([]string{present[0]}, present[2:]...)
	waitCounts(t, rest, func(i int) int { return min(i, 1) + 1 })
	b.requireExact(t, room, restTickets, rest, nil)

	// The two without a socket are abandoned by a tick (after 2-3 s): only
	// those behind each move up.
	var ev queue.Event
	require.Eventually(t, func() bool {
		ev = b.tick(t, room)
		return len(ev.Removed) == 2
	}, 10*time.Second, 100*time.Millisecond)
	for _, r := range ev.Removed {
		require.Equal(t, queue.ReasonAbandoned, r.Reason)
		require.Contains(t, []string{tickets[3], tickets[6]}, r.Ticket)
	}
	// Positions are now 1, 2 (was 3), 3 (was 5), 4 (was 6), 5 (8), 6 (9), 7 (10):
	// the first two heard nothing more.
	waitCounts(t, rest, func(i int) int { return min(i, 1) + min(max(i-1, 0), 1) + 1 })
	b.requireExact(t, room, restTickets, rest, nil)
	for i, c := range rest {
		require.Equal(t, int64(i+1), last(c).Position)
	}
	require.Equal(t, int64(2), last(rest[1]).Position)
	require.Len(t, rest[1].Messages(), 2, "position 3 → 2 on the leave, nothing on the abandons behind it")
}

func TestADroppedSubscriptionIsRestoredAndPositionsEndExact(t *testing.T) {
	b := setup(t, onRedis)
	const room = "flaky"
	tickets := b.queueAll(t, room, 5)
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })

	// Redis drops the hub's subscription; a visitor leaves at about the
	// same time, so its event may be lost. Either the event or the
	// resynchronisation after the reconnect moves those behind, once.
	require.NoError(t, b.redis.ClientKillByFilter(b.ctx, "TYPE", "pubsub").Err())
	require.NoError(t, b.line.Leave(b.ctx, room, tickets[0]))
	rest, restTickets := clients[1:], tickets[1:]
	waitCounts(t, rest, func(int) int { return 2 })
	b.requireExact(t, room, restTickets, rest, nil)

	// Events flow again.
	require.NoError(t, b.line.Leave(b.ctx, room, tickets[1]))
	rest, restTickets = clients[2:], tickets[2:]
	waitCounts(t, rest, func(int) int { return 3 })
	b.requireExact(t, room, restTickets, rest, nil)
}

func TestThePrequeueHearsOfAMovedOpeningAndGetsPositionsWhenTheRoomOpens(t *testing.T) {
	t.Parallel()
	b := setup(t, onRedis)
	const room = "launch"
	opens := time.Now().Truncate(time.Second).Add(3 * time.Second).UTC()
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(2),
		OpensAtSet: true, OpensAt: new(opens.Add(time.Hour))})
	tickets := b.join(t, room, 5, nil)
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })
	for _, c := range clients {
		m := last(c)
		require.Equal(t, "prequeue", m.Type)
		require.Equal(t, int64(5), m.Waiting)
		require.Equal(t, opens.Add(time.Hour).Format(time.RFC3339), *m.OpensAt)
	}

	b.putRoom(t, room, queue.ConfigPatch{OpensAtSet: true, OpensAt: &opens})
	waitCounts(t, clients, func(int) int { return 2 })
	for _, c := range clients {
		require.Equal(t, opens.Format(time.RFC3339), *last(c).OpensAt)
	}

	// The first tick after opens_at moves the pre-queue into the line in a
	// random order (one "open" event) and admits two (a "tick" event).
	time.Sleep(time.Until(opens) + 50*time.Millisecond)
	ev := b.tick(t, room)
	require.Len(t, ev.Admitted, 2)
	waitCounts(t, clients, func(int) int { return 3 })
	b.requireExact(t, room, tickets, clients, nil)
}
