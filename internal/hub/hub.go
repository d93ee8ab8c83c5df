package hub

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/pkg/queue"
)

// Options tune a Hub. Every field's zero value means its default, except Sign.
type Options struct {
	// Logger receives the hub's logs. Default slog.Default().
	Logger *slog.Logger
	// Sign makes an entry token for an admitted visitor: subject is the
	// verified user id, else the admission id; id is the admission id (jti).
	// Required.
	Sign func(room, subject, id string, expires time.Time) (string, error)
	// PingInterval is the time between pings on every socket; docs/API.md
	// promises one at least every 30 s. The pings of all sockets are spread
	// evenly over the interval. Default 25s.
	PingInterval time.Duration
	// WriteTimeout is how long a write may wait for a client that does
	// not read, its connection's send buffer full, before the client is
	// dropped: meanwhile it holds one of the Writers. Default 100ms.
	WriteTimeout time.Duration
	// Writers is how many goroutines write to all of the sockets; more
	// than the CPUs, so that some stay free while others wait for the
	// watchdog to cut off clients that do not read. Default 4 × GOMAXPROCS.
	Writers int
	// SendBuffer is how many messages wait for a socket's writer. A socket
	// whose buffer is full is dropped as slow or dead, so it never holds up
	// the others. Default 16.
	SendBuffer int
	// TouchInterval is how often the waiting visitors with an open socket are
	// recorded as present, in one batched queue.Store.Touch per room.
	// Default 15s.
	TouchInterval time.Duration
	// OnPush, if set, is called with the message type (position, prequeue,
	// admitted, expired) of every message queued for a socket (for
	// metrics). It must be quick and safe for concurrent use. Default nil.
	OnPush func(kind string)
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 100 * time.Millisecond
	}
	if o.Writers <= 0 {
		o.Writers = 4 * runtime.GOMAXPROCS(0)
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = 16
	}
	if o.TouchInterval <= 0 {
		o.TouchInterval = 15 * time.Second
	}
	return o
}

// Close codes beyond RFC 6455's; see the package doc.
const (
	closeReplaced       = 4000
	closeTicketNotFound = 4404
)

const (
	// subscribeTimeout bounds the wait for a room's subscription to be
	// confirmed and its config read.
	subscribeTimeout = 10 * time.Second
	// closeGrace is how long a socket waits for the client's answer to its
	// close frame before it drops the connection.
	closeGrace = time.Second
	// readLimit is the largest client frame; the hub reads none of them.
	readLimit = 512
)

// Store is what the hub needs of the line. *queue.Store provides it; the
// hub's tests of its own fan-out use an in-memory one.
type Store interface {
	// Subscribe delivers the room's events on out from the moment it
	// returns until Close (see queue.Store.Subscribe).
	Subscribe(ctx context.Context, room string, out chan<- queue.Delivery) (io.Closer, error)
	// Status is a ticket's standing; reading it counts as presence.
	Status(ctx context.Context, room, ticket string) (queue.Status, error)
	// Positions is the standing of many tickets at one event version.
	Positions(ctx context.Context, room string, tickets []string) (queue.Positions, error)
	Room(ctx context.Context, room string) (queue.Config, error)
	Stats(ctx context.Context, room string) (queue.Stats, error)
	// Touch records the waiting visitors with an open socket as present.
	Touch(ctx context.Context, room string, tickets []string) error
}

// Hub holds the WebSockets of one process, one per ticket, and keeps each
// visitor's standing on it up to date. It is safe for concurrent use.
type Hub struct {
	store Store
	opt   Options
	log   *slog.Logger

	// ctx ends at Shutdown: sockets close with 1001, room loops stop.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	rooms   map[string]*room
	watches map[<-chan struct{}]*ctxWatch // by the Done of Serve's contexts
	closed  atomic.Bool
	serving sync.WaitGroup // Serve calls
	loops   sync.WaitGroup // room loops; the touch, ping and watch loops; the writers

	writers writers
	wheel   wheel

	sockets atomic.Int64
}

// New returns a Hub reading rooms from store. It panics if store or
// opt.Sign is nil, a wiring mistake.
func New(store Store, opt Options) *Hub {
	if store == nil {
		panic("hub: New: nil store")
	}
	if opt.Sign == nil {
		panic("hub: New: Options.Sign is required")
	}
	opt = opt.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{store: store, opt: opt, log: opt.Logger, ctx: ctx, cancel: cancel,
		rooms: map[string]*room{}, watches: map[<-chan struct{}]*ctxWatch{}}
	h.writers.init(opt.Writers)
	h.wheel.init(opt.PingInterval)
	h.loops.Add(3 + opt.Writers)
	go h.touchLoop()
	go h.pingLoop()
	go h.watchLoop()
	for _, w := range h.writers.all {
		go h.writeLoop(w)
	}
	return h
}

// Sockets is the number of sockets being served.
func (h *Hub) Sockets() int { return int(h.sockets.Load()) }

// Serve is Handoff, returning once the socket has closed.
func (h *Hub) Serve(ctx context.Context, roomID, ticket string, conn *websocket.Conn) {
	done := make(chan struct{})
	h.Handoff(ctx, roomID, ticket, conn, func() { close(done) })
	<-done
}

// Handoff takes over an upgraded connection for (room, ticket) and returns
// at once; ended, if not nil, is called once the socket has closed. The HTTP
// handler has already checked that the ticket exists (an unknown one gets
// 404 before the upgrade); a ticket that vanished since is closed with 4404.
// The socket first gets the ticket's current state, then every change; a
// newer socket for the same ticket closes this one with 4000. ctx ending
// closes the socket with 1001.
//
// No goroutine waits on the socket (the package doc says how it is served),
// and the handler should return too: net/http keeps about 13 KiB of
// buffers per connection alive until the handler returns.
func (h *Hub) Handoff(ctx context.Context, roomID, ticket string, conn *websocket.Conn, ended func()) {
	// gorilla's Conn is done with: the hub reads and writes the frames.
	nc := conn.NetConn()
	// net/http's deadlines, if any, must not cut a socket short.
	_ = nc.SetDeadline(time.Time{})
	s := newSocket(h, roomID, ticket, nc, ended)
	s.ctxDone = ctx.Done()
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		goingAway(nc, closeGrace)
		if ended != nil {
			ended()
		}
		return
	}
	h.serving.Add(1)
	// Under h.mu, so that Shutdown, which sets closed under it and then
	// walks the wheel, finds every socket it did not refuse.
	h.wheel.add(s)
	h.mu.Unlock()
	h.sockets.Add(1)
	if s.ctxDone != nil {
		h.watch(ctx)
		if ctx.Err() != nil {
			// Its watch may have run before s was on the wheel.
			s.close(websocket.CloseGoingAway, "going away")
		}
	}
	watchRead(s)

	// The attach reads Redis, whose client grows a goroutine's stack to
	// several KiB; this goroutine ends with the attach.
	go func() {
		r, err := h.attach(ctx, s)
		switch {
		case err == nil:
		case ctx.Err() != nil || h.ctx.Err() != nil:
			s.close(websocket.CloseGoingAway, "going away")
		default:
			s.refuse(err)
		}
		s.attachDone(r)
	}()
}

// ctxWatch is the one context.AfterFunc for the sockets served with a context:
// all of them get the same one (from the HTTP layer), and an AfterFunc per
// socket would cost some 300 bytes each.
type ctxWatch struct {
	refs int
	stop func() bool
}

// watch makes sure that ctx ending closes its sockets with 1001. Each watch
// is matched by one unwatch.
func (h *Hub) watch(ctx context.Context) {
	done := ctx.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.watches[done]
	if w == nil {
		w = &ctxWatch{}
		w.stop = context.AfterFunc(ctx, func() {
			h.wheel.each(func(s *socket) {
				if s.ctxDone == done {
					s.close(websocket.CloseGoingAway, "going away")
				}
			})
		})
		h.watches[done] = w
	}
	w.refs++
}

func (h *Hub) unwatch(done <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.watches[done]
	w.refs--
	if w.refs == 0 {
		w.stop()
		delete(h.watches, done)
	}
}

// Shutdown closes every socket with close code 1001 "going away", so the page
// reconnects elsewhere, stops the subscriptions and waits until all of that
// is done or ctx ends.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed.Store(true)
	h.mu.Unlock()
	h.cancel()
	// Every socket Serve did not refuse is on the wheel by now.
	h.wheel.each(func(s *socket) { s.close(websocket.CloseGoingAway, "going away") })

	done := make(chan struct{})
	go func() {
		h.serving.Wait()
		// Every Serve has returned, so no room is acquired any more, and
		// every connection is closed: the writers have nothing left.
		h.writers.stop()
		h.loops.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errClosed reports that the socket closed while it was attaching.
var errClosed = errors.New("hub: socket closed while attaching")

// errRetry reports that an attach kept losing a race with the room's events
// or with its deletion.
var errRetry = errors.New("hub: attach kept losing the race with the room's events")

// attach puts s into its room and sends the ticket's current state.
func (h *Hub) attach(ctx context.Context, s *socket) (*room, error) {
	for range 3 {
		r := h.acquire(s.room)
		select {
		case <-r.ready:
		case <-ctx.Done():
			h.release(r)
			return nil, ctx.Err()
		case <-h.ctx.Done():
			h.release(r)
			return nil, h.ctx.Err()
		case <-s.done:
			h.release(r)
			return nil, errClosed
		}
		if r.err != nil {
			h.release(r)
			return nil, r.err
		}
		stale, err := r.register(ctx, s)
		if err != nil {
			h.release(r)
			return nil, err
		}
		if !stale {
			return r, nil
		}
		// The room was deleted under us; the next acquire starts afresh.
		h.release(r)
	}
	return nil, errRetry
}

// acquire returns the room, subscribing to it if no socket here has it yet.
// Each acquire is matched by one release.
func (h *Hub) acquire(name string) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r == nil {
		r = newRoom(h, name)
		h.rooms[name] = r
		h.loops.Add(1)
		go r.run()
	}
	r.refs++
	return r
}

// release undoes an acquire; the last one unsubscribes the room.
func (h *Hub) release(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.refs--
	if r.refs == 0 {
		if h.rooms[r.name] == r {
			delete(h.rooms, r.name)
		}
		r.cancel()
	}
}

// forget takes r out of the index so that the next socket for its name
// subscribes afresh (r failed to subscribe, or its room was deleted).
func (h *Hub) forget(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
}

// touchLoop records the waiting visitors with an open socket as present.
func (h *Hub) touchLoop() {
	defer h.loops.Done()
	t := time.NewTicker(h.opt.TouchInterval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.touchAll()
		}
	}
}

func (h *Hub) touchAll() {
	h.mu.Lock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	for _, r := range rooms {
		tickets := r.waitingTickets()
		if len(tickets) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(h.ctx, h.opt.TouchInterval)
		err := h.store.Touch(ctx, r.name, tickets)
		cancel()
		if err != nil && !errors.Is(err, queue.ErrRoomNotFound) && h.ctx.Err() == nil {
			h.log.Warn("hub: touch failed", "room", r.name, "sockets", len(tickets), "err", err)
		}
	}
}

// short is a ticket cut down for a log line: enough to correlate, not to use.
func short(ticket string) string {
	if len(ticket) > 6 {
		return ticket[:6] + "…"
	}
	return ticket
}
