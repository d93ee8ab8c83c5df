package queue

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Event kinds published on a room's channel.
const (
	EventTick    = "tick"    // a tick admitted, abandoned or ended someone
	EventLeave   = "leave"   // a visitor left or an admission was ended early
	EventOpen    = "open"    // the pre-queue entered the line
	EventConfig  = "config"  // the operator changed the config
	EventDeleted = "deleted" // the room is gone
)

// Reasons a place or an admission ends, as the WebSocket "expired" message
// gives them.
const (
	ReasonLeft           = "left"
	ReasonAbandoned      = "abandoned"
	ReasonAdmissionEnded = "admission_ended"
	ReasonRoomDeleted    = "room_deleted"
	// ReasonNoShow: admitted, but the entry was not used at the site within
	// arrive_within_s.
	ReasonNoShow = "no_show"
)

// Event is what changed in a room, as the scripts publish it on
// Channel(room). Version grows by one per published event, so a subscriber
// that sees a gap knows it missed one and must resynchronise. ID tells
// apart two events of one version: after a failover to a replica that had
// not received the last events, other events take their versions again
// (Positions gives the id of the store's version).
type Event struct {
	Version int64 `json:"v"`
	// ID is Redis's clock in µs, after a tick's random id; "" from a
	// store older than ids.
	ID       string      `json:"id,omitempty"`
	Kind     string      `json:"k"`
	Admitted []Admission `json:"a,omitempty"`
	Removed  []Removal   `json:"r,omitempty"`
	Ended    []Ending    `json:"e,omitempty"`
	// AdmissionEndsMS is when this tick's admissions end (all alike).
	AdmissionEndsMS int64 `json:"x,omitempty"`
	// Waiting is the size of the line after the change.
	Waiting int64 `json:"w"`
	// Rate figures, on tick events: admissions in the last minute, the
	// first admission, Redis's time and the interval, all in ms.
	LastMinute   int64 `json:"m,omitempty"`
	FirstAdmitMS int64 `json:"f,omitempty"`
	NowMS        int64 `json:"n,omitempty"`
	IntervalMS   int64 `json:"i,omitempty"`
}

// ETA estimates the wait of the visitor at position after a tick event; nil
// on other events or before the room has admitted anyone.
func (e Event) ETA(position int64) *time.Duration {
	return eta(position, e.LastMinute, e.FirstAdmitMS, e.NowMS, e.IntervalMS)
}

// Admission is a visitor moved from the line into the admitted set. A tick
// always admits the lowest scores, so every visitor still waiting was behind
// all of them: their scores need not travel (see Shift).
type Admission struct {
	Ticket string `json:"t"`
	User   string `json:"u,omitempty"`
	// ID is the admission id, the entry token's jti.
	ID string `json:"j"`
	// EndsMS is when the admission ends (the event's x, copied by ParseEvent).
	EndsMS int64 `json:"-"`
}

// Ends is when the admission ends.
func (a Admission) Ends() time.Time { return time.UnixMilli(a.EndsMS).UTC() }

// Removal is a visitor who left the line without being admitted. Score is 0
// for one who left the pre-queue (who had no position).
type Removal struct {
	Ticket string `json:"t"`
	Score  int64  `json:"s,string,omitempty"`
	Reason string `json:"r"`
}

// Ending is an admission that ended (time up, left, checkout).
type Ending struct {
	Ticket string `json:"t"`
	Reason string `json:"r"`
}

// ParseEvent decodes a payload received on a room's channel.
func ParseEvent(payload []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return Event{}, fmt.Errorf("parse event: %w", err)
	}
	for i := range e.Admitted {
		e.Admitted[i].EndsMS = e.AdmissionEndsMS
	}
	return e, nil
}

// Shift is what an event took out of the line ahead of a waiting visitor:
// every admission (they are always the head) and the removed scores, sorted.
// A waiting visitor's new position is the old one less Below(their score):
// the line only ever loses entries or gains them at the back, so no Redis
// call is needed per visitor.
type Shift struct {
	admitted int64
	removed  []int64
}

// Shift returns the event's Shift, built once per event and shared by all
// the sockets it updates.
func (e Event) Shift() Shift {
	s := Shift{admitted: int64(len(e.Admitted)), removed: make([]int64, 0, len(e.Removed))}
	for _, r := range e.Removed {
		if r.Score > 0 {
			s.removed = append(s.removed, r.Score)
		}
	}
	sort.Slice(s.removed, func(i, j int) bool { return s.removed[i] < s.removed[j] })
	return s
}

// Empty reports whether the event moves nobody.
func (s Shift) Empty() bool { return s.admitted == 0 && len(s.removed) == 0 }

// Below counts the entries taken out ahead of a waiting visitor with score.
func (s Shift) Below(score int64) int64 {
	return s.admitted + int64(sort.Search(len(s.removed), func(i int) bool { return s.removed[i] >= score }))
}
