package pacer_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer"
	"github.com/waitroom/waitroom/internal/pacer/pacertest"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

// bundle is what a test needs: a real Redis and a store over it (the test's
// own view, as an operator would have).
type bundle struct {
	ctx   context.Context
	srv   *redistest.Server
	store *queue.Store
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	srv := redistest.Start(t)
	return &bundle{ctx: ctx, srv: srv, store: queue.New(srv.Client(), queue.Options{Logger: testLogger(t)})}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// visitors is the line of a counting room: more than any test ticks.
const visitors = 300

// countingRoom creates a counting room (see pacertest) with a line longer
// than any test ticks.
func (b *bundle) countingRoom(t *testing.T, room string, intervalMS int) {
	t.Helper()
	pacertest.CountingRoom(t, b.ctx, b.store, room, intervalMS, visitors)
}

// admitted is the number of ticks a counting room has had.
func (b *bundle) admitted(t *testing.T, room string) int64 {
	t.Helper()
	return pacertest.Ticks(t, b.ctx, b.store, room)
}

// waitTicking waits until the room has ticked once and returns how long that
// took.
func (b *bundle) waitTicking(t *testing.T, room string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.Eventually(t, func() bool { return b.admitted(t, room) > 0 }, within, 20*time.Millisecond,
		"room %s did not tick within %s", room, within)
	return time.Since(start)
}

// countTicks waits for the room's first tick, then counts its ticks over d
// (see pacertest.Count).
func (b *bundle) countTicks(t *testing.T, room string, d time.Duration) int64 {
	t.Helper()
	b.waitTicking(t, room, 10*time.Second)
	cfg, err := b.store.Room(b.ctx, room)
	require.NoError(t, err)
	n, _ := pacertest.Count(t, b.ctx, b.store, room, d, 2*cfg.Interval()+5*time.Second)
	return n
}

// run runs p until the test ends (or stop is called) and checks that it
// stops cleanly and promptly.
func run(t *testing.T, p pacer.Pacer) (stop func()) {
	t.Helper()
	return testproc.Run(t, 10*time.Second, p.Run)
}

// sqsPacer starts an SQS pacer on its own Redis client, as a separate
// admitter process would have.
func (b *bundle) sqsPacer(t *testing.T, client pacer.SQSAPI, url string, opt pacer.SQSOptions) (stop func()) {
	t.Helper()
	opt.QueueURL = url
	opt.Logger = testLogger(t)
	if opt.VisibilityTimeout == 0 {
		opt.VisibilityTimeout = 2 * time.Second
	}
	if opt.Slack == 0 {
		opt.Slack = time.Second
	}
	p, err := pacer.NewSQS(queue.New(b.srv.Client(), queue.Options{Logger: opt.Logger}), client, opt)
	require.NoError(t, err)
	return run(t, p)
}

// localPacer starts an in-process pacer on its own Redis client.
func (b *bundle) localPacer(t *testing.T, opt pacer.LocalOptions) (stop func()) {
	t.Helper()
	opt.Logger = testLogger(t)
	return run(t, pacer.NewLocal(queue.New(b.srv.Client(), queue.Options{Logger: opt.Logger}), opt))
}
