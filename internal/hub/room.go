package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/pkg/queue"
)

const (
	// positionsBatch bounds one Positions call of a resynchronisation, so a
	// room with 100 000 sockets never holds Redis for long.
	positionsBatch = 1000
	// storeTimeout bounds the loop's reads (config, positions).
	storeTimeout = 10 * time.Second
	// registerAttempts bounds the status reads of one attach that each
	// lose the race with an event (rare: it needs an event to be published
	// and applied between the read and the registration).
	registerAttempts = 10
)

// errSign reports that an entry token could not be made.
var errSign = errors.New("hub: sign entry token")

// room is one room's subscription and the sockets attached to it here. Its
// run goroutine alone applies the room's events, in order.
type room struct {
	hub  *Hub
	name string
	refs int // attached or attaching sockets; guarded by hub.mu

	ctx    context.Context // ends when the last socket goes, or at Shutdown
	cancel context.CancelFunc
	ready  chan struct{} // closed once subscribed, or failed with err
	err    error
	events chan queue.Delivery // from the subscription, to run
	// behind asks run to check whether the store went back: an attach
	// keeps reading a standing older than the applied version.
	behind chan struct{}

	mu      sync.Mutex
	sockets map[string]*socket // by ticket: one socket per ticket
	applied int64              // the newest event version the loop has applied
	// appliedID is the id of applied's event ("" when not known): the
	// store's event of that version under another id means the store went
	// back (see wentBackLocked).
	appliedID string
	cfg       queue.Config
	deleted   bool

	// Owned by the run goroutine.
	rate  queue.Event // the rate figures of the last tick, for ETAs after other events
	stale bool        // a resync failed: the next event resynchronises everything
}

func newRoom(h *Hub, name string) *room {
	ctx, cancel := context.WithCancel(h.ctx)
	return &room{hub: h, name: name, ctx: ctx, cancel: cancel, ready: make(chan struct{}),
		events: make(chan queue.Delivery), behind: make(chan struct{}, 1), sockets: map[string]*socket{}}
}

// run subscribes, then applies the room's events until the room is released.
func (r *room) run() {
	defer r.hub.loops.Done()
	sub, err := r.subscribe()
	if err != nil {
		r.err = err
		close(r.ready)
		r.hub.forget(r)
		if !errors.Is(err, queue.ErrRoomNotFound) && r.ctx.Err() == nil {
			r.hub.log.Warn("hub: cannot subscribe to room", "room", r.name, "err", err)
		}
		return
	}
	defer sub.Close()
	close(r.ready)

	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.behind:
			r.checkBehind()
		case d := <-r.events:
			switch {
			case d.Resubscribed:
				r.hub.log.Info("hub: room subscription reconnected; resynchronising", "room", r.name)
				r.resync(nil, nil)
			case d.Err != nil:
				r.hub.log.Warn("hub: bad room event", "room", r.name, "err", d.Err)
				r.stale = true
			default:
				r.handle(d.Event)
			}
		}
	}
}

// subscribe subscribes to the room's events, which from then on all reach
// the loop, then reads the config and the version the room is at.
func (r *room) subscribe() (io.Closer, error) {
	st := r.hub.store
	ctx, cancel := context.WithTimeout(r.ctx, subscribeTimeout)
	defer cancel()
	sub, err := st.Subscribe(ctx, r.name, r.events)
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	cfg, err := st.Room(ctx, r.name)
	if err != nil {
		_ = sub.Close()
		return nil, err
	}
	base, err := st.Positions(ctx, r.name, nil)
	if err != nil {
		_ = sub.Close()
		return nil, err
	}
	r.mu.Lock()
	r.cfg = cfg
	r.applied, r.appliedID = base.Version, base.EventID
	r.mu.Unlock()
	return sub, nil
}

// register reads the socket's standing, adds it to the room (closing an
// older socket of the same ticket) and queues its first message. stale
// reports that the room was deleted meanwhile: attach again.
func (r *room) register(ctx context.Context, s *socket) (stale bool, err error) {
	for attempt := range registerAttempts {
		if attempt > 1 {
			// Losing the race twice is rare; a store that went back in a
			// failover (behind the version applied) does it every time
			// until run notices, so ask it to look, and give it the time.
			select {
			case r.behind <- struct{}{}:
			default:
			}
			select {
			case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		st, err := r.hub.store.Status(ctx, r.name, s.ticket)
		if err != nil {
			return false, err
		}
		var token string
		if st.State == queue.StateAdmitted {
			token, err = r.hub.opt.Sign(r.name, queue.Subject(st.User, st.AdmissionID), st.AdmissionID, st.AdmissionEnds)
			if err != nil {
				r.hub.log.Error("hub: cannot sign entry token", "room", r.name, "ticket", short(s.ticket), "err", err)
				return false, fmt.Errorf("%w: %w", errSign, err)
			}
		}

		r.mu.Lock()
		if r.deleted {
			r.mu.Unlock()
			return true, nil
		}
		if st.Version < r.applied {
			// An event was applied between the read and now, without s.
			r.mu.Unlock()
			continue
		}
		if old := r.sockets[s.ticket]; old != nil {
			old.close(closeReplaced, "replaced by a newer connection")
		}
		r.sockets[s.ticket] = s
		s.state, s.position, s.score, s.version = st.State, st.Position, st.Score, st.Version
		s.admission = st.AdmissionID
		switch {
		case r.hub.closed.Load():
			// Shutdown began while s was attaching.
			s.close(websocket.CloseGoingAway, "going away")
		case st.State == queue.StateWaiting:
			s.push(kindPosition, positionMsg(st.Position, st.Waiting, st.ETA))
		case st.State == queue.StatePrequeue:
			s.push(kindPrequeue, prequeueMsg(st.Waiting, st.OpensAt))
		case st.State == queue.StateAdmitted:
			s.push(kindAdmitted, admittedMsg(token, st.AdmissionEnds, r.cfg.TargetURL))
		}
		r.mu.Unlock()
		return false, nil
	}
	return false, errRetry
}

// remove takes s out of the room, unless a newer socket took its place.
func (r *room) remove(s *socket) {
	r.mu.Lock()
	if r.sockets[s.ticket] == s {
		delete(r.sockets, s.ticket)
	}
	r.mu.Unlock()
}

// waitingTickets are the tickets of the sockets waiting in line or in the
// pre-queue: an open socket is presence for both.
func (r *room) waitingTickets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deleted {
		return nil
	}
	out := make([]string, 0, len(r.sockets))
	for t, s := range r.sockets {
		if s.state == queue.StateWaiting || s.state == queue.StatePrequeue {
			out = append(out, t)
		}
	}
	return out
}

// fate is what an event did to one ticket: admitted it, or ended its place
// or admission for reason.
type fate struct {
	adm    *queue.Admission
	reason string
}

// fatesOf maps the tickets an event names, built once per event.
func fatesOf(ev queue.Event) map[string]fate {
	n := len(ev.Admitted) + len(ev.Removed) + len(ev.Ended)
	if n == 0 {
		return nil
	}
	m := make(map[string]fate, n)
	for i := range ev.Admitted {
		m[ev.Admitted[i].Ticket] = fate{adm: &ev.Admitted[i]}
	}
	for _, x := range ev.Removed {
		m[x.Ticket] = fate{reason: x.Reason}
	}
	for _, x := range ev.Ended {
		m[x.Ticket] = fate{reason: x.Reason}
	}
	return m
}

// admission is an admitted message still to be signed and sent.
type admission struct {
	s       *socket
	subject string
	id      string // the admission id: the token's jti
	ends    time.Time
}

// handle applies one event of the room's channel.
func (r *room) handle(ev queue.Event) {
	switch ev.Kind {
	case queue.EventDeleted:
		r.deleteAll()
		return
	case queue.EventConfig:
		r.refreshConfig()
	case queue.EventTick:
		if ev.NowMS > 0 {
			r.rate = queue.Event{LastMinute: ev.LastMinute, FirstAdmitMS: ev.FirstAdmitMS, NowMS: ev.NowMS, IntervalMS: ev.IntervalMS}
		}
	}
	fates := fatesOf(ev)

	r.mu.Lock()
	if r.deleted {
		r.mu.Unlock()
		return
	}
	// back: the version applied last, under another id. A failover lost
	// events applied here, and this is the new history's event of that
	// version. An older version is left to the sockets' versions, which skip
	// it: it was published before a read that every socket has had (a
	// resynchronisation's, or the subscription's first), so it is news to
	// none. Had the store gone back by more than one event, an older event
	// may be of the new history, which cannot be told here: that history's
	// event of the applied version, or a resynchronisation, tells it.
	back := ev.Version == r.applied && ev.ID != "" && r.appliedID != "" && ev.ID != r.appliedID
	gap := r.stale || ev.Version > r.applied+1
	if back {
		r.wentBackToLocked(ev.Version, ev.ID)
	} else if ev.Version > r.applied {
		r.applied, r.appliedID = ev.Version, ev.ID
	}
	if gap || back {
		r.mu.Unlock()
		if !back {
			r.hub.log.Info("hub: room events skipped a version; resynchronising", "room", r.name, "version", ev.Version)
		}
		r.resync(nil, fates)
		return
	}
	adm := r.applyLocked(ev, fates)
	r.mu.Unlock()
	r.admit(adm)

	if ev.Kind == queue.EventOpen {
		// The pre-queue entered the line in a random order that the event
		// does not carry: read the new positions.
		r.resync(func(s *socket) bool { return s.state == queue.StatePrequeue }, nil)
	}
}

// applyLocked applies ev to every socket that has not seen it, and returns
// the admissions to sign.
func (r *room) applyLocked(ev queue.Event, fates map[string]fate) []admission {
	shift := ev.Shift()
	rate := ev
	if rate.NowMS == 0 {
		rate = r.rate // leave and other events carry no rate figures
	}
	var adm []admission
	for t, s := range r.sockets {
		if s.version >= ev.Version {
			continue
		}
		s.version = ev.Version
		if f, ok := fates[t]; ok {
			if f.adm != nil {
				s.state, s.position = queue.StateAdmitted, 0
				s.admission = f.adm.ID
				adm = append(adm, admission{s, queue.Subject(f.adm.User, f.adm.ID), f.adm.ID, f.adm.Ends()})
			} else {
				r.expireLocked(s, f.reason)
			}
			continue
		}
		if s.state != queue.StateWaiting || shift.Empty() {
			continue
		}
		if d := shift.Below(s.score); d > 0 {
			s.position -= d
			s.push(kindPosition, positionMsg(s.position, ev.Waiting, rate.ETA(s.position)))
		}
	}
	return adm
}

// resync reads the standing of the room's sockets that match (all of them
// when match is nil) with batched Positions calls, and pushes what changed.
// fates gives the reasons of tickets that are gone, when an event said them.
func (r *room) resync(match func(*socket) bool, fates map[string]fate) {
	r.mu.Lock()
	if r.deleted {
		r.mu.Unlock()
		return
	}
	tickets := make([]string, 0, len(r.sockets))
	for t, s := range r.sockets {
		if match == nil || match(s) {
			tickets = append(tickets, t)
		}
	}
	r.mu.Unlock()
	if match == nil {
		r.stale = false
	}

	for first := true; len(tickets) > 0; first = false {
		n := min(len(tickets), positionsBatch)
		ctx, cancel := context.WithTimeout(r.ctx, storeTimeout)
		pos, err := r.hub.store.Positions(ctx, r.name, tickets[:n])
		cancel()
		tickets = tickets[n:]
		if errors.Is(err, queue.ErrRoomNotFound) {
			r.deleteAll()
			return
		}
		if err != nil {
			if r.ctx.Err() == nil {
				r.hub.log.Warn("hub: resynchronising failed; retrying at the next event", "room", r.name, "err", err)
			}
			r.stale = true
			return
		}
		r.mu.Lock()
		if r.wentBackLocked(pos) {
			r.wentBackToLocked(pos.Version, pos.EventID)
			if match != nil || !first {
				// Sockets that this read does not cover may have been
				// told of the lost events too: read them all.
				r.mu.Unlock()
				r.resync(nil, fates)
				return
			}
		}
		var adm []admission
		for _, tp := range pos.Tickets {
			s := r.sockets[tp.Ticket]
			// A socket that attached after this read knows better.
			if s == nil || s.version > pos.Version {
				continue
			}
			s.version = pos.Version
			adm = r.settleLocked(s, tp, pos.Waiting, fates, adm)
		}
		r.mu.Unlock()
		r.admit(adm)
	}
}

// checkBehind reads the room's version and resynchronises every socket if
// the store went back: an attach asked, reading standings older than the
// applied version while the subscription brought no event to tell.
func (r *room) checkBehind() {
	ctx, cancel := context.WithTimeout(r.ctx, storeTimeout)
	pos, err := r.hub.store.Positions(ctx, r.name, nil)
	cancel()
	if err != nil {
		return // the attach fails and the page dials again
	}
	r.mu.Lock()
	back := r.wentBackLocked(pos)
	if back {
		r.wentBackToLocked(pos.Version, pos.EventID)
	}
	r.mu.Unlock()
	if back {
		r.resync(nil, nil)
	}
}

// wentBackLocked reports whether the store, read at pos, is behind the
// version the loop applied or has another event under it: a failover lost
// events the loop applied (a read never sees an older version than an event
// the store published before it).
func (r *room) wentBackLocked(pos queue.Positions) bool {
	if pos.Version < r.applied {
		return true
	}
	return pos.Version == r.applied && pos.EventID != "" && r.appliedID != "" && pos.EventID != r.appliedID
}

// wentBackToLocked takes the store's version and id as applied after it
// went back, and forgets which events the sockets have seen: those versions
// may be of events it no longer has, so every socket takes the standing of
// the next read, whatever its version. The caller resynchronises.
func (r *room) wentBackToLocked(version int64, id string) {
	r.applied, r.appliedID = version, id
	for _, s := range r.sockets {
		s.version = 0
	}
	r.hub.log.Warn("hub: the store went back to an earlier version (a failover lost events); resynchronising",
		"room", r.name, "version", version)
}

// settleLocked sets s to the standing tp read from Redis, pushing what
// changed.
func (r *room) settleLocked(s *socket, tp queue.TicketPosition, waiting int64, fates map[string]fate, adm []admission) []admission {
	switch tp.State {
	case queue.StateWaiting:
		changed := s.state != queue.StateWaiting || s.position != tp.Position
		s.state, s.position, s.score, s.admission = queue.StateWaiting, tp.Position, tp.Score, ""
		if changed {
			s.push(kindPosition, positionMsg(tp.Position, waiting, r.rate.ETA(tp.Position)))
		}
	case queue.StateAdmitted:
		// Admitted again under another id: the store lost the admission
		// the socket was told of in a failover.
		if s.state != queue.StateAdmitted || s.admission != tp.AdmissionID {
			s.state, s.position, s.admission = queue.StateAdmitted, 0, tp.AdmissionID
			adm = append(adm, admission{s, queue.Subject(tp.User, tp.AdmissionID), tp.AdmissionID, tp.AdmissionEnds})
		}
	case queue.StatePrequeue:
		s.state, s.admission = queue.StatePrequeue, ""
	default:
		// Gone. The lost event knew why; without it, a place in line most
		// likely ended by leaving and an admission by running out.
		reason := queue.ReasonLeft
		if s.state == queue.StateAdmitted {
			reason = queue.ReasonAdmissionEnded
		}
		if f, ok := fates[s.ticket]; ok && f.reason != "" {
			reason = f.reason
		}
		r.expireLocked(s, reason)
	}
	return adm
}

// expireLocked sends s its "expired" message and closes it.
func (r *room) expireLocked(s *socket, reason string) {
	if r.sockets[s.ticket] == s {
		delete(r.sockets, s.ticket)
	}
	s.expire(reason)
}

// admit signs and sends the entry tokens of new admissions, outside the
// room's lock: signing a batch takes a while.
func (r *room) admit(adm []admission) {
	if len(adm) == 0 {
		return
	}
	r.mu.Lock()
	target := r.cfg.TargetURL
	r.mu.Unlock()
	for _, a := range adm {
		token, err := r.hub.opt.Sign(r.name, a.subject, a.id, a.ends)
		if err != nil {
			r.hub.log.Error("hub: cannot sign entry token", "room", r.name, "ticket", short(a.s.ticket), "err", err)
			// The page reconnects and gets its token on connect.
			a.s.close(websocket.CloseInternalServerErr, "internal error")
			continue
		}
		a.s.push(kindAdmitted, admittedMsg(token, a.ends, target))
	}
}

// deleteAll tells every socket the room is gone and closes them; the room
// is forgotten so that a room created again under the name starts afresh.
func (r *room) deleteAll() {
	r.mu.Lock()
	if r.deleted {
		r.mu.Unlock()
		return
	}
	r.deleted = true
	for t, s := range r.sockets {
		delete(r.sockets, t)
		s.expire(queue.ReasonRoomDeleted)
	}
	r.mu.Unlock()
	r.hub.forget(r)
}

// refreshConfig rereads the config after an operator changed it. Sockets in
// the pre-queue hear of a new opening time at once.
func (r *room) refreshConfig() {
	ctx, cancel := context.WithTimeout(r.ctx, storeTimeout)
	defer cancel()
	cfg, err := r.hub.store.Room(ctx, r.name)
	if err != nil {
		if !errors.Is(err, queue.ErrRoomNotFound) && r.ctx.Err() == nil {
			r.hub.log.Warn("hub: cannot read room config", "room", r.name, "err", err)
		}
		return
	}
	r.mu.Lock()
	moved := !sameTime(r.cfg.OpensAt, cfg.OpensAt)
	r.cfg = cfg
	r.mu.Unlock()
	if !moved {
		return
	}
	stats, err := r.hub.store.Stats(ctx, r.name)
	if err != nil {
		return
	}
	r.mu.Lock()
	for _, s := range r.sockets {
		if s.state == queue.StatePrequeue {
			s.push(kindPrequeue, prequeueMsg(stats.Prequeue, cfg.OpensAt))
		}
	}
	r.mu.Unlock()
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
