package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/internal/ratelimit"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
	"github.com/waitroom/waitroom/web"
)

// SeatMapRoute is the operator's route that sets a room's seat map.
const SeatMapRoute = "/api/admin/events/:room/seats"

// SeatMapMaxBodyBytes is the largest seat-map body accepted: 100 000 seat
// ids of 16 characters are about 2 MB of JSON.
const SeatMapMaxBodyBytes = 4 << 20

// Booking serves the booking API of docs/API.md (the protected site): the seat
// map, holds, bookings and checkout, each behind a verified entry token
// whose admission is still live; the operator's seat-map route; and the
// booking page.
type Booking struct {
	Seats    *booking.Store
	Queue    *queue.Store
	Verifier *entrytoken.Verifier
	Logger   *slog.Logger
	// TokenCacheSize bounds the cache of verified entry tokens, which spares
	// the Ed25519 check on a visitor's repeated requests. 0 means
	// entrytoken.DefaultCacheSize; negative turns the cache off.
	TokenCacheSize int
	// Now is the clock of the token cache. Default time.Now.
	Now func() time.Time
	// Metrics counts token checks, holds and bookings; nil counts nothing.
	Metrics *metrics.Metrics
	// Limit limits the visitors' API requests per client address, checked
	// before the token and before Redis; nil allows all.
	Limit *ratelimit.Limiter

	tokens *entrytoken.Cache
}

// Register adds the booking routes to e: those of docs/API.md, GET
// /api/events/{room}/holds (the visitor's live holds with their ends, for
// the page's countdowns), and GET /static/* unless e serves it already.
// requireAdmin guards the seat-map route (Admin.RequireToken). The seat-map
// body may be up to SeatMapMaxBodyBytes, past the 8 KiB limit of every other
// request (routeBodyLimits in server.go).
func (b *Booking) Register(e *echo.Echo, requireAdmin echo.MiddlewareFunc) {
	if b.Logger == nil {
		b.Logger = slog.Default()
	}
	b.tokens = entrytoken.NewCache(b.Verifier, entrytoken.CacheOptions{Size: b.TokenCacheSize, Now: b.Now})

	api := e.Group("/api/events/:room")
	api.GET("/seats", b.listSeats, b.admitted)
	api.POST("/holds", b.hold, b.admitted)
	api.GET("/holds", b.listHolds, b.admitted)
	api.POST("/bookings", b.book, b.admitted)
	api.GET("/bookings", b.listBookings, b.admitted)
	api.DELETE("/bookings/:seat", b.cancel, b.admitted)
	api.POST("/checkout", b.checkout, b.admitted)

	e.PUT(SeatMapRoute, b.putSeatMap, requireAdmin) // its body limit: routeBodyLimits

	e.GET("/booking/:room", b.page)
	if !hasRoute(e, http.MethodGet, "/static/*") {
		e.GET("/static/*", serveStatic)
	}
}

func hasRoute(e *echo.Echo, method, path string) bool {
	for _, r := range e.Routes() {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// ---- entry token and admission --------------------------------------------

const admissionKey = "booking.admission"

// admission is the visitor behind a request that passed admitted.
type admission struct {
	room    string
	visitor string // see bookingVisitor
	ticket  string
}

func admissionFrom(c echo.Context) *admission {
	a, _ := c.Get(admissionKey).(*admission)
	return a
}

// admitted lets a request through only with a valid entry token for the
// room whose admission is still live: checkout, leave, expiry and the
// operator all end it at once, whatever the token's own exp says. The
// address's limit comes first: a flood costs neither an Ed25519 check nor
// a Redis round trip.
func (b *Booking) admitted(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		room, err := limitedRoom(c, b.Limit)
		if err != nil {
			return err
		}
		a, err := b.checkToken(c, room)
		b.countCheck(err)
		if err != nil {
			return err
		}
		c.Set(admissionKey, a)
		return next(c)
	}
}

// checkToken verifies the entry token and that its admission is still live.
func (b *Booking) checkToken(c echo.Context, room string) (*admission, error) {
	token, err := entrytoken.BearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	claims, err := b.tokens.Verify(ctx, token, room)
	if err != nil {
		return nil, err
	}
	live, err := b.Queue.LiveAdmission(ctx, room, claims.ID)
	if err != nil {
		return nil, err
	}
	if live.Subject() != claims.Subject {
		return nil, fmt.Errorf("%w: sub does not match the admission of its jti", entrytoken.ErrInvalidToken)
	}
	return &admission{room: room, visitor: bookingVisitor(live), ticket: live.Ticket}, nil
}

// bookingVisitor is whom seats are held and booked for: the verified user,
// across all their admissions (so the seat limit is per user), else this one
// admission. The prefixes keep a user id from ever naming an admission.
func bookingVisitor(a queue.ActiveAdmission) string {
	if a.User != "" {
		return "u:" + a.User
	}
	return "a:" + a.ID
}

// countCheck counts a token check by its result: ok or the error's code.
func (b *Booking) countCheck(err error) {
	if b.Metrics != nil {
		b.Metrics.TokenChecks.WithLabelValues(result(err)).Inc()
	}
}

// result names an outcome for a metric label: "ok" or the API error code.
func result(err error) string {
	if err == nil {
		return "ok"
	}
	return toAPIError(err).Code
}

// ---- visitors' routes ------------------------------------------------------

type holdBody struct {
	Seat      string `json:"seat"`
	HeldUntil string `json:"held_until"`
}

type bookingBody struct {
	Seat      string `json:"seat"`
	BookingID string `json:"booking_id"`
}

// timeFormat is RFC 3339 with milliseconds: a hold ends to the millisecond.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func (b *Booking) listSeats(c echo.Context) error {
	a := admissionFrom(c)
	seats, err := b.Seats.Seats(c.Request().Context(), a.room, a.visitor)
	if err != nil {
		return err
	}
	body := appendSeatList(make([]byte, 0, 48*len(seats)+16), seats)
	// A declared length spares the client chunked decoding.
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	return c.JSONBlob(http.StatusOK, body)
}

// appendSeatList writes the seat list as JSON by hand: it is the hottest
// answer of the booking API (every visitor polls it), and a seat id and a
// state never need escaping (ids are [A-Za-z0-9-], checked on the way in).
// Each seat is {"seat":"A1","state":"available|held|booked","mine":false}.
func appendSeatList(b []byte, seats []booking.Seat) []byte {
	b = append(b, '[')
	for i, s := range seats {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seat":"`...)
		b = append(b, s.ID...)
		b = append(b, `","state":"`...)
		b = append(b, s.State...)
		b = append(b, `","mine":`...)
		b = strconv.AppendBool(b, s.Mine)
		b = append(b, '}')
	}
	return append(b, ']', '\n')
}

// readSeat reads the body {"seat":"A1"} of a hold or a booking.
func readSeat(c echo.Context) (string, error) {
	var body struct {
		Seat string `json:"seat"`
	}
	if err := readJSON(c, &body); err != nil {
		return "", err
	}
	if body.Seat == "" {
		return "", apiErr(http.StatusBadRequest, "invalid_body", `The body must be {"seat":"<seat id>"}.`)
	}
	if !booking.ValidSeatID(body.Seat) {
		return "", booking.ErrInvalidSeat
	}
	return body.Seat, nil
}

// onSeat runs do, a visitor's hold or booking of the body's seat, and
// counts its result on the counter that counted picks out of the metrics.
func onSeat[T any](b *Booking, c echo.Context, counted func(*metrics.Metrics) *prometheus.CounterVec,
	do func(ctx context.Context, room, visitor, seat string) (T, bool, error)) (v T, created bool, err error) {
	a := admissionFrom(c)
	seat, err := readSeat(c)
	if err != nil {
		return v, false, err
	}
	v, created, err = do(c.Request().Context(), a.room, a.visitor, seat)
	if b.Metrics != nil {
		counted(b.Metrics).WithLabelValues(a.room, result(err)).Inc()
	}
	return v, created, err
}

func (b *Booking) hold(c echo.Context) error {
	h, created, err := onSeat(b, c, func(m *metrics.Metrics) *prometheus.CounterVec { return m.SeatHolds }, b.Seats.Hold)
	if err != nil {
		return err
	}
	return c.JSON(createdStatus(created), holdBody{Seat: h.Seat, HeldUntil: h.Until.Format(timeFormat)})
}

func (b *Booking) book(c echo.Context) error {
	bk, created, err := onSeat(b, c, func(m *metrics.Metrics) *prometheus.CounterVec { return m.Bookings }, b.Seats.Book)
	if err != nil {
		return err
	}
	if created {
		b.Logger.Info("seat booked", "request_id", requestID(c), "room", admissionFrom(c).room, "seat", bk.Seat, "booking_id", bk.ID)
	}
	return c.JSON(createdStatus(created), bookingBody{Seat: bk.Seat, BookingID: bk.ID})
}

func (b *Booking) listBookings(c echo.Context) error {
	return listMine(b, c, func(m booking.Holdings) []booking.Booking { return m.Bookings },
		func(bk booking.Booking) bookingBody { return bookingBody{Seat: bk.Seat, BookingID: bk.ID} })
}

// listHolds answers GET /api/events/{room}/holds, the visitor's live holds
// with their ends, so a reloaded page can still count a hold down.
func (b *Booking) listHolds(c echo.Context) error {
	return listMine(b, c, func(m booking.Holdings) []booking.Hold { return m.Holds },
		func(h booking.Hold) holdBody { return holdBody{Seat: h.Seat, HeldUntil: h.Until.Format(timeFormat)} })
}

// listMine answers the seats of the visitor's that pick takes from their
// holdings, each written as body writes it.
func listMine[T, B any](b *Booking, c echo.Context, pick func(booking.Holdings) []T, body func(T) B) error {
	a := admissionFrom(c)
	m, err := b.Seats.Mine(c.Request().Context(), a.room, a.visitor)
	if err != nil {
		return err
	}
	items := pick(m)
	out := make([]B, len(items))
	for i, item := range items {
		out[i] = body(item)
	}
	return c.JSON(http.StatusOK, out)
}

// cancel answers DELETE /api/events/{room}/bookings/{seat}: it cancels the
// visitor's booking of the seat, or releases their hold on it.
func (b *Booking) cancel(c echo.Context) error {
	a := admissionFrom(c)
	seat := c.Param("seat")
	if !booking.ValidSeatID(seat) {
		return booking.ErrSeatNotFound
	}
	if err := b.Seats.Cancel(c.Request().Context(), a.room, a.visitor, seat); err != nil {
		return err
	}
	b.Logger.Info("seat released", "request_id", requestID(c), "room", a.room, "seat", seat)
	return c.NoContent(http.StatusNoContent)
}

// checkout ends the visitor's admission, so the next tick gives its capacity
// to the next visitor in line. Holds go too (so nobody waits five minutes
// for them); bookings stay.
func (b *Booking) checkout(c echo.Context) error {
	a := admissionFrom(c)
	ctx := c.Request().Context()
	if _, err := b.Seats.ReleaseHolds(ctx, a.room, a.visitor); err != nil {
		return err
	}
	err := b.Queue.EndAdmission(ctx, a.room, a.ticket)
	if errors.Is(err, queue.ErrTicketNotFound) || errors.Is(err, queue.ErrRoomNotFound) {
		return queue.ErrAdmissionEnded // it ended between the check and now
	}
	if err != nil {
		return err
	}
	b.Logger.Info("checked out", "request_id", requestID(c), "room", a.room)
	return c.NoContent(http.StatusNoContent)
}

func (b *Booking) page(c echo.Context) error {
	if !queue.ValidRoomID(c.Param("room")) {
		return queue.ErrInvalidRoom
	}
	return servePage(c, web.BookingPage)
}

// ---- operator's seat map ----------------------------------------------------

func (b *Booking) putSeatMap(c echo.Context) error {
	room := c.Param("room")
	if !queue.ValidRoomID(room) {
		return queue.ErrInvalidRoom
	}
	var body struct {
		Seats *[]string `json:"seats"`
	}
	if err := readJSON(c, &body); err != nil {
		return err
	}
	if body.Seats == nil {
		return apiErr(http.StatusBadRequest, "invalid_body", `The body must be {"seats":["A1","A2",…]}.`)
	}
	released, err := b.Seats.PutSeatMap(c.Request().Context(), room, *body.Seats)
	var me *booking.SeatMapError
	if errors.As(err, &me) {
		return apiErr(http.StatusBadRequest, "invalid_body", "Seat map refused: "+me.Error()+".")
	}
	if err != nil {
		return err
	}
	b.Logger.Info("seat map put", "request_id", requestID(c), "room", room, "seats", len(*body.Seats), "released", released)
	return c.JSON(http.StatusOK, map[string]any{"room": room, "seats": len(*body.Seats), "released": released})
}

var errSeatMapTooLarge = apiErr(http.StatusRequestEntityTooLarge, "body_too_large", "A seat map body is at most 4 MiB.")
