package queue

import (
	"context"

	"github.com/waitroom/waitroom/internal/luascript"
)

// RunScript runs script once per call on the store's Redis, in one round
// trip, and returns each call's reply or error, in order. It is for this
// module's packages that keep keys of their own beside a room's (the
// pacers' fences): each call's keys carry one room's hash tag (KeyPrefix),
// so that a Cluster runs it on the room's node. A call that Redis answers
// NOSCRIPT is run again on its own, which loads the script. Errors:
// ErrUnavailable, or the script's own.
func (s *Store) RunScript(ctx context.Context, script *luascript.Script, calls ...luascript.Call) ([]any, []error) {
	vals, errs := script.RunMany(ctx, s.rdb, calls)
	for i := range errs {
		errs[i] = storeErr("script", errs[i])
	}
	return vals, errs
}
