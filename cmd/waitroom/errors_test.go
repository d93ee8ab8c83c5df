package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/queue"
)

// Every error of the waiting-room and operator APIs: the status and code of
// docs/API.md, the shape {"error":{"code","message"}}, and nothing changed.

// roomEndpoints are the requests that take a room id, for room.
func roomEndpoints(room, ticket string) []request {
	return []request{
		{method: http.MethodPost, path: "/api/rooms/" + room + "/tickets"},
		{method: http.MethodGet, path: "/api/rooms/" + room + "/tickets/" + ticket},
		{method: http.MethodDelete, path: "/api/rooms/" + room + "/tickets/" + ticket},
		{method: http.MethodGet, path: "/api/rooms/" + room},
		{method: http.MethodGet, path: "/api/rooms/" + room + "/ws?ticket=" + ticket},
		{method: http.MethodGet, path: "/rooms/" + room},
		{method: http.MethodPut, path: "/api/admin/rooms/" + room, body: `{"capacity":1}`, admin: true},
		{method: http.MethodDelete, path: "/api/admin/rooms/" + room, admin: true},
	}
}

func TestAnInvalidRoomIdIsRefusedOnEveryRoomEndpointBeforeRedisIsAsked(t *testing.T) {
	b := setup(t)
	ticket := queue.NewTicket()
	// With Redis gone, a check that reached it would answer 503, not 400.
	require.NoError(t, b.redis.Kill())
	for _, room := range []string{"Room_1", strings.Repeat("a", 65), "..", "a.b", "caf%C3%A9", "a%2Fb"} {
		for _, req := range roomEndpoints(room, ticket) {
			r := b.send(req)
			requireAPIError(t, r, http.StatusBadRequest, "invalid_room")
		}
	}
	// A socket dial gets the same answer before any upgrade.
	_, resp, err := b.dial("Room_1", ticket, false)
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestAnUnknownRoomIsNotFoundEverywhere(t *testing.T) {
	b := setupSale(t)
	b.joinTicket("sale")
	b.unchanged(func() {
		for _, req := range roomEndpoints("ghost", queue.NewTicket()) {
			if req.method == http.MethodPut || strings.HasPrefix(req.path, "/rooms/") {
				continue // PUT creates the room; the page is served for any valid id
			}
			requireAPIError(t, b.send(req), http.StatusNotFound, "room_not_found")
		}
	})
}

func TestAnUnknownTicketIsNotFound(t *testing.T) {
	b := setupSale(t)
	b.joinTicket("sale")
	b.unchanged(func() {
		for _, ticket := range []string{queue.NewTicket(), "short", strings.Repeat("x", 200), ".."} {
			requireAPIError(t, b.get("/api/rooms/sale/tickets/"+ticket), http.StatusNotFound, "ticket_not_found")
			requireAPIError(t, b.del("/api/rooms/sale/tickets/"+ticket), http.StatusNotFound, "ticket_not_found")
			requireAPIError(t, b.get("/api/rooms/sale/ws?ticket="+ticket), http.StatusNotFound, "ticket_not_found")
		}
		requireAPIError(t, b.get("/api/rooms/sale/ws"), http.StatusNotFound, "ticket_not_found")
	})
}

func TestABadJoinBodyIsInvalid(t *testing.T) {
	b := setupSale(t)
	b.joinTicket("sale")
	b.unchanged(func() {
		for _, body := range []string{
			`{`,
			`{"user":"a"} {"user":"b"}`,
			`[]`,
			`"alice"`,
			`{"usr":"alice"}`,
			`{"user":1}`,
			`{"user":"alice"}`,
			`{"user_token":1}`,
			`{"ticket":"a","ticket":"b"}`,
		} {
			r := b.join("sale", body)
			requireAPIError(t, r, http.StatusBadRequest, "invalid_body")
			require.Nil(t, r.Cookie("wr_sale"), "no cookie for %s", body)
		}
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/jsonx"} {
			r := b.send(request{method: http.MethodPost, path: "/api/rooms/sale/tickets", body: `{"user":"alice"}`,
				header: http.Header{"Content-Type": {ct}}})
			requireAPIError(t, r, http.StatusBadRequest, "invalid_body")
		}
	})
	// The limits are inclusive: a user id of 128 bytes is fine.
	r := b.join("sale", asUser(t, strings.Repeat("u", 128)))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
}

// onlyReader hides a reader's length, so the client sends it chunked.
type onlyReader struct{ io.Reader }

func TestABodyOver8KiBIsTooLargeEvenWithoutContentLength(t *testing.T) {
	b := setupSale(t)
	b.joinTicket("sale")
	big := `{"user":"` + strings.Repeat("u", 9<<10) + `"}`
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	b.unchanged(func() {
		r := b.join("sale", big)
		requireAPIError(t, r, http.StatusRequestEntityTooLarge, "body_too_large")

		r = b.send(request{method: http.MethodPost, path: "/api/rooms/sale/tickets",
			body: onlyReader{strings.NewReader(big)}, header: jsonCT})
		requireAPIError(t, r, http.StatusRequestEntityTooLarge, "body_too_large")

		r = b.send(request{method: http.MethodPut, path: "/api/admin/rooms/sale", admin: true,
			body: `{"target_url":"/` + strings.Repeat("t", 9<<10) + `"}`})
		requireAPIError(t, r, http.StatusRequestEntityTooLarge, "body_too_large")

		r = b.send(request{method: http.MethodPut, path: "/api/admin/rooms/sale", admin: true,
			body: onlyReader{strings.NewReader(`{"capacity":5` + strings.Repeat(" ", 9<<10) + `}`)}, header: jsonCT})
		requireAPIError(t, r, http.StatusRequestEntityTooLarge, "body_too_large")
	})
	// Exactly 8 KiB is not over the limit, chunked or not.
	exact := `{"ticket":""` + strings.Repeat(" ", 8<<10-len(`{"ticket":""`)-1) + `}`
	require.Len(t, exact, 8<<10)
	r := b.send(request{method: http.MethodPost, path: "/api/rooms/sale/tickets", body: onlyReader{strings.NewReader(exact)}, header: jsonCT})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
}

func TestJoinsOverTheRateAreRefusedWithRetryAfter(t *testing.T) {
	b := setupWith(t, options{joinRate: 1, joinBurst: 2})
	b.putRoom("sale", map[string]any{"mode": "queue_all"})
	b.joinTicket("sale")
	b.joinTicket("sale")

	b.unchanged(func() {
		r := b.join("sale", nil)
		requireAPIError(t, r, http.StatusTooManyRequests, "rate_limited")
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After %q", r.Header.Get("Retry-After"))
		require.GreaterOrEqual(t, secs, 1)
		require.LessOrEqual(t, secs, 2)
		require.Nil(t, r.Cookie("wr_sale"))
	})
	// Reading the status is not a join: it is not limited.
	require.Equal(t, http.StatusOK, b.get("/api/rooms/sale").Status)

	time.Sleep(time.Second)
	require.Equal(t, http.StatusCreated, b.join("sale", nil).Status, "a token came back after Retry-After")
}

func TestARejectingRoomRefusesNewJoinsButKeepsThoseInLine(t *testing.T) {
	b := setupSale(t)
	first := b.join("sale", asUser(t, "early"))
	ticket := jsonObject(t, first)["ticket"].(string)
	b.putRoom("sale", map[string]any{"mode": "reject"})

	b.unchanged(func() {
		requireAPIError(t, b.join("sale", nil), http.StatusForbidden, "room_closed")
		requireAPIError(t, b.join("sale", asUser(t, "late")), http.StatusForbidden, "room_closed")
	})
	r := b.join("sale", nil, first.Cookie("wr_sale"))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, ticket, jsonObject(t, r)["ticket"])
	require.Equal(t, http.StatusOK, b.join("sale", asUser(t, "early")).Status)
	m := jsonObject(t, b.get("/api/rooms/sale/tickets/"+ticket))
	require.Equal(t, "waiting", m["state"])
	require.EqualValues(t, 1, num(t, m["position"]))
}

func TestTheOperatorAPIWantsTheBearerToken(t *testing.T) {
	b := setupSale(t)
	const wrong = "wrong-token-that-must-not-be-logged"
	// Each refusal from an address waits longer: three of them cost 0.7 s.
	b.unchanged(func() {
		requireAPIError(t, b.get("/api/admin/rooms"), http.StatusUnauthorized, "unauthorized")
		requireAPIError(t, b.send(request{method: http.MethodPut, path: "/api/admin/rooms/sale", body: `{"capacity":1}`,
			header: http.Header{"Authorization": {"Bearer " + wrong}}}), http.StatusUnauthorized, "unauthorized")
		requireAPIError(t, b.send(request{method: http.MethodDelete, path: "/api/admin/rooms/sale",
			header: http.Header{"Authorization": {"Basic " + testAdminToken}}}), http.StatusUnauthorized, "unauthorized")
	})
	require.Equal(t, http.StatusOK, b.send(request{method: http.MethodGet, path: "/api/admin/rooms", admin: true}).Status)
	require.NotContains(t, b.logs.String(), wrong)
	require.NotContains(t, b.logs.String(), testAdminToken)
}

func TestABadConfigFieldIsNamedAndChangesNothing(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "queue_all", "capacity": 3})
	put := func(room, body string) *response {
		return b.send(request{method: http.MethodPut, path: "/api/admin/rooms/" + room, body: body, admin: true})
	}
	b.unchanged(func() {
		for _, c := range []struct{ body, field string }{
			{`{"batch_size":0}`, "batch_size"},
			{`{"capacity":5,"mode":"sometimes"}`, "mode"},
			{`{"capacity":-1}`, "capacity"},
			{`{"interval_ms":"1000"}`, "interval_ms"},
			{`{"session_ttl_s":1.5}`, "session_ttl_s"},
			{`{"paused":"yes"}`, "paused"},
			{`{"opens_at":"tomorrow"}`, "opens_at"},
			{`{"target_url":"javascript:alert(1)"}`, "target_url"},
			{`{"target_url":"/\t/evil.example/x"}`, "target_url"}, // a browser drops the tab: //evil.example
			{`{"target_url":"/booking/sale\n"}`, "target_url"},
			{`{"target_url":"/\u200b/evil.example"}`, "target_url"},
			{`{"abandon_after_s":-5}`, "abandon_after_s"},
			{`{"capcity":5}`, "capcity"},
			{`not json`, "body"},
		} {
			for _, room := range []string{"sale", "fresh"} {
				msg := requireAPIError(t, put(room, c.body), http.StatusBadRequest, "invalid_config")
				require.Contains(t, msg, c.field, "the message names the field for %s", c.body)
			}
		}
	})
	requireAPIError(t, b.get("/api/rooms/fresh"), http.StatusNotFound, "room_not_found")
	require.EqualValues(t, 3, num(t, jsonObject(t, b.get("/api/rooms/sale"))["capacity"]))
}

func TestUnknownRoutesAndMethodsAnswerJSON(t *testing.T) {
	b := setup(t)
	requireAPIError(t, b.get("/api/nothing-here"), http.StatusNotFound, "not_found")
	requireAPIError(t, b.get("/no/such/page"), http.StatusNotFound, "not_found")
	requireAPIError(t, b.send(request{method: http.MethodPatch, path: "/api/rooms/sale/tickets"}), http.StatusMethodNotAllowed, "method_not_allowed")
	requireAPIError(t, b.send(request{method: http.MethodPost, path: "/healthz"}), http.StatusMethodNotAllowed, "method_not_allowed")
	requireAPIError(t, b.send(request{method: http.MethodPost, path: "/api/admin/rooms", admin: true}), http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestWithRedisDownTheAPIAnswers503AtOnceAndRecoversWhenItIsBack(t *testing.T) {
	b := setupWith(t, options{appendOnly: true})
	b.putRoom("sale", map[string]any{"mode": "queue_all"})
	ticket := b.joinTicket("sale")

	require.NoError(t, b.redis.Kill())
	reqs := []request{
		{method: http.MethodPost, path: "/api/rooms/sale/tickets"},
		{method: http.MethodGet, path: "/api/rooms/sale/tickets/" + ticket},
		{method: http.MethodDelete, path: "/api/rooms/sale/tickets/" + ticket},
		{method: http.MethodGet, path: "/api/rooms/sale"},
		{method: http.MethodGet, path: "/api/rooms/sale/ws?ticket=" + ticket},
		{method: http.MethodGet, path: "/readyz"},
		{method: http.MethodGet, path: "/api/admin/rooms", admin: true},
		{method: http.MethodPut, path: "/api/admin/rooms/sale", body: `{"capacity":1}`, admin: true},
	}
	// All at once, as visitors would come: each must answer on its own
	// within a couple of seconds, neither hanging nor failing with 500.
	type answer struct {
		r    *response
		took time.Duration
	}
	answers := make([]answer, len(reqs))
	require.NoError(t, parallel(len(reqs), len(reqs), func(i int) error {
		start := time.Now()
		r, err := b.trySend(reqs[i])
		if err != nil {
			r = &response{Status: -1, Body: []byte(err.Error())}
		}
		answers[i] = answer{r, time.Since(start)}
		return nil
	}))
	for i, a := range answers {
		requireAPIError(t, a.r, http.StatusServiceUnavailable, "unavailable")
		require.Less(t, a.took, 2500*time.Millisecond, "%s %s took %s", reqs[i].method, reqs[i].path, a.took)
	}
	require.Equal(t, http.StatusOK, b.get("/healthz").Status, "the process is still up")

	require.NoError(t, b.redis.Start())
	require.Eventually(t, func() bool { return b.get("/readyz").Status == http.StatusOK }, 10*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { return b.get("/api/rooms/sale/tickets/"+ticket).Status == http.StatusOK }, 10*time.Second, 100*time.Millisecond)
	r := b.join("sale", nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.EqualValues(t, 2, num(t, jsonObject(t, r)["position"]), "the line survived")
	require.NotContains(t, b.logs.String(), `"status":500`)
}
