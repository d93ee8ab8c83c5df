package pacer

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/pkg/queue"
)

// Pacer runs the ticks of every room until ctx ends. Run returns nil after
// a clean stop (the ticks in flight finished), or an error it could not
// recover from (a bad configuration); failures of Redis or SQS are logged
// and retried, never returned.
type Pacer interface {
	Run(ctx context.Context) error
}

// Store is what the pacers need: the rooms, their ticks, and the rooms'
// Redis to run their fences' scripts on. *queue.Store provides it.
type Store interface {
	Rooms(ctx context.Context) ([]queue.RoomConfig, error)
	// Room is read by the SQS loop for the room's interval.
	Room(ctx context.Context, room string) (queue.Config, error)
	Tick(ctx context.Context, room string) (queue.Event, error)
	Scripter
}

// Scripter runs the pacers' own Lua scripts (lua/*.lua), whose keys, the
// fences, carry a room's hash tag. See queue.Store.RunScript.
type Scripter interface {
	// RunScript runs script once per call, in one round trip, and returns
	// each call's raw reply or error, in order.
	RunScript(ctx context.Context, script *luascript.Script, calls ...luascript.Call) ([]any, []error)
}

// Options are what both pacers share. Every field's zero value means its
// default.
type Options struct {
	// Logger receives the pacer's logs. Default slog.Default().
	Logger *slog.Logger
	// OnTick, if set, is called after every tick that ran, with what it
	// changed and how long the tick took (for metrics). It must be quick and
	// safe for concurrent use. Default nil.
	OnTick func(room string, ev queue.Event, d time.Duration)
	// RoomsEvery is how often the room list is read: how soon a new room
	// starts ticking. Default 1s.
	RoomsEvery time.Duration
	// ShutdownTimeout bounds how long Run waits, once ctx ends, for the ticks
	// in flight to finish. Default 8s.
	ShutdownTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RoomsEvery <= 0 {
		o.RoomsEvery = time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 8 * time.Second
	}
	return o
}

// tick runs one tick of room and reports it to OnTick. ErrRoomNotFound is
// returned as is: the caller ends the room's loop.
func (o Options) tick(ctx context.Context, store Store, room string) error {
	start := time.Now()
	ev, err := store.Tick(ctx, room)
	if err != nil {
		return err
	}
	if o.OnTick != nil {
		o.OnTick(room, ev, time.Since(start))
	}
	return nil
}

// drain waits for the handlers in wg, at most ShutdownTimeout; then it cancels
// them with cancel and waits for them to return.
func (o Options) drain(log *slog.Logger, wg *sync.WaitGroup, cancel context.CancelFunc, abandoning string) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.ShutdownTimeout):
		log.Warn("shutdown timeout: abandoning " + abandoning)
		cancel()
		<-done
	}
}

// gone reports whether err means the room no longer exists (or never could).
func gone(err error) bool {
	return errors.Is(err, queue.ErrRoomNotFound) || errors.Is(err, queue.ErrInvalidRoom)
}

// backoff is exponential backoff with jitter: each wait is drawn from
// [d/2, d) and d doubles from min up to max. reset starts over after a
// success.
type backoff struct {
	min, max time.Duration
	d        time.Duration
}

func (b *backoff) next() time.Duration {
	if b.d < b.min {
		b.d = b.min
	}
	d := b.d
	b.d = min(b.d*2, b.max)
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.d = 0 }

// sleep waits d or until ctx ends; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads d by ±10%, so admitters started together do not stay in
// step.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

// catchup is how late a tick may run and still count as on time: half the
// interval, at most 500 ms (catchup_ms in lua/lib.lua). Never catching up
// more keeps every window of a room's ticks within its pace and one tick.
func catchup(iv time.Duration) time.Duration { return min(iv, time.Second) / 2 }

// ms is a duration as whole milliseconds, for script arguments.
func ms(d time.Duration) int64 { return d.Milliseconds() }
