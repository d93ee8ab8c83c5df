package pacer

import (
	"context"
	"embed"

	"github.com/waitroom/waitroom/internal/luascript"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// The scripts, each lib.lua followed by its own file (see internal/luascript).
var (
	scripts     = luascript.NewLoader(luaFiles, "lua")
	claimScript = scripts.Load("claim.lua")
	watchScript = scripts.Load("watch.lua")
	endScript   = scripts.Load("end.lua")
	dueScript   = scripts.Load("due.lua")
)

// claimOutcome is claim.lua's verdict on a received loop message.
type claimOutcome string

const (
	claimed    claimOutcome = "claimed" // tick, then send the next message
	claimEarly claimOutcome = "early"   // hide the message until it is due
	claimStale claimOutcome = "stale"   // delete it without a tick
)

// claimReply is claim.lua's reply; the durations are in ms.
type claimReply struct {
	Outcome claimOutcome `json:"outcome"`
	WaitMS  int64        `json:"wait_ms"`
	Ticks   int64        `json:"ticks"`
	NextMS  int64        `json:"next_ms"`
}

// loopState is what watch.lua found of a room's loop.
type loopState string

const (
	loopLive   loopState = "live"   // nothing to do
	loopNew    loopState = "new"    // seeded: there was none
	loopSilent loopState = "silent" // re-seeded: it had stopped
)

// watchReply is watch.lua's reply: the generation seeded, if any.
type watchReply struct {
	Loop loopState `json:"loop"`
	Gen  int64     `json:"gen,string"`
}

// endReply is end.lua's reply.
type endReply struct {
	Ended bool `json:"ended"`
}

// dueReply is due.lua's reply: tick now or not, and when the next is due.
type dueReply struct {
	Due    bool  `json:"due"`
	NextMS int64 `json:"next_ms"`
}

// runScript runs one call of script with the one key it takes and decodes
// its reply.
func runScript[T any](ctx context.Context, sc Scripter, script *luascript.Script, key string, args ...any) (T, error) {
	vals, errs := sc.RunScript(ctx, script, luascript.Call{Keys: []string{key}, Args: args})
	return luascript.Decode[T](script, vals[0], errs[0])
}
