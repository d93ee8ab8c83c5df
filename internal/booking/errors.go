package booking

import (
	"errors"
	"fmt"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/pkg/queue"
)

// MaxVisitorLen bounds a visitor id: a user id (queue.MaxUserLen bytes) with
// a short prefix of the caller's.
const MaxVisitorLen = 160

// Named errors of the booking domain. Callers check them with errors.Is; the
// HTTP layer maps each to one status and code of docs/API.md in one place.
var (
	// ErrSeatNotFound: the seat is not in the room's seat map.
	ErrSeatNotFound = errors.New("seat not found")
	// ErrSeatUnavailable: someone else holds or booked the seat (or the
	// visitor booked it already, for a hold).
	ErrSeatUnavailable = errors.New("seat unavailable")
	// ErrHoldRequired: a booking needs the visitor's own live hold on the seat.
	ErrHoldRequired = errors.New("hold required")
	// ErrLimitReached: the visitor holds or booked the most seats allowed.
	ErrLimitReached = errors.New("seat limit reached")
	// ErrBookingNotFound: the visitor neither booked nor holds the seat.
	ErrBookingNotFound = errors.New("booking not found")
	// ErrInvalidSeat: a seat id is not 1–16 characters of A-Z, a-z, 0-9, '-'.
	ErrInvalidSeat = errors.New("invalid seat id")
	// ErrInvalidSeatMap: a seat map was refused; see *SeatMapError.
	ErrInvalidSeatMap = errors.New("invalid seat map")
	// ErrInvalidVisitor: the visitor is empty or longer than MaxVisitorLen.
	ErrInvalidVisitor = errors.New("invalid visitor")
	// ErrUnavailable: Redis could not be reached. It is queue.ErrUnavailable,
	// so one mapping covers the line and the seats.
	ErrUnavailable = queue.ErrUnavailable
)

// SeatMapError says why a seat map was refused.
type SeatMapError struct {
	// Index is the position of the offending seat in the map, or -1 when the
	// map as a whole is refused (too many seats).
	Index  int
	Reason string
}

func (e *SeatMapError) Error() string {
	if e.Index < 0 {
		return e.Reason
	}
	return fmt.Sprintf("seats[%d]: %s", e.Index, e.Reason)
}

// Unwrap lets errors.Is(err, ErrInvalidSeatMap) match.
func (e *SeatMapError) Unwrap() error { return ErrInvalidSeatMap }

// refusals are the codes a script refuses with (lua/lib.lua) and the named
// errors they stand for.
var refusals = map[string]error{
	"seat_not_found":    ErrSeatNotFound,
	"seat_unavailable":  ErrSeatUnavailable,
	"limit_reached":     ErrLimitReached,
	"hold_required":     ErrHoldRequired,
	"booking_not_found": ErrBookingNotFound,
}

var scriptErrs = luascript.Errors{Prefix: "booking: ", Refusals: refusals, Unavailable: ErrUnavailable}

// storeErr turns a script's refusal into its named error and an unreachable
// Redis into ErrUnavailable (luascript.Errors).
func storeErr(op string, err error) error { return scriptErrs.Wrap(op, err) }
