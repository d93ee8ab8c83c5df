package queue

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/luascript"
)

// Tick runs one admitter step for the room (see lua/tick.lua) and returns
// what changed; the same event went out on the room's channel if anything
// did. With Options.WaitReplicas the event goes out only once that many
// replicas have the tick, so an admission a socket is told of survives a
// failover; not confirmed in time: ErrNotReplicated and no event (the
// admissions stand on the primary, and sockets learn of them from the next
// event's resynchronisation). Errors: ErrInvalidRoom, ErrRoomNotFound,
// ErrUnavailable, ErrNotReplicated.
func (s *Store) Tick(ctx context.Context, room string) (Event, error) {
	if !ValidRoomID(room) {
		return Event{}, ErrInvalidRoom
	}
	k := roomKeys(room)
	wait := s.opt.WaitReplicas > 0
	// The tick id: go-redis resends the same arguments on a retry, so the
	// script knows a tick it already ran.
	args := []any{s.opt.MaxEndedPerTick, s.opt.MaxAbandonedPerTick, admissionIDPrefix(), NewTicket(), s.opt.MaxOpenedPerStep, 0}
	var res any
	run := func(c redis.Scripter) error {
		var err error
		res, err = s.sc.tick.Run(ctx, c, k.all(), args...)
		return err
	}
	var err error
	if wait {
		args[5] = 1 // the script leaves the publish to us
		err = s.durably(ctx, k.channel, run)
	} else {
		err = run(s.rdb)
	}
	if err != nil {
		return Event{}, storeErr("tick", err)
	}
	// tick.lua answers {1, event json, pre-queued visitors still to place}
	// ({1, event json} when it repeats a retried tick), or {-1}: the room is
	// gone.
	a, _ := res.([]any)
	if len(a) == 1 {
		if code, ok := a[0].(int64); ok && code < 0 {
			return Event{}, ErrRoomNotFound
		}
	}
	var payload string
	var left int64
	ok := len(a) == 2 || len(a) == 3
	if ok {
		payload, ok = a[1].(string)
	}
	if ok && len(a) == 3 {
		left, ok = a[2].(int64)
	}
	if !ok {
		return Event{}, fmt.Errorf("tick: %w: %v", luascript.ErrBadReply, res)
	}
	ev, err := ParseEvent([]byte(payload))
	if err != nil {
		return Event{}, err
	}
	if wait && ev.Version > 0 {
		// A retried tick publishes its event again: subscribers skip a
		// version they have seen.
		if err := s.rdb.Publish(ctx, k.channel, payload).Err(); err != nil {
			// The tick stands and is replicated; sockets learn of it from
			// the next event, whose version skips this one's.
			s.log.Warn("publish a tick's event", "room", room, "version", ev.Version, "err", err)
		}
	}
	if left > 0 {
		if err := s.openRest(ctx, room); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

type openStepReply struct {
	Left int64 `json:"left"`
}

// openRest places the rest of an opening pre-queue, one bounded script call
// at a time, so that joins and status requests are answered in between.
func (s *Store) openRest(ctx context.Context, room string) error {
	k := roomKeys(room).all()
	for {
		r, err := luascript.Do[openStepReply](ctx, s.rdb, s.sc.openStep, k, s.opt.MaxOpenedPerStep)
		if err != nil {
			return storeErr("open pre-queue", err)
		}
		if r.Left == 0 {
			return nil
		}
	}
}
