package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/internal/embedded"
	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// Fuzz targets for the JSON bodies that come from outside, sent through the
// real echo handlers (httptest, no listener): a join, a hold or a booking
// ({"seat":…}), the operator's seat map ({"seats":[…]}) and a room config.
// None may panic; every answer is either a success of the right shape or an
// error of docs/API.md's exact shape, {"error":{"code","message"}}, with a known
// code and that code's status. `go test` runs the seeds; scripts/test.sh runs
// each target for a few seconds with -fuzz.
//
// The store is the embedded one (miniredis, in this process): a fuzz worker
// re-runs the package's setup, so a real redis-server per worker would
// spend the fuzzing time starting up. Each target has its own store, reset
// every few hundred inputs so that it stays small and fast.

// apiCodes are the error codes the HTTP API may answer, with their status.
var apiCodes = map[string]int{
	"invalid_room":       http.StatusBadRequest,
	"room_not_found":     http.StatusNotFound,
	"ticket_not_found":   http.StatusNotFound,
	"invalid_body":       http.StatusBadRequest,
	"invalid_config":     http.StatusBadRequest,
	"body_too_large":     http.StatusRequestEntityTooLarge,
	"rate_limited":       http.StatusTooManyRequests,
	"room_closed":        http.StatusForbidden,
	"unauthorized":       http.StatusUnauthorized,
	"invalid_token":      http.StatusUnauthorized,
	"admission_ended":    http.StatusUnauthorized,
	"wrong_room":         http.StatusForbidden,
	"seat_not_found":     http.StatusNotFound,
	"seat_unavailable":   http.StatusConflict,
	"hold_required":      http.StatusConflict,
	"limit_reached":      http.StatusConflict,
	"booking_not_found":  http.StatusNotFound,
	"unavailable":        http.StatusServiceUnavailable,
	"not_found":          http.StatusNotFound,
	"method_not_allowed": http.StatusMethodNotAllowed,
	"websocket_required": http.StatusBadRequest,
	"invalid_user_token": http.StatusUnauthorized,
	"user_required":      http.StatusUnauthorized,
	"pow_required":       http.StatusForbidden,
	"pow_invalid":        http.StatusForbidden,
	"forbidden_origin":   http.StatusForbidden,
	"admission_required": http.StatusForbidden,
}

var snakeCase = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// checkAPIError fails unless the answer is an error of docs/API.md's exact shape
// whose code is one of allowed (any known code when allowed is empty), with
// that code's status. It returns the code.
func checkAPIError(t testing.TB, status int, header http.Header, body []byte, allowed ...string) string {
	t.Helper()
	if mt, _, err := mime.ParseMediaType(header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Fatalf("status %d: Content-Type %q, body %q", status, header.Get("Content-Type"), body)
	}
	var shape map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&shape); err != nil || dec.More() || len(shape) != 1 || shape["error"] == nil || len(shape["error"]) != 2 {
		t.Fatalf("status %d: not {\"error\":{\"code\",\"message\"}}: %q", status, body)
	}
	code, _ := shape["error"]["code"].(string)
	msg, _ := shape["error"]["message"].(string)
	if !snakeCase.MatchString(code) || msg == "" {
		t.Fatalf("status %d: bad code or empty message: %q", status, body)
	}
	want, known := apiCodes[code]
	if !known {
		t.Fatalf("status %d: unknown code %q: %q", status, code, body)
	}
	if want != status {
		t.Fatalf("code %s answered with %d, want %d: %q", code, status, want, body)
	}
	if len(allowed) > 0 && !contains(allowed, code) {
		t.Fatalf("status %d: code %q is not one of %v here: %q", status, code, allowed, body)
	}
	if code == "rate_limited" && header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
	return code
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fuzzEnv is one target's server: the real handlers over an embedded store.
type fuzzEnv struct {
	mu     sync.Mutex
	store  *embedded.Store
	rdb    *redis.Client
	queue  *queue.Store
	seats  *booking.Store
	signer *entrytoken.Signer
	e      *echo.Echo
	runs   int
	// reset brings the store back to the target's start; run every
	// resetEvery inputs.
	reset      func()
	resetEvery int
	// token is an admitted visitor's entry token (seat targets).
	token string
}

const fuzzRoom = "sale"

var (
	fuzzEnvsMu sync.Mutex
	fuzzEnvs   = map[string]*fuzzEnv{}
)

// fuzzSetup returns the target's environment, made once per process.
func fuzzSetup(tb testing.TB, target string, init func(env *fuzzEnv)) *fuzzEnv {
	tb.Helper()
	fuzzEnvsMu.Lock()
	defer fuzzEnvsMu.Unlock()
	if env := fuzzEnvs[target]; env != nil {
		return env
	}
	st, err := embedded.Start()
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rdb := st.Client()
	q := queue.New(rdb, queue.Options{Logger: log})
	seats, err := booking.New(rdb, booking.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	signer, verifier, _ := testproc.Tokens(tb)
	e := httpapi.NewEcho(log)
	admin := &httpapi.Admin{Store: q, Token: bkAdminToken, Logger: log, Sleep: func(time.Duration) {}}
	admin.Register(e)
	(&httpapi.Waitroom{Store: q, Signer: signer, Logger: log}).Register(e)
	(&httpapi.Booking{Seats: seats, Queue: q, Verifier: verifier, Logger: log}).Register(e, admin.RequireToken)
	env := &fuzzEnv{store: st, rdb: rdb, queue: q, seats: seats, signer: signer, e: e, resetEvery: 256}
	init(env)
	env.reset()
	fuzzEnvs[target] = env
	return env
}

// serve sends one request through the handlers and returns the answer. It
// runs the reset when it is due.
func (env *fuzzEnv) serve(method, path, contentType string, body []byte, header http.Header) *httptest.ResponseRecorder {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.runs++; env.runs%env.resetEvery == 0 {
		env.reset()
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if header != nil && header.Get("Authorization") == authHeader.Get("Authorization") {
		// Resolved after the reset: a reset admits the visitor anew.
		req.Header.Set("Authorization", "Bearer "+env.authToken())
	}
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	return rec
}

func (env *fuzzEnv) mustReset(patch queue.ConfigPatch, seatMap []string) {
	ctx := context.Background()
	if err := env.rdb.FlushAll(ctx).Err(); err != nil {
		panic(err)
	}
	if _, _, err := env.queue.PutRoom(ctx, fuzzRoom, patch); err != nil {
		panic(err)
	}
	if seatMap != nil {
		if _, err := env.seats.PutSeatMap(ctx, fuzzRoom, seatMap); err != nil {
			panic(err)
		}
	}
}

// fuzzTargets set up each target's store: reset empties it and makes what
// the target needs.
var fuzzTargets = map[string]func(env *fuzzEnv){
	"join": func(env *fuzzEnv) {
		mode := queue.ModeQueueAll
		env.reset = func() { env.mustReset(queue.ConfigPatch{Mode: &mode}, nil) }
	},
	// An admitted visitor, "fuzzer", holds and books seats with its token.
	"seat": func(env *fuzzEnv) {
		mode := queue.ModePassthrough
		env.resetEvery = 64 // a visitor holds 4 seats at most
		env.reset = func() {
			env.mustReset(queue.ConfigPatch{Mode: &mode}, booking.GridSeats(3, 9))
			st, _, err := env.queue.Join(context.Background(), fuzzRoom, queue.JoinRequest{User: "fuzzer"})
			if err != nil || st.State != queue.StateAdmitted {
				panic(fmt.Sprintf("admit the fuzzer: %v", err))
			}
			// Each reset is a new admission: its token carries the new jti.
			env.token, err = env.signer.Sign(entrytoken.Claims{Room: fuzzRoom, Subject: "fuzzer", ID: st.AdmissionID, ExpiresAt: st.AdmissionEnds})
			if err != nil {
				panic(err)
			}
		}
	},
	"seatmap": func(env *fuzzEnv) {
		env.reset = func() { env.mustReset(queue.ConfigPatch{}, booking.GridSeats(1, 2)) }
	},
	"config": func(env *fuzzEnv) {
		env.reset = func() { env.mustReset(queue.ConfigPatch{}, nil) }
	},
}

// fuzzTargetEnv is the target's environment, fresh from a reset.
func fuzzTargetEnv(tb testing.TB, target string) *fuzzEnv {
	tb.Helper()
	return fuzzSetup(tb, target, fuzzTargets[target])
}

// authHeader asks serve for the target's bearer token, as it is after any
// reset that serve runs first.
var authHeader = http.Header{"Authorization": {"Bearer <the target's token>"}}

// authToken is the bearer token the target's requests carry: the visitor's
// entry token, else the operator's.
func (env *fuzzEnv) authToken() string {
	if env.token != "" {
		return env.token
	}
	return bkAdminToken
}

// fresh resets the store now, for a test that needs it as it starts.
func (env *fuzzEnv) fresh() *fuzzEnv {
	env.mu.Lock()
	defer env.mu.Unlock()
	env.reset()
	env.runs = 0
	return env
}

// contentTypes seed every body target.
var contentTypes = []string{"application/json", "", "application/json; charset=utf-8", "text/plain", "application/jsonx", "application/json; =", "APPLICATION/JSON"}

// addBodies adds each body with each of the first content types.
func addBodies(f *testing.F, bodies []string) {
	for i, b := range bodies {
		f.Add([]byte(b), contentTypes[i%len(contentTypes)])
		if i%len(contentTypes) != 0 {
			f.Add([]byte(b), "application/json")
		}
	}
}

// hostileBodies seed every body target: each way a JSON body goes wrong.
var hostileBodies = []string{
	``, ` `, `{}`, `{`, `}`, `[]`, `null`, `"x"`, `0`, `{} {}`, `{}x`,
	`{"a":1,"a":2}`, `{"x":{"y":1,"y":2}}`, `{"":1}`,
	`{"n":1e400}`, `{"n":99999999999999999999}`, `{"n":-1}`, `{"n":-0}`, `{"n":0.5}`,
	"{\"s\":\"\xff\xfe\"}", "{\"s\":\"a\x00b\"}", `{"s":"a\u0000b"}`, `{"s":"\ud800"}`, "\xef\xbb\xbf{}",
	strings.Repeat("[", 10000), strings.Repeat(`{"a":`, 3000) + `1` + strings.Repeat(`}`, 3000),
	`{"s":"` + strings.Repeat("é", 5000) + `"}`,
}

func FuzzJoinBody(f *testing.F) {
	addBodies(f, append([]string{
		`{"user":"alice"}`, `{"user_token":"a","user_token":"b"}`, `{"USER_TOKEN":"a"}`, `{"Ticket":"a","ticket":"b"}`,
		`{"ticket":"AAAAAAAAAAAAAAAAAAAAAA"}`, `{"user_token":"x.y.z","ticket":""}`, `{"user_token":1}`, `{"pow":null}`,
		`{"pow":"` + strings.Repeat("u", 128) + `"}`, `{"ticket":"` + strings.Repeat("u", 129) + `"}`,
		`{"user":null}`, `{"pow":"e30="}`, `{"usr":"alice"}`, `{"ticket":""} {"ticket":""}`, `{}`,
	}, hostileBodies...))
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		env := fuzzTargetEnv(t, "join")
		rec := env.serve(http.MethodPost, "/api/rooms/"+fuzzRoom+"/tickets", ct, body, nil)
		switch rec.Code {
		case http.StatusOK, http.StatusCreated:
			var st struct {
				Ticket, Room, State string
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || !queue.ValidTicket(st.Ticket) || st.Room != fuzzRoom || st.State != "waiting" {
				t.Fatalf("join answered %d %q", rec.Code, rec.Body)
			}
			requireAcceptableBody(t, body, "user_token", "pow", "ticket")
		default:
			checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "invalid_body", "body_too_large", "invalid_user_token", "pow_invalid")
			if rec.Header().Get("Set-Cookie") != "" {
				t.Fatalf("a refused join set a cookie")
			}
		}
	})
}

// requireAcceptableBody fails unless an accepted body is empty, or valid
// UTF-8 JSON: one object whose keys, spelled exactly, are among keys.
func requireAcceptableBody(t *testing.T, body []byte, keys ...string) {
	t.Helper()
	if len(bytes.TrimSpace(body)) == 0 {
		return
	}
	var m map[string]any
	if !utf8.Valid(body) || json.Unmarshal(body, &m) != nil {
		t.Fatalf("accepted a body that is not a valid UTF-8 JSON object: %q", body)
	}
	for k := range m {
		if !contains(keys, k) {
			t.Fatalf("accepted key %q: %q", k, body)
		}
	}
}

func FuzzSeatBody(f *testing.F) {
	seeds := append([]string{
		`{"seat":"A1"}`, `{"seat":"B5"}`, `{"seat":"Z9"}`, `{"seat":""}`, `{"seat":"a1"}`, `{"seat":"A-1"}`,
		`{"seat":"` + strings.Repeat("A", 17) + `"}`, `{"seat":"A1","seat":"A2"}`, `{"Seat":"A1"}`, `{"seat":1}`,
		`{"seat":["A1"]}`, `{"seat":"A1","extra":true}`, `{"seat":"../A1"}`, `{"seat":"A1\u0000"}`,
	}, hostileBodies...)
	for i, s := range seeds {
		f.Add([]byte(s), contentTypes[i%len(contentTypes)], i%2 == 0)
		f.Add([]byte(s), "application/json", i%2 == 1)
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string, book bool) {
		env := fuzzTargetEnv(t, "seat")
		path := "/api/events/" + fuzzRoom + "/holds"
		if book {
			path = "/api/events/" + fuzzRoom + "/bookings"
		}
		rec := env.serve(http.MethodPost, path, ct, body, authHeader)
		switch rec.Code {
		case http.StatusOK, http.StatusCreated:
			var out map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || !booking.ValidSeatID(out["seat"]) {
				t.Fatalf("%s answered %d %q", path, rec.Code, rec.Body)
			}
			requireAcceptableBody(t, body, "seat")
			var in struct{ Seat string }
			_ = json.Unmarshal(body, &in)
			if in.Seat != out["seat"] {
				t.Fatalf("asked for seat %q, got %q", in.Seat, out["seat"])
			}
		default:
			checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "invalid_body", "body_too_large",
				"seat_not_found", "seat_unavailable", "hold_required", "limit_reached")
		}
	})
}

func FuzzSeatMapBody(f *testing.F) {
	addBodies(f, append([]string{
		`{"seats":["A1","A2"]}`, `{"seats":[]}`, `{"seats":null}`, `{"seats":["A1","A1"]}`, `{"seats":["a b"]}`,
		`{"seats":["A1"],"seats":["B1"]}`, `{"Seats":["A1"]}`, `{"seats":"A1"}`, `{"seats":[1,2]}`,
		`{"seats":["` + strings.Repeat("S", 17) + `"]}`, `{"seats":[""]}`, `{"seats":[["A1"]]}`,
	}, hostileBodies...))
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		env := fuzzTargetEnv(t, "seatmap")
		rec := env.serve(http.MethodPut, "/api/admin/events/"+fuzzRoom+"/seats", ct, body,
			authHeader)
		if rec.Code == http.StatusOK {
			var in struct{ Seats []string }
			if json.Unmarshal(body, &in) != nil {
				t.Fatalf("accepted %q", body)
			}
			requireAcceptableBody(t, body, "seats")
			for _, s := range in.Seats {
				if !booking.ValidSeatID(s) {
					t.Fatalf("accepted seat %q", s)
				}
			}
			return
		}
		checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "invalid_body", "body_too_large")
	})
}

func FuzzRoomConfigBody(f *testing.F) {
	addBodies(f, append([]string{
		`{"capacity":5}`, `{"batch_size":1e400}`, `{"batch_size":99999999999999999999}`, `{"capacity":-1}`,
		`{"capacity":1,"capacity":2}`, `{"mode":"reject","paused":true}`, `{"opens_at":null}`,
		`{"opens_at":"2030-01-01T00:00:00Z"}`, `{"target_url":"/x\u0000"}`, "{\"target_url\":\"/\xff\"}",
	}, hostileBodies...))
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		env := fuzzTargetEnv(t, "config")
		rec := env.serve(http.MethodPut, "/api/admin/rooms/"+fuzzRoom, ct, body,
			authHeader)
		if rec.Code == http.StatusOK || rec.Code == http.StatusCreated {
			if !utf8.Valid(body) {
				t.Fatalf("accepted invalid UTF-8: %q", body)
			}
			return
		}
		checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes(), "invalid_config", "invalid_body", "body_too_large")
	})
}
