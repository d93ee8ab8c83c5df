package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// testAdminToken is the operator token of every test server.
const testAdminToken = "test-admin-token-0123456789"

// testUserSecret is the HS256 key with which the tests play the protected
// site that signs user tokens.
const testUserSecret = "test-user-secret-0123456789-0123456789"

// options vary the server a test starts; the zero value is the usual one.
type options struct {
	// joinRate and joinBurst limit joins per address; joinRate 0: no limit.
	joinRate  float64
	joinBurst int
	// logLevel of the server's JSON log; default info.
	logLevel slog.Level
	// appendOnly keeps Redis's data across srv.Kill and srv.Start.
	appendOnly bool
	// configure, if set, changes the Config before the server starts (the
	// limits of abuse_test.go, CORS origins).
	configure func(*Config)
}

// bundle is what a test of the real server needs: the server, its Redis, a
// queue.Store over the same Redis to run ticks and read the truth, and the
// server's log.
type bundle struct {
	t      *testing.T
	ctx    context.Context
	redis  *redistest.Server
	rdb    *redis.Client
	store  *queue.Store
	main   *Main
	addr   string // host:port
	base   string // http://host:port
	pub    ed25519.PublicKey
	logs   *logBuffer
	client *http.Client

	cancel   context.CancelFunc // starts the server's shutdown
	finished chan struct{}      // closed when Run has returned
	runErr   error              // Run's result, once finished
}

// setup starts a real Redis and the server on it, in-process on a free port,
// and stops both when the test ends.
func setup(t *testing.T) *bundle { return setupWith(t, options{}) }

// setupSale is setup with the room "sale" in queue_all mode, where only a
// tick admits: how most tests start.
func setupSale(t *testing.T) *bundle {
	t.Helper()
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "queue_all"})
	return b
}

func setupWith(t *testing.T, o options) *bundle {
	t.Helper()
	// go-redis logs every failed dial to the test's stderr; the tests that
	// stop Redis check the server's answers instead.
	quietRedis.Do(func() { redis.SetLogger(silentLogger{}) })
	srv := redistest.Start(t, redistest.Options{AppendOnly: o.appendOnly})

	priv, keyPath := testproc.SigningKey(t)

	burst := o.joinBurst
	if burst == 0 {
		burst = 500
	}
	logs := &logBuffer{}
	cfg := Config{
		Addr:         "127.0.0.1:0",
		Redis:        redisconn.Config{URL: "redis://" + srv.Addr()},
		AdminToken:   testAdminToken,
		SigningKey:   keyPath,
		Issuer:       "waitroom",
		Audience:     "booking",
		JoinRate:     o.joinRate,
		JoinBurst:    burst,
		LogLevel:     o.logLevel,
		BookingLimit: 4,
		AutoPipeline: true, // as the binary runs by default
		UserSecret:   testUserSecret,
	}
	if o.configure != nil {
		o.configure(&cfg)
	}
	m := NewMain(cfg, io.Discard, logs)

	ctx, cancel := context.WithCancel(context.Background())
	b := &bundle{t: t, ctx: context.Background(), redis: srv, main: m, logs: logs, cancel: cancel, finished: make(chan struct{})}
	go func() {
		b.runErr = m.Run(ctx)
		close(b.finished)
	}()
	listening := make(chan string, 1)
	go func() { listening <- m.Addr() }()
	var addr string
	select {
	case addr = <-listening:
	case <-b.finished:
		cancel()
		t.Fatalf("Run returned before listening: %v\nlog:\n%s", b.runErr, logs)
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatalf("the server did not listen within 15 s\nlog:\n%s", logs)
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	b.addr, b.base = addr, "http://"+addr
	b.rdb = srv.Client()
	b.pub = priv.Public().(ed25519.PublicKey)
	b.client = &http.Client{Timeout: 15 * time.Second, Transport: tr}
	b.store = queue.New(b.rdb, queue.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		b.stop()
	})
	return b
}

// stop cancels Run's context, as SIGTERM does, and waits for Run to return
// (at most 15 s) without error. Calling it again returns at once.
func (b *bundle) stop() {
	b.t.Helper()
	b.cancel()
	select {
	case <-b.finished:
		require.NoError(b.t, b.runErr, "Run")
	case <-time.After(15 * time.Second):
		b.t.Fatalf("Run did not return within 15 s of the shutdown\nlog:\n%s", b.logs)
	}
}

// standalone runs the whole product standalone in-process on a free port,
// as `go run ./cmd/waitroom` with args would, its log going to logs. stop
// shuts it down, as SIGTERM does, and checks that Run returns nil within
// 15 s; the end of the test calls it too.
func standalone(t *testing.T, logs io.Writer, args ...string) (m *Main, stop func()) {
	t.Helper()
	cfg, err := parseConfig(append([]string{"-addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	m = NewMain(cfg, io.Discard, logs)
	return m, testproc.Run(t, 15*time.Second, m.Run)
}

var quietRedis sync.Once

type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

// logBuffer collects the server's log; the server writes it from many
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// ---- HTTP -----------------------------------------------------------------

// response is an answer read in full.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	resp   *http.Response
}

// Cookie returns the Set-Cookie of that name, or nil.
func (r *response) Cookie(name string) *http.Cookie {
	for _, c := range r.resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// request is one HTTP request to the server. body is sent as is when it is a
// string, []byte or io.Reader, else marshalled to JSON; nil sends none.
type request struct {
	method, path string
	body         any
	header       http.Header
	cookies      []*http.Cookie
	admin        bool // send the operator token
}

func (b *bundle) send(r request) *response {
	b.t.Helper()
	resp, err := b.trySend(r)
	require.NoError(b.t, err, "%s %s", r.method, r.path)
	return resp
}

// trySend is send for any goroutine: it returns the error instead of
// failing the test.
func (b *bundle) trySend(r request) (*response, error) {
	var body io.Reader
	jsonBody := false
	switch v := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
		jsonBody = true
	case []byte:
		body = bytes.NewReader(v)
		jsonBody = true
	case io.Reader:
		body = v
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(raw)
		jsonBody = true
	}
	req, err := http.NewRequestWithContext(b.ctx, r.method, b.base+r.path, body)
	if err != nil {
		return nil, err
	}
	if jsonBody {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	for _, c := range r.cookies {
		req.AddCookie(c)
	}
	if r.admin {
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: raw, resp: resp}, nil
}

func (b *bundle) get(path string) *response {
	b.t.Helper()
	return b.send(request{method: http.MethodGet, path: path})
}

func (b *bundle) del(path string) *response {
	b.t.Helper()
	return b.send(request{method: http.MethodDelete, path: path})
}

// join POSTs a join with body (nil for none) and cookies.
func (b *bundle) join(room string, body any, cookies ...*http.Cookie) *response {
	b.t.Helper()
	return b.send(request{method: http.MethodPost, path: "/api/rooms/" + room + "/tickets", body: body, cookies: cookies})
}

// joinTicket joins as a new visitor and returns the ticket.
func (b *bundle) joinTicket(room string) string {
	b.t.Helper()
	r := b.join(room, nil)
	require.Equal(b.t, http.StatusCreated, r.Status, "join: %s", r.Body)
	return jsonObject(b.t, r)["ticket"].(string)
}

// putRoom creates or updates a room through the operator API.
func (b *bundle) putRoom(room string, cfg map[string]any) {
	b.t.Helper()
	r := b.send(request{method: http.MethodPut, path: "/api/admin/rooms/" + room, body: cfg, admin: true})
	require.Contains(b.t, []int{http.StatusCreated, http.StatusOK}, r.Status, "put room %s: %s", room, r.Body)
}

// tick runs one admitter step for room, as cmd/admitter would.
func (b *bundle) tick(room string) queue.Event {
	b.t.Helper()
	ev, err := b.store.Tick(b.ctx, room)
	require.NoError(b.t, err)
	return ev
}

// jsonObject decodes a JSON object answer, checking the content type.
func jsonObject(t *testing.T, r *response) map[string]any {
	t.Helper()
	requireJSON(t, r)
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

func requireJSON(t *testing.T, r *response) {
	t.Helper()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.NoError(t, err, "Content-Type %q", r.Header.Get("Content-Type"))
	require.Equal(t, "application/json", mt)
}

// requireKeys checks that m has exactly these keys.
func requireKeys(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	want := append([]string(nil), keys...)
	sort.Strings(want)
	require.Equal(t, want, got, "keys of %v", m)
}

// requireAPIError checks status and the error shape of docs/API.md,
// {"error":{"code","message"}} and nothing else, and returns the message.
func requireAPIError(t *testing.T, r *response, status int, code string) string {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Body)
	m := jsonObject(t, r)
	requireKeys(t, m, "error")
	e, ok := m["error"].(map[string]any)
	require.True(t, ok, "error is an object: %s", r.Body)
	requireKeys(t, e, "code", "message")
	require.Equal(t, code, e["code"], "body: %s", r.Body)
	msg, ok := e["message"].(string)
	require.True(t, ok && msg != "", "message is a non-empty string: %s", r.Body)
	return msg
}

// num is a JSON number as an int64.
func num(t *testing.T, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	require.True(t, ok, "want a number, got %#v", v)
	require.Equal(t, float64(int64(f)), f, "want an integer, got %v", f)
	return int64(f)
}

// ---- Redis ----------------------------------------------------------------

// snapshot is every key of the Redis and its serialised value, to show that
// a refused request changed nothing.
func (b *bundle) snapshot() map[string]string {
	b.t.Helper()
	keys, err := b.rdb.Keys(b.ctx, "*").Result()
	require.NoError(b.t, err)
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		v, err := b.rdb.Dump(b.ctx, k).Result()
		require.NoError(b.t, err, "dump %s", k)
		out[k] = v
	}
	return out
}

// unchanged runs f and checks that Redis holds exactly what it held before.
func (b *bundle) unchanged(f func()) {
	b.t.Helper()
	before := b.snapshot()
	f()
	require.Equal(b.t, before, b.snapshot(), "a refused request changed Redis")
}

// ---- entry tokens ---------------------------------------------------------

// verifier checks entry tokens against the JWKS the server publishes over
// HTTP, as the booking API does.
func (b *bundle) verifier() *entrytoken.Verifier {
	b.t.Helper()
	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		JWKSURL:    b.base + "/.well-known/jwks.json",
		HTTPClient: b.client,
		Issuer:     "waitroom",
		Audience:   "booking",
	})
	require.NoError(b.t, err)
	return v
}

// requireEntryToken checks an entry token as docs/API.md describes it: it
// verifies against the JWKS fetched over HTTP, its header is EdDSA with the
// server key's kid, and its claims are iss, aud, sub, room, jti, iat, nbf and
// exp = expiresAt. sub "" means an anonymous visitor's: the admission id,
// which is the jti (and never the ticket). It returns the jti.
func (b *bundle) requireEntryToken(v *entrytoken.Verifier, token, room, sub, expiresAt string) string {
	t := b.t
	t.Helper()
	claims, err := v.Verify(b.ctx, token, room)
	require.NoError(t, err)
	require.Equal(t, room, claims.Room)
	if sub == "" {
		sub = claims.ID
	}
	require.Equal(t, sub, claims.Subject)
	exp, err := time.Parse(time.RFC3339, expiresAt)
	require.NoError(t, err, "expires_at %q is RFC 3339", expiresAt)
	require.True(t, claims.ExpiresAt.Equal(exp), "exp %s = expires_at %s", claims.ExpiresAt, exp)

	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	var header, payload map[string]any
	for i, dst := range []*map[string]any{&header, &payload} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, dst))
	}
	require.Equal(t, "EdDSA", header["alg"])
	require.Equal(t, entrytoken.Thumbprint(b.pub), header["kid"])
	requireKeys(t, payload, "iss", "aud", "sub", "room", "jti", "iat", "nbf", "exp")
	require.Equal(t, "waitroom", payload["iss"])
	require.Equal(t, "booking", payload["aud"])
	require.Equal(t, sub, payload["sub"])
	require.Equal(t, room, payload["room"])
	require.Equal(t, exp.Unix(), num(t, payload["exp"]))
	iat, nbf := num(t, payload["iat"]), num(t, payload["nbf"])
	require.InDelta(t, time.Now().Unix(), iat, 60, "iat is about now")
	require.LessOrEqual(t, nbf, iat+1)
	require.Greater(t, exp.Unix(), iat)
	jti, _ := payload["jti"].(string)
	require.NotEmpty(t, jti)
	return jti
}

// ---- WebSocket ------------------------------------------------------------

var dialer = &websocket.Dialer{
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  256,
}

// dial opens the room's socket with ?ticket=, or with the cookie only when
// byCookie is set.
func (b *bundle) dial(room, ticket string, byCookie bool) (*websocket.Conn, *http.Response, error) {
	u := "ws://" + b.addr + "/api/rooms/" + room + "/ws"
	h := http.Header{}
	if byCookie {
		h.Set("Cookie", (&http.Cookie{Name: "wr_" + room, Value: ticket}).String())
	} else {
		u += "?ticket=" + ticket
	}
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	return dialer.DialContext(ctx, u, h)
}

// mustDial opens a socket and closes it when the test ends.
func (b *bundle) mustDial(room, ticket string, byCookie bool) *websocket.Conn {
	b.t.Helper()
	c, resp, err := b.dial(room, ticket, byCookie)
	if resp != nil && resp.Body != nil {
		defer resp.Body.Close()
	}
	require.NoError(b.t, err)
	b.t.Cleanup(func() { _ = c.Close() })
	return c
}

// readMsg reads one JSON text frame within 10 s.
func readMsg(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	typ, raw, err := c.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, websocket.TextMessage, typ)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), "frame: %s", raw)
	return m
}

// requireClosed reads until the server's close frame and checks its code.
func requireClosed(t *testing.T, c *websocket.Conn, code int) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(15*time.Second)))
	_, raw, err := c.ReadMessage()
	require.Error(t, err, "want close %d, got frame %s", code, raw)
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "want close %d", code)
	require.Equal(t, code, ce.Code, "close code (%s)", ce.Text)
}

// requirePositionMsg checks a position message of docs/API.md; eta_seconds is
// only required to be there (tests check its value where they know it).
func requirePositionMsg(t *testing.T, m map[string]any, position, waiting int64) {
	t.Helper()
	requireKeys(t, m, "type", "position", "ahead", "waiting", "eta_seconds")
	require.Equal(t, "position", m["type"], "%v", m)
	require.Equal(t, position, num(t, m["position"]), "%v", m)
	require.Equal(t, position-1, num(t, m["ahead"]), "%v", m)
	require.Equal(t, waiting, num(t, m["waiting"]), "%v", m)
}

// userToken is a user token for sub, signed as a protected site signs it
// (HS256 with the test secret), valid for ten minutes. claims override or
// add claims ("room", "exp", …).
func userToken(t testing.TB, sub string, claims ...jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for _, extra := range claims {
		for k, v := range extra {
			c[k] = v
		}
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testUserSecret))
	require.NoError(t, err)
	return tok
}

// asUser is a join body for the verified user sub.
func asUser(t testing.TB, sub string) map[string]any {
	return map[string]any{"user_token": userToken(t, sub)}
}
