package luascript

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Errors turns what a package's script calls fail with into the package's
// named errors: a Refusal into the error its code stands for, an unreachable
// Redis into Unavailable (so that callers answer 503 rather than 500). Other
// errors (a bug in a script, an unexpected reply) keep their text for the log.
type Errors struct {
	// Prefix goes before the operation in a wrapped error ("booking: ").
	Prefix string
	// Refusals maps the codes the scripts refuse with to named errors.
	Refusals map[string]error
	// Unavailable is the named error of an unreachable Redis.
	Unavailable error
}

// Wrap returns err as the caller should see it, op naming the operation.
func (e Errors) Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var r *Refusal
	if errors.As(err, &r) {
		if named, ok := e.Refusals[r.Code]; ok {
			return named
		}
	}
	if Unreachable(err) {
		return fmt.Errorf("%s%s: %w: %v", e.Prefix, op, e.Unavailable, err)
	}
	return fmt.Errorf("%s%s: %w", e.Prefix, op, err)
}

// Unreachable reports whether a go-redis error means Redis could not serve
// the request now (down, loading, failing over), which a visitor should see
// as 503 unavailable rather than an internal error. It goes by the error's
// type, never its text.
func Unreachable(err error) bool {
	var netErr net.Error  // dial, read and write failures and timeouts (*net.OpError)
	var reply redis.Error // a reply of Redis's; go-redis's checks below would also match bare text
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
		errors.As(err, &reply) &&
			(redis.IsLoadingError(reply) || redis.IsClusterDownError(reply) || redis.IsTryAgainError(reply)):
		return true
	}
	return false
}
