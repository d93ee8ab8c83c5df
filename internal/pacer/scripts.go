package pacer

import (
	"context"
	"embed"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// The scripts, each lib.lua followed by its own file. Run sends EVALSHA and
// falls back to EVAL on NOSCRIPT (after a Redis restart, or on a Cluster
// node that never saw the script).
var (
	claimScript = newScript("claim.lua")
	watchScript = newScript("watch.lua")
	endScript   = newScript("end.lua")
	dueScript   = newScript("due.lua")
)

func newScript(name string) *redis.Script {
	return redis.NewScript(mustRead("lib.lua") + "\n" + mustRead(name))
}

func mustRead(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name)
	if err != nil {
		panic("pacer: missing embedded script " + name) // a build mistake, caught by every test
	}
	return string(b)
}

// scriptCall is one call of a script in evalMany.
type scriptCall struct {
	key  string
	args []any
}

// evalMany runs script once per call in one pipeline and returns each call's
// reply or error, in order. A pipelined call sends only EVALSHA; calls that
// meet NOSCRIPT are run again one by one with Run, which loads the script.
func evalMany(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, calls []scriptCall) ([]any, []error) {
	vals := make([]any, len(calls))
	errs := make([]error, len(calls))
	if len(calls) == 0 {
		return vals, errs
	}
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = script.EvalSha(ctx, p, []string{c.key}, c.args...)
		}
		return nil
	}) // each command carries its own error
	for i, cmd := range cmds {
		vals[i], errs[i] = cmd.Result()
		if errs[i] != nil && isNoScript(errs[i]) {
			vals[i], errs[i] = script.Run(ctx, rdb, []string{calls[i].key}, calls[i].args...).Result()
		}
	}
	return vals, errs
}

func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }

// ints reads a script's reply of integers.
func ints(v any) []int64 {
	s, _ := v.([]any)
	out := make([]int64, len(s))
	for i, x := range s {
		out[i], _ = x.(int64)
	}
	return out
}
