package queue

import (
	"errors"

	"github.com/waitroom/waitroom/internal/luascript"
)

// Named errors of the domain. Callers check them with errors.Is; the HTTP
// layer maps each to one status and code of docs/API.md in one place.
var (
	// ErrInvalidRoom: the room id is not 1–64 characters of a-z, 0-9, '-'.
	ErrInvalidRoom = errors.New("invalid room id")
	// ErrRoomNotFound: no operator has created this room.
	ErrRoomNotFound = errors.New("room not found")
	// ErrTicketNotFound: the ticket is not waiting, in the pre-queue or admitted.
	ErrTicketNotFound = errors.New("ticket not found")
	// ErrRoomClosed: the room's mode is reject; new joins are refused.
	ErrRoomClosed = errors.New("room closed")
	// ErrInvalidConfig: a config field is out of range; see *ConfigError.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrInvalidUser: the external user id is longer than MaxUserLen.
	ErrInvalidUser = errors.New("invalid user id")
	// ErrUserRequired: the room has require_user and the joiner brought no
	// verified user.
	ErrUserRequired = errors.New("user required")
	// ErrPowRequired: the room has pow_work and the joiner brought no solved
	// proof of work.
	ErrPowRequired = errors.New("proof of work required")
	// ErrPowUsed: the proof of work was already spent on another join.
	ErrPowUsed = errors.New("proof of work already used")
	// ErrUnavailable: Redis could not be reached.
	ErrUnavailable = errors.New("store unavailable")
)

// ConfigError names the config field that was refused and why.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalidConfig) match.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// refusals are the codes a script refuses with (lua/lib.lua) and the named
// errors they stand for.
var refusals = map[string]error{
	"room_not_found":   ErrRoomNotFound,
	"ticket_not_found": ErrTicketNotFound,
	"room_closed":      ErrRoomClosed,
	"user_required":    ErrUserRequired,
	"pow_required":     ErrPowRequired,
	"pow_used":         ErrPowUsed,
	"admission_ended":  ErrAdmissionEnded,
}

var scriptErrs = luascript.Errors{Refusals: refusals, Unavailable: ErrUnavailable}

// storeErr turns a script's refusal into its named error and an unreachable
// Redis into ErrUnavailable (luascript.Errors).
func storeErr(op string, err error) error { return scriptErrs.Wrap(op, err) }

// Unreachable reports whether a go-redis error means Redis could not serve
// the request now (down, loading, failing over), which a visitor should see
// as 503 unavailable rather than an internal error.
func Unreachable(err error) bool { return luascript.Unreachable(err) }
