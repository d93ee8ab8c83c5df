package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/queue"
)

// The live-position WebSocket of docs/API.md, through the real server.

// requireOpenFiles makes sure the test may hold n descriptors.
func requireOpenFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("this test needs %d open files, the hard limit is %d: raise it (ulimit -Hn)", n, lim.Max)
	}
	lim.Cur = n
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
}

// parallel runs f(i) for i in [0, n) on workers goroutines and returns the
// first error.
// dialAll opens a socket for each ticket, workers at a time, half naming
// the ticket in the query and half by the cookie only; the test's end
// closes them.
func (b *bundle) dialAll(room string, tickets []string, workers int) []*websocket.Conn {
	b.t.Helper()
	conns := make([]*websocket.Conn, len(tickets))
	b.t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	require.NoError(b.t, parallel(len(tickets), workers, func(i int) error {
		c, resp, err := b.dial(room, tickets[i], i%2 == 1)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		conns[i] = c
		return err
	}))
	return conns
}

func parallel(n, workers int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func TestAThousandSocketsEachSeeTheirExactPositionAfterEveryTickThenTheirEntryToken(t *testing.T) {
	const visitors, batch = 1000, 100
	requireOpenFiles(t, 2*visitors+500)
	b := setup(t)
	b.putRoom("big", map[string]any{"mode": "queue_all", "batch_size": batch, "capacity": 0})
	v := b.verifier()

	tickets := make([]string, visitors)
	require.NoError(t, parallel(visitors, 16, func(i int) error {
		r, err := b.trySend(request{method: http.MethodPost, path: "/api/rooms/big/tickets"})
		if err != nil {
			return err
		}
		if r.Status != http.StatusCreated {
			return fmt.Errorf("join: %d %s", r.Status, r.Body)
		}
		var m struct{ Ticket string }
		if err := json.Unmarshal(r.Body, &m); err != nil {
			return err
		}
		tickets[i] = m.Ticket
		return nil
	}))

	// Half the sockets name their ticket in the query, half only send the
	// cookie, as the waiting page does.
	conns := b.dialAll("big", tickets, 32)

	truth := func() queue.Positions {
		pos, err := b.store.Positions(b.ctx, "big", tickets)
		require.NoError(t, err)
		require.Len(t, pos.Tickets, visitors)
		return pos
	}
	pos := truth()
	require.EqualValues(t, visitors, pos.Waiting)
	for i, c := range conns {
		m := readMsg(t, c)
		tp := pos.Tickets[i]
		require.Equal(t, queue.StateWaiting, tp.State)
		requirePositionMsg(t, m, tp.Position, visitors)
		require.Nil(t, m["eta_seconds"], "nobody admitted yet")
	}

	admitted := make([]bool, visitors)
	for tick := 1; tick <= visitors/batch; tick++ {
		ev := b.tick("big")
		require.Len(t, ev.Admitted, batch, "tick %d", tick)
		pos = truth()
		require.EqualValues(t, visitors-tick*batch, pos.Waiting)
		for i, c := range conns {
			if admitted[i] {
				continue // an admitted socket hears nothing more
			}
			m := readMsg(t, c)
			tp := pos.Tickets[i]
			switch tp.State {
			case queue.StateWaiting:
				requirePositionMsg(t, m, tp.Position, pos.Waiting)
				require.NotNil(t, m["eta_seconds"], "the room has admitted someone")
			case queue.StateAdmitted:
				admitted[i] = true
				requireKeys(t, m, "type", "entry_token", "expires_at", "target_url")
				require.Equal(t, "admitted", m["type"])
				require.Equal(t, "/booking/big", m["target_url"])
				require.Equal(t, tp.AdmissionEnds.Format(time.RFC3339), m["expires_at"])
				b.requireEntryToken(v, m["entry_token"].(string), "big", "", m["expires_at"].(string))
			default:
				t.Fatalf("ticket %d is %q after tick %d", i, tp.State, tick)
			}
		}
	}
	for i := range admitted {
		require.True(t, admitted[i], "socket %d was admitted", i)
	}
}

func TestASecondSocketForATicketClosesTheFirst(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "queue_all", "batch_size": 1})
	b.joinTicket("sale")
	ticket := b.joinTicket("sale")

	first := b.mustDial("sale", ticket, false)
	requirePositionMsg(t, readMsg(t, first), 2, 2)
	second := b.mustDial("sale", ticket, true)
	requirePositionMsg(t, readMsg(t, second), 2, 2)
	requireClosed(t, first, 4000)

	b.tick("sale")
	requirePositionMsg(t, readMsg(t, second), 1, 1)
}

func TestASocketForAnUnknownTicketIsRefusedWith404BeforeTheUpgrade(t *testing.T) {
	b := setupSale(t)
	b.joinTicket("sale")

	for _, c := range []struct {
		name     string
		ticket   string
		byCookie bool
	}{
		{"unknown ticket in the query", queue.NewTicket(), false},
		{"unknown ticket in the cookie", queue.NewTicket(), true},
		{"no ticket at all", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, resp, err := b.dial("sale", c.ticket, c.byCookie)
			require.ErrorIs(t, err, websocket.ErrBadHandshake)
			require.Nil(t, conn)
			require.NotNil(t, resp)
			defer resp.Body.Close()
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
			raw, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			requireAPIError(t, &response{Status: resp.StatusCode, Header: resp.Header, Body: raw, resp: resp}, http.StatusNotFound, "ticket_not_found")
		})
	}
}

func TestLeavingPushesExpiredLeftAndCloses(t *testing.T) {
	b := setupSale(t)
	ticket := b.joinTicket("sale")
	other := b.joinTicket("sale")
	ws := b.mustDial("sale", ticket, true)
	requirePositionMsg(t, readMsg(t, ws), 1, 2)
	behind := b.mustDial("sale", other, false)
	requirePositionMsg(t, readMsg(t, behind), 2, 2)

	require.Equal(t, http.StatusNoContent, b.del("/api/rooms/sale/tickets/"+ticket).Status)
	require.Equal(t, map[string]any{"type": "expired", "reason": "left"}, readMsg(t, ws))
	requireClosed(t, ws, 1000)
	requirePositionMsg(t, readMsg(t, behind), 1, 1)
}

func TestAnAdmittedVisitorGetsTheTokenOnConnectAndAPrequeuedOneTheOpeningTime(t *testing.T) {
	b := setup(t)
	v := b.verifier()

	b.putRoom("open", map[string]any{"mode": "auto"})
	r := jsonObject(t, b.join("open", asUser(t, "carol")))
	require.Equal(t, "admitted", r["state"])
	ws := b.mustDial("open", r["ticket"].(string), false)
	m := readMsg(t, ws)
	requireKeys(t, m, "type", "entry_token", "expires_at", "target_url")
	require.Equal(t, "admitted", m["type"])
	require.Equal(t, r["expires_at"], m["expires_at"])
	b.requireEntryToken(v, m["entry_token"].(string), "open", "carol", m["expires_at"].(string))

	opens := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	b.putRoom("later", map[string]any{"opens_at": opens.Format(time.RFC3339)})
	b.joinTicket("later")
	ws = b.mustDial("later", b.joinTicket("later"), true)
	require.Equal(t, map[string]any{"type": "prequeue", "waiting": 2.0, "opens_at": opens.Format(time.RFC3339)}, readMsg(t, ws))
}
