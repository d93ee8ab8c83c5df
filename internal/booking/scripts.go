package booking

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// scripts holds one *redis.Script per operation, each lib.lua followed by the
// operation's own file. redis.Script runs EVALSHA and falls back to EVAL on
// NOSCRIPT, so a restarted node or a Cluster node that never saw a script
// reloads it on first use.
type scripts struct {
	hold, book, cancel, release, list, mine, stage, commit *redis.Script
}

func loadScripts() scripts {
	lib := mustRead("lib.lua")
	s := func(name string) *redis.Script { return redis.NewScript(lib + "\n" + mustRead(name)) }
	return scripts{
		hold:    s("hold.lua"),
		book:    s("book.lua"),
		cancel:  s("cancel.lua"),
		release: s("release.lua"),
		list:    s("list.lua"),
		mine:    s("mine.lua"),
		stage:   s("stage.lua"),
		commit:  s("commit.lua"),
	}
}

func mustRead(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name)
	if err != nil {
		panic("booking: missing embedded script " + name) // a build mistake, caught by every test
	}
	return string(b)
}
