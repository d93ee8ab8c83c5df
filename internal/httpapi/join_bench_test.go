package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/pkg/queue"
)

// BenchmarkJoinRequest is one new visitor's join through the whole echo
// stack cmd/waitroom serves (middleware, metrics, the handler) on a real
// Redis, one at a time: its allocations are the join path's.
//
//	go test ./internal/httpapi -run '^$' -bench JoinRequest -benchmem
func BenchmarkJoinRequest(b *testing.B) {
	srv := redistest.Start(b)
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store := queue.New(srv.Client(), queue.Options{Logger: log})
	ctx := context.Background()
	_, _, err := store.PutRoom(ctx, "load", queue.ConfigPatch{Mode: new(queue.ModeQueueAll)})
	require.NoError(b, err)
	met := metrics.New()
	e := httpapi.NewEcho(log)
	httpapi.CountRequests(e, met)
	(&httpapi.Waitroom{Store: store, Logger: log, Metrics: met}).Register(e)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/rooms/load/tickets", nil)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("join: %d %s", rec.Code, rec.Body)
		}
	}
}
