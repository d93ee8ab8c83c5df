package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/luascript"
)

// epochMS is the zero of line scores (2025-01-01T00:00:00Z); see lib.lua.
const (
	epochMS    = 1735689600000
	ticksPerMS = 4096
)

// ArrivalTime decodes when the visitor with this line score joined.
func ArrivalTime(score int64) time.Time {
	return time.UnixMilli(score/ticksPerMS + epochMS).UTC()
}

// Options tune a Store. Every field's zero value means its default.
type Options struct {
	// Logger receives the store's logs. Default slog.Default().
	Logger *slog.Logger
	// MaxEndedPerTick bounds the admissions one tick ends. Default 10000.
	MaxEndedPerTick int
	// MaxAbandonedPerTick bounds the visitors one tick drops. Default 10000.
	MaxAbandonedPerTick int
	// AutoPipeline sends joins and status requests through go-redis's
	// auto-pipeliner, which batches concurrent callers into shared round
	// trips. Default false.
	AutoPipeline bool
	// MaxOpenedPerStep bounds the pre-queued visitors one script places in
	// the line when a room opens; Tick goes on in further calls (each a few
	// milliseconds of Redis) until the whole pre-queue is in. Default 2000.
	MaxOpenedPerStep int
	// JoinBatch is the most joins of one room sent to Redis as one script
	// call (see batch.go); negative sends every join on its own
	// (join.lua). Default 256.
	JoinBatch int
	// JoinLinger is how long a busy room's next join batch may wait to
	// fill (see batch.go); an idle room's join never waits. Negative: no
	// wait. Default 1ms.
	JoinLinger time.Duration
	// StatusBatch is the most status requests of one room sent to Redis as
	// one script call (see batch.go); negative sends each on its own
	// (status.lua). Default 256. Status batches never linger. With
	// WaitReplicas, statuses are always batched (see below).
	StatusBatch int
	// WaitReplicas > 0 makes a join wait, before it is acknowledged, until
	// that many replicas have it (Redis WAIT; see durable.go); a join they
	// do not confirm within WaitTimeout fails with ErrNotReplicated. Joins
	// then bypass the auto-pipeliner. A tick's event is published only once
	// as many replicas have the tick (see tick.go), and a status answers
	// an admission only once as many replicas have it (statusBatch).
	// Default 0: acknowledged once the primary has it.
	WaitReplicas int
	// WaitTimeout bounds that wait. Default 500ms.
	WaitTimeout time.Duration
	// HistoryRetention is how long a room's sale history is kept
	// (WAITROOM_HISTORY_RETENTION), in whole seconds. Default 48h.
	HistoryRetention time.Duration
}

// Store is the line of every room, kept in Redis. It is safe for concurrent
// use, by many processes at once: every operation is one atomic script.
type Store struct {
	rdb redis.UniversalClient
	// hot runs the hottest scripts (join, status): rdb, or its
	// auto-pipeliner when Options.AutoPipeline is set.
	hot redis.Scripter
	sc  scripts
	log *slog.Logger
	opt Options
	// joins batches joins; nil when Options.JoinBatch < 0.
	joins *joinBatcher
	// statuses batches status requests; nil when Options.StatusBatch < 0.
	statuses *batcher[string]
}

// New returns a Store over rdb, which may be a single node or a Cluster.
func New(rdb redis.UniversalClient, opt Options) *Store {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.MaxEndedPerTick <= 0 {
		opt.MaxEndedPerTick = 10000
	}
	if opt.MaxAbandonedPerTick <= 0 {
		opt.MaxAbandonedPerTick = 10000
	}
	if opt.HistoryRetention < time.Second {
		opt.HistoryRetention = DefaultHistoryRetention
	}
	if opt.MaxOpenedPerStep <= 0 {
		opt.MaxOpenedPerStep = 2000
	}
	if opt.JoinBatch == 0 {
		opt.JoinBatch = 256
	}
	if opt.StatusBatch == 0 || (opt.StatusBatch < 0 && opt.WaitReplicas > 0) {
		opt.StatusBatch = 256
	}
	if opt.WaitTimeout <= 0 {
		opt.WaitTimeout = 500 * time.Millisecond
	}
	s := &Store{rdb: rdb, hot: rdb, sc: loadScripts(opt.HistoryRetention), log: opt.Logger, opt: opt}
	if opt.JoinLinger == 0 {
		opt.JoinLinger = time.Millisecond
	}
	if opt.JoinBatch > 0 {
		s.joins = newJoinBatcher(s, opt.JoinBatch, opt.JoinLinger)
	}
	if opt.StatusBatch > 0 {
		s.statuses = newBatcher("status", s.statusBatch, opt.StatusBatch, 0)
	}
	if opt.AutoPipeline {
		var ap *redis.AutoPipeliner
		var err error
		switch c := rdb.(type) {
		case *redis.Client:
			ap, err = c.AutoPipeline()
		case *redis.ClusterClient:
			ap, err = c.AutoPipeline()
		}
		if err != nil {
			opt.Logger.Warn("auto-pipelining unavailable; joins use the plain client", "error", err.Error())
		} else if ap != nil {
			s.hot = ap
		}
	}
	return s
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return storeErr("ping", s.rdb.Ping(ctx).Err())
}

// ---- rooms ----------------------------------------------------------------

// PutRoom creates the room with the defaults of docs/API.md overridden by patch,
// or applies patch to the existing room. The admitters read the config on
// every tick, so the change holds from the next tick on.
// Errors: ErrInvalidRoom, ErrInvalidConfig, ErrUnavailable.
func (s *Store) PutRoom(ctx context.Context, room string, patch ConfigPatch) (Config, bool, error) {
	if !ValidRoomID(room) {
		return Config{}, false, ErrInvalidRoom
	}
	def := DefaultConfig(room)
	if err := patch.Apply(def).Validate(); err != nil {
		return Config{}, false, err
	}
	defFields := def.fields()
	args := []any{len(defFields) / 2}
	args = append(args, defFields...)
	args = append(args, patch.fields()...)
	k := roomKeys(room)
	res, err := luascript.Do[putRoomReply](ctx, s.rdb, s.sc.putRoom, k.all(), args...)
	if err != nil {
		return Config{}, false, storeErr("put room", err)
	}
	if err := s.rdb.SAdd(ctx, roomsKey, room).Err(); err != nil {
		return Config{}, false, storeErr("index room", err)
	}
	return configFromHash(room, res.Config), res.Created, nil
}

// fields are the patch's set fields as hash field/value pairs.
func (p ConfigPatch) fields() []any {
	var f []any
	for _, x := range []struct {
		name string
		v    *int
	}{{"capacity", p.Capacity}, {"batch_size", p.BatchSize}, {"interval_ms", p.IntervalMS},
		{"session_ttl_s", p.SessionTTLS}, {"abandon_after_s", p.AbandonAfterS}, {"pow_work", p.PowWork},
		{"arrive_within_s", p.ArriveWithinS}} {
		if x.v != nil {
			f = append(f, x.name, *x.v)
		}
	}
	for _, x := range []struct {
		name string
		v    *string
	}{{"target_url", p.TargetURL}, {"title", p.Title}, {"message", p.Message}} {
		if x.v != nil {
			f = append(f, x.name, *x.v)
		}
	}
	for _, x := range []struct {
		name string
		v    *bool
	}{{"paused", p.Paused}, {"require_user", p.RequireUser}} {
		if x.v != nil {
			f = append(f, x.name, boolField(*x.v))
		}
	}
	if p.Mode != nil {
		f = append(f, "mode", string(*p.Mode))
	}
	if p.OpensAtSet {
		ms := int64(0)
		if p.OpensAt != nil {
			ms = p.OpensAt.UnixMilli()
		}
		f = append(f, "opens_at", ms)
	}
	if p.Routes != nil {
		f = append(f, "routes", routesField(*p.Routes))
	}
	return f
}

// Room returns a room's config. Errors: ErrInvalidRoom, ErrRoomNotFound,
// ErrUnavailable.
func (s *Store) Room(ctx context.Context, room string) (Config, error) {
	if !ValidRoomID(room) {
		return Config{}, ErrInvalidRoom
	}
	h, err := s.rdb.HGetAll(ctx, roomKeys(room).cfg).Result()
	if err != nil {
		return Config{}, storeErr("get room", err)
	}
	if len(h) == 0 {
		return Config{}, ErrRoomNotFound
	}
	return configFromHash(room, h), nil
}

// RoomConfig is one room of a listing.
type RoomConfig struct {
	Room   string
	Config Config
}

// Rooms lists every room, sorted by id. Errors: ErrUnavailable.
func (s *Store) Rooms(ctx context.Context) ([]RoomConfig, error) {
	ids, err := s.rdb.SMembers(ctx, roomsKey).Result()
	if err != nil {
		return nil, storeErr("list rooms", err)
	}
	ids = sortedRooms(ids)
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, roomKeys(id).cfg)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr("list rooms", err)
	}
	out := make([]RoomConfig, 0, len(ids))
	for i, id := range ids {
		if h := cmds[i].Val(); len(h) > 0 && ValidRoomID(id) {
			out = append(out, RoomConfig{Room: id, Config: configFromHash(id, h)})
		}
	}
	return out, nil
}

// DeleteRoom deletes the room, its line and its admissions; subscribers get
// an EventDeleted. Errors: ErrInvalidRoom, ErrRoomNotFound, ErrUnavailable.
func (s *Store) DeleteRoom(ctx context.Context, room string) error {
	if !ValidRoomID(room) {
		return ErrInvalidRoom
	}
	// Out of the index first: a listing never shows a half-deleted room.
	if err := s.rdb.SRem(ctx, roomsKey, room).Err(); err != nil {
		return storeErr("delete room", err)
	}
	_, err := luascript.Do[deleteRoomReply](ctx, s.rdb, s.sc.deleteRoom, roomKeys(room).all())
	return storeErr("delete room", err)
}

// ---- tickets --------------------------------------------------------------

// State is where a ticket stands.
type State string

// The states of a ticket.
const (
	StateWaiting  State = "waiting"
	StatePrequeue State = "prequeue"
	StateAdmitted State = "admitted"
)

// Status is a ticket's standing, computed atomically in Redis.
type Status struct {
	Room   string
	Ticket string
	State  State
	// Position is 1-based (1 = next to be admitted); 0 unless waiting.
	Position int64
	// Waiting is the size of the line (of the pre-queue for a pre-queued ticket).
	Waiting int64
	// ETA is the estimated wait from the measured admission rate; nil until
	// the room has admitted anyone, or while nothing was admitted for a minute.
	ETA *time.Duration
	// AdmissionEnds is when an admitted ticket's admission ends.
	AdmissionEnds time.Time
	// OpensAt is the room's opening time for a pre-queued ticket.
	OpensAt *time.Time
	// User is the verified user id given at join, if any.
	User string
	// AdmissionID identifies an admitted ticket's admission (the entry
	// token's jti); empty unless admitted.
	AdmissionID string
	// Score is the ticket's place in the line (waiting only); see Event.Shift.
	Score int64
	// Version is the room's event version this status was computed at.
	Version int64
	// Now is Redis's time when it was computed.
	Now time.Time
}

// Ahead is how many visitors are in front.
func (st Status) Ahead() int64 {
	if st.Position == 0 {
		return 0
	}
	return st.Position - 1
}

// JoinRequest is what a joining visitor presents.
type JoinRequest struct {
	// Ticket the visitor already holds (cookie or body), if any. An unknown
	// or malformed one is ignored: the visitor gets a new ticket.
	Ticket string
	// User is a verified user id (≤ 128 bytes): one place per user, and the
	// user's place goes back to whoever presents that user again. The caller
	// must have verified it (a signed user token): never a client's claim.
	User string
	// PowID identifies a proof of work the caller verified (see
	// internal/pow); Join spends it, once across every instance. Empty if
	// none.
	PowID string
	// PowExpires is when that proof of work expires.
	PowExpires time.Time
}

// Join puts a visitor at the back of the line, or admits them at once, as
// the room's mode says; a visitor who still holds a place (same ticket or
// same user) gets it back, and created is false.
// Errors: ErrInvalidRoom, ErrInvalidUser, ErrRoomNotFound, ErrRoomClosed,
// ErrUserRequired, ErrPowRequired, ErrPowUsed, ErrUnavailable.
func (s *Store) Join(ctx context.Context, room string, req JoinRequest) (st Status, created bool, err error) {
	if !ValidRoomID(room) {
		return Status{}, false, ErrInvalidRoom
	}
	if len(req.User) > MaxUserLen || !utf8.ValidString(req.User) {
		return Status{}, false, ErrInvalidUser
	}
	if !ValidTicket(req.Ticket) {
		req.Ticket = ""
	}
	powExp := int64(0)
	if req.PowID != "" {
		powExp = req.PowExpires.UnixMilli()
		if powExp <= 0 {
			return Status{}, false, ErrPowUsed
		}
	}
	ticket, shuffle, aid := newJoinIDs()
	args := joinArgs{ticket: ticket, given: req.Ticket, user: req.User, shuffle: shuffle, aid: aid, pow: req.PowID, powExpires: powExp}
	if s.joins != nil {
		r := s.joins.do(ctx, room, args)
		return r.st, r.created, r.err
	}
	keys := roomKeys(room).all()
	var res statusReply
	err = s.durable(ctx, keys[0], s.hot, func(c redis.Scripter) (err error) {
		res, err = luascript.Do[statusReply](ctx, c, s.sc.join, keys, args.argv()...)
		return err
	})
	if err != nil {
		return Status{}, false, storeErr("join", err)
	}
	return res.status(room), res.Created, nil
}

// Status returns where a ticket stands and records the visitor as present.
// Errors: ErrInvalidRoom, ErrRoomNotFound, ErrTicketNotFound, ErrUnavailable.
func (s *Store) Status(ctx context.Context, room, ticket string) (Status, error) {
	if !ValidRoomID(room) {
		return Status{}, ErrInvalidRoom
	}
	if !ValidTicket(ticket) {
		return Status{}, ErrTicketNotFound
	}
	if s.statuses != nil {
		r := s.statuses.do(ctx, room, ticket)
		return r.st, r.err
	}
	res, err := luascript.Do[statusReply](ctx, s.hot, s.sc.status, roomKeys(room).all(), ticket)
	if err != nil {
		return Status{}, storeErr("status", err)
	}
	return res.status(room), nil
}

// status is the Status the reply stands for.
func (r statusReply) status(room string) Status {
	st := Status{
		Room:     room,
		Ticket:   r.Ticket,
		State:    r.State,
		Position: r.Position,
		Waiting:  r.Waiting,
		Score:    r.Score,
		Version:  r.Version,
		User:     r.User,
		Now:      time.UnixMilli(r.Now).UTC(),
	}
	switch st.State {
	case StateAdmitted:
		st.AdmissionID = r.AdmissionID
		st.AdmissionEnds = time.UnixMilli(r.AdmissionEnds).UTC()
	case StatePrequeue:
		if r.OpensAt > 0 {
			t := time.UnixMilli(r.OpensAt).UTC()
			st.OpensAt = &t
		}
	case StateWaiting:
		st.ETA = eta(st.Position, r.AdmittedLastMinute, r.FirstAdmitMS, r.Now, r.IntervalMS)
	}
	return st
}

// eta estimates the wait of the visitor at position from the admissions of
// the last minute. The window is the time since the first admission when
// that is shorter (a room that opened 10 s ago has a 10 s history), but at
// least one interval, so a single tick is not mistaken for a flood.
func eta(position, lastMinute, firstAdmitMS, nowMS, intervalMS int64) *time.Duration {
	if firstAdmitMS == 0 || lastMinute == 0 || position <= 0 {
		return nil
	}
	window := min(max(nowMS-firstAdmitMS, intervalMS), 60000)
	perMS := float64(lastMinute) / float64(window)
	d := time.Duration(math.Ceil(float64(position)/perMS)) * time.Millisecond
	d = d.Round(time.Second)
	return &d
}

// Leave takes a visitor out of the line, or ends their admission at once so
// the next tick can give its capacity to someone else.
// Errors: ErrInvalidRoom, ErrRoomNotFound, ErrTicketNotFound, ErrUnavailable.
func (s *Store) Leave(ctx context.Context, room, ticket string) error {
	return s.leave(ctx, room, ticket, ReasonLeft)
}

// EndAdmission ends an admitted visitor's admission early (a checkout); it
// is published with reason admission_ended.
// Errors: as Leave.
func (s *Store) EndAdmission(ctx context.Context, room, ticket string) error {
	return s.leave(ctx, room, ticket, ReasonAdmissionEnded)
}

func (s *Store) leave(ctx context.Context, room, ticket, reason string) error {
	if !ValidRoomID(room) {
		return ErrInvalidRoom
	}
	if !ValidTicket(ticket) {
		return ErrTicketNotFound
	}
	_, err := luascript.Do[leaveReply](ctx, s.rdb, s.sc.leave, roomKeys(room).all(), ticket, reason)
	return storeErr("leave", err)
}

// touchBatch bounds one touch script call, so a server with 100 000 sockets
// never holds Redis for long.
const touchBatch = 1000

// Touch records that these waiting visitors are present (their sockets are
// open). Unknown tickets are skipped. Errors: ErrInvalidRoom,
// ErrRoomNotFound, ErrUnavailable.
func (s *Store) Touch(ctx context.Context, room string, tickets []string) error {
	if !ValidRoomID(room) {
		return ErrInvalidRoom
	}
	k := roomKeys(room).all()
	for len(tickets) > 0 {
		n := min(len(tickets), touchBatch)
		args := make([]any, n)
		for i, t := range tickets[:n] {
			args[i] = t
		}
		tickets = tickets[n:]
		if _, err := luascript.Do[touchReply](ctx, s.rdb, s.sc.touch, k, args...); err != nil {
			return storeErr("touch", err)
		}
	}
	return nil
}

// TicketPosition is one ticket's standing in a Positions answer.
type TicketPosition struct {
	Ticket string
	// State is "" for a ticket that is gone.
	State         State
	Position      int64
	Score         int64
	AdmissionEnds time.Time
	// AdmissionID and User of an admitted ticket.
	AdmissionID string
	User        string
}

// Positions is where many tickets stand at one event version.
type Positions struct {
	Version int64
	// EventID is the id of the event of Version ("" before any): another
	// id than the one a subscriber had for Version means the store went
	// back in a failover (see Event).
	EventID string
	Waiting int64
	Now     time.Time
	Tickets []TicketPosition
}

// Positions reads the standing of many tickets at once, for a server that
// must resynchronise its sockets. It does not count as presence.
// Errors: ErrInvalidRoom, ErrRoomNotFound, ErrUnavailable.
func (s *Store) Positions(ctx context.Context, room string, tickets []string) (Positions, error) {
	if !ValidRoomID(room) {
		return Positions{}, ErrInvalidRoom
	}
	args := make([]any, 0, len(tickets))
	valid := make([]string, 0, len(tickets))
	for _, t := range tickets {
		if ValidTicket(t) {
			args = append(args, t)
			valid = append(valid, t)
		}
	}
	res, err := luascript.Do[positionsReply](ctx, s.rdb, s.sc.positions, roomKeys(room).all(), args...)
	if err != nil {
		return Positions{}, storeErr("positions", err)
	}
	if len(res.Tickets) != len(valid) {
		return Positions{}, fmt.Errorf("positions: %w: %d tickets for %d asked", luascript.ErrBadReply, len(res.Tickets), len(valid))
	}
	out := Positions{Version: res.Version, EventID: res.EventID, Waiting: res.Waiting, Now: time.UnixMilli(res.Now).UTC()}
	for i, t := range valid {
		row := res.Tickets[i]
		tp := TicketPosition{Ticket: t, State: row.State, Position: row.Position, Score: row.Score}
		if tp.State == StateAdmitted {
			tp.AdmissionEnds = time.UnixMilli(row.AdmissionEnds).UTC()
			tp.AdmissionID = row.AdmissionID
			tp.User = row.User
		}
		out.Tickets = append(out.Tickets, tp)
	}
	return out, nil
}

// ErrAdmissionEnded: the admission behind an entry token is over (time up,
// left, checkout, or the operator ended it).
var ErrAdmissionEnded = errors.New("admission ended")

// ActiveAdmission is a live admission, as an entry token's jti finds it.
type ActiveAdmission struct {
	ID     string
	Ticket string
	// User is the verified user id given at join, "" for an anonymous visitor.
	User string
	Ends time.Time
}

// Subject is the entry token's sub for the admission: the verified user id,
// else the admission's own opaque id. Never the ticket: whoever holds the
// ticket holds the place.
func (a ActiveAdmission) Subject() string { return Subject(a.User, a.ID) }

// Subject is an entry token's sub: the verified user id, else the admission
// id.
func Subject(user, admissionID string) string {
	if user != "" {
		return user
	}
	return admissionID
}

// LiveAdmission finds the live admission behind an entry token's jti. A
// token of an admission that ended never finds one again, even once the same
// user is admitted anew. It is one small script, cheap enough to run on
// every booking request; it also records the admission as arrived (its
// entry is being used: see arrive_within_s). Errors: ErrInvalidRoom, ErrAdmissionEnded,
// ErrUnavailable.
func (s *Store) LiveAdmission(ctx context.Context, room, admissionID string) (ActiveAdmission, error) {
	if !ValidRoomID(room) {
		return ActiveAdmission{}, ErrInvalidRoom
	}
	if admissionID == "" || len(admissionID) > maxAdmissionIDLen {
		return ActiveAdmission{}, ErrAdmissionEnded
	}
	res, err := luascript.Do[admissionReply](ctx, s.rdb, s.sc.admission, roomKeys(room).all(), admissionID)
	if err != nil {
		return ActiveAdmission{}, storeErr("live admission", err)
	}
	return ActiveAdmission{ID: admissionID, Ticket: res.Ticket, User: res.User, Ends: time.UnixMilli(res.Ends).UTC()}, nil
}

// CountChallenge records that the client at addr (an address key: IPv4, or
// an IPv6 /64) is handed a proof-of-work challenge for room, and returns the
// room's pow_work and how many challenges that address fetched in the last
// minute before this one. Nothing is counted while pow_work is 0.
// Errors: ErrInvalidRoom, ErrRoomNotFound, ErrUnavailable.
func (s *Store) CountChallenge(ctx context.Context, room, addr string) (powWork int, recent int64, err error) {
	if !ValidRoomID(room) {
		return 0, 0, ErrInvalidRoom
	}
	if addr == "" || len(addr) > 64 {
		return 0, 0, fmt.Errorf("count challenge: bad address key %q", addr)
	}
	res, err := luascript.Do[challengeReply](ctx, s.rdb, s.sc.challenge, roomKeys(room).all(), addr)
	if err != nil {
		return 0, 0, storeErr("count challenge", err)
	}
	return res.PowWork, res.Recent, nil
}

// ---- stats ----------------------------------------------------------------

// Stats are a room's figures.
type Stats struct {
	Waiting int64
	// Admitted is the admissions live now.
	Admitted      int64
	AdmittedTotal int64
	// AdmittedLastMinute is the admissions of the last 60 seconds.
	AdmittedLastMinute int64
	// OldestWait is how long the head of the line has waited.
	OldestWait time.Duration
	// Prequeue is the size of the pre-queue.
	Prequeue int64
	Version  int64
	Now      time.Time
}

// Stats returns a room's figures. Errors: ErrInvalidRoom, ErrRoomNotFound,
// ErrUnavailable.
func (s *Store) Stats(ctx context.Context, room string) (Stats, error) {
	if !ValidRoomID(room) {
		return Stats{}, ErrInvalidRoom
	}
	res, err := luascript.Do[statsReply](ctx, s.rdb, s.sc.stats, roomKeys(room).all())
	if err != nil {
		return Stats{}, storeErr("stats", err)
	}
	st := Stats{
		Waiting:            res.Waiting,
		Admitted:           res.Admitted,
		AdmittedTotal:      res.AdmittedTotal,
		AdmittedLastMinute: res.AdmittedLastMinute,
		Now:                time.UnixMilli(res.Now).UTC(),
		Prequeue:           res.Prequeue,
		Version:            res.Version,
	}
	if res.Head > 0 {
		st.OldestWait = max(st.Now.Sub(ArrivalTime(res.Head)), 0)
	}
	return st, nil
}

// RoomState is a room's state as GET /api/rooms/{room} shows it.
type RoomState string

// The states of a room.
const (
	RoomOpen     RoomState = "open"
	RoomPaused   RoomState = "paused"
	RoomPrequeue RoomState = "prequeue"
	RoomClosed   RoomState = "closed"
)

// State says whether the room is open at time now (Redis's time, from Stats).
func (c Config) State(now time.Time) RoomState {
	switch {
	case c.Mode == ModeReject:
		return RoomClosed
	case c.OpensAt != nil && now.Before(*c.OpensAt):
		return RoomPrequeue
	case c.Paused:
		return RoomPaused
	}
	return RoomOpen
}
