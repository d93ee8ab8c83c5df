package hub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/waitroom/waitroom/internal/hub"
	"github.com/waitroom/waitroom/pkg/queue"
)

// memStore is a line in memory behind hub.Store, for the tests of the hub's
// own fan-out (centrifuge's MemoryBroker idea): rooms, a line in join order,
// admissions, and versioned events delivered to subscribers in order. It
// keeps what the hub reads, not the queue's rules: no modes, capacity,
// pre-queue, presence or rate figures (so no ETAs). The queue's own tests
// and the hub's tests on Redis cover those.
type memStore struct {
	mu      sync.Mutex
	rooms   map[string]*memRoom
	subs    map[string]map[*memSub]bool
	touched map[string]int // ticket -> how often Touch named it
	events  int            // events published, for their ids
}

var _ hub.Store = (*memStore)(nil)

type memRoom struct {
	cfg      queue.Config
	version  int64
	eventID  string     // the id of version's event
	score    int64      // the last line score handed out
	line     []memEntry // by score: the head first
	admitted map[string]memAdmission
}

type memEntry struct {
	ticket, user string
	score        int64
}

type memAdmission struct {
	id, user string
	ends     time.Time
}

func newMemStore() *memStore {
	return &memStore{rooms: map[string]*memRoom{}, subs: map[string]map[*memSub]bool{}, touched: map[string]int{}}
}

// room returns the room, or ErrInvalidRoom or ErrRoomNotFound; mu is held.
func (m *memStore) room(id string) (*memRoom, error) {
	if !queue.ValidRoomID(id) {
		return nil, queue.ErrInvalidRoom
	}
	r := m.rooms[id]
	if r == nil {
		return nil, queue.ErrRoomNotFound
	}
	return r, nil
}

// inRoom runs f on the room under mu, if there is one.
func inRoom[T any](m *memStore, room string, f func(*memRoom) (T, error)) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.room(room)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(r)
}

// publishLocked gives ev the room's next version and delivers it.
func (m *memStore) publishLocked(id string, r *memRoom, ev queue.Event) queue.Event {
	r.version++
	m.events++
	r.eventID = fmt.Sprintf("e%d", m.events)
	ev.Version, ev.ID, ev.Waiting = r.version, r.eventID, int64(len(r.line))
	m.deliverLocked(id, queue.Delivery{Event: ev})
	return ev
}

func (m *memStore) deliverLocked(room string, d queue.Delivery) {
	for s := range m.subs[room] {
		s.queue <- d // buffered beyond what any test publishes
	}
}

// ---- hub.Store ----------------------------------------------------------------

type memSub struct {
	m     *memStore
	room  string
	queue chan queue.Delivery
	done  chan struct{}
	ended chan struct{}
	once  sync.Once
}

func (m *memStore) Subscribe(_ context.Context, room string, out chan<- queue.Delivery) (io.Closer, error) {
	if !queue.ValidRoomID(room) {
		return nil, queue.ErrInvalidRoom
	}
	s := &memSub{m: m, room: room, queue: make(chan queue.Delivery, 10000), done: make(chan struct{}), ended: make(chan struct{})}
	m.mu.Lock()
	if m.subs[room] == nil {
		m.subs[room] = map[*memSub]bool{}
	}
	m.subs[room][s] = true
	m.mu.Unlock()
	go func() {
		defer close(s.ended)
		for {
			select {
			case <-s.done:
				return
			case d := <-s.queue:
				select {
				case <-s.done:
					return
				case out <- d:
				}
			}
		}
	}()
	return s, nil
}

func (s *memSub) Close() error {
	s.once.Do(func() {
		s.m.mu.Lock()
		delete(s.m.subs[s.room], s)
		s.m.mu.Unlock()
		close(s.done)
		<-s.ended
	})
	return nil
}

func (m *memStore) Status(_ context.Context, room, ticket string) (queue.Status, error) {
	return inRoom(m, room, func(r *memRoom) (queue.Status, error) {
		tp, ok := r.position(ticket)
		if !ok {
			return queue.Status{}, queue.ErrTicketNotFound
		}
		return queue.Status{Room: room, Ticket: ticket, State: tp.State, Position: tp.Position, Waiting: int64(len(r.line)),
			AdmissionEnds: tp.AdmissionEnds, User: tp.User, AdmissionID: tp.AdmissionID, Score: tp.Score,
			Version: r.version, Now: time.Now()}, nil
	})
}

// position is where ticket stands; ok is false for a ticket that is gone.
func (r *memRoom) position(ticket string) (tp queue.TicketPosition, ok bool) {
	tp.Ticket = ticket
	for i, e := range r.line {
		if e.ticket == ticket {
			tp.State, tp.Position, tp.Score, tp.User = queue.StateWaiting, int64(i+1), e.score, e.user
			return tp, true
		}
	}
	if a, ok := r.admitted[ticket]; ok {
		tp.State, tp.AdmissionEnds, tp.AdmissionID, tp.User = queue.StateAdmitted, a.ends, a.id, a.user
		return tp, true
	}
	return tp, false
}

func (m *memStore) Positions(_ context.Context, room string, tickets []string) (queue.Positions, error) {
	return inRoom(m, room, func(r *memRoom) (queue.Positions, error) {
		out := queue.Positions{Version: r.version, EventID: r.eventID, Waiting: int64(len(r.line)), Now: time.Now()}
		for _, t := range tickets {
			tp, _ := r.position(t)
			out.Tickets = append(out.Tickets, tp)
		}
		return out, nil
	})
}

func (m *memStore) Room(_ context.Context, room string) (queue.Config, error) {
	return inRoom(m, room, func(r *memRoom) (queue.Config, error) { return r.cfg, nil })
}

func (m *memStore) Stats(_ context.Context, room string) (queue.Stats, error) {
	return inRoom(m, room, func(r *memRoom) (queue.Stats, error) {
		return queue.Stats{Waiting: int64(len(r.line)), Admitted: int64(len(r.admitted)), Version: r.version, Now: time.Now()}, nil
	})
}

func (m *memStore) Touch(_ context.Context, room string, tickets []string) error {
	_, err := inRoom(m, room, func(*memRoom) (struct{}, error) {
		for _, t := range tickets {
			m.touched[t]++
		}
		return struct{}{}, nil
	})
	return err
}

// ---- what a test does to the line, as on *queue.Store --------------------------

func (m *memStore) PutRoom(_ context.Context, room string, p queue.ConfigPatch) (queue.Config, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.room(room)
	created := errors.Is(err, queue.ErrRoomNotFound)
	switch {
	case created:
		r = &memRoom{cfg: queue.DefaultConfig(room), admitted: map[string]memAdmission{}}
		m.rooms[room] = r
	case err != nil:
		return queue.Config{}, false, err
	}
	r.cfg = p.Apply(r.cfg)
	m.publishLocked(room, r, queue.Event{Kind: queue.EventConfig})
	return r.cfg, created, nil
}

func (m *memStore) Join(ctx context.Context, room string, req queue.JoinRequest) (queue.Status, bool, error) {
	ticket, err := inRoom(m, room, func(r *memRoom) (string, error) {
		r.score++
		e := memEntry{ticket: queue.NewTicket(), user: req.User, score: r.score}
		r.line = append(r.line, e)
		return e.ticket, nil
	})
	if err != nil {
		return queue.Status{}, false, err
	}
	st, err := m.Status(ctx, room, ticket)
	return st, err == nil, err
}

// Tick admits the head of the line, BatchSize at most.
func (m *memStore) Tick(_ context.Context, room string) (queue.Event, error) {
	return inRoom(m, room, func(r *memRoom) (queue.Event, error) { return m.tickLocked(room, r), nil })
}

func (m *memStore) tickLocked(room string, r *memRoom) queue.Event {
	n := min(r.cfg.BatchSize, len(r.line))
	if n == 0 {
		return queue.Event{Kind: queue.EventTick, Version: r.version}
	}
	ends := time.Now().Add(time.Duration(r.cfg.SessionTTLS) * time.Second).Truncate(time.Millisecond)
	ev := queue.Event{Kind: queue.EventTick, AdmissionEndsMS: ends.UnixMilli()}
	for _, e := range r.line[:n] {
		a := memAdmission{id: queue.NewAdmissionID(), user: e.user, ends: ends}
		r.admitted[e.ticket] = a
		ev.Admitted = append(ev.Admitted, queue.Admission{Ticket: e.ticket, User: e.user, ID: a.id, EndsMS: ends.UnixMilli()})
	}
	r.line = r.line[n:]
	return m.publishLocked(room, r, ev)
}

func (m *memStore) Leave(_ context.Context, room, ticket string) error {
	return m.leave(room, ticket, queue.ReasonLeft, true)
}

func (m *memStore) EndAdmission(_ context.Context, room, ticket string) error {
	return m.leave(room, ticket, queue.ReasonAdmissionEnded, true)
}

func (m *memStore) leave(room, ticket, reason string, publish bool) error {
	_, err := inRoom(m, room, func(r *memRoom) (struct{}, error) {
		return struct{}{}, m.leaveLocked(room, r, ticket, reason, publish)
	})
	return err
}

func (m *memStore) leaveLocked(room string, r *memRoom, ticket, reason string, publish bool) error {
	ev := queue.Event{Kind: queue.EventLeave}
	if _, ok := r.admitted[ticket]; ok {
		delete(r.admitted, ticket)
		ev.Ended = []queue.Ending{{Ticket: ticket, Reason: reason}}
	}
	for i, e := range r.line {
		if e.ticket == ticket {
			r.line = append(r.line[:i:i], r.line[i+1:]...)
			ev.Removed = []queue.Removal{{Ticket: ticket, Score: e.score, Reason: reason}}
		}
	}
	if ev.Ended == nil && ev.Removed == nil {
		return queue.ErrTicketNotFound
	}
	if publish {
		m.publishLocked(room, r, ev)
	} else {
		r.version++
	}
	return nil
}

func (m *memStore) DeleteRoom(_ context.Context, room string) error {
	_, err := inRoom(m, room, func(r *memRoom) (struct{}, error) {
		delete(m.rooms, room)
		m.publishLocked(room, r, queue.Event{Kind: queue.EventDeleted})
		return struct{}{}, nil
	})
	return err
}

// ---- faults -------------------------------------------------------------------

// lose makes ticket leave the line without its event reaching anyone, as if
// it were lost in transit, and returns the version it would have had.
func (m *memStore) lose(room, ticket string) int64 {
	if err := m.leave(room, ticket, queue.ReasonLeft, false); err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rooms[room].version
}

// snapshot copies the room as it stands, for failover.
func (m *memStore) snapshot(room string) memRoom {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := *m.rooms[room]
	r.line = append([]memEntry(nil), r.line...)
	r.admitted = maps.Clone(r.admitted)
	return r
}

// failover puts the room back as it stood at snap, as a failover to a
// replica that had not received what came after does, telling no
// subscriber: their subscriptions outlive it (a proxy in front of the
// store). The next event takes the version after snap's again.
func (m *memStore) failover(room string, snap memRoom) {
	m.mu.Lock()
	defer m.mu.Unlock()
	*m.rooms[room] = snap
}

// deliver hands d to the room's subscribers as it is: an event that changes
// nothing here, a reconnect, a message that is not an event.
func (m *memStore) deliver(room string, d queue.Delivery) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deliverLocked(room, d)
}

// touches is how often Touch named ticket.
func (m *memStore) touches(ticket string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.touched[ticket]
}
