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

// batcher groups the calls of one room (joins, or status requests) that
// arrive while the room's previous batch is at Redis into the next batch
// (group commit): an idle room sends a call at once, a busy one sends
// everything that queued up behind it in one script call. One batch per room
// is in flight per instance, so batches, and the calls inside each, reach
// Redis in arrival order. A is what one call carries to the script.
type batcher[A any] struct {
	op string // "join" or "status", for errors
	// send runs one script call for a batch and returns each call's result.
	send func(ctx context.Context, room string, calls []*call[A]) ([]joinResult, error)
	max  int
	// linger is how long a busy room's next batch waits to fill up to
	// lingerFill calls after the previous one came back (see flush).
	linger     time.Duration
	lingerFill int

	mu    sync.Mutex
	rooms map[string]*roomCalls[A]
	// calls holds the calls (and their channels) of answered callers: the
	// flusher is done with a call once it has sent its result.
	calls sync.Pool
}

type roomCalls[A any] struct {
	pending []*call[A]
	// full, while the flusher lingers, is closed once lingerFill calls wait.
	full chan struct{}
}

type call[A any] struct {
	ctx  context.Context
	args A
	done chan joinResult // buffered: the flusher never blocks on a caller
}

// joinArgs is one join: ARGV[1..7] of join.lua.
type joinArgs struct {
	ticket, given, user string // the new ticket, the presented one, the verified user
	shuffle             uint64 // the pre-queue's sort key (shuffleKey)
	aid, pow            string // the admission id, the proof of work's id
	powExpires          int64  // unix ms
}

// argv is ARGV[1..7] of join.lua.
func (a joinArgs) argv() []any {
	return []any{a.ticket, a.given, a.user, a.shuffle, a.aid, a.pow, a.powExpires}
}

// plain says the join presents nothing (no ticket, user or proof of work):
// join_batch.lua takes only its new ticket.
func (a joinArgs) plain() bool { return a.given == "" && a.user == "" && a.pow == "" }

// joinCall is one join of a batch.
type joinCall = call[joinArgs]

// joinBatcher sends joins through join_batch.lua.
type joinBatcher = batcher[joinArgs]

// joinResult is one call's result; created is false for a status request.
type joinResult struct {
	st      Status
	created bool
	err     error
}

func newJoinBatcher(s *Store, max int, linger time.Duration) *joinBatcher {
	send := func(ctx context.Context, room string, calls []*joinCall) ([]joinResult, error) {
		return s.joinBatch(ctx, room, NewTicket(), calls)
	}
	return newBatcher("join", send, max, linger)
}

func newBatcher[A any](op string, send func(context.Context, string, []*call[A]) ([]joinResult, error), max int, linger time.Duration) *batcher[A] {
	return &batcher[A]{op: op, send: send, max: max, linger: linger, lingerFill: min(max, 64), rooms: map[string]*roomCalls[A]{}}
}

// do queues one call of room and waits for its result.
func (b *batcher[A]) do(ctx context.Context, room string, args A) joinResult {
	c, _ := b.calls.Get().(*call[A])
	if c == nil {
		c = &call[A]{done: make(chan joinResult, 1)}
	}
	c.ctx, c.args = ctx, args
	b.mu.Lock()
	rj, busy := b.rooms[room]
	if !busy {
		rj = &roomCalls[A]{}
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
		var zero A
		c.ctx, c.args = nil, zero
		b.calls.Put(c)
		return r
	case <-ctx.Done():
		// The flusher may still send to c.done: c is not reused.
		return joinResult{err: storeErr(b.op, ctx.Err())}
	}
}

// flush sends the room's pending calls, up to max at a time, until none
// are left; then the room is idle again. After a batch of more than one
// call (the room is busy), the next waits up to linger for lingerFill calls:
// each script call costs Redis a fixed ~100 µs here (mostly waking the
// client), so fuller batches are what bring its CPU per call down
// (docs/BENCHMARKS.md, issue 13). An idle room's call goes at once.
func (b *batcher[A]) flush(ctx context.Context, room string, rj *roomCalls[A]) {
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
				c.done <- joinResult{err: storeErr(b.op, err)}
				continue
			}
			live = append(live, c)
		}
		if len(live) == 0 {
			continue
		}
		busy = len(live) > 1
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := b.send(cctx, room, live)
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

// lingerFor waits until lingerFill calls of the room are pending, or
// linger has passed.
func (b *batcher[A]) lingerFor(rj *roomCalls[A]) {
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
	Version    int64 `json:"v"`
	LastMinute int64 `json:"m"`
	FirstAdmit int64 `json:"f"`
	Now        int64 `json:"n"`
	OpensAt    int64 `json:"o"`
	Interval   int64 `json:"i"`
	// Kinds (joins only) has a letter per joiner: 'n' a new ticket in
	// line, '.' the next of Results; First is "<position> <score>" of the
	// first new ticket in line, the others' following one by one.
	Kinds   string         `json:"k,omitempty"`
	First   string         `json:"q,omitempty"`
	Results []batchJoinRes `json:"r,omitempty"`
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
}

// joinBatch runs one join_batch.lua call for calls, in their order, and
// returns each call's result. This is the one place where a batch's writes
// are acknowledged by Redis: anything that must hold before a joiner hears
// of its ticket (replication, say) goes here, once per batch.
// The batch id is 128 random bits, like a ticket.
func (s *Store) joinBatch(ctx context.Context, room, id string, calls []*joinCall) ([]joinResult, error) {
	args, err := joinBatchArgs(id, calls)
	if err != nil {
		return nil, err
	}
	keys := roomKeys(room).all()
	var r batchReply
	// The plain client, not the auto-pipeliner: a batch is already one
	// command, and the pipeliner's goroutine hand-offs cost more than they
	// share (one batch per room is in flight anyway).
	err = s.durable(ctx, keys[0], s.rdb, func(c redis.Scripter) (err error) {
		r, err = luascript.Do[batchReply](ctx, c, s.sc.joinBatch, keys, args...)
		return err
	})
	if err != nil {
		return nil, storeErr("join", err)
	}
	return r.joinResults(room, calls)
}

// idLen is the length of every new ticket and admission id newJoinIDs
// draws.
const idLen = 22

// joinBatchArgs is ARGV of join_batch.lua for the batch id and calls: the
// shapes, the shuffle keys, the admission ids and the new tickets of all
// joiners as one string each, then the fields of those that present a
// ticket, a user or a proof of work. Each ARGV string costs Redis an
// object and the script an allocation and a hash, which was most of what
// a joiner cost it.
func joinBatchArgs(id string, calls []*joinCall) ([]any, error) {
	n := len(calls)
	shapes := make([]byte, 0, n)
	shuffles := make([]byte, 0, 14*n)
	ids := make([]byte, 0, 2*idLen*n) // admission ids, then tickets
	args := make([]any, 5, 5+4)
	for _, c := range calls {
		a := &c.args
		if len(a.aid) != idLen || len(a.ticket) != idLen || a.shuffle >= 1<<53 {
			return nil, fmt.Errorf("join: ticket %q, admission id %q or shuffle key %d out of shape", a.ticket, a.aid, a.shuffle)
		}
		const hex = "0123456789abcdef"
		for sh := 52; sh >= 0; sh -= 4 {
			shuffles = append(shuffles, hex[a.shuffle>>sh&15])
		}
		ids = append(ids, a.aid...)
		if a.plain() {
			shapes = append(shapes, 'p')
			continue
		}
		shapes = append(shapes, 'f')
		args = append(args, a.given, a.user, a.pow, strconv.FormatInt(a.powExpires, 10))
	}
	for _, c := range calls {
		ids = append(ids, c.args.ticket...)
	}
	all := string(ids)
	args[0], args[1], args[2], args[3], args[4] = id, string(shapes), string(shuffles), all[:idLen*n], all[idLen*n:]
	return args, nil
}

// statusBatch runs one status_batch.lua call for the tickets of calls, in
// their order, and returns each one's status or refusal.
func (s *Store) statusBatch(ctx context.Context, room string, calls []*call[string]) ([]joinResult, error) {
	durable := s.opt.WaitReplicas > 0
	args := make([]any, 1, 1+len(calls))
	args[0] = "0"
	if durable {
		args[0] = "1"
	}
	for _, c := range calls {
		args = append(args, c.args)
	}
	keys := roomKeys(room).all()
	if !durable {
		r, err := luascript.Do[batchReply](ctx, s.rdb, s.sc.statusBatch, keys, args...)
		if err != nil {
			return nil, storeErr("status", err)
		}
		return r.results("status", room, len(calls))
	}
	// An admitted answer waits until a replica has the admission, as a
	// tick's event does (tick.go): a visitor is never shown an admission a
	// failover can take back. The other answers need no wait.
	var out []joinResult
	var waitErr error
	err := s.onPrimary(ctx, keys[0], func(c *redis.Conn) error {
		r, err := luascript.Do[batchReply](ctx, c, s.sc.statusBatch, keys, args...)
		if err != nil {
			return err
		}
		if out, err = r.results("status", room, len(calls)); err != nil {
			return err
		}
		for _, res := range out {
			if res.err == nil && res.st.State == StateAdmitted {
				waitErr = s.waitReplicas(ctx, c)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, storeErr("status", err)
	}
	if waitErr != nil {
		for i := range out {
			if out[i].err == nil && out[i].st.State == StateAdmitted {
				out[i] = joinResult{err: waitErr}
			}
		}
	}
	return out, nil
}

// results is each of the n calls' result of a batch reply, in order.
func (r *batchReply) results(op, room string, n int) ([]joinResult, error) {
	if len(r.Results) != n {
		return nil, fmt.Errorf("%s: %w: %d results for %d calls", op, luascript.ErrBadReply, len(r.Results), n)
	}
	out := make([]joinResult, n)
	for i, j := range r.Results {
		out[i] = r.result(op, room, j)
	}
	return out, nil
}

// joinResults is each joiner's result of a join_batch.lua reply, in order:
// the new tickets in line (kind 'n') numbered on from First, the others
// from Results.
func (r *batchReply) joinResults(room string, calls []*joinCall) ([]joinResult, error) {
	if len(r.Kinds) != len(calls) {
		return nil, fmt.Errorf("join: %w: %d kinds for %d calls", luascript.ErrBadReply, len(r.Kinds), len(calls))
	}
	var pos, score int64
	if r.First != "" {
		p, sc, ok := strings.Cut(r.First, " ")
		var err1, err2 error
		pos, err1 = strconv.ParseInt(p, 10, 64)
		score, err2 = strconv.ParseInt(sc, 10, 64)
		if !ok || err1 != nil || err2 != nil || pos <= 0 || score < 0 {
			return nil, fmt.Errorf("join: %w: first %q", luascript.ErrBadReply, r.First)
		}
	}
	out := make([]joinResult, len(calls))
	next := 0
	for i := range len(r.Kinds) {
		switch r.Kinds[i] {
		case 'n':
			if r.First == "" {
				return nil, fmt.Errorf("join: %w: a new ticket in line without first", luascript.ErrBadReply)
			}
			ticket, user := calls[i].args.ticket, calls[i].args.user
			st := statusReply{Ticket: ticket, State: StateWaiting, Position: pos, Waiting: pos, Score: score,
				Version: r.Version, User: user, AdmittedLastMinute: r.LastMinute, FirstAdmitMS: r.FirstAdmit,
				Now: r.Now, OpensAt: r.OpensAt, IntervalMS: r.Interval}.status(room)
			out[i] = joinResult{st: st, created: true}
			pos++
			score++
		case '.':
			if next == len(r.Results) {
				return nil, fmt.Errorf("join: %w: %d results for more kinds", luascript.ErrBadReply, len(r.Results))
			}
			out[i] = r.result("join", room, r.Results[next])
			next++
		default:
			return nil, fmt.Errorf("join: %w: kind %q", luascript.ErrBadReply, r.Kinds[i])
		}
	}
	if next != len(r.Results) {
		return nil, fmt.Errorf("join: %w: %d results for %d kinds", luascript.ErrBadReply, len(r.Results), next)
	}
	return out, nil
}

// result turns one caller's part of a batch reply (op: join or status)
// into what Join or Status returns.
func (r *batchReply) result(op, room string, j batchJoinRes) joinResult {
	if j.Err != "" {
		if named, ok := refusals[j.Err]; ok {
			return joinResult{err: named}
		}
		return joinResult{err: fmt.Errorf("%s: %w: refusal %q", op, luascript.ErrBadReply, j.Err)}
	}
	if j.Code != 0 && j.Code != 1 {
		return joinResult{err: fmt.Errorf("%s: %w: code %d", op, luascript.ErrBadReply, j.Code)}
	}
	switch j.State {
	case StateWaiting, StateAdmitted, StatePrequeue:
	default:
		return joinResult{err: fmt.Errorf("%s: %w: state %q", op, luascript.ErrBadReply, j.State)}
	}
	var score int64
	if j.Score != "" { // left out unless waiting
		var err error
		if score, err = strconv.ParseInt(j.Score, 10, 64); err != nil {
			return joinResult{err: fmt.Errorf("%s: %w: score %q", op, luascript.ErrBadReply, j.Score)}
		}
	}
	// The one place a reply becomes a Status: statusReply.status.
	st := statusReply{Ticket: j.Ticket, State: j.State, Position: j.Position, Waiting: j.Waiting, Score: score,
		Version: r.Version, AdmissionEnds: j.Ends, User: j.User, AdmittedLastMinute: r.LastMinute,
		FirstAdmitMS: r.FirstAdmit, Now: r.Now, OpensAt: r.OpensAt, IntervalMS: r.Interval, AdmissionID: j.AID}.status(room)
	return joinResult{st: st, created: j.Code == 1}
}
