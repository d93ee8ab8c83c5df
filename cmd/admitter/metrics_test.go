package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer/pacertest"
	"github.com/waitroom/waitroom/internal/testproc"
)

func TestAdmitterServesMetricsOfItsTicks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pacertest.CountingRoom(t, b.ctx, b.store, "metered", 200, 200)
	addr := testproc.FreeAddr(t)
	a := start(t, append(b.env, "ADMITTER_METRICS_ADDR="+addr))
	defer a.RequireStop(t, 10*time.Second)

	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		body = string(raw)
		return strings.Contains(body, `waitroom_ticks_total{room="metered"}`) &&
			strings.Contains(body, `waitroom_admissions_total{room="metered"}`)
	}, 10*time.Second, 100*time.Millisecond, "ticks and admissions are counted")
	require.Contains(t, body, `waitroom_tick_duration_seconds_bucket{room="metered"`)
	require.Contains(t, body, `waitroom_room_waiting{room="metered"}`)
	require.Contains(t, body, "waitroom_redis_errors_total 0")

	resp, err := http.Get("http://" + addr + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
