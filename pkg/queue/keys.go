package queue

// keys are the Redis keys of one room. Every key carries the hash tag {room},
// so all of a room lives on one Cluster slot and one script may touch them
// all. The order of all() is the KEYS order that every script expects (see
// lua/lib.lua); the line's generations wr:{room}:line:<id> and the event
// channel wr:{room}:events are built from the same prefix inside the scripts.
type keys struct {
	cfg     string // hash: the room config
	pre     string // zset: pre-queue, ticket -> random key (the shuffle)
	adm     string // zset: admitted set, ticket -> admission end (ms)
	gens    string // zset: line generations, id -> generation end (ms)
	clock   string // string: last line score handed out (hybrid clock)
	ver     string // string: event version, +1 per published event
	users   string // hash: ticket -> external user id
	byuser  string // hash: external user id -> ticket
	rate    string // hash: unix second -> admissions in that second
	stats   string // hash: admitted_total, first_admit_ms, genseq
	aid     string // hash: admitted ticket -> admission id (entry token jti)
	byaid   string // hash: admission id -> ticket
	preseen string // zset: pre-queued ticket -> last seen (ms)
	channel string // pub/sub channel of the room's events
}

// KeyPrefix is the prefix of every Redis key of the room, "wr:{room}:", with
// its hash tag: the keys of other packages (the pacers' fences, the seats)
// start with it too, so a room lives on one Cluster slot.
func KeyPrefix(room string) string { return "wr:{" + room + "}:" }

func roomKeys(room string) keys {
	p := KeyPrefix(room)
	return keys{
		cfg:     p + "cfg",
		pre:     p + "pre",
		adm:     p + "adm",
		gens:    p + "gens",
		clock:   p + "clock",
		ver:     p + "ver",
		users:   p + "users",
		byuser:  p + "byuser",
		rate:    p + "rate",
		stats:   p + "stats",
		aid:     p + "aid",
		byaid:   p + "byaid",
		preseen: p + "preseen",
		channel: p + "events",
	}
}

func (k keys) all() []string {
	return []string{k.cfg, k.pre, k.adm, k.gens, k.clock, k.ver, k.users, k.byuser, k.rate, k.stats, k.aid, k.byaid, k.preseen}
}

// roomsKey is the index of room ids. It has no hash tag: it lists rooms
// across slots and is written next to, not inside, a room's scripts.
const roomsKey = "wr:rooms"

// Channel is the pub/sub channel on which a room's events are published.
func Channel(room string) string { return roomKeys(room).channel }
