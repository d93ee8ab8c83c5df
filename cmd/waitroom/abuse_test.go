package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

// Abuse from one address: the per-address limits (429 with Retry-After,
// before Redis is asked, configurable and off at 0), CORS only when
// configured, and sockets whose clients misbehave (frames they should not
// send, floods, never reading) are cut off alone, without slowing the
// others.

func TestTheAbuseLimitsAreSettingsThatZeroTurnsOff(t *testing.T) {
	noEnv := func(string) string { return "" }
	// limits are the settings this test is about, to compare in one go.
	type limits struct {
		joinRate, statusRate, socketRate, bookingRate           float64
		joinBurst, statusBurst, socketBurst, perAddr, bookBurst int
	}
	limitsOf := func(c Config) limits {
		return limits{c.JoinRate, c.StatusRate, c.SocketRate, c.BookingRate,
			c.JoinBurst, c.StatusBurst, c.SocketBurst, c.SocketsPerAddr, c.BookingBurst}
	}
	cfg, err := parseConfig(nil, noEnv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, limits{50, 20, 50, 20, 500, 200, 500, 2000, 100}, limitsOf(cfg))
	require.Empty(t, cfg.CORSOrigins, "no CORS by default")

	env := map[string]string{
		"WAITROOM_STATUS_RATE": "5", "WAITROOM_STATUS_BURST": "7", "WAITROOM_SOCKET_RATE": "2.5",
		"WAITROOM_SOCKET_BURST": "9", "WAITROOM_SOCKETS_PER_ADDR": "11",
		"WAITROOM_CORS_ORIGINS": "https://shop.example.com, http://localhost:3000/",
	}
	cfg, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, limits{50, 5, 2.5, 20, 500, 7, 9, 11, 100}, limitsOf(cfg))
	require.Equal(t, []string{"https://shop.example.com", "http://localhost:3000"}, cfg.CORSOrigins)

	// As the load scripts run it: every limit off, flags over the environment.
	cfg, err = parseConfig([]string{"-join-rate", "0", "-status-rate", "0", "-socket-rate", "0", "-sockets-per-addr", "0"},
		func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, limits{0, 0, 0, 20, 500, 7, 9, 0, 100}, limitsOf(cfg))

	for _, args := range [][]string{
		{"-status-rate", "-1"}, {"-status-burst", "0"}, {"-socket-rate", "x"}, {"-socket-burst", "-2"},
		{"-sockets-per-addr", "-1"}, {"-join-rate", "NaN"}, {"-status-rate", "+Inf"}, {"-booking-rate", "-1"},
		{"-booking-rate", "NaN"}, {"-booking-burst", "0"}, {"-cors-origins", "*"}, {"-cors-origins", "https://*.example.com"},
		{"-cors-origins", "shop.example.com"}, {"-cors-origins", "https://shop.example.com/path"}, {"-cors-origins", "ftp://x"},
	} {
		_, err := parseConfig(args, noEnv, io.Discard)
		require.Error(t, err, "%v", args)
		require.Contains(t, err.Error(), strings.TrimPrefix(args[0], "-"))
	}

	var help strings.Builder
	printHelp(&help)
	for _, v := range []string{"WAITROOM_STATUS_RATE", "WAITROOM_STATUS_BURST", "WAITROOM_SOCKET_RATE", "WAITROOM_SOCKET_BURST",
		"WAITROOM_SOCKETS_PER_ADDR", "WAITROOM_CORS_ORIGINS", "BOOKING_RATE", "BOOKING_BURST"} {
		require.Contains(t, help.String(), v)
	}
}

// requireRetryAfter checks a 429 rate_limited with a Retry-After of 1 to max
// seconds.
func requireRetryAfter(t *testing.T, r *response, max int) {
	t.Helper()
	requireAPIError(t, r, http.StatusTooManyRequests, "rate_limited")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", r.Header.Get("Retry-After"))
	require.GreaterOrEqual(t, secs, 1)
	require.LessOrEqual(t, secs, max)
}

func TestStatusReadsOverTheRateAre429WithRetryAfterAndChangeNothing(t *testing.T) {
	b := setupWith(t, options{configure: func(c *Config) { c.StatusRate, c.StatusBurst = 1, 3 }})
	b.putRoom("sale", map[string]any{"mode": "queue_all"})
	ticket := b.joinTicket("sale")

	require.Equal(t, http.StatusOK, b.get("/api/rooms/sale/tickets/"+ticket).Status)
	require.Equal(t, http.StatusOK, b.get("/api/rooms/sale").Status)
	require.Equal(t, http.StatusOK, b.get("/api/rooms/sale/tickets/"+ticket).Status)
	b.unchanged(func() {
		// A status read counts the visitor as present: a refused one must
		// not, so it never reached Redis.
		requireRetryAfter(t, b.get("/api/rooms/sale/tickets/"+ticket), 1)
		requireRetryAfter(t, b.get("/api/rooms/sale"), 1)
	})
	// Joins and sockets have buckets of their own.
	require.Equal(t, http.StatusCreated, b.join("sale", nil).Status)
	requirePositionMsg(t, readMsg(t, b.mustDial("sale", ticket, false)), 1, 2)

	time.Sleep(time.Second)
	require.Equal(t, http.StatusOK, b.get("/api/rooms/sale/tickets/"+ticket).Status, "a token came back after Retry-After")
}

func TestLeavesShareTheStatusBucketAndOverItAre429AndTheTicketKeepsItsPlace(t *testing.T) {
	b := setupWith(t, options{configure: func(c *Config) {
		c.StatusRate, c.StatusBurst = 1, 2
		c.TrustProxy = true // to come from two addresses of one /64
	}})
	b.putRoom("sale", map[string]any{"mode": "queue_all"})
	first, second := b.joinTicket("sale"), b.joinTicket("sale")
	leave := func(ip, ticket string) *response {
		return b.send(request{method: http.MethodDelete, path: "/api/rooms/sale/tickets/" + ticket, header: forwardedFor(ip)})
	}
	const mine, neighbour = "2001:db8:7:7::1", "2001:db8:7:7::2" // one /64

	require.Equal(t, http.StatusOK, b.send(request{method: http.MethodGet, path: "/api/rooms/sale/tickets/" + first,
		header: forwardedFor(mine)}).Status)
	require.Equal(t, http.StatusNoContent, leave(mine, second).Status)
	b.unchanged(func() {
		requireRetryAfter(t, leave(mine, first), 1)
		requireRetryAfter(t, leave(neighbour, first), 1)
		requireRetryAfter(t, leave(neighbour, "no-such-ticket"), 1)
	})
	m := jsonObject(t, b.get("/api/rooms/sale/tickets/"+first))
	require.Equal(t, "waiting", m["state"], "the refused leave left the ticket in line")
	require.EqualValues(t, 1, num(t, m["position"]))

	time.Sleep(time.Second)
	require.Equal(t, http.StatusNoContent, leave(neighbour, first).Status, "a token came back after Retry-After")
	requireAPIError(t, b.get("/api/rooms/sale/tickets/"+first), http.StatusNotFound, "ticket_not_found")
}

func TestSocketUpgradesOverTheRateAre429WithRetryAfterAndChangeNothing(t *testing.T) {
	b := setupWith(t, options{configure: func(c *Config) { c.SocketRate, c.SocketBurst = 0.5, 2 }})
	b.putRoom("sale", map[string]any{"mode": "queue_all"})
	ticket := b.joinTicket("sale")

	requirePositionMsg(t, readMsg(t, b.mustDial("sale", ticket, false)), 1, 1)
	requirePositionMsg(t, readMsg(t, b.mustDial("sale", ticket, true)), 1, 1)
	b.unchanged(func() {
		_, resp, err := b.dial("sale", ticket, false)
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		requireRetryAfter(t, &response{Status: resp.StatusCode, Header: resp.Header, Body: raw, resp: resp}, 2)
	})
	require.Equal(t, http.StatusOK, b.get("/api/rooms/sale/tickets/"+ticket).Status, "status reads are not socket upgrades")
}

func TestOneAddressHoldsAtMostSocketsPerAddrSocketsAtOnce(t *testing.T) {
	const most = 5
	b := setupWith(t, options{configure: func(c *Config) { c.SocketsPerAddr = most }})
	b.putRoom("sale", map[string]any{"mode": "queue_all"})
	tickets := make([]string, most+1)
	for i := range tickets {
		tickets[i] = b.joinTicket("sale")
	}
	conns := make([]*websocket.Conn, most)
	for i := range conns {
		conns[i] = b.mustDial("sale", tickets[i], i%2 == 0)
		readMsg(t, conns[i])
	}
	b.unchanged(func() {
		_, resp, err := b.dial("sale", tickets[most], false)
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		requireRetryAfter(t, &response{Status: resp.StatusCode, Header: resp.Header, Body: raw, resp: resp}, 10)
	})
	// Replacing a socket of the same ticket still needs a free place.
	_, resp, err := b.dial("sale", tickets[0], false)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	_ = resp.Body.Close()

	// A socket that closes gives its place back once the hub lets it go.
	require.NoError(t, conns[1].Close())
	require.Eventually(t, func() bool {
		c, resp, err := b.dial("sale", tickets[most], false)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			return false
		}
		t.Cleanup(func() { _ = c.Close() })
		requirePositionMsg(t, readMsg(t, c), most+1, most+1)
		return true
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, most, socketsOpen(t, b))
}

// socketsOpen reads waitroom_ws_sockets_open from /metrics.
func socketsOpen(t *testing.T, b *bundle) int {
	t.Helper()
	r := b.get("/metrics")
	require.Equal(t, http.StatusOK, r.Status)
	for line := range strings.Lines(string(r.Body)) {
		if v, ok := strings.CutPrefix(line, "waitroom_ws_sockets_open "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			require.NoError(t, err)
			return int(n)
		}
	}
	t.Fatal("no waitroom_ws_sockets_open in /metrics")
	return 0
}

func TestNoCORSHeaderIsSentUnlessConfigured(t *testing.T) {
	b := setupSale(t)
	ticket := b.joinTicket("sale")
	origin := http.Header{"Origin": {"https://shop.example.com"}, "Access-Control-Request-Method": {"POST"}}
	for _, method := range []string{http.MethodOptions, http.MethodGet, http.MethodPost} {
		for _, path := range []string{"/api/rooms/sale/tickets", "/api/rooms/sale/tickets/" + ticket, "/api/rooms/sale",
			"/rooms/sale", "/admin", "/api/admin/rooms", "/.well-known/jwks.json", "/static/room.js"} {
			r := b.send(request{method: method, path: path, header: origin})
			for k := range r.Header {
				require.False(t, strings.HasPrefix(k, "Access-Control-"), "%s %s answered %s", method, path, k)
			}
		}
	}
	// And a page of another origin cannot open a socket.
	_, resp, err := dialer.Dial("ws://"+b.addr+"/api/rooms/sale/ws?ticket="+ticket, http.Header{"Origin": {"https://shop.example.com"}})
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	_ = resp.Body.Close()
}

func TestCORSOriginsOpenTheVisitorsAPIToExactlyThoseOrigins(t *testing.T) {
	const shop = "https://shop.example.com"
	b := setupWith(t, options{configure: func(c *Config) { c.CORSOrigins = []string{shop} }})
	b.putRoom("sale", map[string]any{"mode": "queue_all"})

	pre := b.send(request{method: http.MethodOptions, path: "/api/rooms/sale/tickets",
		header: http.Header{"Origin": {shop}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type"}}})
	require.Equal(t, http.StatusNoContent, pre.Status)
	require.Equal(t, shop, pre.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, pre.Header.Get("Access-Control-Allow-Methods"), "POST")

	r := b.send(request{method: http.MethodPost, path: "/api/rooms/sale/tickets", header: http.Header{"Origin": {shop}}})
	require.Equal(t, http.StatusCreated, r.Status)
	require.Equal(t, shop, r.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, r.Header.Get("Access-Control-Allow-Credentials"), "the body carries the ticket: no credentials")
	ticket := jsonObject(t, r)["ticket"].(string)

	ws, resp, err := dialer.Dial("ws://"+b.addr+"/api/rooms/sale/ws?ticket="+ticket, http.Header{"Origin": {shop}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	requirePositionMsg(t, readMsg(t, ws), 1, 1)

	for _, c := range []struct{ path, origin string }{
		{"/api/rooms/sale/tickets", "https://evil.example.com"},
		{"/api/admin/rooms", shop},
		{"/rooms/sale", shop},
	} {
		r := b.send(request{method: http.MethodGet, path: c.path, header: http.Header{"Origin": {c.origin}}})
		require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"), "%s from %s", c.path, c.origin)
	}
	_, resp, err = dialer.Dial("ws://"+b.addr+"/api/rooms/sale/ws?ticket="+ticket, http.Header{"Origin": {"https://evil.example.com"}})
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	_ = resp.Body.Close()
}

// ---- client frames ----------------------------------------------------------

// The hub reads no client frame: it discards them, up to 512 bytes each. A
// bigger one closes that socket with 1009, a broken frame with 1002; the
// room's other sockets never notice.
func TestClientFramesCloseOnlyTheirOwnSocket(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "queue_all", "batch_size": 1})
	b.joinTicket("sale") // the head of the line, admitted by the tick below

	type client struct {
		name  string
		abuse func(c *websocket.Conn) error
		close int // the close code it gets; 0: it stays open
	}
	frame := func(typ int, size int) func(c *websocket.Conn) error {
		return func(c *websocket.Conn) error { return c.WriteMessage(typ, []byte(strings.Repeat("x", size))) }
	}
	raw := func(b []byte) func(c *websocket.Conn) error {
		return func(c *websocket.Conn) error { _, err := c.NetConn().Write(b); return err }
	}
	clients := []client{
		{"bystander", func(*websocket.Conn) error { return nil }, 0},
		{"a text frame that is not JSON", frame(websocket.TextMessage, 100), 0},
		{"a binary frame of 512 bytes", frame(websocket.BinaryMessage, 512), 0},
		{"a ping", func(c *websocket.Conn) error {
			return c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
		}, 0},
		{"a text frame of 513 bytes", frame(websocket.TextMessage, 513), websocket.CloseMessageTooBig},
		{"a binary frame of 1 MiB", frame(websocket.BinaryMessage, 1<<20), websocket.CloseMessageTooBig},
		{"a frame that says it holds 2^63-1 bytes", raw([]byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}), websocket.CloseMessageTooBig},
		{"garbage bytes", raw([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}), websocket.CloseProtocolError},
		{"an unmasked frame", raw([]byte{0x81, 0x02, 'h', 'i'}), websocket.CloseProtocolError},
		{"a continuation without a start", raw([]byte{0x80, 0x82, 0, 0, 0, 0, 'h', 'i'}), websocket.CloseProtocolError},
		{"a fragmented ping", raw([]byte{0x09, 0x80, 0, 0, 0, 0}), websocket.CloseProtocolError},
		{"an HTTP request on the socket", raw([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), websocket.CloseProtocolError},
	}
	conns := make([]*websocket.Conn, len(clients))
	for i, c := range clients {
		conns[i] = dialWholeFrames(t, b, "sale", b.joinTicket("sale"))
		requirePositionMsg(t, readMsg(t, conns[i]), int64(i+2), int64(i+2))
		err := c.abuse(conns[i])
		if c.close == 0 {
			require.NoError(t, err, c.name)
		} // else the server may have closed before the write ended
	}
	for i, c := range clients {
		if c.close != 0 {
			t.Run(c.name, func(t *testing.T) { requireClosed(t, conns[i], c.close) })
		}
	}
	waiting := int64(len(clients))
	b.tick("sale")
	for i, c := range clients {
		if c.close == 0 {
			requirePositionMsg(t, readMsg(t, conns[i]), int64(i+1), waiting)
		}
	}
}

// dialWholeFrames opens a socket whose client writes each message as one
// frame, up to 64 KiB: gorilla/websocket fragments a message bigger than
// its write buffer, and the hub's limit is on the bytes it reads per frame
// sequence, not on whole messages.
func dialWholeFrames(t *testing.T, b *bundle, room, ticket string) *websocket.Conn {
	t.Helper()
	d := *dialer
	d.WriteBufferSize = 64 << 10
	c, resp, err := d.Dial("ws://"+b.addr+"/api/rooms/"+room+"/ws?ticket="+ticket, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ---- floods -----------------------------------------------------------------

// dialNeverReader opens a socket for a client that never reads: a tiny
// receive buffer and segment size, so that the server's send buffer for it
// fills after a few hundred messages, as over a dead or hostile link.
func dialNeverReader(t *testing.T, b *bundle, room, ticket string) (*websocket.Conn, net.Conn) {
	t.Helper()
	var raw net.Conn
	d := &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   256,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) {
					serr = errors.Join(
						syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1),
						syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536))
				})
				return errors.Join(err, serr)
			}}
			c, err := nd.DialContext(ctx, network, addr)
			raw = c
			return c, err
		},
	}
	ws, resp, err := d.Dial("ws://"+b.addr+"/api/rooms/"+room+"/ws?ticket="+ticket, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return ws, raw
}

// latencies summarises push latencies.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func (l latencies) String() string {
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", len(l), l.pct(0.50).Round(100*time.Microsecond),
		l.pct(0.99).Round(100*time.Microsecond), l.pct(1).Round(100*time.Microsecond))
}

// TestFloodingAndNeverReadingClientsAreCutOffWithoutSlowingTheOthers: 200
// visitors wait with their sockets while three clients misbehave: one
// floods frames as fast as it can, up to 1 KiB (cut off with 1009 at the
// first over 512 bytes); one floods frames under the limit throughout (the
// hub discards them; it is cut off with 1009 when it finally sends a big
// one); one never reads (cut off once the server's send buffer for it is
// full). Meanwhile the room ticks, and every tick moves everyone up one
// place: the 200 sockets must each get their exact position after every
// tick, with a bounded delay from the tick to the message.
func TestFloodingAndNeverReadingClientsAreCutOffWithoutSlowingTheOthers(t *testing.T) {
	const (
		normal   = 200
		maxTicks = 4000
		baseline = 30 // ticks before the abuse starts
		tickGap  = 5 * time.Millisecond
		maxLag   = 6
	)
	requireOpenFiles(t, 2*normal+500)
	b := setup(t)
	b.putRoom("flood", map[string]any{"mode": "queue_all", "batch_size": 1, "capacity": 0})

	// The line: maxTicks visitors without a socket, admitted one per tick,
	// then the 200, then the three abusers.
	require.NoError(t, parallel(maxTicks+10, 16, func(int) error {
		_, _, err := b.store.Join(b.ctx, "flood", queue.JoinRequest{})
		return err
	}))
	head := int64(maxTicks + 10)
	tickets := make([]string, normal+3)
	for i := range tickets {
		st, _, err := b.store.Join(b.ctx, "flood", queue.JoinRequest{})
		require.NoError(t, err)
		require.EqualValues(t, head+int64(i)+1, st.Position)
		tickets[i] = st.Ticket
	}
	total := head + int64(len(tickets))

	conns := b.dialAll("flood", tickets[:normal], 16)
	for i, c := range conns {
		requirePositionMsg(t, readMsg(t, c), head+int64(i)+1, total)
	}

	// Every normal socket's reader checks each message against the truth
	// of the tick it answers, and notes when it came.
	var (
		tickStart [maxTicks + 1]atomic.Int64 // unix nanos when tick k was called
		lastTick  [normal]atomic.Int64       // the last tick each socket heard of
		mu        sync.Mutex
		lat       = map[bool]latencies{} // by "during the abuse"
		abuseFrom atomic.Int64
		firstErr  error
		readers   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	abuseFrom.Store(1 << 62)
	for i, c := range conns {
		readers.Go(func() {
			start := head + int64(i) + 1
			for {
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, raw, err := c.ReadMessage()
				got := time.Now()
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						fail(fmt.Errorf("socket %d: %w", i, err))
					}
					return
				}
				var m struct {
					Type                     string
					Position, Ahead, Waiting int64
				}
				if err := json.Unmarshal(raw, &m); err != nil || m.Type != "position" {
					fail(fmt.Errorf("socket %d: %s", i, raw))
					return
				}
				k := start - m.Position
				if k != lastTick[i].Load()+1 || m.Ahead != m.Position-1 || m.Waiting != total-k {
					fail(fmt.Errorf("socket %d after tick %d: %s (want position %d, waiting %d)",
						i, lastTick[i].Load(), raw, start-lastTick[i].Load()-1, total-lastTick[i].Load()-1))
					return
				}
				d := got.Sub(time.Unix(0, tickStart[k].Load()))
				mu.Lock()
				during := k >= abuseFrom.Load()
				lat[during] = append(lat[during], d)
				mu.Unlock()
				lastTick[i].Store(k)
			}
		})
	}
	// A tick waits until every socket has heard of the tick maxLag before
	// it. Ticks come much faster here than any room's (100 ms at least),
	// and the hub drops a socket with 16 messages waiting as too slow: the
	// test would otherwise measure this machine's scheduling, not the hub.
	ticks := 0
	tick := func() {
		require.Eventually(t, func() bool {
			mu.Lock()
			failed := firstErr != nil
			mu.Unlock()
			if failed {
				return true // reported below
			}
			for i := range lastTick {
				if lastTick[i].Load() < int64(ticks-maxLag) {
					return false
				}
			}
			return true
		}, 10*time.Second, time.Millisecond, "the sockets fell %d ticks behind", maxLag)
		ticks++
		tickStart[ticks].Store(time.Now().UnixNano())
		ev := b.tick("flood")
		require.Len(t, ev.Admitted, 1)
		time.Sleep(tickGap)
	}
	for range baseline {
		tick()
	}

	// The abusers.
	abusers := make([]*websocket.Conn, 2)
	for i := range abusers {
		abusers[i] = dialWholeFrames(t, b, "flood", tickets[normal+i])
		readMsg(t, abusers[i])
	}
	_, neverRaw := dialNeverReader(t, b, "flood", tickets[normal+2])
	require.Eventually(t, func() bool { return socketsOpen(t, b) == normal+3 }, 10*time.Second, 10*time.Millisecond)
	abuseFrom.Store(int64(ticks + 1))

	// Flooder 1: 10 000 frames as fast as it can: 5 000 of up to 512
	// bytes, then sizes cycling up to 1 KiB.
	var flooded [2]atomic.Int64
	var flooders sync.WaitGroup
	flooders.Go(func() {
		for i := range 10_000 {
			size := (i * 97) % 513
			if i >= 5_000 {
				size = (i * 97) % 1024
			}
			if abusers[0].WriteMessage(websocket.BinaryMessage, make([]byte, size)) != nil {
				return
			}
			flooded[0].Add(1)
		}
	})
	// Flooder 2: frames of up to 512 bytes until the ticks are done.
	stopFlood := make(chan struct{})
	flooders.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopFlood:
				return
			default:
			}
			if abusers[1].WriteMessage(websocket.TextMessage, []byte(strings.Repeat("f", i%513))) != nil {
				fail(errors.New("flooder 2 was cut off while under the limit"))
				return
			}
			flooded[1].Add(1)
		}
	})

	// Tick until the never-reader is cut off (the sockets open fall to the
	// 200 and flooder 2), then 50 ticks more.
	cutAt, cutAfter := 0, time.Duration(0)
	abuseStart := time.Now()
	for ticks < maxTicks-50 && (cutAt == 0 || ticks < cutAt+50) {
		tick()
		mu.Lock()
		err := firstErr
		mu.Unlock()
		require.NoError(t, err, "at tick %d", ticks)
		if cutAt == 0 && ticks%20 == 0 && socketsOpen(t, b) == normal+1 {
			cutAt = ticks
			cutAfter = time.Since(abuseStart)
		}
	}
	require.NotZero(t, cutAt, "the never-reader was not cut off within %d ticks", ticks)
	close(stopFlood)
	flooders.Wait()

	// Every normal socket heard every tick, in order, and nothing else.
	require.Eventually(t, func() bool {
		for i := range lastTick {
			if lastTick[i].Load() != int64(ticks) {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond, "every socket hears the last tick")
	mu.Lock()
	require.NoError(t, firstErr)
	before, during := lat[false], lat[true]
	mu.Unlock()
	require.Len(t, before, baseline*normal)
	require.Len(t, during, (ticks-baseline)*normal)
	t.Logf("ticks: %d; the never-reader was cut off by tick %d (%d ticks, %s into the abuse)",
		ticks, cutAt, cutAt-baseline, cutAfter.Round(time.Millisecond))
	t.Logf("flooder 1 wrote %d frames; flooder 2 wrote %d frames", flooded[0].Load(), flooded[1].Load())
	t.Logf("push latency, tick to message, before the abuse: %s", before)
	t.Logf("push latency, tick to message, during the abuse: %s", during)
	require.Less(t, during.pct(0.99), time.Second, "p99 push latency during the abuse")

	// Flooder 1 was closed with 1009 at its first frame over 512 bytes
	// (its later writes may all have gone into the kernel's buffers).
	requireClosedAfterMessages(t, abusers[0], websocket.CloseMessageTooBig)
	// Flooder 2, under the limit, was never cut off: until its big frame.
	require.NoError(t, abusers[1].WriteMessage(websocket.TextMessage, make([]byte, 513)))
	requireClosedAfterMessages(t, abusers[1], websocket.CloseMessageTooBig)

	// The never-reader's connection was closed by the server: reading it
	// now gives what was buffered, then the end.
	require.NoError(t, neverRaw.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := io.Copy(io.Discard, bufio.NewReader(neverRaw))
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the never-reader's connection is closed, not idle (read %d bytes)", n)
	t.Logf("the never-reader had %d bytes waiting for it (%d ticks' worth of messages)", n, n/90)
	require.Less(t, n, int64(ticks-baseline)*90, "it was cut off before getting every message")
	// The hub counts a socket closed once its poller has seen the close,
	// a moment after the client saw it.
	require.Eventually(t, func() bool { return socketsOpen(t, b) == normal }, 5*time.Second, 20*time.Millisecond,
		"only the normal sockets stay open")
}

// requireClosedAfterMessages reads past any position messages to the close
// frame, and checks its code.
func requireClosedAfterMessages(t *testing.T, c *websocket.Conn, code int) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(15*time.Second)))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce, "want close %d", code)
		require.Equal(t, code, ce.Code, "close code (%s)", ce.Text)
		return
	}
}

// Standalone serves the booking API too, with its per-address limit:
// over it, 429 before the token is looked at.
func TestStandaloneLimitsTheBookingAPIPerAddress(t *testing.T) {
	m, _ := standalone(t, io.Discard, "-booking-rate", "0.001", "-booking-burst", "2", "-shutdown-grace", "0s")
	get := func(token string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, "http://"+m.Addr()+"/api/events/demo/seats", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	require.Equal(t, http.StatusUnauthorized, get("forged").StatusCode)
	require.Equal(t, http.StatusUnauthorized, get("forged").StatusCode)
	resp := get("forged")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

// ---- secrets in the log -----------------------------------------------------

// The log of a whole visit through booking, standalone (the booking API in
// the same process), holds no ticket and no entry token: the booking API's
// routes carry the token in a header, and its log lines name rooms, seats
// and booking ids only.
func TestTheLogOfAVisitThroughBookingHoldsNoTicketOrEntryToken(t *testing.T) {
	logs := &logBuffer{}
	m, stop := standalone(t, logs, "-log-level", "debug", "-shutdown-grace", "0s", "-user-secret", testUserSecret)
	base := "http://" + m.Addr()
	admin := m.AdminToken()

	do := func(method, path, bearer, body string) (int, map[string]any) {
		t.Helper()
		var b any // "" is no body
		if body != "" {
			b = body
		}
		a, err := testproc.Send(t.Context(), http.DefaultClient, method, base+path, b, bearer)
		require.NoError(t, err)
		var out map[string]any
		_ = json.Unmarshal(a.Body, &out)
		return a.Status, out
	}
	status, _ := do(http.MethodPut, "/api/admin/rooms/demo", admin, `{"mode":"passthrough"}`)
	require.Equal(t, http.StatusOK, status)

	var secrets []string
	for _, user := range []string{"", "erin"} {
		body := ""
		if user != "" {
			ut := userToken(t, user)
			body = `{"user_token":"` + ut + `"}`
			secrets = append(secrets, ut)
		}
		status, st := do(http.MethodPost, "/api/rooms/demo/tickets", "", body)
		require.Equal(t, http.StatusCreated, status)
		require.Equal(t, "admitted", st["state"])
		ticket, token := st["ticket"].(string), st["entry_token"].(string)
		secrets = append(secrets, ticket, token, token[strings.LastIndex(token, ".")+1:])

		for _, r := range []struct {
			method, path, body string
			status             int
		}{
			{http.MethodGet, "/api/events/demo/seats", "", http.StatusOK},
			{http.MethodPost, "/api/events/demo/holds", `{"seat":"A` + strconv.Itoa(len(user)+1) + `"}`, http.StatusCreated},
			{http.MethodGet, "/api/events/demo/holds", "", http.StatusOK},
			{http.MethodPost, "/api/events/demo/bookings", `{"seat":"A` + strconv.Itoa(len(user)+1) + `"}`, http.StatusCreated},
			{http.MethodGet, "/api/events/demo/bookings", "", http.StatusOK},
			{http.MethodPost, "/api/events/demo/holds", `{"seat":"J10"}`, http.StatusCreated},
			{http.MethodDelete, "/api/events/demo/bookings/J10", "", http.StatusNoContent},
			{http.MethodPost, "/api/events/demo/holds", `{"seat":"nope!"}`, http.StatusBadRequest},
			{http.MethodPost, "/api/events/other/holds", `{"seat":"A1"}`, http.StatusForbidden},
			{http.MethodPost, "/api/events/demo/checkout", "", http.StatusNoContent},
			{http.MethodGet, "/api/events/demo/seats", "", http.StatusUnauthorized},
		} {
			status, out := do(r.method, r.path, token, r.body)
			require.Equal(t, r.status, status, "%s %s: %v", r.method, r.path, out)
		}
		status, _ = do(http.MethodGet, "/api/events/demo/seats", token+"x", "")
		require.Equal(t, http.StatusUnauthorized, status)
	}
	stop()

	log := logs.String()
	require.Contains(t, log, `"msg":"seat booked"`, "the booking API logged its work")
	require.Contains(t, log, `"msg":"checked out"`)
	for _, s := range append(secrets, admin) {
		require.NotContains(t, log, s, "the log holds a secret")
	}
}

// ---- IPv6 -------------------------------------------------------------------

// forwardedFor is the header a trusted proxy sends for a client at ip.
func forwardedFor(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }

// An IPv6 client usually holds a whole /64: every address of one /64 shares
// each per-address limit, another /64 has its own, and an IPv4-mapped
// address is its IPv4 address. Behind a trusted proxy, as in production.
func TestEveryPerAddressLimitKeysIPv6ByItsSlash64(t *testing.T) {
	b := setupWith(t, options{joinRate: 0.001, joinBurst: 2, configure: func(c *Config) {
		c.TrustProxy = true
		c.StatusRate, c.StatusBurst = 0.001, 2
		c.SocketsPerAddr = 1
	}})
	b.putRoom("sale", map[string]any{"mode": "queue_all"})
	joinFrom := func(ip string) *response {
		return b.send(request{method: http.MethodPost, path: "/api/rooms/sale/tickets", header: forwardedFor(ip)})
	}
	statusFrom := func(ip, ticket string) *response {
		return b.send(request{method: http.MethodGet, path: "/api/rooms/sale/tickets/" + ticket, header: forwardedFor(ip)})
	}
	const (
		a1, a2 = "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe" // one /64
		other  = "2001:db8:1:3::1"                                     // the next /64
		v4     = "192.0.2.7"
		mapped = "::ffff:192.0.2.7"
	)

	t.Run("joins", func(t *testing.T) {
		require.Equal(t, http.StatusCreated, joinFrom(a1).Status)
		require.Equal(t, http.StatusCreated, joinFrom(a2).Status)
		b.unchanged(func() { requireRetryAfter(t, joinFrom(a1+"9"), 1000) })
		require.Equal(t, http.StatusCreated, joinFrom(other).Status, "another /64 has its own bucket")
		require.Equal(t, http.StatusCreated, joinFrom(v4).Status)
		require.Equal(t, http.StatusCreated, joinFrom(mapped).Status)
		b.unchanged(func() { requireRetryAfter(t, joinFrom(v4), 1000) })
	})

	ticket := jsonObject(t, joinFrom(other))["ticket"].(string)
	t.Run("status reads", func(t *testing.T) {
		require.Equal(t, http.StatusOK, statusFrom(a2, ticket).Status)
		require.Equal(t, http.StatusOK, statusFrom(a1, ticket).Status)
		b.unchanged(func() { requireRetryAfter(t, statusFrom("2001:db8:1:2::abcd", ticket), 1000) })
		require.Equal(t, http.StatusOK, statusFrom(other, ticket).Status)
	})

	t.Run("sockets open at once", func(t *testing.T) {
		url := "ws://" + b.addr + "/api/rooms/sale/ws?ticket=" + ticket
		c, resp, err := dialer.Dial(url, forwardedFor(a1))
		require.NoError(t, err)
		_ = resp.Body.Close()
		t.Cleanup(func() { _ = c.Close() })
		readMsg(t, c)
		_, resp, err = dialer.Dial(url, forwardedFor(a2))
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "a2 shares a1's /64")
		_ = resp.Body.Close()
		c2, resp, err := dialer.Dial(url, forwardedFor(other))
		require.NoError(t, err, "another /64")
		_ = resp.Body.Close()
		t.Cleanup(func() { _ = c2.Close() })
		readMsg(t, c2)
	})
}

// ---- operator token guessing ------------------------------------------------

// While an address waits out a wrong operator token, every further try from
// it (its /64) gets 429 at once: parallel guesses do not pile up behind the
// wait, and a right token waits its turn too.
func TestWrongOperatorTokensInParallelGet429AtOnceAndTheRightTokenWorksAfterTheWait(t *testing.T) {
	b := setupWith(t, options{configure: func(c *Config) { c.TrustProxy = true }})
	b.putRoom("sale", map[string]any{"mode": "queue_all", "capacity": 3})
	const guesser, neighbour, stranger = "2001:db8:9:9::1", "2001:db8:9:9::2", "2001:db8:9:a::1"
	put := func(ip, token string) (*response, error) {
		h := forwardedFor(ip)
		h.Set("Authorization", "Bearer "+token)
		return b.trySend(request{method: http.MethodPut, path: "/api/admin/rooms/sale", body: `{"capacity":1}`, header: h})
	}
	mustPut := func(ip, token string) *response {
		t.Helper()
		r, err := put(ip, token)
		require.NoError(t, err)
		return r
	}

	const n = 30
	var (
		answers [n]*response
		took    [n]time.Duration
		errs    [n]error
	)
	b.unchanged(func() {
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-gate
				start := time.Now()
				answers[i], errs[i] = put(guesser, fmt.Sprintf("guess-%d", i))
				took[i] = time.Since(start)
			})
		}
		close(gate)
		wg.Wait()
	})
	refused, limited := 0, 0
	for i := range n {
		require.NoError(t, errs[i])
		if answers[i].Status == http.StatusUnauthorized {
			refused++
			requireAPIError(t, answers[i], http.StatusUnauthorized, "unauthorized")
			require.GreaterOrEqual(t, took[i], 100*time.Millisecond, "a 401 comes after the wait")
		} else {
			limited++
			requireRetryAfter(t, answers[i], 5)
			require.Less(t, took[i], time.Second, "a 429 comes at once")
		}
	}
	t.Logf("30 parallel wrong tokens: %d answered 401, %d answered 429", refused, limited)
	require.GreaterOrEqual(t, refused, 1)
	require.LessOrEqual(t, refused, 2, "at most a couple of guesses get their wait")
	require.Equal(t, n, refused+limited)

	// Two more, one after the other (waits of 0.4 s and 0.8 s at most),
	// then one in the background whose wait (1.6 s or more) is still
	// running when the right token comes, from the same /64.
	requireAPIError(t, mustPut(guesser, "again"), http.StatusUnauthorized, "unauthorized")
	requireAPIError(t, mustPut(neighbour, "and again"), http.StatusUnauthorized, "unauthorized")
	slow := make(chan *response, 1)
	go func() {
		r, err := put(guesser, "once more")
		if err != nil {
			t.Error(err)
		}
		slow <- r
	}()
	time.Sleep(300 * time.Millisecond)
	b.unchanged(func() {
		requireRetryAfter(t, mustPut(neighbour, testAdminToken), 5)
	})
	// Another /64 is not slowed down.
	r := mustPut(stranger, testAdminToken)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.EqualValues(t, 1, num(t, jsonObject(t, r)["config"].(map[string]any)["capacity"]))

	requireAPIError(t, <-slow, http.StatusUnauthorized, "unauthorized")
	r = mustPut(neighbour, testAdminToken)
	require.Equal(t, http.StatusOK, r.Status, "the right token works once the wait is over: %s", r.Body)
	start := time.Now()
	requireAPIError(t, mustPut(guesser, "fresh start"), http.StatusUnauthorized, "unauthorized")
	require.Less(t, time.Since(start), time.Second, "a right token ended the run of wrong ones")
}
