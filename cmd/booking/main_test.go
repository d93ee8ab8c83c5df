package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/settings"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestHelpListsEveryFlagWithItsVariableAndDefault(t *testing.T) {
	var out strings.Builder
	err := run(t.Context(), []string{"--help"}, envOf(map[string]string{"WAITROOM_ADMIN_TOKEN": "s3cret"}), &out, io.Discard)
	require.ErrorIs(t, err, flag.ErrHelp)
	help := out.String()
	for _, want := range []string{
		"env BOOKING_ADDR, default :8081\n",
		"env BOOKING_JWKS_URL, default http://127.0.0.1:8080/.well-known/jwks.json\n",
		"REDIS_URL", "REDIS_CLUSTER_ADDRS", "WAITROOM_ADMIN_TOKEN", "BOOKING_WAITROOM_URL",
		"env BOOKING_HOLD_TTL, default 5m\n",
		"env BOOKING_MAX_PER_VISITOR, default 4\n",
		"env BOOKING_SEATS_MAX_AGE, default 250ms\n",
		"env BOOKING_RATE, default 20\n", "env BOOKING_BURST, default 100\n", "env BOOKING_TRUST_PROXY, default false\n",
		"env BOOKING_TOKEN_ISSUER, default waitroom\n", "env BOOKING_TOKEN_AUDIENCE, default booking\n",
	} {
		require.Contains(t, help, want)
	}
	require.NotContains(t, help, "s3cret", "help never shows a secret")
}

func TestConfigComesFromEnvironmentAndFlagsWin(t *testing.T) {
	env := envOf(map[string]string{
		"REDIS_URL": "redis://127.0.0.1:6379/0", "WAITROOM_ADMIN_TOKEN": "tok",
		"BOOKING_ADDR": ":9000", "BOOKING_HOLD_TTL": "2m", "BOOKING_MAX_PER_VISITOR": "6",
		"BOOKING_JWKS_URL": "https://line.example.com/.well-known/jwks.json",
	})
	c, err := parseConfig([]string{"-addr", ":9001"}, env, io.Discard)
	require.NoError(t, err)
	require.Equal(t, ":9001", c.addr)
	require.Equal(t, 2*time.Minute, c.holdTTL)
	require.Equal(t, 6, c.maxPerVisitor)
	require.Equal(t, "https://line.example.com", c.waitroomURL, "defaults to the JWKS origin")

	_, err = parseConfig(nil, envOf(map[string]string{"REDIS_URL": "redis://x", "WAITROOM_ADMIN_TOKEN": "t", "BOOKING_HOLD_TTL": "soon"}), io.Discard)
	require.ErrorContains(t, err, "BOOKING_HOLD_TTL")
}

func TestRedisAndAdminTokenAreRequired(t *testing.T) {
	err := run(t.Context(), nil, envOf(map[string]string{"WAITROOM_ADMIN_TOKEN": "t"}), io.Discard, io.Discard)
	require.ErrorContains(t, err, "(REDIS_URL) or REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS is required")
	err = run(t.Context(), nil, envOf(map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}), io.Discard, io.Discard)
	require.ErrorContains(t, err, "(WAITROOM_ADMIN_TOKEN) is required")
	err = run(t.Context(), []string{"-max-per-visitor", "0"}, envOf(map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "WAITROOM_ADMIN_TOKEN": "t"}), io.Discard, io.Discard)
	require.ErrorContains(t, err, "(BOOKING_MAX_PER_VISITOR) must be between 1 and 100")
	err = run(t.Context(), []string{"-hold-ttl", "0s"}, envOf(map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "WAITROOM_ADMIN_TOKEN": "t"}), io.Discard, io.Discard)
	require.ErrorContains(t, err, "(BOOKING_HOLD_TTL) must be between")
	err = run(t.Context(), []string{"-nope"}, envOf(nil), io.Discard, io.Discard)
	require.ErrorIs(t, err, settings.ErrUsage)
}

// served is the real command running on port 0, against a real Redis and
// a JWKS server whose keys sign the tokens of token.
type served struct {
	base   string
	redis  *redistest.Server
	queue  *queue.Store
	signer *entrytoken.Signer
	jwks   string // the JWKS server's base URL
	stop   func() error
}

func serve(t *testing.T, extraEnv map[string]string) *served {
	t.Helper()
	rs := redistest.Start(t)
	key, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	signer := entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{})
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(signer.JWKS())
	}))
	t.Cleanup(jwks.Close)

	env := map[string]string{
		"REDIS_URL":            "redis://" + rs.Addr() + "/0",
		"WAITROOM_ADMIN_TOKEN": "op-token",
		"BOOKING_JWKS_URL":     jwks.URL + "/.well-known/jwks.json",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	logR, logW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, envOf(env), logW, io.Discard)
		logW.Close()
	}()
	logs := bufio.NewScanner(logR)
	var base string
	for base == "" && logs.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		require.NoError(t, json.Unmarshal(logs.Bytes(), &line), "log lines are JSON: %s", logs.Text())
		if line.Msg == "booking listening" {
			base = "http://" + line.Addr
		}
	}
	require.NotEmpty(t, base)
	go func() { _, _ = io.Copy(io.Discard, logR) }()
	s := &served{base: base, redis: rs, queue: queue.New(rs.Client(), queue.Options{}), signer: signer, jwks: jwks.URL}
	var stopped bool
	s.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(shutdownTimeout + time.Second):
			return errors.New("no shutdown within 10 s")
		}
	}
	t.Cleanup(func() { require.NoError(t, s.stop()) })
	return s
}

// admit makes user an admitted visitor of room (passthrough) and returns
// the ticket and the entry token waitroom would sign.
func (s *served) admit(t *testing.T, room, user string) (string, string) {
	t.Helper()
	st, _, err := s.queue.Join(context.Background(), room, queue.JoinRequest{User: user})
	require.NoError(t, err)
	require.Equal(t, queue.StateAdmitted, st.State)
	tok, err := s.signer.Sign(entrytoken.Claims{Room: room, Subject: queue.Subject(st.User, st.AdmissionID),
		ID: st.AdmissionID, ExpiresAt: st.AdmissionEnds})
	require.NoError(t, err)
	return st.Ticket, tok
}

func (s *served) do(t *testing.T, method, path, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func (s *served) room(t *testing.T, room string, seats string) {
	t.Helper()
	_, _, err := s.queue.PutRoom(context.Background(), room, queue.ConfigPatch{Mode: new(queue.ModePassthrough)})
	require.NoError(t, err)
	res := s.do(t, "PUT", "/api/admin/events/"+room+"/seats", "op-token", seats)
	require.Equal(t, 200, res.StatusCode)
}

// The real command: the operator sets the seat map, an admitted visitor
// lists, holds, books and checks out, and SIGTERM (ctx) shuts it down
// gracefully.
func TestBookingServesVisitorsAndShutsDownGracefully(t *testing.T) {
	s := serve(t, nil)
	require.Equal(t, 200, s.do(t, "GET", "/healthz", "", "").StatusCode)
	require.Equal(t, 200, s.do(t, "GET", "/readyz", "", "").StatusCode)

	require.Equal(t, 401, s.do(t, "PUT", "/api/admin/events/gala/seats", "wrong", `{"seats":["A1"]}`).StatusCode)
	s.room(t, "gala", `{"seats":["A1","A2","A3"]}`)
	_, tok := s.admit(t, "gala", "ann")

	res := s.do(t, "GET", "/api/events/gala/seats", tok, "")
	require.Equal(t, 200, res.StatusCode)
	var seats []map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&seats))
	require.Len(t, seats, 3)
	require.Equal(t, 201, s.do(t, "POST", "/api/events/gala/holds", tok, `{"seat":"A2"}`).StatusCode)
	require.Equal(t, 201, s.do(t, "POST", "/api/events/gala/bookings", tok, `{"seat":"A2"}`).StatusCode)
	require.Equal(t, 204, s.do(t, "POST", "/api/events/gala/checkout", tok, "").StatusCode)
	require.Equal(t, 401, s.do(t, "GET", "/api/events/gala/seats", tok, "").StatusCode)

	page := s.do(t, "GET", "/booking/gala", "", "")
	require.Equal(t, 200, page.StatusCode)
	require.Contains(t, page.Header.Get("Content-Type"), "text/html")
	back := s.do(t, "GET", "/rooms/gala", "", "")
	require.Equal(t, http.StatusFound, back.StatusCode)
	require.Equal(t, s.jwks+"/rooms/gala", back.Header.Get("Location"))

	start := time.Now()
	require.NoError(t, s.stop())
	require.Less(t, time.Since(start), shutdownTimeout)
	_, err := http.Get(s.base + "/healthz")
	require.Error(t, err, "the listener is closed")
}

func TestTheRateLimitIsASettingThatZeroTurnsOff(t *testing.T) {
	base := map[string]string{"REDIS_URL": "redis://x", "WAITROOM_ADMIN_TOKEN": "t"}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	c, err := parseConfig(nil, envOf(base), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 20.0, c.rate)
	require.Equal(t, 100, c.burst)
	require.False(t, c.trustProxy)
	c, err = parseConfig(nil, envOf(with(map[string]string{"BOOKING_RATE": "0", "BOOKING_BURST": "7", "BOOKING_TRUST_PROXY": "true"})), io.Discard)
	require.NoError(t, err)
	require.Zero(t, c.rate)
	require.Equal(t, 7, c.burst)
	require.True(t, c.trustProxy)
	c, err = parseConfig([]string{"-rate", "2.5"}, envOf(with(map[string]string{"BOOKING_RATE": "0"})), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 2.5, c.rate, "the flag wins")
	for _, bad := range []map[string]string{{"BOOKING_RATE": "-1"}, {"BOOKING_RATE": "NaN"}, {"BOOKING_RATE": "fast"}, {"BOOKING_BURST": "0"}} {
		_, err := parseConfig(nil, envOf(with(bad)), io.Discard)
		for k := range bad {
			require.ErrorContains(t, err, k)
		}
	}
}

// redisSnapshot is every key of the Redis and its serialised value.
func redisSnapshot(t *testing.T, rs *redistest.Server) map[string]string {
	t.Helper()
	rdb := rs.Client()
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	out := map[string]string{}
	for _, k := range keys {
		v, err := rdb.Dump(ctx, k).Result()
		require.NoError(t, err)
		out[k] = v
	}
	return out
}

// Over the limit of its address (its /64 for IPv6), a request to the
// visitors' API gets 429 with Retry-After whatever its token, changes
// nothing, and never reaches Redis: with Redis down it is still a 429.
func TestOverTheRateTheBookingAPIAnswers429BeforeTheTokenAndRedis(t *testing.T) {
	s := serve(t, map[string]string{"BOOKING_RATE": "0.001", "BOOKING_BURST": "4", "BOOKING_TRUST_PROXY": "true"})
	s.room(t, "gala", `{"seats":["A1","A2"]}`) // the operator's route has no such limit
	_, tok := s.admit(t, "gala", "ann")
	const mine, neighbour, other = "2001:db8:5:5::1", "2001:db8:5:5::2", "2001:db8:5:6::1" // two /64s
	from := func(ip, method, path, token, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Forwarded-For", ip)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	requireLimited := func(res *http.Response) {
		t.Helper()
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		var body struct {
			Error struct{ Code, Message string }
		}
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		require.Equal(t, "rate_limited", body.Error.Code)
		require.NotEmpty(t, res.Header.Get("Retry-After"))
	}

	// The burst of one /64: four requests, good tokens or not.
	require.Equal(t, 200, from(mine, "GET", "/api/events/gala/seats", tok, "").StatusCode)
	require.Equal(t, 201, from(neighbour, "POST", "/api/events/gala/holds", tok, `{"seat":"A1"}`).StatusCode)
	require.Equal(t, 401, from(mine, "GET", "/api/events/gala/seats", "forged", "").StatusCode)
	require.Equal(t, 200, from(neighbour, "GET", "/api/events/gala/bookings", tok, "").StatusCode)

	before := redisSnapshot(t, s.redis)
	requireLimited(from(mine, "GET", "/api/events/gala/seats", tok, ""))
	requireLimited(from(neighbour, "POST", "/api/events/gala/holds", tok, `{"seat":"A2"}`))
	requireLimited(from(neighbour, "POST", "/api/events/gala/bookings", tok, `{"seat":"A1"}`))
	requireLimited(from(mine, "POST", "/api/events/gala/checkout", tok, ""))
	requireLimited(from(mine, "GET", "/api/events/gala/seats", "", ""))
	requireLimited(from(mine, "GET", "/api/events/gala/seats", "forged", ""))
	require.Equal(t, before, redisSnapshot(t, s.redis), "a refused request changed Redis")

	require.Equal(t, 200, from(other, "GET", "/api/events/gala/seats", tok, "").StatusCode, "another /64 has its own bucket")
	require.Equal(t, 200, s.do(t, "GET", "/booking/gala", "", "").StatusCode, "the page is not the API")

	require.NoError(t, s.redis.Kill())
	requireLimited(from(mine, "GET", "/api/events/gala/bookings", tok, ""))
	require.Equal(t, http.StatusServiceUnavailable, from(other, "GET", "/api/events/gala/bookings", tok, "").StatusCode,
		"under the limit the request asks Redis")
}
