package queue

import (
	"embed"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// scripts holds one *redis.Script per operation. Each is lib.lua, then
// history.lua (after a line setting its retention), then the operation's
// own file. redis.Script runs EVALSHA and falls back to
// EVAL (which caches the script) on NOSCRIPT, so after a restart or a
// SCRIPT FLUSH, or on a Cluster node that never saw it, the first call
// reloads it.
type scripts struct {
	join, status, touch, leave, tick, putRoom, deleteRoom, stats, positions, admission, challenge *redis.Script
}

func loadScripts(historyRetention time.Duration) scripts {
	lib := mustRead("lib.lua") + "\n" + historyPrelude(historyRetention) + mustRead("history.lua")
	s := func(name string) *redis.Script { return redis.NewScript(lib + "\n" + mustRead(name)) }
	return scripts{
		join:       s("join.lua"),
		status:     s("status.lua"),
		touch:      s("touch.lua"),
		leave:      s("leave.lua"),
		tick:       s("tick.lua"),
		putRoom:    s("put_room.lua"),
		deleteRoom: s("delete_room.lua"),
		stats:      s("stats.lua"),
		positions:  s("positions.lua"),
		admission:  s("admission.lua"),
		challenge:  s("challenge.lua"),
	}
}

func mustRead(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name)
	if err != nil {
		panic("queue: missing embedded script " + name) // a build mistake, caught by every test
	}
	return string(b)
}
