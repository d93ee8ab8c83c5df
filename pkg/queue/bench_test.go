package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/internal/redistest"
)

// Benchmarks run on the single-node backend. Reproduce with
//   go test ./pkg/queue -run '^$' -bench . -benchtime 20000x
// (see docs/BENCHMARKS.md for the figures).

func benchBundle(b *testing.B, patch ConfigPatch) *bundle {
	b.Helper()
	be := backends[0]
	bb := &bundle{ctx: context.Background(), store: New(be.Client, Options{}), rdb: be.Client,
		room: fmt.Sprintf("bench%d", roomSeq.Add(1))}
	if _, _, err := bb.store.PutRoom(bb.ctx, bb.room, patch); err != nil {
		b.Fatal(err)
	}
	return bb
}

// fill joins n visitors through pipelined EVALSHA, much faster than one
// round trip each, for setting up large lines.
func fill(b testing.TB, bb *bundle, n int) {
	b.Helper()
	k := roomKeys(bb.room).all()
	for done := 0; done < n; {
		calls := make([]luascript.Call, min(1000, n-done))
		for i := range calls {
			calls[i] = luascript.Call{Keys: k, Args: []any{NewTicket(), "", "", shuffleKey()}}
		}
		_, errs := bb.store.sc.join.RunMany(bb.ctx, bb.rdb, calls)
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		done += len(calls)
	}
}

func BenchmarkJoin(b *testing.B) {
	bb := benchBundle(b, ConfigPatch{Mode: new(ModeQueueAll)})
	b.ReportAllocs()
	b.SetParallelism(16) // many visitors at once, as an HTTP server would run them
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := bb.store.Join(bb.ctx, bb.room, JoinRequest{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkStatusIn100kLine(b *testing.B) {
	bb := benchBundle(b, ConfigPatch{Mode: new(ModeQueueAll)})
	fill(b, bb, 100000)
	st, _, err := bb.store.Join(bb.ctx, bb.room, JoinRequest{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bb.store.Status(bb.ctx, bb.room, st.Ticket); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkTickAdmitting1000(b *testing.B) {
	bb := benchBundle(b, ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(1000), Capacity: new(0)})
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fill(b, bb, 1000)
		bb.rdb.Del(bb.ctx, roomKeys(bb.room).adm)
		b.StartTimer()
		ev, err := bb.store.Tick(bb.ctx, bb.room)
		if err != nil || len(ev.Admitted) != 1000 {
			b.Fatalf("tick admitted %d: %v", len(ev.Admitted), err)
		}
	}
}

// BenchmarkMemoryPerWaitingVisitor joins 1 000 000 visitors into one room of
// a fresh redis-server and reports used_memory growth per visitor, all keys
// counted. Run with -benchtime 1x.
func BenchmarkMemoryPerWaitingVisitor(b *testing.B) {
	for i := 0; i < b.N; i++ {
		srv, err := redistest.NewServer(redistest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		rdb := srv.Client()
		bb := &bundle{ctx: context.Background(), store: New(rdb, Options{}), rdb: rdb, room: "mem"}
		if _, _, err := bb.store.PutRoom(bb.ctx, bb.room, ConfigPatch{Mode: new(ModeQueueAll)}); err != nil {
			b.Fatal(err)
		}
		fill(b, bb, 1) // the room's fixed keys and the script cache exist before the baseline
		before := usedMemory(b, rdb)
		const n = 1000000
		fill(b, bb, n)
		after := usedMemory(b, rdb)
		st, err := bb.store.Stats(bb.ctx, bb.room)
		if err != nil || st.Waiting != n+1 {
			b.Fatalf("waiting %d: %v", st.Waiting, err)
		}
		b.ReportMetric(float64(after-before)/n, "bytes/visitor")
		srv.Close()
	}
}

func usedMemory(b testing.TB, rdb *redis.Client) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

// BenchmarkJoinBatchRedisCPU runs join_batch.lua calls of a fixed number of
// new visitors, one after another, and reports Redis's own CPU per joiner
// (INFO cpu before and after), the figure issue 13 bounds at 10 µs.
func BenchmarkJoinBatchRedisCPU(b *testing.B) {
	for _, size := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("joiners=%d", size), func(b *testing.B) {
			bb := benchBundle(b, ConfigPatch{Mode: new(ModeQueueAll)})
			calls := make([]*joinCall, size)
			for i := range calls {
				calls[i] = &joinCall{ctx: bb.ctx}
			}
			fresh := func() {
				for _, c := range calls {
					c.args = joinArgs{ticket: NewTicket(), shuffle: shuffleKey(), aid: NewAdmissionID()}
				}
			}
			fresh()
			if _, err := bb.store.joinBatch(bb.ctx, bb.room, NewTicket(), calls); err != nil {
				b.Fatal(err)
			}
			before := redisCPU(b, bb.rdb)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				fresh()
				b.StartTimer()
				if _, err := bb.store.joinBatch(bb.ctx, bb.room, NewTicket(), calls); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric((redisCPU(b, bb.rdb)-before).Seconds()*1e6/float64(b.N*size), "redis-µs/join")
		})
	}
}

// redisCPU is the CPU the server has used (used_cpu_user + used_cpu_sys).
func redisCPU(b testing.TB, rdb redis.UniversalClient) time.Duration {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var s float64
	for _, line := range strings.Split(info, "\r\n") {
		for _, f := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(line, f); ok {
				x, _ := strconv.ParseFloat(v, 64)
				s += x
			}
		}
	}
	return time.Duration(s * float64(time.Second))
}
