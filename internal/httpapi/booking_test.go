package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
	"github.com/waitroom/waitroom/web"
)

const bkAdminToken = "operator-secret"

// bkBundle is what a booking API test needs: the booking API and the
// operator API on one real listening server, over a real Redis, with a room
// whose seat map is A1…A5, B1…B5.
type bkBundle struct {
	ctx    context.Context
	redis  *redistest.Server
	rdb    redis.UniversalClient
	queue  *queue.Store
	seats  *booking.Store
	key    []byte
	signer *entrytoken.Signer
	url    string
	room   string
}

type bkOptions struct {
	patch   queue.ConfigPatch
	booking booking.Options
	// tokenCacheSize is Booking.TokenCacheSize.
	tokenCacheSize int
}

var bkRoomSeq atomic.Int64

func setupBooking(t testing.TB, opts ...bkOptions) *bkBundle {
	t.Helper()
	var opt bkOptions
	if len(opts) > 0 {
		opt = opts[0]
	}
	if opt.patch.Mode == nil {
		opt.patch.Mode = new(queue.ModePassthrough)
	}
	srv := redistest.Start(t)
	rdb := srv.Client()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	signer, verifier, key := testproc.Tokens(t)

	q := queue.New(rdb, queue.Options{Logger: log})
	seats, err := booking.New(rdb, opt.booking)
	require.NoError(t, err)

	e := httpapi.NewEcho(log)
	admin := &httpapi.Admin{Store: q, Token: bkAdminToken, Logger: log, Sleep: func(time.Duration) {}}
	admin.Register(e)
	(&httpapi.Booking{Seats: seats, Queue: q, Verifier: verifier, Logger: log, TokenCacheSize: opt.tokenCacheSize}).
		Register(e, admin.RequireToken)
	hs := httptest.NewServer(e)
	t.Cleanup(hs.Close)

	b := &bkBundle{ctx: context.Background(), redis: srv, rdb: rdb, queue: q, seats: seats, key: key, signer: signer,
		url: hs.URL, room: fmt.Sprintf("event-%d", bkRoomSeq.Add(1))}
	_, _, err = q.PutRoom(b.ctx, b.room, opt.patch)
	require.NoError(t, err)
	_, err = seats.PutSeatMap(b.ctx, b.room, booking.GridSeats(2, 5))
	require.NoError(t, err)
	return b
}

// visitor is an admitted visitor of the bundle's room.
type visitor struct {
	user, ticket, token string
}

// admit joins the room as the verified user (admitted at once in
// passthrough mode) and signs the entry token waitroom would hand out.
func (b *bkBundle) admit(t testing.TB, user string) visitor {
	t.Helper()
	st, _, err := b.queue.Join(b.ctx, b.room, queue.JoinRequest{User: user})
	require.NoError(t, err)
	require.Equal(t, queue.StateAdmitted, st.State)
	return visitor{user: user, ticket: st.Ticket, token: b.entryToken(t, st)}
}

// entryToken signs the token waitroom hands out for an admitted status.
func (b *bkBundle) entryToken(t testing.TB, st queue.Status) string {
	t.Helper()
	require.Equal(t, queue.StateAdmitted, st.State)
	return b.token(t, st.Room, queue.Subject(st.User, st.AdmissionID), st.AdmissionID, st.AdmissionEnds)
}

func (b *bkBundle) token(t testing.TB, room, sub, id string, exp time.Time) string {
	t.Helper()
	tok, err := b.signer.Sign(entrytoken.Claims{Room: room, Subject: sub, ID: id, ExpiresAt: exp})
	require.NoError(t, err)
	return tok
}

type bkReply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with "Authorization: Bearer <token>" (none when token
// is ""). A string body goes as is; anything else as JSON (testproc.Send).
func (b *bkBundle) do(t testing.TB, method, path, token string, body any) bkReply {
	t.Helper()
	a, err := testproc.Send(b.ctx, http.DefaultClient, method, b.url+path, body, token)
	require.NoError(t, err)
	return bkReply{status: a.Status, header: a.Header, body: a.Body}
}

func (b *bkBundle) api(path string) string { return "/api/events/" + b.room + path }

// requireCode checks an error reply of docs/API.md's shape.
func requireCode(t testing.TB, r bkReply, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&e), "body: %s", r.body)
	require.Equal(t, code, e.Error.Code, "body: %s", r.body)
	require.NotEmpty(t, e.Error.Message)
}

// decodeStrict decodes a reply body, refusing fields the contract lacks.
func decodeStrict[T any](t testing.TB, r bkReply) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&v), "body: %s", r.body)
	return v
}

type seatJSON struct {
	Seat  string `json:"seat"`
	State string `json:"state"`
	Mine  bool   `json:"mine"`
}

type holdJSON struct {
	Seat      string `json:"seat"`
	HeldUntil string `json:"held_until"`
}

type bookingJSON struct {
	Seat      string `json:"seat"`
	BookingID string `json:"booking_id"`
}

func (b *bkBundle) seatStates(t testing.TB, v visitor) map[string]string {
	t.Helper()
	r := b.do(t, "GET", b.api("/seats"), v.token, nil)
	require.Equal(t, 200, r.status, "body: %s", r.body)
	out := map[string]string{}
	for _, s := range decodeStrict[[]seatJSON](t, r) {
		st := s.State
		if s.Mine {
			st += "+mine"
		}
		out[s.Seat] = st
	}
	return out
}

// ---- the happy path --------------------------------------------------------

func TestBookingSeatListShowsEverySeatInOrderWithItsState(t *testing.T) {
	b := setupBooking(t)
	ann, bob := b.admit(t, "ann"), b.admit(t, "bob")
	require.Equal(t, 201, b.do(t, "POST", b.api("/holds"), ann.token, map[string]string{"seat": "A2"}).status)
	require.Equal(t, 201, b.do(t, "POST", b.api("/holds"), bob.token, map[string]string{"seat": "B5"}).status)
	require.Equal(t, 201, b.do(t, "POST", b.api("/bookings"), bob.token, map[string]string{"seat": "B5"}).status)

	r := b.do(t, "GET", b.api("/seats"), ann.token, nil)
	require.Equal(t, 200, r.status)
	require.Equal(t, "application/json", strings.Split(r.header.Get("Content-Type"), ";")[0])
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	seats := decodeStrict[[]seatJSON](t, r)
	require.Len(t, seats, 10)
	require.Equal(t, seatJSON{"A1", "available", false}, seats[0])
	require.Equal(t, seatJSON{"A2", "held", true}, seats[1])
	require.Equal(t, seatJSON{"B5", "booked", false}, seats[9])

	require.Equal(t, "held", b.seatStates(t, bob)["A2"])
	require.Equal(t, "booked+mine", b.seatStates(t, bob)["B5"])
}

func TestBookingHoldAnswers201WithItsEndAndAgain200(t *testing.T) {
	b := setupBooking(t)
	ann := b.admit(t, "ann")
	now, err := b.rdb.Time(b.ctx).Result()
	require.NoError(t, err)

	r := b.do(t, "POST", b.api("/holds"), ann.token, map[string]string{"seat": "A1"})
	require.Equal(t, 201, r.status, "body: %s", r.body)
	h := decodeStrict[holdJSON](t, r)
	require.Equal(t, "A1", h.Seat)
	until, err := time.Parse(time.RFC3339, h.HeldUntil)
	require.NoError(t, err)
	require.WithinDuration(t, now.Add(5*time.Minute), until, 2*time.Second)

	requireAgainAndListed(t, b, "/holds", ann.token, "A1", h)
}

// requireAgainAndListed checks that asking for seat at path (/holds or
// /bookings) again answers 200 with first, what the first ask made, and
// that GET path lists first alone.
func requireAgainAndListed[T any](t *testing.T, b *bkBundle, path, token, seat string, first T) {
	t.Helper()
	again := b.do(t, "POST", b.api(path), token, map[string]string{"seat": seat})
	require.Equal(t, 200, again.status, "asking again for your own %s gives it back", path)
	require.Equal(t, first, decodeStrict[T](t, again))
	list := b.do(t, "GET", b.api(path), token, nil)
	require.Equal(t, 200, list.status)
	require.Equal(t, []T{first}, decodeStrict[[]T](t, list))
}

func TestBookingBookAnswers201AndListsTheBooking(t *testing.T) {
	b := setupBooking(t)
	ann := b.admit(t, "ann")
	b.do(t, "POST", b.api("/holds"), ann.token, map[string]string{"seat": "A3"})

	r := b.do(t, "POST", b.api("/bookings"), ann.token, map[string]string{"seat": "A3"})
	require.Equal(t, 201, r.status, "body: %s", r.body)
	bk := decodeStrict[bookingJSON](t, r)
	require.Equal(t, "A3", bk.Seat)
	require.NotEmpty(t, bk.BookingID)

	requireAgainAndListed(t, b, "/bookings", ann.token, "A3", bk)
	require.Equal(t, "[]\n", string(b.do(t, "GET", b.api("/holds"), ann.token, nil).body), "the hold became the booking")
	require.Equal(t, "booked+mine", b.seatStates(t, ann)["A3"])
}

func TestBookingEmptyListsAreEmptyArrays(t *testing.T) {
	b := setupBooking(t)
	ann := b.admit(t, "ann")
	for _, p := range []string{"/bookings", "/holds"} {
		r := b.do(t, "GET", b.api(p), ann.token, nil)
		require.Equal(t, 200, r.status)
		require.Equal(t, "[]\n", string(r.body))
	}
}

func TestBookingDeleteMakesTheSeatAvailableAgain(t *testing.T) {
	b := setupBooking(t)
	ann, bob := b.admit(t, "ann"), b.admit(t, "bob")
	b.do(t, "POST", b.api("/holds"), ann.token, map[string]string{"seat": "A1"})
	b.do(t, "POST", b.api("/bookings"), ann.token, map[string]string{"seat": "A1"})

	r := b.do(t, "DELETE", b.api("/bookings/A1"), ann.token, nil)
	require.Equal(t, 204, r.status, "body: %s", r.body)
	require.Empty(t, r.body)
	require.Equal(t, "available", b.seatStates(t, bob)["A1"])
	require.Equal(t, "[]\n", string(b.do(t, "GET", b.api("/bookings"), ann.token, nil).body))

	// A hold is released the same way.
	b.do(t, "POST", b.api("/holds"), bob.token, map[string]string{"seat": "A1"})
	require.Equal(t, 204, b.do(t, "DELETE", b.api("/bookings/A1"), bob.token, nil).status)
	require.Equal(t, "available", b.seatStates(t, ann)["A1"])

	requireCode(t, b.do(t, "DELETE", b.api("/bookings/A1"), ann.token, nil), 404, "booking_not_found")
}

func TestBookingCheckoutEndsTheAdmissionAndFreesItsCapacity(t *testing.T) {
	b := setupBooking(t, bkOptions{patch: queue.ConfigPatch{Mode: new(queue.ModeAuto), Capacity: new(1)}})
	ann := b.admit(t, "ann")
	st, _, err := b.queue.Join(b.ctx, b.room, queue.JoinRequest{User: "bob"})
	require.NoError(t, err)
	require.Equal(t, queue.StateWaiting, st.State, "capacity 1 is taken by ann")

	b.do(t, "POST", b.api("/holds"), ann.token, map[string]string{"seat": "A1"})
	b.do(t, "POST", b.api("/bookings"), ann.token, map[string]string{"seat": "A1"})
	b.do(t, "POST", b.api("/holds"), ann.token, map[string]string{"seat": "A2"})
	// The token is verified (and cached) before checkout: the admission
	// check must still see the end.
	require.Equal(t, 200, b.do(t, "GET", b.api("/seats"), ann.token, nil).status)

	r := b.do(t, "POST", b.api("/checkout"), ann.token, nil)
	require.Equal(t, 204, r.status, "body: %s", r.body)

	_, err = b.queue.LiveAdmission(b.ctx, b.room, testproc.Claims(t, ann.token).ID)
	require.ErrorIs(t, err, queue.ErrAdmissionEnded)
	requireCode(t, b.do(t, "GET", b.api("/seats"), ann.token, nil), 401, "admission_ended")
	requireCode(t, b.do(t, "POST", b.api("/checkout"), ann.token, nil), 401, "admission_ended")

	ev, err := b.queue.Tick(b.ctx, b.room)
	require.NoError(t, err)
	require.Len(t, ev.Admitted, 1, "the next tick admits the visitor who waited")
	st, err = b.queue.Status(b.ctx, b.room, st.Ticket)
	require.NoError(t, err)
	require.Equal(t, queue.StateAdmitted, st.State)

	// Bookings stay, holds go.
	bob := visitor{user: "bob", token: b.entryToken(t, st)}
	require.Equal(t, map[string]string{"A1": "booked", "A2": "available"},
		map[string]string{"A1": b.seatStates(t, bob)["A1"], "A2": b.seatStates(t, bob)["A2"]})
	m, err := b.seats.Mine(b.ctx, b.room, "u:ann")
	require.NoError(t, err)
	require.Len(t, m.Bookings, 1)
	require.Empty(t, m.Holds)
}

// ---- tokens and admissions -------------------------------------------------

func TestBookingRefusesMissingAndBadTokens(t *testing.T) {
	b := setupBooking(t)
	ann := b.admit(t, "ann")
	otherKey, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	forged, err := entrytoken.NewSigner(otherKey, nil, entrytoken.SignerOptions{}).
		Sign(entrytoken.Claims{Room: b.room, Subject: "ann", ID: testproc.Claims(t, ann.token).ID, ExpiresAt: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	expired, err := entrytoken.NewSigner(b.key, nil, entrytoken.SignerOptions{Now: func() time.Time { return time.Now().Add(-time.Hour) }}).
		Sign(entrytoken.Claims{Room: b.room, Subject: "ann", ID: testproc.Claims(t, ann.token).ID, ExpiresAt: time.Now().Add(-50 * time.Minute)})
	require.NoError(t, err)

	routes := []struct{ method, path string }{
		{"GET", "/seats"}, {"POST", "/holds"}, {"GET", "/holds"}, {"POST", "/bookings"},
		{"GET", "/bookings"}, {"DELETE", "/bookings/A1"}, {"POST", "/checkout"},
	}
	for _, rt := range routes {
		t.Run(rt.method+rt.path, func(t *testing.T) {
			var body any
			if rt.method == "POST" {
				body = map[string]string{"seat": "A1"}
			}
			requireCode(t, b.do(t, rt.method, b.api(rt.path), "", body), 401, "invalid_token")
			requireCode(t, b.do(t, rt.method, b.api(rt.path), "not-a-jwt", body), 401, "invalid_token")
			requireCode(t, b.do(t, rt.method, b.api(rt.path), forged, body), 401, "invalid_token")
			requireCode(t, b.do(t, rt.method, b.api(rt.path), expired, body), 401, "invalid_token")
			other := b.token(t, "another-room", "ann", testproc.Claims(t, ann.token).ID, time.Now().Add(time.Minute))
			requireCode(t, b.do(t, rt.method, b.api(rt.path), other, body), 403, "wrong_room")
			// ann's valid token, on another room's path.
			requireCode(t, b.do(t, rt.method, "/api/events/another-room"+rt.path, ann.token, body), 403, "wrong_room")
			requireCode(t, b.do(t, rt.method, "/api/events/Not_A_Room"+rt.path, ann.token, body), 400, "invalid_room")
		})
	}
	// A Basic header is not a Bearer token.
	req, err := http.NewRequest("GET", b.url+b.api("/seats"), nil)
	require.NoError(t, err)
	req.SetBasicAuth("ann", "x")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 401, res.StatusCode)
}

func TestBookingSaysAdmissionEndedWhenTheVisitorLeftWasEndedOrRanOut(t *testing.T) {
	b := setupBooking(t)
	cases := map[string]func(v visitor){
		"left": func(v visitor) { require.NoError(t, b.queue.Leave(b.ctx, b.room, v.ticket)) },
		"ended by the operator": func(v visitor) {
			require.NoError(t, b.queue.EndAdmission(b.ctx, b.room, v.ticket))
		},
		"ran out": func(v visitor) {
			// session_ttl_s is at least 10 s; move the end into the past instead.
			require.NoError(t, b.rdb.ZAddXX(b.ctx, "wr:{"+b.room+"}:adm", redis.Z{Score: 1, Member: v.ticket}).Err())
		},
		"room deleted": func(v visitor) { require.NoError(t, b.queue.DeleteRoom(b.ctx, b.room)) },
	}
	i := 0
	for name, end := range cases {
		t.Run(name, func(t *testing.T) {
			if name == "room deleted" {
				defer func() {
					_, _, _ = b.queue.PutRoom(b.ctx, b.room, queue.ConfigPatch{Mode: new(queue.ModePassthrough)})
				}()
			}
			i++
			v := b.admit(t, fmt.Sprintf("user-%d", i))
			require.Equal(t, 200, b.do(t, "GET", b.api("/seats"), v.token, nil).status)
			end(v)
			requireCode(t, b.do(t, "GET", b.api("/seats"), v.token, nil), 401, "admission_ended")
			requireCode(t, b.do(t, "POST", b.api("/holds"), v.token, map[string]string{"seat": "A1"}), 401, "admission_ended")
		})
	}
}

func TestBookingTokenOfAnAnonymousVisitorNamesItsAdmissionNotTheTicket(t *testing.T) {
	b := setupBooking(t)
	st, _, err := b.queue.Join(b.ctx, b.room, queue.JoinRequest{})
	require.NoError(t, err)
	tok := b.entryToken(t, st)
	require.NotEqual(t, st.Ticket, st.AdmissionID)
	require.Equal(t, 201, b.do(t, "POST", b.api("/holds"), tok, map[string]string{"seat": "A1"}).status)
	require.Equal(t, 204, b.do(t, "POST", b.api("/checkout"), tok, nil).status)
	requireCode(t, b.do(t, "GET", b.api("/seats"), tok, nil), 401, "admission_ended")
}

func TestBookingRefusesATokenWhoseSubIsNotItsAdmissions(t *testing.T) {
	b := setupBooking(t)
	ann := b.admit(t, "ann")
	spliced := b.token(t, b.room, "mallory", testproc.Claims(t, ann.token).ID, time.Now().Add(time.Minute))
	requireCode(t, b.do(t, "GET", b.api("/seats"), spliced, nil), 401, "invalid_token")
}

func TestBookingTokenOfAnEndedAdmissionNeverWorksAgainEvenWhenTheUserIsBack(t *testing.T) {
	b := setupBooking(t)
	first := b.admit(t, "ann")
	require.Equal(t, 201, b.do(t, "POST", b.api("/holds"), first.token, map[string]string{"seat": "A1"}).status)
	require.Equal(t, 204, b.do(t, "POST", b.api("/checkout"), first.token, nil).status)
	again := b.admit(t, "ann")
	require.NotEqual(t, testproc.Claims(t, first.token).ID, testproc.Claims(t, again.token).ID, "a new admission, a new jti")
	requireCode(t, b.do(t, "GET", b.api("/seats"), first.token, nil), 401, "admission_ended")
	requireCode(t, b.do(t, "POST", b.api("/checkout"), first.token, nil), 401, "admission_ended")
	// The seat limit and the bookings follow the verified user.
	require.Equal(t, 200, b.do(t, "GET", b.api("/seats"), again.token, nil).status)
}

func TestBookingWorksWithTheTokenCacheOff(t *testing.T) {
	b := setupBooking(t, bkOptions{tokenCacheSize: -1})
	ann := b.admit(t, "ann")
	require.Equal(t, 200, b.do(t, "GET", b.api("/seats"), ann.token, nil).status)
	requireCode(t, b.do(t, "GET", "/api/events/another-room/seats", ann.token, nil), 403, "wrong_room")
	require.NoError(t, b.queue.Leave(b.ctx, b.room, ann.ticket))
	requireCode(t, b.do(t, "GET", b.api("/seats"), ann.token, nil), 401, "admission_ended")
}

// ---- seat errors -----------------------------------------------------------

func TestBookingSeatErrors(t *testing.T) {
	b := setupBooking(t, bkOptions{booking: booking.Options{MaxPerVisitor: 2}})
	ann, bob := b.admit(t, "ann"), b.admit(t, "bob")
	seat := func(s string) map[string]string { return map[string]string{"seat": s} }
	b.do(t, "POST", b.api("/holds"), ann.token, seat("A1"))

	t.Run("seat_not_found", func(t *testing.T) {
		requireCode(t, b.do(t, "POST", b.api("/holds"), ann.token, seat("Z9")), 404, "seat_not_found")
		requireCode(t, b.do(t, "POST", b.api("/bookings"), ann.token, seat("Z9")), 404, "seat_not_found")
		requireCode(t, b.do(t, "DELETE", b.api("/bookings/Z9"), ann.token, nil), 404, "seat_not_found")
		requireCode(t, b.do(t, "DELETE", b.api("/bookings/no_such_seat!"), ann.token, nil), 404, "seat_not_found")
	})
	t.Run("seat_unavailable", func(t *testing.T) {
		requireCode(t, b.do(t, "POST", b.api("/holds"), bob.token, seat("A1")), 409, "seat_unavailable")
		requireCode(t, b.do(t, "POST", b.api("/bookings"), bob.token, seat("A1")), 409, "seat_unavailable")
	})
	t.Run("hold_required", func(t *testing.T) {
		requireCode(t, b.do(t, "POST", b.api("/bookings"), bob.token, seat("A2")), 409, "hold_required")
	})
	t.Run("booking_not_found", func(t *testing.T) {
		requireCode(t, b.do(t, "DELETE", b.api("/bookings/A1"), bob.token, nil), 404, "booking_not_found")
	})
	t.Run("limit_reached", func(t *testing.T) {
		require.Equal(t, 201, b.do(t, "POST", b.api("/holds"), ann.token, seat("A2")).status)
		requireCode(t, b.do(t, "POST", b.api("/holds"), ann.token, seat("A3")), 409, "limit_reached")
	})
	t.Run("invalid_body", func(t *testing.T) {
		for name, body := range map[string]string{
			"not json":      `{"seat":`,
			"unknown field": `{"seat":"A4","extra":1}`,
			"no seat":       `{}`,
			"empty body":    ``,
			"bad seat id":   `{"seat":"A_4"}`,
			"long seat id":  `{"seat":"ABCDEFGHIJKLMNOPQ"}`,
			"seat a number": `{"seat":4}`,
			"two objects":   `{"seat":"A4"}{"seat":"A5"}`,
		} {
			requireCode(t, b.do(t, "POST", b.api("/holds"), bob.token, body), 400, "invalid_body")
			requireCode(t, b.do(t, "POST", b.api("/bookings"), bob.token, body), 400, "invalid_body")
			_ = name
		}
		req, err := http.NewRequest("POST", b.url+b.api("/holds"), strings.NewReader(`seat=A4`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+bob.token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		requireCode(t, bkReply{status: res.StatusCode, body: raw}, 400, "invalid_body")
	})
	t.Run("body_too_large", func(t *testing.T) {
		big := `{"seat":"A4","pad":"` + strings.Repeat("x", 9000) + `"}`
		requireCode(t, b.do(t, "POST", b.api("/holds"), bob.token, big), 413, "body_too_large")
	})
	// None of the refusals changed anything.
	require.Equal(t, map[string]string{"A1": "held", "A2": "held", "A3": "available", "A4": "available"},
		pick(b.seatStates(t, bob), "A1", "A2", "A3", "A4"))
}

func pick(m map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

func TestBookingAnswers503WhenRedisIsDown(t *testing.T) {
	b := setupBooking(t)
	ann := b.admit(t, "ann")
	require.NoError(t, b.redis.Kill())
	requireCode(t, b.do(t, "GET", b.api("/seats"), ann.token, nil), 503, "unavailable")
	require.NoError(t, b.redis.Start())
}

// ---- the operator's seat map -------------------------------------------------

func TestBookingSeatMapPut(t *testing.T) {
	b := setupBooking(t)
	ann := b.admit(t, "ann")
	path := "/api/admin/events/" + b.room + "/seats"
	b.do(t, "POST", b.api("/holds"), ann.token, map[string]string{"seat": "A1"})

	t.Run("unauthorized", func(t *testing.T) {
		body := map[string][]string{"seats": {"X1"}}
		requireCode(t, b.do(t, "PUT", path, "", body), 401, "unauthorized")
		requireCode(t, b.do(t, "PUT", path, "wrong", body), 401, "unauthorized")
		requireCode(t, b.do(t, "PUT", path, ann.token, body), 401, "unauthorized")
		// A body past the visitors' limit is refused as unauthorised, unread.
		requireCode(t, b.do(t, "PUT", path, "", `{"seats":[]}`+strings.Repeat(" ", 100<<10)), 401, "unauthorized")
	})
	t.Run("invalid", func(t *testing.T) {
		for name, body := range map[string]string{
			"duplicate":     `{"seats":["A1","A1"]}`,
			"bad id":        `{"seats":["A1","B 2"]}`,
			"no seats":      `{}`,
			"null seats":    `{"seats":null}`,
			"not a list":    `{"seats":"A1"}`,
			"unknown field": `{"seats":["A1"],"rows":2}`,
			"not json":      `[`,
		} {
			r := b.do(t, "PUT", path, bkAdminToken, body)
			requireCode(t, r, 400, "invalid_body")
			_ = name
		}
		requireCode(t, b.do(t, "PUT", "/api/admin/events/Bad_Room/seats", bkAdminToken, `{"seats":[]}`), 400, "invalid_room")
		tooMany, err := json.Marshal(map[string][]string{"seats": booking.GridSeats(1001, 100)})
		require.NoError(t, err)
		r := b.do(t, "PUT", path, bkAdminToken, tooMany)
		requireCode(t, r, 400, "invalid_body")
		require.Contains(t, string(r.body), "100000")
		require.Equal(t, "held+mine", b.seatStates(t, ann)["A1"], "nothing changed")
	})
	t.Run("too large", func(t *testing.T) {
		huge := `{"seats":["A1"],"x":"` + strings.Repeat("x", httpapi.SeatMapMaxBodyBytes) + `"}`
		chunked := struct{ io.Reader }{strings.NewReader(huge)}
		requireCode(t, b.do(t, "PUT", path, bkAdminToken, chunked), 413, "body_too_large")

		// A Content-Length over the limit is refused before the body is read.
		conn, err := net.Dial("tcp", strings.TrimPrefix(b.url, "http://"))
		require.NoError(t, err)
		defer conn.Close()
		_, err = fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: booking\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, bkAdminToken, httpapi.SeatMapMaxBodyBytes+1)
		require.NoError(t, err)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		requireCode(t, bkReply{status: res.StatusCode, body: raw}, 413, "body_too_large")
	})
	t.Run("replaces the map", func(t *testing.T) {
		r := b.do(t, "PUT", path, bkAdminToken, map[string][]string{"seats": {"C1", "A1", "C2"}})
		require.Equal(t, 200, r.status, "body: %s", r.body)
		require.JSONEq(t, `{"room":"`+b.room+`","seats":3,"released":0}`, string(r.body))
		seats := decodeStrict[[]seatJSON](t, b.do(t, "GET", b.api("/seats"), ann.token, nil))
		require.Equal(t, []seatJSON{{"C1", "available", false}, {"A1", "held", true}, {"C2", "available", false}}, seats)
	})
	t.Run("one hundred thousand seats", func(t *testing.T) {
		seats := booking.GridSeats(1000, 100)
		body, err := json.Marshal(map[string][]string{"seats": seats})
		require.NoError(t, err)
		require.Greater(t, len(body), httpapi.MaxBodyBytes)
		r := b.do(t, "PUT", path, bkAdminToken, body)
		require.Equal(t, 200, r.status, "body: %s", r.body)
		require.JSONEq(t, `{"room":"`+b.room+`","seats":100000,"released":0}`, string(r.body))
		list := decodeStrict[[]seatJSON](t, b.do(t, "GET", b.api("/seats"), ann.token, nil))
		require.Len(t, list, 100000)
		require.Equal(t, seatJSON{"A1", "held", true}, list[0])
	})
	t.Run("the visitors' limit still holds elsewhere", func(t *testing.T) {
		big := `{"seat":"A4","pad":"` + strings.Repeat("x", 9000) + `"}`
		requireCode(t, b.do(t, "POST", b.api("/holds"), ann.token, big), 413, "body_too_large")
		requireCode(t, b.do(t, "PUT", "/api/admin/rooms/"+b.room, bkAdminToken, `{"capacity":5,"x":"`+strings.Repeat("x", 9000)+`"}`), 413, "body_too_large")
	})
}

// ---- page and static files ---------------------------------------------------

func TestBookingPageIsServedForAnyValidRoom(t *testing.T) {
	b := setupBooking(t)
	r := b.do(t, "GET", "/booking/"+b.room, "", nil)
	require.Equal(t, 200, r.status)
	require.Contains(t, r.header.Get("Content-Type"), "text/html")
	require.Contains(t, string(r.body), `src="../static/booking.js"`)
	require.NotEmpty(t, r.header.Get("Content-Security-Policy"))
	requireCode(t, b.do(t, "GET", "/booking/Bad_Room", "", nil), 400, "invalid_room")
	for _, f := range []string{"booking.js", "booking.css", "style.css"} {
		require.Equal(t, 200, b.do(t, "GET", "/static/"+f, "", nil).status, f)
	}
}

// The booking page must run under the strict policy NewEcho sends
// ("default-src 'self'"): nothing inline, nothing from another origin, and
// every element its script looks up exists.
func TestBookingPageRunsUnderTheStrictPolicy(t *testing.T) {
	read := func(name string) string {
		b, err := fs.ReadFile(web.Files(), name)
		require.NoError(t, err)
		return string(b)
	}
	html, js, css := read(web.BookingPage), read("booking.js"), read("booking.css")
	require.NotRegexp(t, `(?i)https?://`, html+css)
	require.NotRegexp(t, `(?i)<style\b`, html)
	require.NotRegexp(t, `(?i)<[a-z][^>]*\s(on[a-z]+|style)\s*=`, html)
	for _, m := range regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`).FindAllStringSubmatch(html, -1) {
		require.Contains(t, m[1], `src="../static/`)
		require.Empty(t, strings.TrimSpace(m[2]), "no inline script")
	}
	for _, m := range regexp.MustCompile(`(?i)\s(?:src|href)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(html, -1) {
		// Relative, so the page works under a gateway's prefix too.
		require.True(t, !strings.HasPrefix(m[1], "/") && !strings.Contains(m[1], ":"), "relative reference: %s", m[1])
	}
	for _, want := range []string{`src="../static/booking.js"`, `href="../static/style.css"`, `href="../static/booking.css"`, `name="viewport"`} {
		require.Contains(t, html, want)
	}
	for _, m := range regexp.MustCompile(`byId\('([^']+)'\)`).FindAllStringSubmatch(js, -1) {
		require.Contains(t, html, `id="`+m[1]+`"`, "booking.js looks up #%s", m[1])
	}
	require.NotContains(t, css, "@import")
	require.NotContains(t, js, "eval(")
}

// ---- throughput ----------------------------------------------------------------

// BenchmarkBookingSeatList measures verified seat-list requests against a
// real listening server: every request carries an entry token, is verified
// (Ed25519, or the token cache) and checked for a live admission in Redis,
// then lists a 100-seat map. 1 000 admitted visitors take turns. The load
// comes from 64 keep-alive connections speaking bare HTTP/1.1, so that the
// client, which shares the machine, costs as little as it can.
//
//	go test ./internal/httpapi -run '^$' -bench BookingSeatList -benchtime 100000x
func BenchmarkBookingSeatList(b *testing.B) {
	for _, bc := range []struct {
		name        string
		tokenCache  int
		seatsMaxAge time.Duration
	}{
		{"production", 0, 250 * time.Millisecond}, // cmd/booking's defaults
		{"token-cache", 0, 0},
		{"no-cache", -1, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bb := setupBooking(b, bkOptions{tokenCacheSize: bc.tokenCache, booking: booking.Options{SeatsMaxAge: bc.seatsMaxAge}})
			_, err := bb.seats.PutSeatMap(bb.ctx, bb.room, booking.GridSeats(10, 10))
			require.NoError(b, err)
			tokens := make([]string, 1000)
			for i := range tokens {
				v := bb.admit(b, fmt.Sprintf("visitor-%d", i))
				tokens[i] = v.token
				if i%10 == 0 { // some seats held and booked, as in a sale
					_, _, err := bb.seats.Hold(bb.ctx, bb.room, v.user, booking.GridSeats(10, 10)[i/10])
					require.NoError(b, err)
				}
			}
			addr := strings.TrimPrefix(bb.url, "http://")
			path := bb.api("/seats")
			var n atomic.Int64
			b.SetParallelism(32) // 32 × GOMAXPROCS connections
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				c, err := dialRaw(addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for pb.Next() {
					tok := tokens[int(n.Add(1))%len(tokens)]
					status, err := c.get(path, tok)
					if err != nil || status != 200 {
						b.Errorf("GET %s: status %d, %v", path, status, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// rawConn is a bare HTTP/1.1 keep-alive client connection: a load generator
// that spends little CPU on the machine it measures.
type rawConn struct {
	net.Conn
	r   *bufio.Reader
	req []byte
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

// get sends one GET with a Bearer token and reads the answer, whose body
// must have a Content-Length.
func (c *rawConn) get(path, token string) (int, error) {
	c.req = append(c.req[:0], "GET "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer "...)
	c.req = append(c.req, token...)
	c.req = append(c.req, "\r\n\r\n"...)
	if _, err := c.Write(c.req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := strings.Cut(string(h), ":"); ok && strings.EqualFold(k, "Content-Length") {
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return 0, err
			}
		}
	}
	if length < 0 {
		return 0, errors.New("no Content-Length")
	}
	_, err = c.r.Discard(length)
	return status, err
}
