package booking

import (
	"context"
	"sync"
	"time"
)

// maxSnapshotRooms bounds the rooms whose snapshots a store keeps.
const maxSnapshotRooms = 10000

// snapshots keeps the latest seat snapshot of each room for Seats, when
// Options.SeatsMaxAge allows answering from one. Concurrent misses of one
// room share one read.
type snapshots struct {
	maxAge time.Duration

	mu    sync.Mutex
	rooms map[string]*roomSnapshot
}

type roomSnapshot struct {
	snap *snapshot
	// gen counts the changes made through the store; a read that started
	// before a change must not be kept.
	gen uint64
	// reading is closed when the read in flight ends; nil when none runs.
	reading chan struct{}
}

func newSnapshots(maxAge time.Duration) *snapshots {
	return &snapshots{maxAge: maxAge, rooms: map[string]*roomSnapshot{}}
}

// get returns a snapshot of room no older than maxAge, reading one with
// read when there is none.
func (ss *snapshots) get(ctx context.Context, room string, read func(context.Context, string) (*snapshot, error)) (*snapshot, error) {
	for {
		ss.mu.Lock()
		rs := ss.rooms[room]
		if rs == nil {
			if len(ss.rooms) >= maxSnapshotRooms {
				clear(ss.rooms)
			}
			rs = &roomSnapshot{}
			ss.rooms[room] = rs
		}
		if rs.snap != nil && time.Since(rs.snap.read) < ss.maxAge {
			snap := rs.snap
			ss.mu.Unlock()
			return snap, nil
		}
		if wait := rs.reading; wait != nil {
			ss.mu.Unlock()
			select {
			case <-wait:
				continue // it may have been dropped meanwhile: check again
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		rs.reading = done
		gen := rs.gen
		ss.mu.Unlock()

		snap, err := read(ctx, room)

		ss.mu.Lock()
		if err == nil && rs.gen == gen {
			rs.snap = snap
		}
		rs.reading = nil
		close(done)
		ss.mu.Unlock()
		return snap, err
	}
}

// drop forgets room's snapshot after a change, so the next Seats reads
// Redis.
func (ss *snapshots) drop(room string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if rs := ss.rooms[room]; rs != nil {
		rs.snap = nil
		rs.gen++
	}
}
