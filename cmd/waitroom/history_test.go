package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// Sale history and arrival (docs/API.md: Sale history, Arrival and no-shows).

// historyFields are the fields of a history point, in the order of the
// CSV's columns.
var historyFields = []string{"t", "arrived", "admitted", "abandoned", "left", "ended", "no_show", "waiting",
	"admitted_now", "wait_p50_s", "wait_p95_s"}

type historyJSON struct {
	Room    string           `json:"room"`
	StepS   int64            `json:"step_s"`
	Points  []map[string]any `json:"points"`
	Summary map[string]any   `json:"summary"`
}

// historyJSON reads the room's history and checks its shape: nothing but
// room, step_s, points and summary, and every point has exactly
// historyFields, a time, whole counts and waits that are numbers or null.
func (b *bundle) historyJSON(room, query string) historyJSON {
	b.t.Helper()
	r := b.send(request{method: http.MethodGet, path: "/api/admin/rooms/" + room + "/history" + query, admin: true})
	require.Equal(b.t, http.StatusOK, r.Status, "%s", r.Body)
	requireJSON(b.t, r)
	var h historyJSON
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	require.NoError(b.t, dec.Decode(&h))
	for _, p := range h.Points {
		requireKeys(b.t, p, historyFields...)
		ts, ok := p["t"].(string)
		require.True(b.t, ok, "t is a string: %#v", p["t"])
		_, err := time.Parse(time.RFC3339, ts)
		require.NoError(b.t, err)
		for _, f := range historyFields[1:9] {
			num(b.t, p[f])
		}
		for _, f := range historyFields[9:] {
			if p[f] != nil {
				require.IsType(b.t, 0.0, p[f], f)
			}
		}
	}
	return h
}

// missArrivals moves the room's arrival deadlines into the past.
func (b *bundle) missArrivals(room string) {
	b.t.Helper()
	uk := "wr:{" + room + "}:unarrived"
	ids, err := b.rdb.ZRange(b.ctx, uk, 0, -1).Result()
	require.NoError(b.t, err)
	for _, id := range ids {
		require.NoError(b.t, b.rdb.ZAddXX(b.ctx, uk, redis.Z{Score: 1, Member: id}).Err())
	}
}

func TestHistoryIsTheSaleInJSONAndTheSameRowsInCSV(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "queue_all", "capacity": 2, "batch_size": 2})
	var tickets []string
	for range 4 {
		tickets = append(tickets, b.joinTicket("sale"))
	}
	require.Equal(t, http.StatusNoContent, b.del("/api/rooms/sale/tickets/"+tickets[3]).Status)
	require.Len(t, b.tick("sale").Admitted, 2)
	require.Equal(t, http.StatusNoContent, b.del("/api/rooms/sale/tickets/"+tickets[0]).Status)

	h := b.historyJSON("sale", "?step=10s&since="+time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339))
	require.Equal(t, "sale", h.Room)
	require.EqualValues(t, 10, h.StepS)
	require.NotEmpty(t, h.Points)
	sums := map[string]int64{}
	for _, p := range h.Points {
		for _, f := range []string{"arrived", "admitted", "left", "ended"} {
			sums[f] += num(t, p[f])
		}
		at, _ := time.Parse(time.RFC3339, p["t"].(string))
		require.Zero(t, at.Unix()%10)
	}
	require.Equal(t, map[string]int64{"arrived": 4, "admitted": 2, "left": 1, "ended": 1}, sums)
	require.Equal(t, map[string]any{"arrived": 4.0, "admitted": 2.0, "abandoned": 0.0, "left": 1.0, "ended": 1.0,
		"no_show": 0.0, "peak_waiting": 1.0, "wait_p50_s": 0.0, "wait_p95_s": 0.0}, h.Summary)
	last := h.Points[len(h.Points)-1]
	require.EqualValues(t, 1, last["waiting"])
	require.EqualValues(t, 2, last["admitted_now"], "at the step's last tick, before the leave")

	r := b.send(request{method: http.MethodGet, path: "/api/admin/rooms/sale/history?step=10s&since=" +
		time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339), admin: true,
		header: http.Header{"Accept": {"text/csv"}}})
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, historyFields, rows[0])
	require.Len(t, rows, len(h.Points)+1)
	for i, p := range h.Points {
		// A CSV cell is the JSON value as it is: a null wait is empty.
		cells := make([]string, len(historyFields))
		for k, f := range historyFields {
			switch v := p[f].(type) {
			case string:
				cells[k] = v
			case float64:
				cells[k] = strconv.FormatFloat(v, 'f', -1, 64)
			}
		}
		require.Equal(t, cells, rows[i+1])
	}

	// The default: the last 2 h at 1m.
	require.EqualValues(t, 60, b.historyJSON("sale", "").StepS)
}

func TestHistoryRefusesBadQueriesUnknownRoomsAndNoToken(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{})
	for _, q := range []string{"?step=15s", "?step=", "?since=yesterday", "?since="} {
		r := b.send(request{method: http.MethodGet, path: "/api/admin/rooms/sale/history" + q, admin: true})
		requireAPIError(t, r, http.StatusBadRequest, "invalid_query")
	}
	r := b.send(request{method: http.MethodGet, path: "/api/admin/rooms/nope/history", admin: true})
	requireAPIError(t, r, http.StatusNotFound, "room_not_found")
	r = b.send(request{method: http.MethodGet, path: "/api/admin/rooms/Bad/history", admin: true})
	requireAPIError(t, r, http.StatusBadRequest, "invalid_room")
	r = b.get("/api/admin/rooms/sale/history")
	requireAPIError(t, r, http.StatusUnauthorized, "unauthorized")
}

func TestANoShowIsExpiredWithItsReasonAndTheNextVisitorGetsThePlace(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "queue_all", "capacity": 1, "arrive_within_s": 30})
	first, second := b.joinTicket("sale"), b.joinTicket("sale")
	ws := b.mustDial("sale", first, false)
	require.Equal(t, "position", readMsg(t, ws)["type"])
	require.Len(t, b.tick("sale").Admitted, 1)
	require.Equal(t, "admitted", readMsg(t, ws)["type"])

	b.missArrivals("sale")
	ev := b.tick("sale")
	require.Len(t, ev.Admitted, 1)
	require.Equal(t, second, ev.Admitted[0].Ticket, "the place goes to the next visitor at once")
	m := readMsg(t, ws)
	require.Equal(t, map[string]any{"type": "expired", "reason": "no_show"}, m)

	// The second arrives through POST .../arrive and keeps the admission.
	st := jsonObject(t, b.get("/api/rooms/sale/tickets/"+second))
	token := st["entry_token"].(string)
	r := b.send(request{method: http.MethodPost, path: "/api/rooms/sale/arrive", header: http.Header{"Authorization": {"Bearer " + token}}})
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	b.missArrivals("sale")
	require.Empty(t, b.tick("sale").Ended)
	require.Equal(t, "admitted", jsonObject(t, b.get("/api/rooms/sale/tickets/"+second))["state"])

	h := b.historyJSON("sale", "")
	require.Equal(t, 1.0, h.Summary["no_show"])
	require.Equal(t, 2.0, h.Summary["admitted"])
}

func TestArriveRefusesBadTokensAndEndedAdmissions(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"capacity": 5, "arrive_within_s": 30})
	ticket := b.joinTicket("sale") // auto: admitted at once
	token := jsonObject(t, b.get("/api/rooms/sale/tickets/"+ticket))["entry_token"].(string)
	arrive := func(room, auth string) *response {
		h := http.Header{}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		return b.send(request{method: http.MethodPost, path: "/api/rooms/" + room + "/arrive", header: h})
	}
	requireAPIError(t, arrive("sale", ""), http.StatusUnauthorized, "invalid_token")
	requireAPIError(t, arrive("sale", "Bearer not-a-jwt"), http.StatusUnauthorized, "invalid_token")
	b.putRoom("other", map[string]any{})
	requireAPIError(t, arrive("other", "Bearer "+token), http.StatusForbidden, "wrong_room")
	require.Equal(t, http.StatusNoContent, arrive("sale", "Bearer "+token).Status)
	require.Equal(t, http.StatusNoContent, b.del("/api/rooms/sale/tickets/"+ticket).Status)
	requireAPIError(t, arrive("sale", "Bearer "+token), http.StatusUnauthorized, "admission_ended")
}
