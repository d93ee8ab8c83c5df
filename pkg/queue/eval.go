package queue

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// ScriptCall is one call of a Lua script in Store.RunScript.
type ScriptCall struct {
	Keys []string
	Args []any
}

// RunScript runs script once per call on the store's Redis, in one round
// trip, and returns each call's reply or error, in order. It is for the
// packages that keep keys of their own beside a room's (the pacers' fences):
// each call's keys carry one room's hash tag, wr:{room}:…, so that a Cluster
// runs it on the room's node. The calls go out as EVALSHA; one that Redis
// answers NOSCRIPT (after a restart, or on a node that never saw the script)
// is run again on its own, which loads the script. Errors: ErrUnavailable,
// or the script's own.
func (s *Store) RunScript(ctx context.Context, script *redis.Script, calls ...ScriptCall) ([]any, []error) {
	vals := make([]any, len(calls))
	errs := make([]error, len(calls))
	if len(calls) == 0 {
		return vals, errs
	}
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = script.EvalSha(ctx, p, c.Keys, c.Args...)
		}
		return nil
	}) // each command carries its own error
	for i, cmd := range cmds {
		vals[i], errs[i] = cmd.Result()
		if errs[i] != nil && redis.HasErrorPrefix(errs[i], "NOSCRIPT") {
			vals[i], errs[i] = script.Run(ctx, s.rdb, calls[i].Keys, calls[i].Args...).Result()
		}
		errs[i] = storeErr("script", errs[i])
	}
	return vals, errs
}
