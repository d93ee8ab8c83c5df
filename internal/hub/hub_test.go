package hub_test

import (
	"context"
	"encoding/json"
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
	redis    *redis.Client
	store    *queue.Store
	hub      *hub.Hub
	wsURL    string
	verifier *entrytoken.Verifier
}

// config tunes setup: the hub's options, and the send buffer of the
// server's side of every connection (0: the system's).
type config struct {
	opt    hub.Options
	sndbuf int
	// serveCtx, if set, gives Serve its context from the socket's ticket.
	serveCtx func(ticket string) context.Context
}

// setup starts Redis, a hub and an HTTP server whose handler upgrades with
// the small buffers the hub's doc asks for and hands the socket to the hub
// (without checking the ticket, unlike the real handler).
func setup(t *testing.T, tune ...func(*config)) *bundle {
	t.Helper()
	ctx := t.Context()
	rdb := redistest.Start(t).Client()
	store := queue.New(rdb, queue.Options{})

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
	h := hub.New(store, cfg.opt)

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
		go h.Serve(ctx, r.URL.Query().Get("room"), r.URL.Query().Get("ticket"), conn)
	}))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(sctx))
		srv.Close()
	})
	return &bundle{ctx: ctx, redis: rdb, store: store, hub: h, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http"), verifier: verifier}
}

func (b *bundle) putRoom(t *testing.T, room string, p queue.ConfigPatch) {
	t.Helper()
	_, _, err := b.store.PutRoom(b.ctx, room, p)
	require.NoError(t, err)
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
		st, created, err := b.store.Join(b.ctx, room, req)
		require.NoError(t, err)
		require.True(t, created)
		tickets[i] = st.Ticket
	}
	return tickets
}

func (b *bundle) tick(t *testing.T, room string) queue.Event {
	t.Helper()
	ev, err := b.store.Tick(b.ctx, room)
	require.NoError(t, err)
	return ev
}

// truth is where the tickets really stand, read from Redis.
func (b *bundle) truth(t *testing.T, room string, tickets []string) (map[string]queue.TicketPosition, int64) {
	t.Helper()
	out := map[string]queue.TicketPosition{}
	var waiting int64
	for i := 0; i < len(tickets); i += 1000 {
		pos, err := b.store.Positions(b.ctx, room, tickets[i:min(i+1000, len(tickets))])
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

func TestEveryVisitorSeesTheirExactPositionOnConnectAndAfterEveryTickUntilAdmitted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const room, n, batch = "concert", 1000, 100
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(batch), Capacity: new(0)})
	user := func(i int) string {
		if i%3 == 0 {
			return fmt.Sprintf("user-%d", i)
		}
		return ""
	}
	tickets := b.join(t, room, n, user)
	clients := b.dialAll(t, room, tickets)
	require.Eventually(t, func() bool { return b.hub.Sockets() == n }, settle, 5*time.Millisecond)

	// On connect: the position, before anyone was admitted (no ETA yet).
	waitCounts(t, clients, func(int) int { return 1 })
	b.requireExact(t, room, tickets, clients, &queue.Event{})
	var shape map[string]any
	require.NoError(t, json.Unmarshal([]byte(last(clients[41]).Raw), &shape))
	require.Equal(t, map[string]any{"type": "position", "position": 42.0, "ahead": 41.0, "waiting": float64(n), "eta_seconds": nil}, shape)

	// Every tick admits the head of the line and moves everyone else up by
	// exactly one message; the admitted get their entry token.
	for k := 1; k <= n/batch; k++ {
		ev := b.tick(t, room)
		require.Len(t, ev.Admitted, batch)
		start := time.Now()
		waitCounts(t, clients, func(i int) int { return 1 + min(k, i/batch+1) })
		t.Logf("tick %d: %d sockets updated in %v", k, n-(k-1)*batch, time.Since(start))
		b.requireExact(t, room, tickets, clients, &ev)
	}

	truth, _ := b.truth(t, room, tickets)
	for i, c := range clients {
		msgs := c.Messages()
		for j, m := range msgs[:len(msgs)-1] {
			require.Equal(t, int64(i+1-j*batch), m.Position, "client %d, message %d", i, j)
		}
		adm := msgs[len(msgs)-1]
		require.Equal(t, "admitted", adm.Type)
		require.Equal(t, "/booking/"+room, adm.TargetURL)
		ends := truth[tickets[i]].AdmissionEnds
		require.Equal(t, ends.Format(time.RFC3339), adm.ExpiresAt)
		claims, err := b.verifier.Verify(b.ctx, adm.EntryToken, room)
		require.NoError(t, err, "client %d", i)
		aid := truth[tickets[i]].AdmissionID
		require.NotEmpty(t, aid)
		require.Equal(t, aid, claims.ID, "jti is the admission id")
		want := user(i)
		if want == "" {
			want = aid
		}
		require.Equal(t, want, claims.Subject, "sub is the user, else the admission id")
		require.NotEqual(t, tickets[i], claims.Subject, "sub is never the ticket")
		require.Equal(t, ends.Unix(), claims.ExpiresAt.Unix())
		require.True(t, c.Open(), "an admitted socket stays open until the admission ends")
	}
}

func TestLeavesAndAbandonsInTheMiddleShiftOnlyThoseBehind(t *testing.T) {
	t.Parallel()
	// Open sockets count as presence: the hub touches their tickets, so
	// only the visitors without a socket are abandoned.
	b := setup(t, func(c *config) { c.opt.TouchInterval = 100 * time.Millisecond })
	const room = "gig"
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), Paused: new(true), AbandonAfterS: new(1)})
	tickets := b.join(t, room, 10, nil)
	absent := map[int]bool{3: true, 6: true}
	var present []string
	for i, tk := range tickets {
		if !absent[i] {
			present = append(present, tk)
		}
	}
	clients := b.dialAll(t, room, present) // positions 1, 2, 3, 5, 6, 8, 9, 10
	waitCounts(t, clients, func(int) int { return 1 })
	b.requireExact(t, room, present, clients, nil)

	// The visitor at position 2 leaves: those in front hear nothing, those
	// behind move up one, and the leaver's socket expires and closes.
	require.NoError(t, b.store.Leave(b.ctx, room, present[1]))
	require.Equal(t, queue.ReasonLeft, nth(t, clients[1], 2).Reason)
	require.Equal(t, websocket.CloseNormalClosure, closed(t, clients[1]))
	rest := append([]*testproc.Socket{clients[0]}, clients[2:]...)
	restTickets := append([]string{present[0]}, present[2:]...)
	waitCounts(t, rest, func(i int) int { return min(i, 1) + 1 })
	b.requireExact(t, room, restTickets, rest, nil)

	// The two without a socket are abandoned by a tick (after 2-3 s): only
	// those behind each move up.
	var ev queue.Event
	require.Eventually(t, func() bool {
		ev = b.tick(t, room)
		return len(ev.Removed) == 2
	}, 10*time.Second, 100*time.Millisecond)
	for _, r := range ev.Removed {
		require.Equal(t, queue.ReasonAbandoned, r.Reason)
		require.Contains(t, []string{tickets[3], tickets[6]}, r.Ticket)
	}
	// Positions are now 1, 2 (was 3), 3 (was 5), 4 (was 6), 5 (8), 6 (9), 7 (10):
	// the first two heard nothing more.
	waitCounts(t, rest, func(i int) int { return min(i, 1) + min(max(i-1, 0), 1) + 1 })
	b.requireExact(t, room, restTickets, rest, nil)
	for i, c := range rest {
		require.Equal(t, int64(i+1), last(c).Position)
	}
	require.Equal(t, int64(2), last(rest[1]).Position)
	require.Len(t, rest[1].Messages(), 2, "position 3 → 2 on the leave, nothing on the abandons behind it")
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

	require.NoError(t, b.store.Leave(b.ctx, room, tickets[0]))
	require.NoError(t, b.store.EndAdmission(b.ctx, room, tickets[1]))
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
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll)})
	tickets = b.join(t, room, ahead+2, nil)
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
		require.NoError(t, b.store.Leave(b.ctx, room, tickets[left]))
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
		require.NoError(t, b.store.Leave(b.ctx, room, tickets[left]))
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

	require.NoError(t, b.store.DeleteRoom(b.ctx, room))
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

// loseLeave makes the ticket leave the line the way leave.lua does, but
// without publishing the event: the event is lost in transit. It knows the
// store's key layout (lua/lib.lua), which no public call can bypass.
var loseLeave = redis.NewScript(`
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  redis.call('ZREM', ARGV[1] .. 'line:' .. id, ARGV[2])
end
return redis.call('INCR', KEYS[2])
`)

func TestALostEventTriggersAResyncAndPositionsEndExact(t *testing.T) {
	b := setup(t)
	const room = "lossy"
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(2)})
	tickets := b.join(t, room, 6, nil)
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })

	// The visitor at position 2 leaves, and its event (version v+1) never
	// arrives; the next event the hub sees is v+2. That one is a lie (it
	// says the visitor at position 5 left): a hub that trusted it would
	// expire the wrong socket; one that resyncs reads the truth.
	prefix := "wr:{" + room + "}:"
	v, err := loseLeave.Run(b.ctx, b.redis, []string{prefix + "gens", prefix + "ver"}, prefix, tickets[1]).Int64()
	require.NoError(t, err)
	fake, err := json.Marshal(queue.Event{Version: v + 1, Kind: queue.EventLeave, Waiting: 5,
		Removed: []queue.Removal{{Ticket: tickets[4], Reason: queue.ReasonLeft}}})
	require.NoError(t, err)
	require.NoError(t, b.redis.Publish(b.ctx, queue.Channel(room), fake).Err())

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

func TestADroppedSubscriptionIsRestoredAndPositionsEndExact(t *testing.T) {
	b := setup(t)
	const room = "flaky"
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll)})
	tickets := b.join(t, room, 5, nil)
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })

	// Redis drops the hub's subscription; a visitor leaves at about the
	// same time, so its event may be lost. Either the event or the
	// resynchronisation after the reconnect moves those behind, once.
	require.NoError(t, b.redis.ClientKillByFilter(b.ctx, "TYPE", "pubsub").Err())
	require.NoError(t, b.store.Leave(b.ctx, room, tickets[0]))
	rest, restTickets := clients[1:], tickets[1:]
	waitCounts(t, rest, func(int) int { return 2 })
	b.requireExact(t, room, restTickets, rest, nil)

	// Events flow again.
	require.NoError(t, b.store.Leave(b.ctx, room, tickets[1]))
	rest, restTickets = clients[2:], tickets[2:]
	waitCounts(t, rest, func(int) int { return 3 })
	b.requireExact(t, room, restTickets, rest, nil)
}

func TestThePrequeueHearsOfAMovedOpeningAndGetsPositionsWhenTheRoomOpens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const room = "launch"
	opens := time.Now().Truncate(time.Second).Add(3 * time.Second).UTC()
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), BatchSize: new(2),
		OpensAtSet: true, OpensAt: new(opens.Add(time.Hour))})
	tickets := b.join(t, room, 5, nil)
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })
	for _, c := range clients {
		m := last(c)
		require.Equal(t, "prequeue", m.Type)
		require.Equal(t, int64(5), m.Waiting)
		require.Equal(t, opens.Add(time.Hour).Format(time.RFC3339), *m.OpensAt)
	}

	b.putRoom(t, room, queue.ConfigPatch{OpensAtSet: true, OpensAt: &opens})
	waitCounts(t, clients, func(int) int { return 2 })
	for _, c := range clients {
		require.Equal(t, opens.Format(time.RFC3339), *last(c).OpensAt)
	}

	// The first tick after opens_at moves the pre-queue into the line in a
	// random order (one "open" event) and admits two (a "tick" event).
	time.Sleep(time.Until(opens) + 50*time.Millisecond)
	ev := b.tick(t, room)
	require.Len(t, ev.Admitted, 2)
	waitCounts(t, clients, func(int) int { return 3 })
	b.requireExact(t, room, tickets, clients, nil)
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
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll)})
	tickets := b.join(t, room, 3, nil)
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })

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
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll)})
	tickets := b.join(t, room, 2, nil)

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

func TestEachSocketCostsOneGoroutineOnTheServer(t *testing.T) {
	// Not parallel: the other tests' goroutines would be counted.
	b := setup(t)
	const room, n = "crowd", 300
	b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll)})
	tickets := b.join(t, room, n, nil)
	before := runtime.NumGoroutine()
	clients := b.dialAll(t, room, tickets)
	waitCounts(t, clients, func(int) int { return 1 })

	// Each socket has its reader here and its client's reader in the
	// test; a writer goroutine per socket would make it three.
	require.Eventually(t, func() bool { return runtime.NumGoroutine()-before <= 2*n+n/10 }, settle, 10*time.Millisecond,
		"goroutines: %d before %d sockets, %d after", before, n, runtime.NumGoroutine())
}
