package booking

import (
	"embed"

	"github.com/waitroom/waitroom/internal/luascript"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// scripts holds one script per operation, each lib.lua followed by the
// operation's own file (see internal/luascript).
type scripts struct {
	hold, book, cancel, release, list, mine, stage, commit *luascript.Script
}

func loadScripts() scripts {
	l := luascript.NewLoader(luaFiles, "lua")
	return scripts{
		hold:    l.Load("hold.lua"),
		book:    l.Load("book.lua"),
		cancel:  l.Load("cancel.lua"),
		release: l.Load("release.lua"),
		list:    l.Load("list.lua"),
		mine:    l.Load("mine.lua"),
		stage:   l.Load("stage.lua"),
		commit:  l.Load("commit.lua"),
	}
}

// The replies of the scripts (see each lua file's header). A refusal,
// {err = code}, is mapped to a named error by storeErr.

type holdReply struct {
	Created bool  `json:"created"`
	Ends    int64 `json:"ends"`
}

type bookReply struct {
	Created bool   `json:"created"`
	Booking string `json:"booking"`
}

type cancelReply struct {
	Freed string `json:"freed"` // "booking" or "hold"
}

type releaseReply struct {
	Released int `json:"released"`
}

type stageReply struct {
	Staged int `json:"staged"`
}

type listReply struct {
	Now   int64             `json:"now"`
	Seats []string          `json:"seats"`
	Taken map[string]string `json:"taken"`
}

type mineReply struct {
	Now   int64 `json:"now"`
	Seats []struct {
		Seat  string `json:"seat"`
		Taken string `json:"taken"`
		Index int64  `json:"index"`
	} `json:"seats"`
}
