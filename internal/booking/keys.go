package booking

import "github.com/waitroom/waitroom/pkg/queue"

// keys are the Redis keys of one room's seats. Every key starts with the
// room's queue.KeyPrefix, so all of a room lives on one Cluster slot. The
// order of all() is the KEYS order every script expects (see lua/lib.lua);
// the per-visitor sets wr:{room}:seats:mine:<visitor> and uploads
// wr:{room}:seats:stage:<id> are built from the same prefix inside the
// scripts.
type keys struct {
	seats string // zset: the seat map, seat id -> index in the operator's order
	taken string // hash: seat id -> hold or booking
	holds string // zset: seat id -> hold end (ms)
}

func seatKeys(room string) keys {
	p := queue.KeyPrefix(room) + "seats"
	return keys{seats: p, taken: p + ":taken", holds: p + ":holds"}
}

func (k keys) all() []string { return []string{k.seats, k.taken, k.holds} }
