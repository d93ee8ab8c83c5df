package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/pkg/queue"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

func TestTicksAndRoomsAreExportedUnderPrometheusNames(t *testing.T) {
	srv := redistest.Start(t)
	rdb, err := redisconn.Open("redis://"+srv.Addr(), "")
	require.NoError(t, err)
	defer rdb.Close()
	m := New()
	rdb.AddHook(m.RedisHook())
	store := queue.New(rdb, queue.Options{})
	m.Rooms(store)
	ctx := context.Background()
	mode := queue.ModeQueueAll
	_, _, err = store.PutRoom(ctx, "r1", queue.ConfigPatch{Mode: &mode})
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		_, _, err := store.Join(ctx, "r1", queue.JoinRequest{})
		require.NoError(t, err)
	}
	ev, err := store.Tick(ctx, "r1")
	require.NoError(t, err)
	m.OnTick("r1", ev, 3*time.Millisecond)
	m.OnPush("position")

	out := scrape(t, m)
	// Room r1's series: one tick that admitted all three, nobody lost.
	for name, n := range map[string]int{
		"waitroom_ticks_total": 1, "waitroom_admissions_total": 3, "waitroom_tick_duration_seconds_count": 1,
		"waitroom_room_waiting": 0, "waitroom_room_admitted": 3, "waitroom_room_arrivals_total": 3,
		"waitroom_room_admissions_total": 3, "waitroom_room_abandons_total": 0, "waitroom_room_leaves_total": 0,
		"waitroom_room_admissions_ended_total": 0, "waitroom_room_no_shows_total": 0, "waitroom_room_wait_seconds_count": 3,
	} {
		require.Contains(t, out, fmt.Sprintf(`%s{room="r1"} %d`, name, n))
	}
	for _, want := range []string{
		`waitroom_ws_messages_pushed_total{type="position"} 1`,
		`waitroom_redis_errors_total 0`, // the first EVALSHA's NOSCRIPT is no failure
		`waitroom_room_wait_seconds_bucket{room="r1",le="1"} 3`,
		`waitroom_room_wait_seconds_bucket{room="r1",le="262144"} 3`,
	} {
		require.Contains(t, out, want)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "# TYPE waitroom_") && strings.HasSuffix(line, " counter") {
			require.Contains(t, line, "_total ", "counters end in _total: %s", line)
		}
	}
}

func TestRedisErrorsAreCounted(t *testing.T) {
	m := New()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	rdb.AddHook(m.RedisHook())
	require.Error(t, rdb.Ping(context.Background()).Err())
	require.NotContains(t, scrape(t, m), "waitroom_redis_errors_total 0")
}
