package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The operator API of docs/API.md.

// configKeys are the fields of a room config.
var configKeys = []string{"capacity", "batch_size", "interval_ms", "session_ttl_s", "mode", "paused", "require_user", "pow_work",
	"opens_at", "abandon_after_s", "target_url", "title", "message", "routes", "arrive_within_s"}

func (b *bundle) adminSend(method, path string, body any) *response {
	b.t.Helper()
	return b.send(request{method: method, path: path, body: body, admin: true})
}

func TestPutCreatesARoomWithTheDefaultsThenUpdatesOnlyTheFieldsGiven(t *testing.T) {
	b := setup(t)

	r := b.adminSend(http.MethodPut, "/api/admin/rooms/sale", map[string]any{"capacity": 50, "mode": "queue_all"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	m := jsonObject(t, r)
	require.Equal(t, "sale", m["room"])
	cfg := m["config"].(map[string]any)
	requireKeys(t, cfg, configKeys...)
	require.Equal(t, map[string]any{"capacity": 50.0, "batch_size": 10.0, "interval_ms": 1000.0, "session_ttl_s": 600.0,
		"mode": "queue_all", "paused": false, "opens_at": nil, "abandon_after_s": 120.0, "target_url": "/booking/sale",
		"require_user": false, "pow_work": 0.0, "title": "", "message": "", "routes": []any{}, "arrive_within_s": 0.0}, cfg)

	opens := time.Date(2030, 12, 1, 10, 0, 0, 0, time.UTC)
	r = b.adminSend(http.MethodPut, "/api/admin/rooms/sale", map[string]any{"batch_size": 25, "paused": true, "opens_at": opens.Format(time.RFC3339)})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	cfg = jsonObject(t, r)["config"].(map[string]any)
	require.EqualValues(t, 50, num(t, cfg["capacity"]), "a field not given keeps its value")
	require.EqualValues(t, 25, num(t, cfg["batch_size"]))
	require.Equal(t, true, cfg["paused"])
	at, err := time.Parse(time.RFC3339, cfg["opens_at"].(string))
	require.NoError(t, err)
	require.True(t, opens.Equal(at))

	r = b.adminSend(http.MethodPut, "/api/admin/rooms/sale", map[string]any{"opens_at": nil, "paused": false})
	require.Equal(t, http.StatusOK, r.Status)
	cfg = jsonObject(t, r)["config"].(map[string]any)
	require.Nil(t, cfg["opens_at"], "null clears opens_at")
	require.Equal(t, "queue_all", cfg["mode"])

	// An empty body creates a room with every default.
	r = b.adminSend(http.MethodPut, "/api/admin/rooms/plain", nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Equal(t, "auto", jsonObject(t, r)["config"].(map[string]any)["mode"])
}

func TestListShowsEveryRoomWithItsConfigAndStats(t *testing.T) {
	b := setup(t)
	r := b.adminSend(http.MethodGet, "/api/admin/rooms", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.JSONEq(t, `[]`, string(r.Body), "no rooms yet: an empty list, not null")

	b.putRoom("b-sale", map[string]any{"mode": "queue_all", "batch_size": 2})
	b.putRoom("a-sale", map[string]any{"capacity": 9})
	for range 5 {
		b.joinTicket("b-sale")
	}
	b.tick("b-sale")

	r = b.adminSend(http.MethodGet, "/api/admin/rooms", nil)
	require.Equal(t, http.StatusOK, r.Status)
	requireJSON(t, r)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &list), "%s", r.Body)
	require.Len(t, list, 2)
	require.Equal(t, "a-sale", list[0]["room"], "sorted by id")
	require.Equal(t, "b-sale", list[1]["room"])
	for _, room := range list {
		requireKeys(t, room, "room", "config", "stats")
		requireKeys(t, room["config"].(map[string]any), configKeys...)
		requireKeys(t, room["stats"].(map[string]any), "waiting", "admitted", "admitted_total", "admitted_per_minute", "oldest_wait_s")
	}
	require.EqualValues(t, 9, num(t, list[0]["config"].(map[string]any)["capacity"]))
	require.Equal(t, map[string]any{"waiting": 0.0, "admitted": 0.0, "admitted_total": 0.0, "admitted_per_minute": 0.0, "oldest_wait_s": 0.0},
		list[0]["stats"])
	st := list[1]["stats"].(map[string]any)
	require.EqualValues(t, 3, num(t, st["waiting"]))
	require.EqualValues(t, 2, num(t, st["admitted"]))
	require.EqualValues(t, 2, num(t, st["admitted_total"]))
	require.EqualValues(t, 2, num(t, st["admitted_per_minute"]))
	require.GreaterOrEqual(t, num(t, st["oldest_wait_s"]), int64(0))
}

func TestDeleteRemovesTheRoomAndTellsItsSockets(t *testing.T) {
	b := setupSale(t)
	ticket := b.joinTicket("sale")
	ws := b.mustDial("sale", ticket, false)
	requirePositionMsg(t, readMsg(t, ws), 1, 1)

	r := b.adminSend(http.MethodDelete, "/api/admin/rooms/sale", nil)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	require.Empty(t, r.Body)

	require.Equal(t, map[string]any{"type": "expired", "reason": "room_deleted"}, readMsg(t, ws))
	requireClosed(t, ws, 1000)

	requireAPIError(t, b.get("/api/rooms/sale"), http.StatusNotFound, "room_not_found")
	requireAPIError(t, b.get("/api/rooms/sale/tickets/"+ticket), http.StatusNotFound, "room_not_found")
	requireAPIError(t, b.join("sale", nil), http.StatusNotFound, "room_not_found")
	requireAPIError(t, b.adminSend(http.MethodDelete, "/api/admin/rooms/sale", nil), http.StatusNotFound, "room_not_found")
	require.JSONEq(t, `[]`, string(b.adminSend(http.MethodGet, "/api/admin/rooms", nil).Body))
	keys, err := b.rdb.Keys(b.ctx, "wr:{sale}:*").Result()
	require.NoError(t, err)
	// Only the sale's history stays, readable until it expires (docs/API.md,
	// "Sale history").
	for _, k := range keys {
		require.Regexp(t, `^wr:\{sale\}:(h:\d+|htot)$`, k, "nothing but the history of the room is left in Redis")
		ttl, err := b.rdb.TTL(b.ctx, k).Result()
		require.NoError(t, err)
		require.Greater(t, ttl, time.Duration(0), "%s expires", k)
	}

	// The name can be used again, from scratch.
	b.putRoom("sale", map[string]any{"mode": "queue_all"})
	m := jsonObject(t, b.join("sale", nil))
	require.EqualValues(t, 1, num(t, m["position"]))
}
