package queue

import (
	"embed"
	"time"

	"github.com/waitroom/waitroom/internal/luascript"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// scripts holds one script per operation, each lib.lua, then history.lua
// (after a line setting its retention), then the operation's own file (see
// internal/luascript).
type scripts struct {
	join, joinBatch, openStep, status, statusBatch, touch, leave, tick, putRoom, deleteRoom, stats, positions, admission, challenge *luascript.Script
}

func loadScripts(historyRetention time.Duration) scripts {
	hist, err := luaFiles.ReadFile("lua/history.lua")
	if err != nil {
		panic("queue: missing embedded script history.lua") // a build mistake, caught by every test
	}
	l := luascript.NewLoader(luaFiles, "lua").Append(historyPrelude(historyRetention) + string(hist))
	return scripts{
		join:        l.Load("join.lua"),
		joinBatch:   l.Load("join_batch.lua"),
		openStep:    l.Load("open_step.lua"),
		status:      l.Load("status.lua"),
		statusBatch: l.Load("status_batch.lua"),
		touch:       l.Load("touch.lua"),
		leave:       l.Load("leave.lua"),
		tick:        l.Load("tick.lua"),
		putRoom:     l.Load("put_room.lua"),
		deleteRoom:  l.Load("delete_room.lua"),
		stats:       l.Load("stats.lua"),
		positions:   l.Load("positions.lua"),
		admission:   l.Load("admission.lua"),
		challenge:   l.Load("challenge.lua"),
	}
}

// The replies of the scripts (see each lua file's header). A refusal,
// {err = code}, is mapped to a named error by storeErr.

// statusReply is lib.lua's reply(), the answer of join and status.
type statusReply struct {
	Created            bool   `json:"created"`
	Ticket             string `json:"ticket"`
	State              State  `json:"state"`
	Position           int64  `json:"position"`
	Waiting            int64  `json:"waiting"`
	Score              int64  `json:"score,string"`
	Version            int64  `json:"version"`
	AdmissionEnds      int64  `json:"admission_ends"`
	User               string `json:"user"`
	AdmittedLastMinute int64  `json:"admitted_last_minute"`
	FirstAdmitMS       int64  `json:"first_admit_ms"`
	Now                int64  `json:"now"`
	OpensAt            int64  `json:"opens_at"`
	IntervalMS         int64  `json:"interval_ms"`
	AdmissionID        string `json:"admission_id"`
}

type putRoomReply struct {
	Created bool              `json:"created"`
	Config  map[string]string `json:"config"`
}

type deleteRoomReply struct {
	Deleted bool `json:"deleted"`
}

type leaveReply struct {
	Left bool `json:"left"`
}

type touchReply struct {
	Seen int64 `json:"seen"`
}

type positionsReply struct {
	Version int64  `json:"version"`
	EventID string `json:"event_id"`
	Waiting int64  `json:"waiting"`
	Now     int64  `json:"now"`
	Tickets []struct {
		State         State  `json:"state"`
		Position      int64  `json:"position"`
		Score         int64  `json:"score,string"`
		AdmissionEnds int64  `json:"admission_ends"`
		AdmissionID   string `json:"admission_id"`
		User          string `json:"user"`
	} `json:"tickets"`
}

type admissionReply struct {
	Ticket string `json:"ticket"`
	Ends   int64  `json:"ends"`
	User   string `json:"user"`
}

type challengeReply struct {
	PowWork int   `json:"pow_work"`
	Recent  int64 `json:"recent"`
}

type statsReply struct {
	Waiting            int64 `json:"waiting"`
	Admitted           int64 `json:"admitted"`
	AdmittedTotal      int64 `json:"admitted_total"`
	AdmittedLastMinute int64 `json:"admitted_last_minute"`
	Head               int64 `json:"head,string"`
	Now                int64 `json:"now"`
	Prequeue           int64 `json:"prequeue"`
	FirstAdmitMS       int64 `json:"first_admit_ms"`
	Version            int64 `json:"version"`
}
