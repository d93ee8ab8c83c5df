package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/internal/pow"
	"github.com/waitroom/waitroom/internal/ratelimit"
	"github.com/waitroom/waitroom/internal/usertoken"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
	"github.com/waitroom/waitroom/web"
)

// SocketServer takes over an upgraded WebSocket for a ticket (internal/hub).
type SocketServer interface {
	Serve(ctx context.Context, room, ticket string, conn *websocket.Conn)
}

// UserVerifier checks a user token signed by the protected site
// (internal/usertoken) and returns the user id it proves. Its errors wrap
// usertoken.ErrInvalid or usertoken.ErrKeysUnavailable.
type UserVerifier interface {
	Verify(ctx context.Context, token, room string) (user string, err error)
}

// Puzzles makes and checks the join's proof of work (internal/pow). Verify's
// errors wrap pow.ErrInvalid.
type Puzzles interface {
	// Challenge is a fresh challenge of size maxnumber for room, ready to
	// be sent as JSON.
	Challenge(room string, maxnumber int) (any, error)
	// Verify checks a solved payload for room and returns its single-use id
	// and when it expires.
	Verify(room, payload string) (id string, expires time.Time, err error)
	// Required is the puzzle size for an address that fetched recent
	// challenges in the last minute, in a room of size base.
	Required(base int, recent int64) int
}

// Waitroom serves the visitors' side of docs/API.md: join, status, leave, room
// info, the live-position socket, the JWKS, the waiting page and health.
type Waitroom struct {
	Store   *queue.Store
	Sockets SocketServer
	Signer  *entrytoken.Signer
	// Users verifies user tokens; nil: no user token is accepted (and a
	// require_user room admits nobody new).
	Users UserVerifier
	// Puzzles makes and checks proofs of work; nil: none is accepted (and a
	// room with pow_work admits nobody new).
	Puzzles Puzzles
	// TrustProxy: the Host a visitor's browser used may arrive as
	// X-Forwarded-Host (behind your own proxy only).
	TrustProxy bool
	// JoinLimit limits joins per client address; nil allows all.
	JoinLimit *ratelimit.Limiter
	// StatusLimit limits status reads (a ticket's status, a room's info)
	// and leaves per client address; nil allows all.
	StatusLimit *ratelimit.Limiter
	// SocketLimit limits WebSocket upgrades per client address; nil allows
	// all.
	SocketLimit *ratelimit.Limiter
	// SocketsPerAddr caps the sockets open at once per client address; nil
	// allows any number.
	SocketsPerAddr *ratelimit.Concurrent
	// CookieSecure says when the cookies it sets carry Secure; default per
	// request (TLS or X-Forwarded-Proto: https).
	CookieSecure CookieSecure
	// CORSOrigins are the origins (https://shop.example.com) whose pages may
	// call /api/rooms/* and open its sockets; none by default: no CORS.
	CORSOrigins []string
	// Draining is set when shutdown starts: /readyz answers 503 from then on.
	Draining *atomic.Bool
	// SocketContext outlives requests: sockets end when it is cancelled.
	SocketContext context.Context
	Logger        *slog.Logger
	// Metrics counts joins, admissions at join and leaves; nil counts nothing.
	Metrics  *metrics.Metrics
	upgrader websocket.Upgrader
	cors     corsOrigins
	arrivals selfVerifier
}

// Register adds the routes to e.
func (w *Waitroom) Register(e *echo.Echo) {
	// Small buffers and a shared write-buffer pool keep an idle socket at a
	// few kilobytes: one process holds 100 000 of them.
	w.upgrader = websocket.Upgrader{
		ReadBufferSize:   256,
		WriteBufferSize:  1024,
		WriteBufferPool:  writeBufferPool,
		HandshakeTimeout: 10 * time.Second,
		Error: func(rw http.ResponseWriter, r *http.Request, status int, reason error) {
			writeRawError(rw, apiErr(status, "websocket_handshake_failed", "The WebSocket handshake failed: "+reason.Error()))
		},
	}
	if cors := newCORSOrigins(w.CORSOrigins); cors != nil {
		// Preflights match no route's handler, so this is e.Use, limited
		// to /api/rooms/* inside.
		e.Use(cors.middleware)
		// Browsers send no preflight for a socket: the upgrader checks the
		// Origin itself, same host or a configured origin.
		w.upgrader.CheckOrigin = func(r *http.Request) bool {
			return sameOrigin(r) || cors[r.Header.Get("Origin")]
		}
	}
	if w.Draining == nil {
		w.Draining = new(atomic.Bool)
	}
	if w.SocketContext == nil {
		w.SocketContext = context.Background()
	}
	w.cors = newCORSOrigins(w.CORSOrigins)
	e.POST("/api/rooms/:room/tickets", w.join)
	e.GET("/api/rooms/:room/challenge", w.challenge)
	e.GET("/api/rooms/:room/tickets/:ticket", w.status)
	e.DELETE("/api/rooms/:room/tickets/:ticket", w.leave)
	e.POST("/api/rooms/:room/arrive", w.arrive)
	e.GET("/api/rooms/:room", w.roomInfo)
	e.GET("/api/rooms/:room/ws", w.socket)
	e.GET("/.well-known/jwks.json", w.jwks)
	e.GET("/rooms/:room", w.page)
	e.GET("/static/*", serveStatic)
	RegisterHealth(e, w.Store, w.Draining)
}

var writeBufferPool = &syncPool{}

// sameOrigin is gorilla/websocket's default origin check: no Origin, or one
// whose host is the request's.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

var staticServer = http.FileServer(http.FS(web.Files()))

// serveStatic serves GET /static/<name> from web.Files. Anything that is
// not exactly a file there (a directory, "..", an unknown name) gets the
// JSON 404 of every other route, not http.FileServer's text or listing.
func serveStatic(c echo.Context) error {
	name, ok := strings.CutPrefix(c.Request().URL.Path, "/static/")
	if !ok || !fs.ValidPath(name) || name == "." {
		return errNotFound
	}
	if st, err := fs.Stat(web.Files(), name); err != nil || st.IsDir() {
		return errNotFound
	}
	r := c.Request().Clone(c.Request().Context())
	r.URL.Path, r.URL.RawPath = "/"+name, ""
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	staticServer.ServeHTTP(c.Response(), r)
	return nil
}

// TicketCookie is the cookie that holds a visitor's ticket for a room.
func TicketCookie(room string) string { return "wr_" + room }

// joinBody is the join's optional JSON body. User is there only to be
// refused with a message that says what to send instead.
type joinBody struct {
	UserToken string         `json:"user_token"`
	Pow       string         `json:"pow"`
	Ticket    string         `json:"ticket"`
	User      jsontext.Value `json:"user"`
}

// readJoinBody is readJSON of the join's body; a join without one (nearly
// every join) decodes nothing, so no joinBody is allocated for it.
func readJoinBody(c echo.Context) (joinBody, error) {
	if c.Request().Body == http.NoBody {
		return joinBody{}, checkContentType(c, nil)
	}
	body := new(joinBody)
	err := readJSON(c, body)
	return *body, err
}

func (w *Waitroom) join(c echo.Context) error {
	room, err := limitedRoom(c, w.JoinLimit, w.checkOrigin)
	if err != nil {
		return err
	}
	body, err := readJoinBody(c)
	if err != nil {
		return err
	}
	if body.User != nil {
		return errPlainUser
	}
	ctx := c.Request().Context()
	req := queue.JoinRequest{Ticket: body.Ticket}
	if req.Ticket == "" {
		if ck, err := c.Cookie(TicketCookie(room)); err == nil {
			req.Ticket = ck.Value
		}
	}
	if body.UserToken != "" {
		if w.Users == nil {
			return fmt.Errorf("%w: no user token keys are configured", usertoken.ErrInvalid)
		}
		user, err := w.Users.Verify(ctx, body.UserToken, room)
		if err != nil {
			return err
		}
		req.User = user
	}
	if body.Pow != "" {
		if w.Puzzles == nil {
			return fmt.Errorf("%w: no proof of work is configured", pow.ErrInvalid)
		}
		id, expires, err := w.Puzzles.Verify(room, body.Pow)
		if err != nil {
			return err
		}
		req.PowID, req.PowExpires = id, expires
	}
	st, created, err := w.Store.Join(ctx, room, req)
	if err != nil {
		return err
	}
	w.setTicketCookie(c, room, st.Ticket, 24*time.Hour)
	return w.writeStatus(c, createdStatus(created), st, func() {
		if created && w.Metrics != nil {
			joinCounter(w.Metrics, room).Inc()
			if st.State == queue.StateAdmitted {
				w.Metrics.Admissions.WithLabelValues(room).Inc()
			}
		}
	})
}

// writeStatus answers st as c.JSON of statusBody would, calling ready (if
// not nil) once the answer is made and about to be written; the waiting
// shape, the one of the opening second, is written by hand, without
// reflection.
func (w *Waitroom) writeStatus(c echo.Context, code int, st queue.Status, ready func()) error {
	// A query string may ask for ?pretty: echo's c.JSON honours it.
	if st.State != queue.StateAdmitted && st.State != queue.StatePrequeue && c.Request().URL.RawQuery == "" {
		buf := jsonBufs.Get().(*[]byte)
		defer jsonBufs.Put(buf)
		if raw, ok := waitingBodyOf(st).appendJSON((*buf)[:0]); ok {
			*buf = raw
			if ready != nil {
				ready()
			}
			h := c.Response().Header()
			if _, set := h["Content-Type"]; !set {
				h["Content-Type"] = hdrJSON
			}
			c.Response().WriteHeader(code)
			_, err := c.Response().Write(raw)
			return err
		}
	}
	out, err := w.statusBody(c.Request().Context(), st)
	if err != nil {
		return err
	}
	if ready != nil {
		ready()
	}
	return c.JSON(code, out)
}

// hdrJSON is the Content-Type value of a JSON answer, shared as the
// security headers are (see hdrDeny).
var hdrJSON = []string{echo.MIMEApplicationJSON}

// jsonBufs holds the buffers of the hand-written answers: the response
// copies what it is given, so a buffer serves the next request.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// challenge answers GET /api/rooms/{room}/challenge with a proof-of-work
// challenge whose size grows with the challenges this address fetched in the
// last minute: each join needs one, so one address's hundredth place costs
// far more than its first, and fetching many in advance does not help.
func (w *Waitroom) challenge(c echo.Context) error {
	room := c.Param("room")
	if !queue.ValidRoomID(room) {
		return queue.ErrInvalidRoom
	}
	if w.Puzzles == nil {
		return errNotFound
	}
	if ok, wait := w.StatusLimit.Allow(clientKey(c)); !ok {
		return rateLimited(wait)
	}
	base, recent, err := w.Store.CountChallenge(c.Request().Context(), room, clientKey(c))
	if err != nil {
		return err
	}
	ch, err := w.Puzzles.Challenge(room, w.Puzzles.Required(base, recent))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, ch)
}

// checkOrigin refuses a request that a page of another site sent: its
// Origin names neither this host nor a configured CORS origin. A request
// without Origin is no browser's cross-site request.
func (w *Waitroom) checkOrigin(c echo.Context) error {
	r := c.Request()
	origin := r.Header.Get(echo.HeaderOrigin)
	if origin == "" || w.cors[NormalizeOrigin(origin)] {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
		if strings.EqualFold(u.Host, r.Host) {
			return nil
		}
		if fh := r.Header.Get("X-Forwarded-Host"); w.TrustProxy && fh != "" && strings.EqualFold(u.Host, fh) {
			return nil
		}
	}
	return errForbiddenOrigin
}

func (w *Waitroom) setTicketCookie(c echo.Context, room, ticket string, maxAge time.Duration) {
	if ck, ok := ticketCookie(room, ticket, int(maxAge.Seconds()), w.CookieSecure.secure(c.Request())); ok {
		h := c.Response().Header()
		h["Set-Cookie"] = append(h["Set-Cookie"], ck)
		return
	}
	w.CookieSecure.SetCookie(c, &http.Cookie{
		Name:     TicketCookie(room),
		Value:    ticket,
		Path:     "/",
		MaxAge:   int(maxAge.Seconds()),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

func (w *Waitroom) status(c echo.Context) error {
	room, err := limitedRoom(c, w.StatusLimit)
	if err != nil {
		return err
	}
	st, err := w.Store.Status(c.Request().Context(), room, c.Param("ticket"))
	if err != nil {
		return err
	}
	return w.writeStatus(c, http.StatusOK, st, nil)
}

func (w *Waitroom) leave(c echo.Context) error {
	// Leaving shares the status reads' bucket: both name a ticket, and an
	// unlimited one would let an address probe tickets as fast as it likes.
	room, err := limitedRoom(c, w.StatusLimit, w.checkOrigin)
	if err != nil {
		return err
	}
	ticket := c.Param("ticket")
	if err := readNoBody(c); err != nil {
		return err
	}
	if err := w.Store.Leave(c.Request().Context(), room, ticket); err != nil {
		return err
	}
	if w.Metrics != nil {
		w.Metrics.Leaves.WithLabelValues(room).Inc()
	}
	if ck, err := c.Cookie(TicketCookie(room)); err == nil && ck.Value == ticket {
		w.setTicketCookie(c, room, "", -time.Second)
	}
	return c.NoContent(http.StatusNoContent)
}

// The three shapes of a ticket status in docs/API.md.
type waitingBody struct {
	Ticket     string `json:"ticket"`
	Room       string `json:"room"`
	State      string `json:"state"`
	Position   int64  `json:"position"`
	Ahead      int64  `json:"ahead"`
	Waiting    int64  `json:"waiting"`
	ETASeconds *int64 `json:"eta_seconds"`
}

type prequeueBody struct {
	Ticket   string  `json:"ticket"`
	Room     string  `json:"room"`
	State    string  `json:"state"`
	Position *int64  `json:"position"`
	Waiting  int64   `json:"waiting"`
	OpensAt  *string `json:"opens_at"`
}

type admittedBody struct {
	Ticket     string `json:"ticket"`
	Room       string `json:"room"`
	State      string `json:"state"`
	EntryToken string `json:"entry_token"`
	ExpiresAt  string `json:"expires_at"`
	TargetURL  string `json:"target_url"`
}

// ETASeconds rounds an ETA to whole seconds for JSON; nil stays null.
func ETASeconds(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	s := int64(math.Ceil(d.Seconds()))
	return &s
}

func (w *Waitroom) statusBody(ctx context.Context, st queue.Status) (any, error) {
	switch st.State {
	case queue.StateAdmitted:
		cfg, err := w.Store.Room(ctx, st.Room)
		if err != nil {
			return nil, err
		}
		tok, err := w.Signer.Sign(entrytoken.Claims{Room: st.Room, Subject: queue.Subject(st.User, st.AdmissionID),
			ID: st.AdmissionID, ExpiresAt: st.AdmissionEnds})
		if err != nil {
			return nil, err
		}
		return admittedBody{Ticket: st.Ticket, Room: st.Room, State: string(st.State), EntryToken: tok,
			ExpiresAt: st.AdmissionEnds.Format(time.RFC3339), TargetURL: cfg.TargetURL}, nil
	case queue.StatePrequeue:
		var opens *string
		if st.OpensAt != nil {
			s := st.OpensAt.Format(time.RFC3339)
			opens = &s
		}
		return prequeueBody{Ticket: st.Ticket, Room: st.Room, State: string(st.State), Waiting: st.Waiting, OpensAt: opens}, nil
	}
	return waitingBodyOf(st), nil
}

// waitingBodyOf is the answer for a waiting st.
func waitingBodyOf(st queue.Status) waitingBody {
	return waitingBody{Ticket: st.Ticket, Room: st.Room, State: string(st.State), Position: st.Position,
		Ahead: st.Ahead(), Waiting: st.Waiting, ETASeconds: ETASeconds(st.ETA)}
}

func (w *Waitroom) roomInfo(c echo.Context) error {
	room, err := limitedRoom(c, w.StatusLimit)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cfg, err := w.Store.Room(ctx, room)
	if err != nil {
		return err
	}
	st, err := w.Store.Stats(ctx, room)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"room":                room,
		"state":               cfg.State(st.Now),
		"waiting":             st.Waiting,
		"admitted":            st.Admitted,
		"capacity":            cfg.Capacity,
		"admitted_per_minute": st.AdmittedLastMinute,
		"title":               cfg.Title,
		"message":             cfg.Message,
	})
}

// socket upgrades to the live-position WebSocket. The address's limits are
// checked first, before Redis is asked; then the ticket, so an unknown
// ticket gets a 404 and no socket.
func (w *Waitroom) socket(c echo.Context) error {
	room := c.Param("room")
	if !queue.ValidRoomID(room) {
		return queue.ErrInvalidRoom
	}
	addr := clientKey(c)
	if ok, wait := w.SocketLimit.Allow(addr); !ok {
		return rateLimited(wait)
	}
	if !w.SocketsPerAddr.Acquire(addr) {
		return errTooManySockets
	}
	served := false
	defer func() {
		if !served {
			w.SocketsPerAddr.Release(addr)
		}
	}()
	ticket := c.QueryParam("ticket")
	if ticket == "" {
		if ck, err := c.Cookie(TicketCookie(room)); err == nil {
			ticket = ck.Value
		}
	}
	if _, err := w.Store.Status(c.Request().Context(), room, ticket); err != nil {
		return err
	}
	if !websocket.IsWebSocketUpgrade(c.Request()) {
		return apiErr(http.StatusBadRequest, "websocket_required", "This endpoint speaks WebSocket only.")
	}
	conn, err := w.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered
	}
	// Hand the socket over and return: while a handler waits, net/http keeps
	// ~13 KiB of request buffers alive, too much times 100 000 sockets.
	served = true
	release := func() { w.SocketsPerAddr.Release(addr) }
	if !w.SocketsPerAddr.Enabled() {
		release = nil
	}
	if h, ok := w.Sockets.(socketHandoff); ok {
		// No goroutine waits on the socket (internal/hub).
		h.Handoff(w.SocketContext, room, ticket, conn, release)
		return nil
	}
	go func() {
		if release != nil {
			defer release()
		}
		w.Sockets.Serve(w.SocketContext, room, ticket, conn)
	}()
	return nil
}

// socketHandoff is a SocketServer that returns at once and calls ended when
// the socket has closed.
type socketHandoff interface {
	Handoff(ctx context.Context, room, ticket string, conn *websocket.Conn, ended func())
}

func (w *Waitroom) jwks(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.Blob(http.StatusOK, "application/json", w.Signer.JWKS())
}

func (w *Waitroom) page(c echo.Context) error {
	if !queue.ValidRoomID(c.Param("room")) {
		return queue.ErrInvalidRoom
	}
	return servePage(c, web.RoomPage)
}

// servePage answers a page in the visitor's language (web.Page).
func servePage(c echo.Context, name string) error {
	b, err := web.Page(c.Response(), c.Request(), name)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.HTMLBlob(http.StatusOK, b)
}

// RegisterHealth adds GET /healthz (the process is up) and GET /readyz
// (Redis answers within a second, and shutdown has not begun), as every
// waitroom server serves them. A nil draining never drains (the admitter).
func RegisterHealth(e *echo.Echo, store *queue.Store, draining *atomic.Bool) {
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", func(c echo.Context) error {
		if draining != nil && draining.Load() {
			return errShuttingDown
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
}

// errPlainUser refuses a user id the client chose: it proves nothing.
var errPlainUser = apiErr(http.StatusBadRequest, "invalid_body",
	`A plain "user" is not accepted: send "user_token", a user token signed by the site.`)

var errForbiddenOrigin = apiErr(http.StatusForbidden, "forbidden_origin", "This request came from a page of another site.")

// socketsRetryAfter is the Retry-After of a refusal for too many open
// sockets: nothing tells when one of them will close.
const socketsRetryAfter = 10 * time.Second

var errTooManySockets = &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
	Message: "Too many open connections from your address; please wait a moment.", RetryAfter: int(socketsRetryAfter / time.Second)}

// limitedRoom returns the request's room after the checks a visitor's call
// to a room starts with, in this order: a valid room id, then checks (the
// origin of a call that changes something), then a token of the address's
// limit l, so that a refused call costs no token.
func limitedRoom(c echo.Context, l *ratelimit.Limiter, checks ...func(echo.Context) error) (string, error) {
	room := c.Param("room")
	if !queue.ValidRoomID(room) {
		return "", queue.ErrInvalidRoom
	}
	for _, check := range checks {
		if err := check(c); err != nil {
			return "", err
		}
	}
	if !l.Enabled() {
		return room, nil // no client address to work out
	}
	if ok, wait := l.Allow(clientKey(c)); !ok {
		return "", rateLimited(wait)
	}
	return room, nil
}

// createdStatus is the status of a call that creates something when it is
// new: 201 the first time, 200 for a repeat of it.
func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

func rateLimited(wait time.Duration) error {
	e := *apiErr(http.StatusTooManyRequests, "rate_limited", "Too many requests from your address; please wait a moment.")
	e.RetryAfter = max(1, int(math.Ceil(wait.Seconds())))
	return &e
}

// writeRawError writes an API error where no echo context is at hand.
func writeRawError(rw http.ResponseWriter, e *Error) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(e.Status)
	_ = json.NewEncoder(rw).Encode(map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}
