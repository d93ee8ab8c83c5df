package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/luascript"
)

// joinBatcher groups the joins of one room that arrive while the room's
// previous batch is at Redis into the next batch (group commit): an idle room
// sends a join at once, a busy one sends everything that queued up behind it
// in one join_batch.lua call. One batch per room is in flight per instance,
// so batches, and the joiners inside each, reach Redis in arrival order.
type joinBatcher struct {
	s   *Store
	max int
	// linger is how long a busy room's next batch waits to fill up to
	// lingerFill joins after the previous one came back (see flush).
	linger     time.Duration
	lingerFill int

	mu    sync.Mutex
	rooms map[string]*roomJoins
}

type roomJoins struct {
	pending []*joinCall
	// full, while the flusher lingers, is closed once lingerFill joins wait.
	full chan struct{}
}

type joinCall struct {
	ctx  context.Context
	args [7]any
	done chan joinResult // buffered: the flusher never blocks on a caller
}

type joinResult struct {
	st      Status
	created bool
	err     error
}

func newJoinBatcher(s *Store, max int, linger time.Duration) *joinBatcher {
	return &joinBatcher{s: s, max: max, linger: linger, lingerFill: min(max, 64), rooms: map[string]*roomJoins{}}
}

// join queues one join of room and waits for its result.
func (b *joinBatcher) join(ctx context.Context, room string, args [7]any) (Status, bool, error) {
	c := &joinCall{ctx: ctx, args: args, done: make(chan joinResult, 1)}
	b.mu.Lock()
	rj, busy := b.rooms[room]
	if !busy {
		rj = &roomJoins{}
		b.rooms[room] = rj
	}
	rj.pending = append(rj.pending, c)
	if rj.full != nil && len(rj.pending) >= b.lingerFill {
		close(rj.full)
		rj.full = nil
	}
	b.mu.Unlock()
	if !busy {
		go b.flush(context.WithoutCancel(ctx), room, rj)
	}
	select {
	case r := <-c.done:
		return r.st, r.created, r.err
	case <-ctx.Done():
		return Status{}, false, storeErr("join", ctx.Err())
	}
}

// flush sends the room's pending joins, up to max at a time, until none
// are left; then the room is idle again. After a batch of more than one
// join (the room is busy), the next waits up to linger for lingerFill joins:
// each script call costs Redis a fixed ~100 µs here (mostly waking the
// client), so fuller batches are what bring its CPU per join down
// (docs/BENCHMARKS.md, issue 13). An idle room's join goes at once.
func (b *joinBatcher) flush(ctx context.Context, room string, rj *roomJoins) {
	busy := false
	for {
		if busy && b.linger > 0 {
			b.lingerFor(rj)
		}
		b.mu.Lock()
		n := min(len(rj.pending), b.max)
		if n == 0 {
			delete(b.rooms, room)
			b.mu.Unlock()
			return
		}
		batch := rj.pending[:n:n]
		rj.pending = rj.pending[n:]
		b.mu.Unlock()

		live := batch[:0:0]
		for _, c := range batch {
			if err := c.ctx.Err(); err != nil {
				c.done <- joinResult{err: storeErr("join", err)}
				continue
			}
			live = append(live, c)
		}
		if len(live) == 0 {
			continue
		}
		busy = len(live) > 1
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := b.s.joinBatch(cctx, room, NewTicket(), live)
		cancel()
		for i, c := range live {
			if err != nil {
				c.done <- joinResult{err: err}
				continue
			}
			c.done <- res[i]
		}
	}
}

// lingerFor waits until lingerFill joins of the room are pending, or
// linger has passed.
func (b *joinBatcher) lingerFor(rj *roomJoins) {
	b.mu.Lock()
	if len(rj.pending) >= b.lingerFill {
		b.mu.Unlock()
		return
	}
	full := make(chan struct{})
	rj.full = full
	b.mu.Unlock()
	t := time.NewTimer(b.linger)
	select {
	case <-full:
	case <-t.C:
	}
	t.Stop()
	b.mu.Lock()
	rj.full = nil
	b.mu.Unlock()
}

// batchReply is join_batch.lua's reply.
type batchReply struct {
	Version    int64          `json:"v"`
	LastMinute int64          `json:"m"`
	FirstAdmit int64          `json:"f"`
	Now        int64          `json:"n"`
	OpensAt    int64          `json:"o"`
	Interval   int64          `json:"i"`
	Results    []batchJoinRes `json:"r"`
}

// batchJoinRes is one joiner's result: a refusal code, or a standing (whose
// fields a refusal lacks, hence omitempty; result checks what matters).
type batchJoinRes struct {
	Err      string `json:"err,omitempty"`
	Code     int64  `json:"c,omitempty"`
	Ticket   string `json:"t,omitempty"`
	State    State  `json:"s,omitempty"`
	Position int64  `json:"p,omitempty"`
	Waiting  int64  `json:"w,omitempty"`
	Score    string `json:"sc,omitempty"`
	Ends     int64  `json:"e,omitempty"`
	User     string `json:"u,omitempty"`
	AID      string `json:"j,omitempty"`
	// New is "<position> <score>" of a new ticket in line without a user.
	New string `json:"n,omitempty"`
}

// joinBatch runs one join_batch.lua call for calls, in their order, and
// returns each call's result. This is the one place where a batch's writes
// are acknowledged by Redis: anything that must hold before a joiner hears
// of its ticket (replication, say) goes here, once per batch.
// The batch id is 128 random bits, like a ticket.
func (s *Store) joinBatch(ctx context.Context, room, id string, calls []*joinCall) ([]joinResult, error) {
	args := make([]any, 0, 1+7*len(calls))
	args = append(args, id)
	for _, c := range calls {
		args = append(args, c.args[:]...)
	}
	keys := roomKeys(room).all()
	var r batchReply
	// The plain client, not the auto-pipeliner: a batch is already one
	// command, and the pipeliner's goroutine hand-offs cost more than they
	// share (one batch per room is in flight anyway).
	err := s.durable(ctx, keys[0], s.rdb, func(c redis.Scripter) (err error) {
		r, err = luascript.Do[batchReply](ctx, c, s.sc.joinBatch, keys, args...)
		return err
	})
	if err != nil {
		return nil, storeErr("join", err)
	}
	if len(r.Results) != len(calls) {
		return nil, fmt.Errorf("join: %w: %d results for %d joins", luascript.ErrBadReply, len(r.Results), len(calls))
	}
	out := make([]joinResult, len(calls))
	for i, j := range r.Results {
		if j.New != "" {
			j = newInLine(j.New, calls[i].args[0].(string))
		}
		out[i] = r.result(room, j)
	}
	return out, nil
}

// newInLine expands the short result n of a new ticket waiting in line
// (see join_batch.lua); a malformed one leaves the state out, which result
// refuses.
func newInLine(n, ticket string) batchJoinRes {
	pos, score, ok := strings.Cut(n, " ")
	p, err := strconv.ParseInt(pos, 10, 64)
	if !ok || score == "" || err != nil || p <= 0 {
		return batchJoinRes{}
	}
	return batchJoinRes{Code: 1, Ticket: ticket, State: StateWaiting, Position: p, Waiting: p, Score: score}
}

// result turns one joiner's part of a batch reply into what Join returns.
func (r *batchReply) result(room string, j batchJoinRes) joinResult {
	if j.Err != "" {
		if named, ok := refusals[j.Err]; ok {
			return joinResult{err: named}
		}
		return joinResult{err: fmt.Errorf("join: %w: refusal %q", luascript.ErrBadReply, j.Err)}
	}
	if j.Code != 0 && j.Code != 1 {
		return joinResult{err: fmt.Errorf("join: %w: code %d", luascript.ErrBadReply, j.Code)}
	}
	switch j.State {
	case StateWaiting, StateAdmitted, StatePrequeue:
	default:
		return joinResult{err: fmt.Errorf("join: %w: state %q", luascript.ErrBadReply, j.State)}
	}
	var score int64
	if j.Score != "" { // left out unless waiting
		var err error
		if score, err = strconv.ParseInt(j.Score, 10, 64); err != nil {
			return joinResult{err: fmt.Errorf("join: %w: score %q", luascript.ErrBadReply, j.Score)}
		}
	}
	// The one place a reply becomes a Status: statusReply.status.
	st := statusReply{Ticket: j.Ticket, State: j.State, Position: j.Position, Waiting: j.Waiting, Score: score,
		Version: r.Version, AdmissionEnds: j.Ends, User: j.User, AdmittedLastMinute: r.LastMinute,
		FirstAdmitMS: r.FirstAdmit, Now: r.Now, OpensAt: r.OpensAt, IntervalMS: r.Interval, AdmissionID: j.AID}.status(room)
	return joinResult{st: st, created: j.Code == 1}
}
