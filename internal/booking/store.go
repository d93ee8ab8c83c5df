package booking

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/pkg/queue"
)

// Defaults and bounds of Options and of a seat map (docs/API.md).
const (
	DefaultHoldTTL       = 5 * time.Minute
	DefaultMaxPerVisitor = 4
	MinHoldTTL           = time.Second
	MaxHoldTTL           = 24 * time.Hour
	MaxMaxPerVisitor     = 100
	MaxSeatsMaxAge       = 10 * time.Second
	// MaxSeats is the most seats a room's map holds.
	MaxSeats = 100000
	// MaxSeatIDLen is the longest seat id, in bytes.
	MaxSeatIDLen = 16
)

// stageChunk is the most seats one upload script call adds, so a map of
// 100 000 seats never holds Redis for long.
const stageChunk = 5000

// stageTTL is how long an upload that is never committed lingers.
const stageTTL = 5 * time.Minute

// Options tune a Store. Every field's zero value means its default.
type Options struct {
	// HoldTTL is how long a hold lasts before it frees itself, 1s–24h, whole
	// milliseconds. Default 5m.
	HoldTTL time.Duration
	// MaxPerVisitor is the most seats one visitor may hold or have booked at
	// once, 1–100. Default 4.
	MaxPerVisitor int
	// SeatsMaxAge lets Seats answer from an in-process snapshot of a room's
	// seats up to this old, 0–10s, so that many visitors polling the seat map
	// cost Redis one read per room per SeatsMaxAge. Changes made through this
	// Store drop the room's snapshot at once, so a visitor served by this
	// process always sees their own change; another process's changes show
	// within SeatsMaxAge. Holds and bookings always decide in Redis. Default
	// 0: every call reads Redis.
	SeatsMaxAge time.Duration
}

// WithDefaults returns the options with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.HoldTTL == 0 {
		o.HoldTTL = DefaultHoldTTL
	}
	if o.MaxPerVisitor == 0 {
		o.MaxPerVisitor = DefaultMaxPerVisitor
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.HoldTTL < MinHoldTTL || o.HoldTTL > MaxHoldTTL:
		return fmt.Errorf("booking: HoldTTL must be between %s and %s, got %s", MinHoldTTL, MaxHoldTTL, o.HoldTTL)
	case o.MaxPerVisitor < 1 || o.MaxPerVisitor > MaxMaxPerVisitor:
		return fmt.Errorf("booking: MaxPerVisitor must be between 1 and %d, got %d", MaxMaxPerVisitor, o.MaxPerVisitor)
	case o.SeatsMaxAge < 0 || o.SeatsMaxAge > MaxSeatsMaxAge:
		return fmt.Errorf("booking: SeatsMaxAge must be between 0 and %s, got %s", MaxSeatsMaxAge, o.SeatsMaxAge)
	}
	return nil
}

// Store is the seat inventory of every room, kept in Redis. It is safe for
// concurrent use, by many processes at once: every change is one atomic
// script.
type Store struct {
	rdb   redis.UniversalClient
	sc    scripts
	opt   Options
	snaps *snapshots // nil unless SeatsMaxAge > 0
}

// New returns a Store over rdb, which may be a single node or a Cluster. It
// fails if an option is out of range.
func New(rdb redis.UniversalClient, opt Options) (*Store, error) {
	opt = opt.WithDefaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	st := &Store{rdb: rdb, sc: loadScripts(), opt: opt}
	if opt.SeatsMaxAge > 0 {
		st.snaps = newSnapshots(opt.SeatsMaxAge)
	}
	return st, nil
}

// Options returns the options in force, defaults filled in.
func (s *Store) Options() Options { return s.opt }

// SeatState is what a seat looks like to a visitor.
type SeatState string

// The states of a seat.
const (
	Available SeatState = "available"
	Held      SeatState = "held"
	Booked    SeatState = "booked"
)

// Seat is one seat of a listing.
type Seat struct {
	ID    string
	State SeatState
	// Mine is true when the visitor asking holds or booked the seat.
	Mine bool
	// HeldUntil is when the hold ends, for a held seat.
	HeldUntil time.Time
}

// Hold is a visitor's hold on a seat.
type Hold struct {
	Seat  string
	Until time.Time
}

// Booking is a visitor's booking of a seat.
type Booking struct {
	Seat string
	ID   string
}

// Holdings are what one visitor holds and booked, in seat-map order.
type Holdings struct {
	Holds    []Hold
	Bookings []Booking
	// Now is Redis's time when they were read.
	Now time.Time
}

// ValidSeatID reports whether id is 1–16 characters of A-Z, a-z, 0-9, '-'.
func ValidSeatID(id string) bool {
	if len(id) == 0 || len(id) > MaxSeatIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateSeatMap checks a seat map: at most MaxSeats seats, each a valid
// seat id, none twice. The error is a *SeatMapError naming the first fault.
func ValidateSeatMap(seats []string) error {
	if len(seats) > MaxSeats {
		return &SeatMapError{Index: -1, Reason: fmt.Sprintf("a seat map holds at most %d seats, got %d", MaxSeats, len(seats))}
	}
	seen := make(map[string]int, len(seats))
	for i, id := range seats {
		if !ValidSeatID(id) {
			return &SeatMapError{Index: i, Reason: fmt.Sprintf("%q is not a seat id (1–%d characters of A-Z, a-z, 0-9 and '-')", truncate(id, 40), MaxSeatIDLen)}
		}
		if j, dup := seen[id]; dup {
			return &SeatMapError{Index: i, Reason: fmt.Sprintf("%q is already seats[%d]", id, j)}
		}
		seen[id] = i
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// GridSeats returns rows×perRow seat ids in row order: A1…A<perRow>, B1, …;
// rows past Z are AA, AB, … It is a convenient seat map for demos and tests.
func GridSeats(rows, perRow int) []string {
	out := make([]string, 0, max(rows*perRow, 0))
	for r := range rows {
		name := ""
		for n := r + 1; n > 0; n = (n - 1) / 26 {
			name = string(rune('A'+(n-1)%26)) + name
		}
		for c := 1; c <= perRow; c++ {
			out = append(out, fmt.Sprintf("%s%d", name, c))
		}
	}
	return out
}

func checkRoomVisitor(room, visitor string) error {
	if !queue.ValidRoomID(room) {
		return queue.ErrInvalidRoom
	}
	if visitor == "" || len(visitor) > MaxVisitorLen {
		return ErrInvalidVisitor
	}
	return nil
}

func checkSeat(room, visitor, seat string) error {
	if err := checkRoomVisitor(room, visitor); err != nil {
		return err
	}
	if !ValidSeatID(seat) {
		return ErrInvalidSeat
	}
	return nil
}

// PutSeatMap makes seats the room's seat map, in that order, replacing the
// old one at once: visitors see either the old map or the new one. A seat
// that stays keeps its hold or booking; a seat that leaves the map loses it.
// It returns how many live holds and bookings were released so. The map is
// uploaded in chunks beside the live one and swapped in by one script, so a
// map of 100 000 seats never blocks Redis for long; if anything fails,
// nothing has changed.
// Errors: queue.ErrInvalidRoom, ErrInvalidSeatMap (a *SeatMapError),
// ErrUnavailable.
func (s *Store) PutSeatMap(ctx context.Context, room string, seats []string) (released int, err error) {
	if !queue.ValidRoomID(room) {
		return 0, queue.ErrInvalidRoom
	}
	if err := ValidateSeatMap(seats); err != nil {
		return 0, err
	}
	keys := seatKeys(room).all()
	upload := randomID(12)
	for off := 0; off < len(seats); off += stageChunk {
		chunk := seats[off:min(off+stageChunk, len(seats))]
		args := make([]any, 0, 3+len(chunk))
		args = append(args, upload, off, stageTTL.Milliseconds())
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := luascript.Do[stageReply](ctx, s.rdb, s.sc.stage, keys, args...); err != nil {
			return 0, storeErr("stage seat map", err)
		}
	}
	res, err := luascript.Do[releaseReply](ctx, s.rdb, s.sc.commit, keys, upload, len(seats))
	s.changed(room)
	var r *luascript.Refusal
	if errors.As(err, &r) && r.Code == "upload_incomplete" {
		return 0, fmt.Errorf("booking: commit seat map: upload of %d seats incomplete", len(seats))
	}
	if err != nil {
		return 0, storeErr("commit seat map", err)
	}
	return res.Released, nil
}

// Seats lists the room's seat map in the operator's order, each seat with
// its state at Redis's time; Mine marks the seats visitor holds or booked
// (visitor may be empty: then none is mine). A room without a seat map has
// no seats. With Options.SeatsMaxAge set, the answer may come from a
// snapshot up to that old (see snapshots).
// Errors: queue.ErrInvalidRoom, ErrUnavailable.
func (s *Store) Seats(ctx context.Context, room, visitor string) ([]Seat, error) {
	if !queue.ValidRoomID(room) {
		return nil, queue.ErrInvalidRoom
	}
	var snap *snapshot
	var err error
	if s.snaps != nil {
		snap, err = s.snaps.get(ctx, room, s.readSnapshot)
	} else {
		snap, err = s.readSnapshot(ctx, room)
	}
	if err != nil {
		return nil, err
	}
	return snap.seats(visitor), nil
}

// snapshot is a room's seat map and its taken seats as Redis had them at
// one moment.
type snapshot struct {
	read  time.Time // local clock (monotonic) when it was read
	now   int64     // Redis's time then, ms
	ids   []string
	taken map[string]takenValue
}

// readSnapshot reads the room's seats from Redis (list.lua).
func (s *Store) readSnapshot(ctx context.Context, room string) (*snapshot, error) {
	res, err := luascript.Do[listReply](ctx, s.rdb, s.sc.list, seatKeys(room).all())
	if err != nil {
		return nil, storeErr("list seats", err)
	}
	snap := &snapshot{read: time.Now(), now: res.Now, ids: res.Seats,
		taken: make(map[string]takenValue, len(res.Taken))}
	for k, v := range res.Taken {
		if t, ok := decodeTaken(v); ok {
			snap.taken[k] = t
		}
	}
	return snap, nil
}

// seats renders the snapshot for visitor. Holds are judged at Redis's time
// of the read plus the time since, so a hold that ended since is free.
func (snap *snapshot) seats(visitor string) []Seat {
	now := snap.now + time.Since(snap.read).Milliseconds()
	out := make([]Seat, len(snap.ids))
	for i, id := range snap.ids {
		out[i] = Seat{ID: id, State: Available}
		t, ok := snap.taken[id]
		if !ok || t.held && t.until <= now {
			continue // an ended hold is free, though no write has cleared it yet
		}
		out[i].Mine = visitor != "" && t.owner == visitor
		if t.held {
			out[i].State = Held
			out[i].HeldUntil = time.UnixMilli(t.until).UTC()
		} else {
			out[i].State = Booked
		}
	}
	return out
}

// takenValue is a decoded value of the taken hash (see lua/lib.lua).
type takenValue struct {
	held    bool
	until   int64  // hold end, ms, when held
	booking string // booking id, when booked
	owner   string
}

func decodeTaken(v string) (takenValue, bool) {
	if len(v) < 4 || v[1] != ':' {
		return takenValue{}, false
	}
	datum, owner, ok := strings.Cut(v[2:], ":")
	if !ok {
		return takenValue{}, false
	}
	switch v[0] {
	case 'h':
		ms, err := strconv.ParseInt(datum, 10, 64)
		if err != nil {
			return takenValue{}, false
		}
		return takenValue{held: true, until: ms, owner: owner}, true
	case 'b':
		return takenValue{booking: datum, owner: owner}, true
	}
	return takenValue{}, false
}

// Hold holds seat for visitor until Redis's time plus HoldTTL; the hold then
// frees itself. A visitor who already holds the seat gets that hold back,
// not extended, and created is false.
// Errors: queue.ErrInvalidRoom, ErrInvalidVisitor, ErrInvalidSeat,
// ErrSeatNotFound, ErrSeatUnavailable (held or booked, by anyone),
// ErrLimitReached, ErrUnavailable.
func (s *Store) Hold(ctx context.Context, room, visitor, seat string) (h Hold, created bool, err error) {
	if err := checkSeat(room, visitor, seat); err != nil {
		return Hold{}, false, err
	}
	res, err := luascript.Do[holdReply](ctx, s.rdb, s.sc.hold, seatKeys(room).all(),
		visitor, seat, s.opt.HoldTTL.Milliseconds(), s.opt.MaxPerVisitor)
	s.changed(room)
	if err != nil {
		return Hold{}, false, storeErr("hold", err)
	}
	return Hold{Seat: seat, Until: time.UnixMilli(res.Ends).UTC()}, res.Created, nil
}

// Book turns visitor's live hold on seat into a booking, which lasts until
// cancelled. A visitor who booked the seat already gets that booking back,
// and created is false.
// Errors: queue.ErrInvalidRoom, ErrInvalidVisitor, ErrInvalidSeat,
// ErrSeatNotFound, ErrSeatUnavailable (someone else holds or booked it),
// ErrHoldRequired (nobody holds it, or the visitor's hold has ended),
// ErrUnavailable.
func (s *Store) Book(ctx context.Context, room, visitor, seat string) (b Booking, created bool, err error) {
	if err := checkSeat(room, visitor, seat); err != nil {
		return Booking{}, false, err
	}
	res, err := luascript.Do[bookReply](ctx, s.rdb, s.sc.book, seatKeys(room).all(), visitor, seat, randomID(16))
	s.changed(room)
	if err != nil {
		return Booking{}, false, storeErr("book", err)
	}
	return Booking{Seat: seat, ID: res.Booking}, res.Created, nil
}

// Cancel cancels visitor's booking of seat, or releases their hold on it;
// the seat is available again.
// Errors: queue.ErrInvalidRoom, ErrInvalidVisitor, ErrInvalidSeat,
// ErrSeatNotFound, ErrBookingNotFound (the visitor neither holds nor booked
// it), ErrUnavailable.
func (s *Store) Cancel(ctx context.Context, room, visitor, seat string) error {
	if err := checkSeat(room, visitor, seat); err != nil {
		return err
	}
	_, err := luascript.Do[cancelReply](ctx, s.rdb, s.sc.cancel, seatKeys(room).all(), visitor, seat)
	s.changed(room)
	return storeErr("cancel", err)
}

// ReleaseHolds frees every hold of visitor (at checkout) and returns how
// many; bookings stay. Errors: queue.ErrInvalidRoom, ErrInvalidVisitor,
// ErrUnavailable.
func (s *Store) ReleaseHolds(ctx context.Context, room, visitor string) (int, error) {
	if err := checkRoomVisitor(room, visitor); err != nil {
		return 0, err
	}
	res, err := luascript.Do[releaseReply](ctx, s.rdb, s.sc.release, seatKeys(room).all(), visitor)
	s.changed(room)
	if err != nil {
		return 0, storeErr("release holds", err)
	}
	return res.Released, nil
}

// Mine returns the live holds and the bookings of visitor, in seat-map
// order. Errors: queue.ErrInvalidRoom, ErrInvalidVisitor, ErrUnavailable.
func (s *Store) Mine(ctx context.Context, room, visitor string) (Holdings, error) {
	if err := checkRoomVisitor(room, visitor); err != nil {
		return Holdings{}, err
	}
	res, err := luascript.Do[mineReply](ctx, s.rdb, s.sc.mine, seatKeys(room).all(), visitor)
	if err != nil {
		return Holdings{}, storeErr("mine", err)
	}
	now := res.Now
	type row struct {
		index int64
		seat  string
		t     takenValue
	}
	var mine []row
	for _, r := range res.Seats {
		t, ok := decodeTaken(r.Taken)
		if !ok || t.owner != visitor || t.held && t.until <= now {
			continue
		}
		mine = append(mine, row{r.Index, r.Seat, t})
	}
	slices.SortFunc(mine, func(a, b row) int { return int(a.index - b.index) })
	out := Holdings{Now: time.UnixMilli(now).UTC(), Holds: []Hold{}, Bookings: []Booking{}}
	for _, r := range mine {
		if r.t.held {
			out.Holds = append(out.Holds, Hold{Seat: r.seat, Until: time.UnixMilli(r.t.until).UTC()})
		} else {
			out.Bookings = append(out.Bookings, Booking{Seat: r.seat, ID: r.t.booking})
		}
	}
	return out, nil
}

// changed drops the room's snapshot after a change made through this store
// (even a failed one: it may have happened before the error).
func (s *Store) changed(room string) {
	if s.snaps != nil {
		s.snaps.drop(room)
	}
}

// randomID returns n random bytes in URL-safe base64 (no ':', which the
// taken values use as a separator).
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+).
		panic(errors.Join(errors.New("booking: random id"), err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
