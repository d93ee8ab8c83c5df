package integration_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type historySummary struct {
	Arrived, Admitted, Abandoned, Left, Ended int64
	NoShow                                    int64 `json:"no_show"`
}

// history reads the room's summary through w's operator API.
func (b *bundle) history(t *testing.T, i int, room string) historySummary {
	t.Helper()
	a := b.send(t, http.MethodGet, b.waitroom[i].Base+"/api/admin/rooms/"+room+"/history?step=10s", nil, adminToken)
	require.Equal(t, http.StatusOK, a.Status, "%s", a)
	var body struct {
		Summary historySummary `json:"summary"`
	}
	require.NoError(t, json.Unmarshal(a.Body, &body), "%s", a)
	return body.Summary
}

// The history is written where things happen, in Redis: joins and leaves
// through either instance, ticks by either admitter, one of them restarted
// mid-sale; both instances read the same sale, one of them after a restart.
func TestHistoryIsTheSameSaleOnEveryInstanceAcrossAnAdmitterRestart(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := setup(t, be)
			const room = "hist"
			b.putRoom(t, b.waitroom[0], room, map[string]any{"mode": "queue_all", "capacity": 3, "batch_size": 2, "interval_ms": 200})
			var tickets []string
			for i := range 8 {
				tickets = append(tickets, b.join(t, b.waitroom[i%2], room).Ticket)
			}
			a := b.send(t, http.MethodDelete, b.waitroom[1].Base+"/api/rooms/"+room+"/tickets/"+tickets[7], nil, "")
			require.Equal(t, http.StatusNoContent, a.Status, "%s", a)
			require.Eventually(t, func() bool { return b.history(t, 1, room).Admitted == 3 }, 10*time.Second, 50*time.Millisecond)

			// An admitter restarts (a deploy); the other carries on meanwhile.
			b.admitter[0].RequireStop(t, 10*time.Second)
			require.NoError(t, b.admitter[0].Start())
			a = b.send(t, http.MethodDelete, b.waitroom[0].Base+"/api/rooms/"+room+"/tickets/"+tickets[0], nil, "")
			require.Equal(t, http.StatusNoContent, a.Status, "%s", a)
			want := historySummary{Arrived: 8, Admitted: 4, Left: 1, Ended: 1}
			// Within the loop message's visibility timeout (30 s) should the
			// stopped admitter have held it.
			require.Eventually(t, func() bool { return b.history(t, 0, room) == want }, 40*time.Second, 50*time.Millisecond,
				"the freed place is filled: %+v", b.history(t, 0, room))
			time.Sleep(500 * time.Millisecond) // more ticks: nothing is counted twice
			require.Equal(t, want, b.history(t, 0, room))
			b.waitroom[1].RequireStop(t, 10*time.Second)
			require.NoError(t, b.waitroom[1].Restart(15*time.Second))
			require.Equal(t, want, b.history(t, 1, room), "a restarted instance reads the same")
		})
	}
}
