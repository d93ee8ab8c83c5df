package httpapi_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/embedded"
	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/ratelimit"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// Limits against abuse and strict input, at the handlers: the per-address
// limits answer 429 before Redis is asked, the socket cap counts sockets
// until the hub's Serve returns, CORS opens only what is configured, and a
// body is refused for every ambiguity a JSON parser could resolve its own
// way.

// downRedis is a client whose every command fails at once, as with Redis
// unreachable: a request that reaches it answers 503.
func downRedis() *redis.Client {
	quietRedis.Do(func() { redis.SetLogger(silentRedisLog{}) })
	return redis.NewClient(&redis.Options{
		Addr: "redis.invalid:6379",
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		},
		MaxRetries:    -1,
		DialerRetries: 1,
	})
}

var quietRedis sync.Once

type silentRedisLog struct{}

func (silentRedisLog) Printf(context.Context, string, ...any) {}

// limitedEcho serves w's routes with the signer and logger filled in.
func limitedEcho(t *testing.T, w *httpapi.Waitroom) http.Handler {
	t.Helper()
	key, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	w.Signer = entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{})
	w.Logger = slog.New(slog.DiscardHandler)
	e := httpapi.NewEcho(w.Logger)
	w.Register(e)
	return e
}

func serveOnce(h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func requireRateLimited(t *testing.T, rec *httptest.ResponseRecorder) int {
	t.Helper()
	checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "rate_limited")
	secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", rec.Header().Get("Retry-After"))
	require.GreaterOrEqual(t, secs, 1)
	return secs
}

func TestStatusReadsOverTheRateAre429BeforeRedisIsAsked(t *testing.T) {
	h := limitedEcho(t, &httpapi.Waitroom{
		Store:       queue.New(downRedis(), queue.Options{Logger: slog.New(slog.DiscardHandler)}),
		StatusLimit: ratelimit.New(0.5, 2, nil),
	})
	ticket := queue.NewTicket()
	for _, path := range []string{"/api/rooms/sale/tickets/" + ticket, "/api/rooms/sale"} {
		rec := serveOnce(h, http.MethodGet, path, nil)
		checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "unavailable") // it reached Redis
	}
	// Both kinds of status read share the address's bucket.
	for _, path := range []string{"/api/rooms/sale/tickets/" + ticket, "/api/rooms/sale"} {
		require.LessOrEqual(t, requireRateLimited(t, serveOnce(h, http.MethodGet, path, nil)), 2)
	}
	// An invalid room is refused as such, limit or not.
	rec := serveOnce(h, http.MethodGet, "/api/rooms/Bad_Room", nil)
	checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "invalid_room")
}

func TestSocketUpgradesOverTheRateAre429BeforeRedisIsAsked(t *testing.T) {
	h := limitedEcho(t, &httpapi.Waitroom{
		Store:       queue.New(downRedis(), queue.Options{Logger: slog.New(slog.DiscardHandler)}),
		SocketLimit: ratelimit.New(1, 1, nil),
	})
	path := "/api/rooms/sale/ws?ticket=" + queue.NewTicket()
	rec := serveOnce(h, http.MethodGet, path, nil)
	checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "unavailable")
	requireRateLimited(t, serveOnce(h, http.MethodGet, path, nil))
}

// heldSockets is a SocketServer whose Serve blocks until the test lets the
// socket go.
type heldSockets struct {
	mu      sync.Mutex
	release map[string]chan struct{}
	serving sync.WaitGroup
}

func (h *heldSockets) Serve(_ context.Context, _, ticket string, conn *websocket.Conn) {
	defer h.serving.Done()
	h.mu.Lock()
	ch := h.release[ticket]
	h.mu.Unlock()
	<-ch
	_ = conn.Close()
}

func (h *heldSockets) hold(ticket string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.release[ticket] = make(chan struct{})
	h.serving.Add(1)
}

func (h *heldSockets) end(ticket string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.release[ticket])
}

func TestTheSocketCapCountsOpenSocketsPerAddressUntilServeReturns(t *testing.T) {
	st, err := embedded.Start()
	require.NoError(t, err)
	t.Cleanup(st.Close)
	q := queue.New(st.Client(), queue.Options{Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	mode := queue.ModeQueueAll
	_, _, err = q.PutRoom(ctx, "sale", queue.ConfigPatch{Mode: &mode})
	require.NoError(t, err)
	tickets := make([]string, 3)
	for i := range tickets {
		s, _, err := q.Join(ctx, "sale", queue.JoinRequest{})
		require.NoError(t, err)
		tickets[i] = s.Ticket
	}

	sockets := &heldSockets{release: map[string]chan struct{}{}}
	capped := ratelimit.NewConcurrent(2)
	hs := httptest.NewServer(limitedEcho(t, &httpapi.Waitroom{Store: q, Sockets: sockets, SocketsPerAddr: capped}))
	t.Cleanup(hs.Close)
	dial := func(ticket string) (*websocket.Conn, *http.Response, error) {
		return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/api/rooms/sale/ws?ticket="+ticket, nil)
	}

	for _, ticket := range tickets[:2] {
		sockets.hold(ticket)
		c, _, err := dial(ticket)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
	}
	require.Equal(t, 2, capped.Held("127.0.0.1"))

	// A refused handshake takes no place: an unknown ticket is 404 while
	// places are free...
	sockets.end(tickets[0])
	require.Eventually(t, func() bool { return capped.Held("127.0.0.1") == 1 }, 5*time.Second, 10*time.Millisecond,
		"the count drops when Serve returns")
	for range 3 {
		_, resp, err := dial(queue.NewTicket())
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		_ = resp.Body.Close()
	}
	require.Equal(t, 1, capped.Held("127.0.0.1"))

	// ...and the third socket fits, the fourth does not.
	sockets.hold(tickets[2])
	c, _, err := dial(tickets[2])
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, resp, err := dial(tickets[0])
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "10", resp.Header.Get("Retry-After"))
	_ = resp.Body.Close()

	sockets.end(tickets[1])
	sockets.end(tickets[2])
	sockets.serving.Wait()
	require.Eventually(t, func() bool { return capped.Held("127.0.0.1") == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestNoCORSHeaderUnlessConfigured(t *testing.T) {
	h := limitedEcho(t, &httpapi.Waitroom{Store: queue.New(downRedis(), queue.Options{})})
	origin := http.Header{"Origin": {"https://shop.example.com"}, "Access-Control-Request-Method": {"POST"}}
	for _, method := range []string{http.MethodGet, http.MethodOptions, http.MethodPost} {
		for _, path := range []string{"/api/rooms/sale", "/api/rooms/sale/tickets", "/rooms/sale", "/healthz"} {
			rec := serveOnce(h, method, path, origin)
			for k := range rec.Header() {
				require.False(t, strings.HasPrefix(k, "Access-Control-"), "%s %s answered %s", method, path, k)
			}
		}
	}
}

func TestCORSAnswersExactlyTheConfiguredOriginsOnTheVisitorsAPIOnly(t *testing.T) {
	h := limitedEcho(t, &httpapi.Waitroom{
		Store:       queue.New(downRedis(), queue.Options{}),
		CORSOrigins: []string{"https://shop.example.com", " HTTPS://Other.example.com/ "},
	})
	preflight := func(path, origin string) *httptest.ResponseRecorder {
		return serveOnce(h, http.MethodOptions, path, http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"},
			"Access-Control-Request-Headers": {"content-type"}})
	}

	for _, origin := range []string{"https://shop.example.com", "https://other.example.com"} {
		rec := preflight("/api/rooms/sale/tickets", origin)
		require.Equal(t, http.StatusNoContent, rec.Code)
		require.Equal(t, origin, rec.Header().Get("Access-Control-Allow-Origin"))
		require.Equal(t, "GET, POST, DELETE", rec.Header().Get("Access-Control-Allow-Methods"))
		require.Equal(t, "Content-Type", rec.Header().Get("Access-Control-Allow-Headers"))
		require.Empty(t, rec.Header().Get("Access-Control-Allow-Credentials"))

		// An answer, an error too, names the origin and shows Retry-After.
		rec = serveOnce(h, http.MethodGet, "/api/rooms/sale", http.Header{"Origin": {origin}})
		checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "unavailable")
		require.Equal(t, origin, rec.Header().Get("Access-Control-Allow-Origin"))
		require.Equal(t, "Retry-After", rec.Header().Get("Access-Control-Expose-Headers"))
		require.Contains(t, rec.Header().Values("Vary"), "Origin")
	}
	// Another origin, a look-alike, "null", or another route: no CORS.
	for _, c := range []struct{ path, origin string }{
		{"/api/rooms/sale/tickets", "https://evil.example.com"},
		{"/api/rooms/sale/tickets", "https://shop.example.com.evil.example"},
		{"/api/rooms/sale/tickets", "http://shop.example.com"},
		{"/api/rooms/sale/tickets", "null"},
		{"/api/admin/rooms", "https://shop.example.com"},
		{"/rooms/sale", "https://shop.example.com"},
		{"/.well-known/jwks.json", "https://shop.example.com"},
	} {
		for _, rec := range []*httptest.ResponseRecorder{preflight(c.path, c.origin),
			serveOnce(h, http.MethodGet, c.path, http.Header{"Origin": {c.origin}})} {
			require.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"), "%s from %s", c.path, c.origin)
		}
	}
}

func TestAStrayStaticPathIsAJSONNotFound(t *testing.T) {
	h := limitedEcho(t, &httpapi.Waitroom{Store: queue.New(downRedis(), queue.Options{})})
	rec := serveOnce(h, http.MethodGet, "/static/room.js", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "javascript")
	for _, path := range []string{"/static/", "/static/../../go.mod", "/static/..%2f..%2fgo.mod", "/static/%2e%2e/web.go",
		"/static/./room.js", "/static//room.js", "/static/nothing.js", "/static/room.js/", "/static/%00"} {
		rec := serveOnce(h, http.MethodGet, path, nil)
		checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "not_found")
	}
}

// A JSON body means one thing only: whatever another parser (a WAF, a log
// pipeline, the booking side) makes of it, we refuse rather than guess.
func TestAnAmbiguousJSONBodyIsInvalid(t *testing.T) {
	for _, c := range []struct {
		target, method, path string
		bodies               []string
	}{
		{"join", http.MethodPost, "/api/rooms/" + fuzzRoom + "/tickets", []string{
			`{"ticket":"a","ticket":"b"}`, `{"ticket":"a","TICKET":"b"}`, `{"TICKET":"a"}`, `{"ticKet":"a"}`,
			"{\"ticket\":\"a\xffb\"}", `{"ticket":"a"}{}`, `{"user":"a"}`, `{"user":null}`,
		}},
		{"seat", http.MethodPost, "/api/events/" + fuzzRoom + "/holds", []string{
			`{"seat":"A1","seat":"A2"}`, `{"Seat":"A1"}`, "{\"seat\":\"A1\xff\"}", `{"seat":"A\ud800"}`,
			`{"seat":"A1","extra":true}`, `{"seat":"A1","x":{"y":1,"y":2}}`, `{"seat":"A1"} {}`, `["A1"]`,
		}},
		{"seatmap", http.MethodPut, "/api/admin/events/" + fuzzRoom + "/seats", []string{
			`{"seats":["A1"],"seats":["B1"]}`, `{"SEATS":["A1"]}`, "{\"seats\":[\"A\xc0\"]}",
		}},
	} {
		env := fuzzTargetEnv(t, c.target)
		for _, body := range c.bodies {
			rec := env.serve(c.method, c.path, "application/json", []byte(body),
				authHeader)
			require.Equal(t, "invalid_body", checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes()), "%s", body)
		}
	}
	// Config bodies name the field, or the body, as invalid_config.
	env := fuzzTargetEnv(t, "config")
	for _, body := range []string{`{"capacity":1,"capacity":2}`, "{\"target_url\":\"/\xff\"}"} {
		rec := env.serve(http.MethodPut, "/api/admin/rooms/"+fuzzRoom, "application/json", []byte(body),
			http.Header{"Authorization": {"Bearer " + bkAdminToken}})
		require.Equal(t, "invalid_config", checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes()), "%s", body)
	}
}

// The fuzz targets' environments reach the store with a good body: the
// targets fuzz the whole handler, not only its refusals.
func TestTheFuzzTargetsReachTheStore(t *testing.T) {
	fresh := map[string]bool{}
	for _, c := range []struct {
		target, method, path, body string
		status                     int
	}{
		{"join", http.MethodPost, "/api/rooms/" + fuzzRoom + "/tickets", `{}`, http.StatusCreated},
		{"seat", http.MethodPost, "/api/events/" + fuzzRoom + "/holds", `{"seat":"A1"}`, http.StatusCreated},
		{"seat", http.MethodPost, "/api/events/" + fuzzRoom + "/bookings", `{"seat":"A1"}`, http.StatusCreated},
		{"seatmap", http.MethodPut, "/api/admin/events/" + fuzzRoom + "/seats", `{"seats":["A1","A2"]}`, http.StatusOK},
		{"config", http.MethodPut, "/api/admin/rooms/" + fuzzRoom, `{"capacity":3}`, http.StatusOK},
	} {
		env := fuzzTargetEnv(t, c.target)
		if !fresh[c.target] {
			env.fresh()
			fresh[c.target] = true
		}
		rec := env.serve(c.method, c.path, "application/json", []byte(c.body), authHeader)
		require.Equal(t, c.status, rec.Code, "%s %s: %s", c.method, c.path, rec.Body)
	}
}
