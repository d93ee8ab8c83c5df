package queue

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
)

// TestHistoryMemoryPerRoomPerDay measures a day of a busy room's history at
// the 10 s step (docs/BENCHMARKS.md): one step written by the real scripts
// (joins, ticks with waits from 0 s to 10 min, leaves, abandons, no-shows),
// copied with DUMP/RESTORE (same encoding, same TTL) into the 8640 steps of
// a day. Set WAITROOM_MEASURE=1 to run it.
func TestHistoryMemoryPerRoomPerDay(t *testing.T) {
	if os.Getenv("WAITROOM_MEASURE") == "" {
		t.Skip("set WAITROOM_MEASURE=1 to measure")
	}
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := New(rdb, Options{})
	b := &bundle{ctx: ctx, store: s, rdb: rdb, room: "mem"}
	b.put(t, ConfigPatch{Mode: new(ModeQueueAll), Capacity: new(0), BatchSize: new(40), AbandonAfterS: new(60), ArriveWithinS: new(60)})

	// A busy step: 2000 joins, waits spread over many buckets.
	var tk []string
	for range 2000 {
		tk = append(tk, b.join(t).Ticket)
	}
	for i := 0; i < 40; i++ {
		b.backdate(t, tk[i], time.Duration(i*i)*400*time.Millisecond) // 0 s … 10 min
	}
	b.tick(t)
	require.NoError(t, s.Leave(ctx, b.room, tk[100]))
	b.ageGenerations(t)
	b.missArrivals(t)
	b.tick(t)
	b.expireAdmissions(t)
	b.tick(t)

	now, err := rdb.Time(ctx).Result()
	require.NoError(t, err)
	step := historyKey(b.room, now.UnixMilli()/HistoryStepMS)
	fields, err := rdb.HGetAll(ctx, step).Result()
	require.NoError(t, err)
	t.Logf("one busy step: %d fields %v", len(fields), fields)
	dump, err := rdb.Dump(ctx, step).Result()
	require.NoError(t, err)
	one, err := rdb.MemoryUsage(ctx, step).Result()
	require.NoError(t, err)

	before := usedMemory(t, rdb)
	const day = 86400 / (HistoryStepMS / 1000)
	pipe := rdb.Pipeline()
	for n := 1; n <= day; n++ {
		pipe.RestoreReplace(ctx, "wr:{memday}:h:"+strconv.Itoa(n), DefaultHistoryRetention, dump)
	}
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	after := usedMemory(t, rdb)
	var sum int64
	pipe = rdb.Pipeline()
	cmds := make([]interface{ Val() int64 }, 0, day)
	for n := 1; n <= day; n++ {
		cmds = append(cmds, pipe.MemoryUsage(ctx, "wr:{memday}:h:"+strconv.Itoa(n)))
	}
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	for _, c := range cmds {
		sum += c.Val()
	}
	tot, err := rdb.MemoryUsage(ctx, historyTotalsKey(b.room)).Result()
	require.NoError(t, err)
	t.Logf("MEMORY USAGE of one busy step: %d B; of the totals hash: %d B", one, tot)
	t.Logf("a day of busy steps (%d): MEMORY USAGE sum %d B (%.2f MB); used_memory grew %d B (%.2f MB, %.0f B a step, with the expiry entries)",
		day, sum, float64(sum)/1e6, after-before, float64(after-before)/1e6, float64(after-before)/day)
}
