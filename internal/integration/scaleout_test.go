package integration_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// tickGap separates two ticks among the admissions' arrival times: a tick's
// pushes arrive within milliseconds, ticks an interval (1 s) apart.
const tickGap = 400 * time.Millisecond

// The whole product scaled out, on one Redis and on a Redis Cluster: only
// REDIS_URL or REDIS_CLUSTER_ADDRS differs between the two.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, be)
			t.Run("visitors on either instance see exact positions and are admitted once each in join order at the pace", func(t *testing.T) {
				testExactPositionsOrderAndPace(t, b)
			})
			t.Run("booking accepts an admitted visitor's entry token", func(t *testing.T) {
				testBookingAcceptsEntryToken(t, b)
			})
			// Last: it kills waitroom 1.
			t.Run("the visitors of a SIGKILLed instance reconnect to the other and keep their places", func(t *testing.T) {
				testKilledInstanceKeepsPlaces(t, b)
			})
		})
	}
}

// 200 visitors join through both instances and hold sockets on both; two
// admitters run the room at batch 20 every second.
func testExactPositionsOrderAndPace(t *testing.T, b *bundle) {
	const room, n, batch = "sale", 200, 20
	b.putRoom(t, b.waitroom[0], room, map[string]any{
		"mode": "queue_all", "capacity": 0, "batch_size": batch, "interval_ms": 1000, "abandon_after_s": 0,
		"paused": true, // the whole line forms first, so positions are 1..n
	})
	vs := b.joinLine(t, room, n)
	// Every pairing: joined through instance 1 or 2, socket on 1 or 2.
	for i, v := range vs {
		v.sockets = append(v.sockets, dial(t, b.waitroom[(i/2)%2], room, v.ticket))
	}
	for _, v := range vs {
		m := v.socket().first(t)
		require.Equal(t, "position", m.Type, "visitor %d: %+v", v.joined, m)
		require.Equal(t, v.joined, m.Position, "visitor %d: first position", v.joined)
		require.EqualValues(t, n, m.Waiting, "visitor %d: waiting", v.joined)
	}

	from := b.version(t, room)
	b.putRoom(t, b.waitroom[1], room, map[string]any{"paused": false})
	resumed := time.Now()
	waves := b.admitAll(t, room, vs, from, 30*time.Second)
	t.Logf("all %d admitted %s after resuming; sockets matched Redis after %d waves", n, time.Since(resumed).Round(time.Millisecond), waves)
	require.GreaterOrEqual(t, waves, n/batch-1, "waves checked (a tick and the resume may share one)")

	// Every position a socket was ever sent was a true state of the line:
	// the visitor's place and the line's length going down together by
	// whole batches, never back up.
	for _, v := range vs {
		prev := v.joined
		for _, m := range v.socket().Messages() {
			if m.Type != "position" {
				continue
			}
			require.LessOrEqual(t, m.Position, prev, "visitor %d: positions never go back", v.joined)
			require.Zero(t, (v.joined-m.Position)%batch, "visitor %d: position %d is no state of the line", v.joined, m.Position)
			require.Equal(t, n-v.joined, m.Waiting-m.Position, "visitor %d: position %d with %d waiting", v.joined, m.Position, m.Waiting)
			prev = m.Position
		}
	}

	requireEachAdmittedOnce(t, b.ctx, room, vs, b.verifiers(t)...)

	// The pace: each tick admits one batch, the line in join order, one
	// tick a second however many admitters run: 10 ticks over 9 s.
	tickOf, starts := ticks(t, vs, tickGap)
	sizes := make([]int, len(starts))
	for _, k := range tickOf {
		sizes[k]++
	}
	t.Logf("ticks: %d, sizes %v, first to last %s", len(starts), sizes, starts[len(starts)-1].Sub(starts[0]).Round(time.Millisecond))
	for k, size := range sizes {
		require.Equal(t, batch, size, "tick %d admitted %d: a tick admits batch_size (twice that: two ticks in one interval)", k+1, size)
	}
	require.Len(t, starts, n/batch)
	requireJoinOrder(t, vs, tickOf, batch)
	for k := 1; k < len(starts); k++ {
		gap := starts[k].Sub(starts[k-1])
		require.Greater(t, gap, 500*time.Millisecond, "ticks %d and %d: never two ticks in one interval", k, k+1)
		require.Less(t, gap, 2*time.Second, "ticks %d and %d: the pace holds", k, k+1)
	}
	span := starts[len(starts)-1].Sub(starts[0])
	require.InDelta(t, float64(n/batch-1), span.Seconds(), 1.0, "first to last of %d ticks at 1 s (± 1 tick)", n/batch)

	st, err := b.store.Stats(b.ctx, room)
	require.NoError(t, err)
	require.EqualValues(t, 0, st.Waiting)
	require.EqualValues(t, n, st.Admitted)
	require.EqualValues(t, n, st.AdmittedTotal, "admitted exactly once each")
}

// The three binaries work together: a visitor admitted through waitroom
// uses its entry token on the booking service.
func testBookingAcceptsEntryToken(t *testing.T, b *bundle) {
	const room = "concert"
	b.putRoom(t, b.waitroom[1], room, map[string]any{"mode": "queue_all", "batch_size": 5, "interval_ms": 1000, "abandon_after_s": 0})
	st := b.join(t, b.waitroom[1], room)
	s := dial(t, b.waitroom[0], room, st.Ticket)
	var token string
	require.Eventually(t, func() bool {
		m, _ := s.Last()
		token = m.EntryToken
		return m.Type == "admitted"
	}, 10*time.Second, 20*time.Millisecond, "the admitters admit the visitor")

	seatsURL := b.booking.Base + "/api/events/" + room + "/seats"
	a := b.send(t, http.MethodPut, b.booking.Base+"/api/admin/events/"+room+"/seats",
		map[string]any{"seats": []string{"A1", "A2", "A3"}}, adminToken)
	require.Equal(t, http.StatusOK, a.Status, "the operator sets the seat map: %s", a)
	requireAPIError(t, b.send(t, http.MethodGet, seatsURL, nil, ""), http.StatusUnauthorized, "invalid_token")

	a = b.send(t, http.MethodGet, seatsURL, nil, token)
	require.Equal(t, http.StatusOK, a.Status, "the admitted visitor sees the seats: %s", a)
	var seats []struct {
		Seat  string `json:"seat"`
		State string `json:"state"`
		Mine  bool   `json:"mine"`
	}
	require.NoError(t, json.Unmarshal(a.Body, &seats), "%s", a)
	require.Len(t, seats, 3, "%s", a)
	for _, seat := range seats {
		require.Equal(t, "available", seat.State, "%s", a)
	}

	a = b.send(t, http.MethodPost, b.booking.Base+"/api/events/"+room+"/holds", map[string]string{"seat": "A2"}, token)
	require.Equal(t, http.StatusCreated, a.Status, "the visitor holds a seat: %s", a)
}

// Waitroom 1 dies with SIGKILL while half the line's sockets are on it. The
// room is paused so that the places stay still while the visitors move.
func testKilledInstanceKeepsPlaces(t *testing.T, b *bundle) {
	const room, n, batch = "encore", 60, 20
	b.putRoom(t, b.waitroom[1], room, map[string]any{
		"mode": "queue_all", "capacity": 0, "batch_size": batch, "interval_ms": 1000, "abandon_after_s": 0, "paused": true,
	})
	vs := b.joinLine(t, room, n)
	for i, v := range vs {
		v.sockets = append(v.sockets, dial(t, b.waitroom[(i/2)%2], room, v.ticket))
	}
	for _, v := range vs {
		m := v.socket().first(t)
		require.Equal(t, v.joined, m.Position, "visitor %d: first position", v.joined)
	}

	killed, survivor := b.waitroom[0], b.waitroom[1]
	killed.Kill()
	var moved []*visitor
	for _, v := range vs {
		if v.socket().via == killed {
			moved = append(moved, v)
		}
	}
	require.Len(t, moved, n/2)
	for _, v := range moved {
		s := v.socket()
		require.Eventually(t, func() bool { return !s.Open() }, 5*time.Second, 10*time.Millisecond,
			"visitor %d: the socket on the killed instance ends", v.joined)
	}

	// The page joins again through the other instance with its ticket (the
	// cookie), which gives back the same place, and reconnects there.
	for _, v := range moved {
		a := b.send(t, http.MethodPost, survivor.Base+"/api/rooms/"+room+"/tickets", map[string]string{"ticket": v.ticket}, "")
		require.Equal(t, http.StatusOK, a.Status, "visitor %d joins again with its ticket: %s", v.joined, a)
		var st testproc.TicketStatus
		require.NoError(t, json.Unmarshal(a.Body, &st), "%s", a)
		require.Equal(t, testproc.TicketStatus{Ticket: v.ticket, State: "waiting", Position: v.joined, Waiting: n}, st, "visitor %d", v.joined)
		v.sockets = append(v.sockets, dial(t, survivor, room, v.ticket))
	}
	for _, v := range vs {
		s := v.socket()
		require.Same(t, survivor, s.via)
		require.True(t, s.Open(), "visitor %d: socket on %s: %v", v.joined, survivor.Name, s.Err())
		s.first(t)
		m, _ := s.Last()
		require.Equal(t, "position", m.Type, "visitor %d: %+v", v.joined, m)
		require.Equal(t, v.joined, m.Position, "visitor %d kept its place", v.joined)
		require.EqualValues(t, n, m.Waiting, "visitor %d: nobody lost a place", v.joined)
	}

	from := b.version(t, room)
	b.putRoom(t, survivor, room, map[string]any{"paused": false})
	b.admitAll(t, room, vs, from, 20*time.Second)

	v2, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{JWKSURL: survivor.Base + "/.well-known/jwks.json", HTTPClient: b.http})
	require.NoError(t, err)
	requireEachAdmittedOnce(t, b.ctx, room, vs, v2)
	tickOf, starts := ticks(t, vs, tickGap)
	require.Len(t, starts, n/batch, "ticks")
	requireJoinOrder(t, vs, tickOf, batch)
	st, err := b.store.Stats(b.ctx, room)
	require.NoError(t, err)
	require.EqualValues(t, n, st.AdmittedTotal, "admitted exactly once each")
}
