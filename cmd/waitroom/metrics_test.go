package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMetricsCountJoinsRequestsAndRoomsUnderPrometheusNames(t *testing.T) {
	b := setup(t)
	b.putRoom("m1", map[string]any{"mode": "queue_all"})
	b.joinTicket("m1")
	b.joinTicket("m1")
	res := b.get("/metrics")
	require.Equal(t, http.StatusOK, res.Status)
	for _, want := range []string{
		`waitroom_joins_total{room="m1"} 2`,
		`waitroom_http_requests_total{code="201",method="POST",route="/api/rooms/:room/tickets"} 2`,
		`waitroom_http_request_duration_seconds_bucket{method="POST",route="/api/rooms/:room/tickets",le="+Inf"} 2`,
		`waitroom_room_waiting{room="m1"} 2`,
		`waitroom_ws_sockets_open 0`,
		`waitroom_redis_errors_total 0`,
	} {
		require.Contains(t, string(res.Body), want)
	}
}
