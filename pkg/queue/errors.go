package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"

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

// storeErr turns a script's refusal into its named error, and a go-redis
// error into ErrUnavailable when Redis could not be reached, so that callers
// answer 503 rather than 500; other errors (a bug in a script, an
// unexpected reply) keep their text for the log.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var r *luascript.Refusal
	if errors.As(err, &r) {
		if named, ok := refusals[r.Code]; ok {
			return named
		}
	}
	if Unreachable(err) {
		return fmt.Errorf("%s: %w: %v", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Unreachable reports whether a go-redis error means Redis could not serve
// the request now (down, loading, failing over), which a visitor should see
// as 503 unavailable rather than an internal error. It goes by the error's
// type, never its text.
func Unreachable(err error) bool {
	var netErr net.Error // dial, read and write failures and timeouts (*net.OpError)
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, redis.ErrClosed),
		errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, context.DeadlineExceeded),
		// A node loading its data or a Cluster mid-failover cannot serve us
		// now; to a visitor that is the same as unreachable.
		redis.IsLoadingError(err),
		redis.IsClusterDownError(err),
		redis.IsTryAgainError(err):
		return true
	}
	return false
}
