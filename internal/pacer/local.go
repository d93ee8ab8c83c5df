package pacer

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom/internal/luascript"
)

// LocalOptions configure the in-process pacer. Every field's zero value
// means its default.
type LocalOptions struct {
	Options
	// Poll is the longest the pacer sleeps between looks at the rooms; it
	// wakes sooner when a tick is due. Default 50ms.
	Poll time.Duration
}

// keepTimer is how long a room's timer outlives its due time: long enough
// that a running room never loses it, short enough that a deleted room's
// disappears soon.
const keepTimer = time.Minute

// Local paces ticks on an in-process timer: every process polls the rooms,
// and a Redis script hands each due tick to exactly one of them
// (lua/due.lua), so any number of processes tick each room once per
// interval between them.
type Local struct {
	store Store
	opt   LocalOptions
	log   *slog.Logger
}

// NewLocal returns the in-process pacer over store.
func NewLocal(store Store, opt LocalOptions) *Local {
	opt.Options = opt.Options.withDefaults()
	if opt.Poll <= 0 {
		opt.Poll = 50 * time.Millisecond
	}
	return &Local{store: store, opt: opt, log: opt.Logger.With("pacer", "local")}
}

// localRoom is what the poll loop knows of one room.
type localRoom struct {
	interval int         // interval_ms from the last listing
	next     time.Time   // not worth asking Redis before this
	busy     atomic.Bool // a tick of this process is running
	gone     atomic.Bool // the last tick found the room deleted
	listed   bool        // in the last listing
}

// Run ticks every room as it falls due until ctx ends, then waits (at most
// ShutdownTimeout) for the ticks in flight. It returns nil.
func (p *Local) Run(ctx context.Context) error {
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	var wg sync.WaitGroup
	rooms := map[string]*localRoom{}
	var listAt time.Time
	listBo := backoff{min: 500 * time.Millisecond, max: 10 * time.Second}
	bo := backoff{min: p.opt.Poll, max: 5 * time.Second}
	wake := time.NewTimer(0)
	defer wake.Stop()

loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-wake.C:
		}
		if !time.Now().Before(listAt) {
			if p.list(ctx, rooms) {
				listBo.reset()
				listAt = time.Now().Add(p.opt.RoomsEvery)
			} else {
				listAt = time.Now().Add(listBo.next())
			}
		}
		pause := p.poll(ctx, hctx, rooms, &wg, &bo)
		wake.Reset(pause)
	}
	p.opt.drain(p.log, &wg, hcancel, "the ticks in flight")
	return nil
}

// list refreshes rooms from the store; it reports whether that worked.
func (p *Local) list(ctx context.Context, rooms map[string]*localRoom) bool {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rcs, err := p.store.Rooms(lctx)
	if err != nil {
		p.log.Warn("list rooms", "err", err)
		return false
	}
	for _, r := range rooms {
		r.listed = false
	}
	for _, rc := range rcs {
		r := rooms[rc.Room]
		if r == nil {
			r = &localRoom{}
			rooms[rc.Room] = r
		}
		r.interval = rc.Config.IntervalMS
		r.listed = true
		r.gone.Store(false)
	}
	for id, r := range rooms {
		if !r.listed && !r.busy.Load() {
			delete(rooms, id)
		}
	}
	return true
}

// poll asks Redis about every room that may be due, starts the ticks it
// wins, and returns how long to sleep before the next look.
func (p *Local) poll(ctx, hctx context.Context, rooms map[string]*localRoom, wg *sync.WaitGroup, bo *backoff) time.Duration {
	now := time.Now()
	var ids []string
	var calls []luascript.Call
	for id, r := range rooms {
		if r.listed && !r.gone.Load() && !r.busy.Load() && !now.Before(r.next) {
			ids = append(ids, id)
			calls = append(calls, luascript.Call{Keys: []string{timerKey(id)}, Args: []any{r.interval, ms(keepTimer)}})
		}
	}
	if len(calls) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		vals, errs := p.store.RunScript(pctx, dueScript, calls...)
		cancel()
		failed := 0
		var firstErr error
		var retry time.Duration
		for i, id := range ids {
			r := rooms[id]
			res, err := luascript.Decode[dueReply](dueScript, vals[i], errs[i])
			if err != nil {
				if failed == 0 {
					firstErr = err
					retry = bo.next()
				}
				failed++
				r.next = now.Add(retry)
				continue
			}
			// Measured from before the call: never later than Redis meant.
			r.next = now.Add(time.Duration(res.NextMS) * time.Millisecond)
			if res.Due {
				r.busy.Store(true)
				wg.Go(func() {
					defer r.busy.Store(false)
					p.tick(hctx, id, r)
				})
			}
		}
		if failed > 0 {
			p.log.Warn("claim due ticks", "rooms", failed, "err", firstErr, "retry_in", retry)
		} else {
			bo.reset()
		}
	}
	// Sleep until the first room falls due, but at most Poll: a tick that
	// ends, or a room another process moved, is looked at again soon.
	pause := p.opt.Poll
	for _, r := range rooms {
		if r.busy.Load() || r.gone.Load() || !r.listed {
			continue
		}
		if d := time.Until(r.next); d < pause {
			pause = max(d, time.Millisecond)
		}
	}
	return pause
}

// tick runs one claimed tick.
func (p *Local) tick(ctx context.Context, room string, r *localRoom) {
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.opt.tick(tctx, p.store, room); err != nil {
		if gone(err) {
			r.gone.Store(true)
			p.log.Info("room deleted: no more ticks", "room", room)
			return
		}
		p.log.Error("tick", "room", room, "err", err)
	}
}
