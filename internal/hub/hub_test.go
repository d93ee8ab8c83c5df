package hub_test

// The hub's tests. Those of its own fan-out (sockets, writers, pings,
// versions, resynchronisation) run on memStore, a line in memory; those of
// how it meets Redis (the real events and scores, presence and abandonment,
// a dropped subscription, the pre-queue's opening) are in redis_test.go, on
// a real redis-server, and those of a failover that loses events in
// failover_test.go.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/hub"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// settle bounds the wait for pushes to arrive; the product's target is 1 s.
const settle = 10 * time.Second

type bundle struct {
	ctx      context.Context
	line     line
	hub      *hub.Hub
	wsURL    string
	verifier *entrytoken.Verifier
	mem      *memStore     // the line in memory; nil on Redis
	redis    *redis.Client // the real Redis; nil on memStore
}

// line is what the tests do to the line: *queue.Store or memStore.
type line interface {
	hub.Store
	PutRoom(ctx context.Context, room string, p queue.ConfigPatch) (queue.Config, bool, error)
	Join(ctx context.Context, room string, req queue.JoinRequest) (queue.Status, bool, error)
	Tick(ctx context.Context, room string) (queue.Event, error)
	Leave(ctx context.Context, room, ticket string) error
	EndAdmission(ctx context.Context, room, ticket string) error
	DeleteRoom(ctx context.Context, room string) error
}

// config tunes setup: the hub's options, and the send buffer of the
// server's side of every connection (0: the system's).
type config struct {
	opt    hub.Options
	sndbuf int
	// serveCtx, if set, gives Serve its context from the socket's ticket.
	serveCtx func(ticket string) context.Context
	// redis runs the hub on a real redis-server instead of memStore.
	redis bool
	// rdb, if set, runs the hub on Redis through this client.
	rdb *redis.Client
}

// onRedis is the tune of the tests of how the hub meets Redis.
func onRedis(c *config) { c.redis = true }

// onClient runs the hub on Redis through rdb.
func onClient(rdb *redis.Client) func(*config) { return func(c *config) { c.rdb = rdb } }

// setup starts a hub on memStore (or Redis) and an HTTP server whose
// handler upgrades with the small buffers the hub's doc asks for and hands
// the socket to the hub (without checking the ticket, unlike the real
// handler).
func setup(t *testing.T, tune ...func(*config)) *bundle {
	t.Helper()
	signer, verifier, _ := testproc.Tokens(t)
	cfg := config{opt: hub.Options{
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Sign: func(room, subject, id string, expires time.Time) (string, error) {
			return signer.Sign(entrytoken.Claims{Room: room, Subject: subject, ID: id, ExpiresAt: expires})
		},
	}}
	for _, f := range tune {
		f(&cfg)
	}
	b := &bundle{ctx: t.Context(), verifier: verifier}
	switch {
	case cfg.rdb != nil:
		b.redis = cfg.rdb
		b.line = queue.New(b.redis, queue.Options{})
	case cfg.redis:
		b.redis = redistest.Start(t).Client()
		b.line = queue.New(b.redis, queue.Options{})
	default:
		b.mem = newMemStore()
		b.line = b.mem
	}
	h := hub.New(b.line, cfg.opt)
	b.hub = h

	upgrader := websocket.Upgrader{ReadBufferSize: 256, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if cfg.sndbuf > 0 {
			_ = conn.NetConn().(*net.TCPConn).SetWriteBuffer(cfg.sndbuf)
		}
		// Hand over and return, as Serve's doc asks, so net/http frees
		// the connection's buffers.
		ctx := context.WithoutCancel(r.Context())
		if cfg.serveCtx != nil {
			ctx = cfg.serveCtx(r.URL.Query().Get("ticket"))
		}
		h.Handoff(ctx, r.URL.Query().Get("room"), r.URL.Query().Get("ticket"), conn, nil)
	}))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(sctx))
		srv.Close()
	})
	b.wsURL = "ws" + strings.TrimPrefix(srv.URL, "http")
	return b
}

func (b *bundle) putRoom(t *testing.T, room string, p queue.ConfigPatch) {
	t.Helper()
	_, _, err := b.line.PutRoom(b.ctx, room, p)
	require.NoError(t, err)
}

// queueAll opens room in queue_all mode with n visitors in line, and
// returns their tickets in order.
func (b *bundle) queueAll(t *testing.T, room string, n int) []string {
	t.Helper()
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll)})
	return b.join(t, room, n, nil)
}

// join puts n visitors in line, in order; user(i) is the i-th's user id.
func (b *bundle) join(t *testing.T, room string, n int, user func(i int) string) []string {
	t.Helper()
	tickets := make([]string, n)
	for i := range tickets {
		req := queue.JoinRequest{}
		if user != nil {
			req.User = user(i)
		}
		st, created, err := b.line.Join(b.ctx, room, req)
		require.NoError(t, err)
		require.True(t, created)
		tickets[i] = st.Ticket
	}
	return tickets
}

// waiting creates room with patch, everyone queued, puts n visitors in its
// line and connects them; each has had its first message.
func (b *bundle) waiting(t *testing.T, room string, n int, p queue.ConfigPatch) ([]string, []*testproc.Socket) {
	t.Helper()
	p.Mode = new(queue.ModeQueueAll)
	b.putRoom(t, room, p)
	tickets := b.join(t, room, n, nil)
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })
	return tickets, clients
}

func (b *bundle) tick(t *testing.T, room string) queue.Event {
	t.Helper()
	ev, err := b.line.Tick(b.ctx, room)
	require.NoError(t, err)
	return ev
}

// truth is where the tickets really stand, read from Redis.
func (b *bundle) truth(t *testing.T, room string, tickets []string) (map[string]queue.TicketPosition, int64) {
	t.Helper()
	out := map[string]queue.TicketPosition{}
	var waiting int64
	for i := 0; i < len(tickets); i += 1000 {
		pos, err := b.line.Positions(b.ctx, room, tickets[i:min(i+1000, len(tickets))])
		require.NoError(t, err)
		for _, tp := range pos.Tickets {
			out[tp.Ticket] = tp
		}
		waiting = pos.Waiting
	}
	return out, waiting
}

// connect opens a visitor's socket, not read yet; it closes when the test
// ends.
func (b *bundle) connect(t *testing.T, room, ticket string, d *websocket.Dialer) (*websocket.Conn, error) {
	t.Helper()
	u := b.wsURL + "/?room=" + url.QueryEscape(room) + "&ticket=" + url.QueryEscape(ticket)
	conn, _, err := d.DialContext(b.ctx, u, nil)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, nil
}

// dial opens a visitor's socket and records every message until it closes.
func (b *bundle) dial(t *testing.T, room, ticket string) *testproc.Socket {
	t.Helper()
	conn, err := b.connect(t, room, ticket, websocket.DefaultDialer)
	require.NoError(t, err)
	return testproc.Record(conn)
}

// dialAll connects one client per ticket, many at a time.
func (b *bundle) dialAll(t *testing.T, room string, tickets []string) []*testproc.Socket {
	t.Helper()
	clients := make([]*testproc.Socket, len(tickets))
	errs := make([]error, len(tickets))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				conn, err := b.connect(t, room, tickets[i], websocket.DefaultDialer)
				if errs[i] = err; err == nil {
					clients[i] = testproc.Record(conn)
				}
			}
		})
	}
	for i := range tickets {
		next <- i
	}
	close(next)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return clients
}

// last is the client's newest message; the zero Message before the first.
func last(c *testproc.Socket) testproc.Message {
	m, _ := c.Last()
	return m
}

// closed waits for the socket to close and returns the close frame's code,
// or 1006 when the connection ended without one.
func closed(t *testing.T, c *testproc.Socket) int {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(settle):
		t.Fatal("socket still open")
	}
	return c.CloseCode()
}

// waitCounts waits until client i has received want[i] messages.
func waitCounts(t *testing.T, clients []*testproc.Socket, want func(i int) int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for i, c := range clients {
			if c.Count() < want(i) {
				return false
			}
		}
		return true
	}, settle, 5*time.Millisecond)
	for i, c := range clients {
		require.Equal(t, want(i), c.Count(), "client %d got more messages than expected: %v", i, c.Messages())
	}
}

// requireExact checks that the last message of every client matches where
// its ticket really stands. A socket hears only of changes to its position,
// so "waiting" and "eta_seconds" are checked only when ev, the last event,
// moved every waiting socket.
func (b *bundle) requireExact(t *testing.T, room string, tickets []string, clients []*testproc.Socket, ev *queue.Event) {
	t.Helper()
	truth, waiting := b.truth(t, room, tickets)
	for i, c := range clients {
		tp := truth[tickets[i]]
		m := last(c)
		switch tp.State {
		case queue.StateWaiting:
			require.Equal(t, "position", m.Type, "client %d: %s", i, m.Raw)
			require.Equal(t, tp.Position, m.Position, "client %d", i)
			require.Equal(t, tp.Position-1, m.Ahead, "client %d", i)
			if ev != nil {
				// Every waiting socket moved with ev, so its figures are ev's.
				require.Equal(t, waiting, m.Waiting, "client %d", i)
				var want *int64
				if d := ev.ETA(tp.Position); d != nil {
					want = new(int64(d.Round(time.Second) / time.Second))
				}
				require.Equal(t, want, m.ETASeconds, "client %d", i)
			}
		case queue.StateAdmitted:
			require.Equal(t, "admitted", m.Type, "client %d: %s", i, m.Raw)
		default:
			t.Fatalf("client %d: ticket in state %q", i, tp.State)
		}
	}
}

// nth waits for the client's n-th message (from 1) and returns it.
func nth(t *testing.T, c *testproc.Socket, n int) testproc.Message {
	t.Helper()
	require.Eventually(t, func() bool { return c.Count() >= n }, settle, time.Millisecond)
	return c.Messages()[n-1]
}

func TestAdmittedSocketsExpireWhenTheAdmissionEnds(t *testing.T) {
	b := setup(t)
	const room = "show"
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(10)})
	tickets := b.join(t, room, 3, func(i int) string { return fmt.Sprintf("u%d", i) })
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })
	b.tick(t, room)
	waitCounts(t, clients, func(int) int { return 2 })
	b.requireExact(t, room, tickets, clients, nil)

	require.NoError(t, b.line.Leave(b.ctx, room, tickets[0]))
	require.NoError(t, b.line.EndAdmission(b.ctx, room, tickets[1]))
	require.Equal(t, testproc.Message{Type: "expired", Reason: queue.ReasonLeft}, strip(nth(t, clients[0], 3)))
	require.Equal(t, websocket.CloseNormalClosure, closed(t, clients[0]))
	require.Equal(t, testproc.Message{Type: "expired", Reason: queue.ReasonAdmissionEnded}, strip(nth(t, clients[1], 3)))
	require.Equal(t, websocket.CloseNormalClosure, closed(t, clients[1]))
	require.True(t, clients[2].Open())

	// Connecting when already admitted gives the entry token at once.
	again := b.dial(t, room, tickets[2])
	m := nth(t, again, 1)
	require.Equal(t, "admitted", m.Type)
	claims, err := b.verifier.Verify(b.ctx, m.EntryToken, room)
	require.NoError(t, err)
	require.Equal(t, "u2", claims.Subject)
}

// strip keeps what a test compares whole.
func strip(m testproc.Message) testproc.Message {
	return testproc.Message{Type: m.Type, Reason: m.Reason}
}

func TestASecondSocketForTheSameTicketClosesTheFirst(t *testing.T) {
	b := setup(t)
	const room = "match"
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(1)})
	tickets := b.join(t, room, 3, nil)
	first := b.dial(t, room, tickets[2])
	require.Equal(t, int64(3), nth(t, first, 1).Position)

	second := b.dial(t, room, tickets[2])
	require.Equal(t, int64(3), nth(t, second, 1).Position)
	require.Equal(t, 4000, closed(t, first))
	require.Eventually(t, func() bool { return b.hub.Sockets() == 1 }, settle, 5*time.Millisecond)

	// The newer socket goes on receiving.
	b.tick(t, room)
	require.Equal(t, int64(2), nth(t, second, 2).Position)
}

// slowAndReader puts ahead+2 visitors in a line that queues everyone and
// connects the last two: slow, with a 1 KiB receive buffer and not read
// until the test says so, and reader, which reads and has its first
// message.
func (b *bundle) slowAndReader(t *testing.T, room string, ahead int) (tickets []string, slow *websocket.Conn, reader *testproc.Socket) {
	t.Helper()
	tickets = b.queueAll(t, room, ahead+2)
	slowDialer := *websocket.DefaultDialer
	slowDialer.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = conn.(*net.TCPConn).SetReadBuffer(1024)
		}
		return conn, err
	}
	slow, err := b.connect(t, room, tickets[ahead], &slowDialer)
	require.NoError(t, err)
	reader = b.dial(t, room, tickets[ahead+1])
	require.Equal(t, int64(ahead+2), nth(t, reader, 1).Position)
	require.Eventually(t, func() bool { return b.hub.Sockets() == 2 }, settle, 5*time.Millisecond)
	return tickets, slow, reader
}

func TestAClientThatNeverReadsIsDroppedWhileTheOthersKeepReceiving(t *testing.T) {
	t.Parallel()
	// Small socket buffers on both sides, so that a client that does not
	// read soon blocks the server's writes and its send buffer fills.
	b := setup(t, func(c *config) {
		c.opt.SendBuffer = 2
		c.sndbuf = 1024
	})
	const room, ahead = "festival", 300
	tickets, slow, reader := b.slowAndReader(t, room, ahead)

	// Everyone ahead leaves, one event each; the reading client hears of
	// every one before the next.
	dropped := -1
	for left := range ahead {
		require.NoError(t, b.line.Leave(b.ctx, room, tickets[left]))
		want := int64(ahead + 1 - left)
		require.Eventually(t, func() bool { return last(reader).Position == want }, settle, time.Millisecond)
		if dropped < 0 && b.hub.Sockets() == 1 {
			dropped = left + 1
		}
	}
	require.Positive(t, dropped, "the slow client was never dropped")
	t.Logf("slow client dropped after %d events", dropped)
	require.Len(t, reader.Messages(), ahead+1, "one message per event, none lost")
	b.requireExact(t, room, tickets[ahead+1:], []*testproc.Socket{reader}, nil)
	require.Equal(t, 1, b.hub.Sockets())

	// The slow client finds its connection cut, without a close frame.
	require.Equal(t, websocket.CloseAbnormalClosure, closed(t, testproc.Record(slow)))
}

func TestAWriteWaitingOnAClientThatDoesNotReadIsCutShortAndFreesTheWriter(t *testing.T) {
	t.Parallel()
	// One writer, and a queue long enough never to fill: only the
	// watchdog can free the writer from the slow client.
	b := setup(t, func(c *config) {
		c.opt.Writers = 1
		c.opt.SendBuffer = 1000
		c.opt.WriteTimeout = 100 * time.Millisecond
		c.sndbuf = 1024
	})
	const room, ahead = "stadium", 300
	tickets, slow, reader := b.slowAndReader(t, room, ahead)

	dropped := -1
	var slowest time.Duration
	for left := range ahead {
		require.NoError(t, b.line.Leave(b.ctx, room, tickets[left]))
		start := time.Now()
		want := int64(ahead + 1 - left)
		require.Eventually(t, func() bool { return last(reader).Position == want }, settle, time.Millisecond)
		slowest = max(slowest, time.Since(start))
		if dropped < 0 && b.hub.Sockets() == 1 {
			dropped = left + 1
		}
	}
	require.Positive(t, dropped, "the slow client was never dropped")
	t.Logf("slow client dropped after %d events; the reader's slowest message took %v", dropped, slowest)
	require.Len(t, reader.Messages(), ahead+1, "one message per event, none lost")

	require.Equal(t, websocket.CloseAbnormalClosure, closed(t, testproc.Record(slow)))
}

func TestDeletingTheRoomExpiresEverySocket(t *testing.T) {
	b := setup(t)
	const room = "cancelled"
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(1)})
	tickets := b.join(t, room, 3, nil)
	b.tick(t, room) // the first is admitted
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })
	require.Equal(t, "admitted", last(clients[0]).Type)

	require.NoError(t, b.line.DeleteRoom(b.ctx, room))
	for _, c := range clients {
		require.Equal(t, testproc.Message{Type: "expired", Reason: queue.ReasonRoomDeleted}, strip(nth(t, c, 2)))
		require.Equal(t, websocket.CloseNormalClosure, closed(t, c))
	}
	require.Eventually(t, func() bool { return b.hub.Sockets() == 0 }, settle, 5*time.Millisecond)

	// A room created again under the name is a new room to the hub.
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(1)})
	tickets = b.join(t, room, 2, nil)
	clients = b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })
	b.tick(t, room)
	waitCounts(t, clients, func(int) int { return 2 })
	b.requireExact(t, room, tickets, clients, nil)
}

func TestALostEventTriggersAResyncAndPositionsEndExact(t *testing.T) {
	b := setup(t)
	const room = "lossy"
	tickets, clients := b.waiting(t, room, 6, queue.ConfigPatch{BatchSize: new(2)})

	// The visitor at position 2 leaves, and its event (version v) never
	// arrives; the next event the hub sees is v+1. That one is a lie (it
	// says the visitor at position 5 left): a hub that trusted it would
	// expire the wrong socket; one that resyncs reads the truth.
	v := b.mem.lose(room, tickets[1])
	b.mem.deliver(room, queue.Delivery{Event: queue.Event{Version: v + 1, Kind: queue.EventLeave, Waiting: 5,
		Removed: []queue.Removal{{Ticket: tickets[4], Reason: queue.ReasonLeft}}}})

	require.Equal(t, testproc.Message{Type: "expired", Reason: queue.ReasonLeft}, strip(nth(t, clients[1], 2)))
	require.Equal(t, websocket.CloseNormalClosure, closed(t, clients[1]))
	rest := append([]*testproc.Socket{clients[0]}, clients[2:]...)
	restTickets := append([]string{tickets[0]}, tickets[2:]...)
	waitCounts(t, rest, func(i int) int { return min(i, 1) + 1 })
	b.requireExact(t, room, restTickets, rest, nil)
	require.True(t, clients[4].Open())

	// Real events go on applying on top of the resync.
	ev := b.tick(t, room)
	require.Equal(t, v+1, ev.Version, "the tick reuses the version the lie claimed")
	waitCounts(t, rest, func(i int) int { return min(i, 1) + 2 })
	b.requireExact(t, room, restTickets, rest, &ev)
}

func TestAResubscriptionResynchronisesEverySocket(t *testing.T) {
	b := setup(t)
	const room = "reconnect"
	tickets, clients := b.waiting(t, room, 4, queue.ConfigPatch{})

	// Two visitors leave while the subscription is down: both events are
	// lost, and no later event shows the gap. The reconnect alone must.
	b.mem.lose(room, tickets[0])
	b.mem.lose(room, tickets[2])
	b.mem.deliver(room, queue.Delivery{Resubscribed: true})

	for _, gone := range []*testproc.Socket{clients[0], clients[2]} {
		require.Equal(t, testproc.Message{Type: "expired", Reason: queue.ReasonLeft}, strip(nth(t, gone, 2)))
		require.Equal(t, websocket.CloseNormalClosure, closed(t, gone))
	}
	rest, restTickets := []*testproc.Socket{clients[1], clients[3]}, []string{tickets[1], tickets[3]}
	waitCounts(t, rest, func(int) int { return 2 })
	b.requireExact(t, room, restTickets, rest, nil)
}

func TestAfterAMessageThatIsNotAnEventTheNextEventIsNotTrusted(t *testing.T) {
	b := setup(t)
	const room = "garbled"
	tickets, clients := b.waiting(t, room, 3, queue.ConfigPatch{})
	pos, err := b.line.Positions(b.ctx, room, nil)
	require.NoError(t, err)

	// A garbled message may have been any event, so the next one, here a
	// lie that follows on without a gap, is checked against the truth.
	b.mem.deliver(room, queue.Delivery{Err: errors.New("not an event")})
	b.mem.deliver(room, queue.Delivery{Event: queue.Event{Version: pos.Version + 1, Kind: queue.EventLeave, Waiting: 2,
		Removed: []queue.Removal{{Ticket: tickets[1], Reason: queue.ReasonLeft}}}})
	// Real events apply again afterwards.
	require.NoError(t, b.line.Leave(b.ctx, room, tickets[0]))
	require.Equal(t, testproc.Message{Type: "expired", Reason: queue.ReasonLeft}, strip(nth(t, clients[0], 2)))
	rest := clients[1:]
	waitCounts(t, rest, func(int) int { return 2 })
	b.requireExact(t, room, tickets[1:], rest, nil)
	require.Equal(t, []int64{3, 2}, []int64{rest[1].Messages()[0].Position, rest[1].Messages()[1].Position},
		"the lie moved nobody")
}

func TestTheWaitingSocketsAreTouchedAsPresent(t *testing.T) {
	b := setup(t, func(c *config) { c.opt.TouchInterval = 50 * time.Millisecond })
	const room = "present"
	tickets, clients := b.waiting(t, room, 3, queue.ConfigPatch{BatchSize: new(1)})
	absent := b.join(t, room, 1, nil)[0]
	b.tick(t, room) // the first is admitted: no longer waiting
	waitCounts(t, clients, func(int) int { return 2 })

	admittedBefore := b.mem.touches(tickets[0])
	require.Eventually(t, func() bool { return b.mem.touches(tickets[1]) >= 3 && b.mem.touches(tickets[2]) >= 3 },
		settle, 10*time.Millisecond, "the waiting sockets are touched every interval")
	require.LessOrEqual(t, b.mem.touches(tickets[0]), admittedBefore+1, "an admitted socket is no presence")
	require.Zero(t, b.mem.touches(absent), "nor is a visitor without a socket")
}

func TestATicketOrRoomThatVanishedBeforeTheAttachIsClosed(t *testing.T) {
	b := setup(t)
	b.putRoom(t, "here", queue.ConfigPatch{})
	unknown := b.dial(t, "here", queue.NewTicket())
	require.Equal(t, 4404, closed(t, unknown))
	require.Empty(t, unknown.Messages())

	gone := b.dial(t, "gone", queue.NewTicket())
	require.Equal(t, websocket.CloseNormalClosure, closed(t, gone))
	require.Equal(t, []testproc.Message{{Type: "expired", Reason: queue.ReasonRoomDeleted}}, mapStrip(gone.Messages()))
	require.Eventually(t, func() bool { return b.hub.Sockets() == 0 }, settle, 5*time.Millisecond)
}

func mapStrip(ms []testproc.Message) []testproc.Message {
	out := make([]testproc.Message, len(ms))
	for i, m := range ms {
		out[i] = strip(m)
	}
	return out
}

func TestShutdownClosesEverySocketWithGoingAway(t *testing.T) {
	b := setup(t)
	const room = "late"
	tickets, clients := b.waiting(t, room, 3, queue.ConfigPatch{})

	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, b.hub.Shutdown(ctx))
	for _, c := range clients {
		require.Equal(t, websocket.CloseGoingAway, closed(t, c))
	}
	require.Equal(t, 0, b.hub.Sockets())

	// A socket arriving afterwards is sent elsewhere at once.
	late := b.dial(t, room, tickets[0])
	require.Equal(t, websocket.CloseGoingAway, closed(t, late))
	require.Empty(t, late.Messages())
}

func TestTheEndOfServesContextClosesItsSocketsWithGoingAway(t *testing.T) {
	t.Parallel()
	const room = "encore"
	ending, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	endingTickets := map[string]bool{}
	b := setup(t, func(c *config) {
		c.serveCtx = func(ticket string) context.Context {
			mu.Lock()
			defer mu.Unlock()
			if endingTickets[ticket] {
				return ending
			}
			return context.Background()
		}
	})
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(1)})
	tickets := b.join(t, room, 3, nil)
	mu.Lock()
	endingTickets[tickets[0]], endingTickets[tickets[1]] = true, true
	mu.Unlock()
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })

	cancel()
	require.Equal(t, websocket.CloseGoingAway, closed(t, clients[0]))
	require.Equal(t, websocket.CloseGoingAway, closed(t, clients[1]))
	require.Eventually(t, func() bool { return b.hub.Sockets() == 1 }, settle, 5*time.Millisecond)
	require.True(t, clients[2].Open())

	// A socket served with a context that has already ended closes at once.
	late := b.dial(t, room, tickets[0])
	require.Equal(t, websocket.CloseGoingAway, closed(t, late))
	// The socket whose context goes on hears of the next tick.
	b.tick(t, room)
	require.Equal(t, int64(2), nth(t, clients[2], 2).Position)
}

func TestPingsKeepAnsweringClientsAndDropSilentOnes(t *testing.T) {
	b := setup(t, func(c *config) {
		c.opt.PingInterval = 50 * time.Millisecond
		c.opt.WriteTimeout = 100 * time.Millisecond // read deadline: 2×50+100 ms
	})
	const room = "quiet"
	tickets := b.queueAll(t, room, 2)

	pings := make(chan struct{}, 100)
	answeringConn, err := b.connect(t, room, tickets[0], websocket.DefaultDialer)
	require.NoError(t, err)
	answeringConn.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return answeringConn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	answering := testproc.Record(answeringConn)

	silentConn, err := b.connect(t, room, tickets[1], websocket.DefaultDialer)
	require.NoError(t, err)
	silentConn.SetPingHandler(func(string) error { return nil })
	silent := testproc.Record(silentConn)

	for range 10 {
		select {
		case <-pings:
		case <-time.After(settle):
			t.Fatal("no ping")
		}
	}
	require.True(t, answering.Open())
	require.Equal(t, 1, answering.Count())
	require.Equal(t, websocket.CloseAbnormalClosure, closed(t, silent))
	require.Equal(t, 1, b.hub.Sockets())
}

func TestEachSocketCostsNoGoroutineOnTheServer(t *testing.T) {
	// Not parallel: the other tests' goroutines would be counted.
	b := setup(t)
	const room, n = "crowd", 300
	tickets := b.queueAll(t, room, n)
	before := runtime.NumGoroutine()
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })

	// Each socket has its client's reader in the test, and nothing on the
	// server once the attach is over; a reader per socket would make it two.
	require.Eventually(t, func() bool { return runtime.NumGoroutine()-before <= n+n/10 }, settle, 10*time.Millisecond,
		"goroutines: %d before %d sockets, %d after", before, n, runtime.NumGoroutine())
}
