package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
	"github.com/waitroom/waitroom/web"
)

// Admin serves the operator API of docs/API.md behind WAITROOM_ADMIN_TOKEN, and
// the operator page.
type Admin struct {
	Store  *queue.Store
	Token  string
	Logger *slog.Logger
	// OnRefused is called for every refused token (for a metric); may be nil.
	OnRefused func()
	// Sleep waits before a refusal; time.Sleep when nil (tests shorten it).
	Sleep func(time.Duration)

	mu       sync.Mutex
	failures map[string]*tokenFailures // by clientKey
}

// Register adds the operator routes to e.
func (a *Admin) Register(e *echo.Echo) {
	// The token is checked per route, not by a group: echo gives a group
	// with middleware a catch-all route, which answers 404 instead of 405
	// to a method the operator API does not have.
	e.GET("/api/admin/rooms", a.listRooms, a.RequireToken)
	e.PUT("/api/admin/rooms/:room", a.putRoom, a.RequireToken)
	e.DELETE("/api/admin/rooms/:room", a.deleteRoom, a.RequireToken)
	e.GET("/api/admin/rooms/:room/history", a.history, a.RequireToken)
	e.GET("/admin", func(c echo.Context) error { return servePage(c, web.AdminPage) })
}

// maxSlowedAddrs bounds the addresses remembered for wrong tokens, under a
// spray of addresses.
const maxSlowedAddrs = 100000

// tokenFailures is one address's run of wrong operator tokens.
type tokenFailures struct {
	n     int       // wrong tokens since the last right one
	until time.Time // the address is slowed down until then
}

// RequireToken checks "Authorization: Bearer <token>" in constant time.
// Each wrong token from an address doubles its wait before the 401 (up to
// 5 s), and until that wait is over every request from the address, right
// token or not, gets 429 at once: guesses cannot be sent in parallel to
// sidestep the wait. Every wrong token is logged, never the token.
func (a *Admin) RequireToken(next echo.HandlerFunc) echo.HandlerFunc {
	want := sha256.Sum256([]byte(a.Token))
	sleep := a.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	return func(c echo.Context) error {
		key := clientKey(c)
		now := time.Now()
		a.mu.Lock()
		f := a.failures[key]
		if f != nil && now.Before(f.until) {
			a.mu.Unlock()
			return rateLimited(f.until.Sub(now))
		}
		got, err := entrytoken.BearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		sum := sha256.Sum256([]byte(got))
		// Comparing fixed-size digests keeps the token's length secret too.
		if err == nil && a.Token != "" && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			delete(a.failures, key)
			a.mu.Unlock()
			return next(c)
		}
		if f == nil {
			a.forgetSome(now)
			f = &tokenFailures{}
			a.failures[key] = f
		}
		f.n++
		n := f.n
		wait := min(100*time.Millisecond<<min(n-1, 6), 5*time.Second)
		f.until = now.Add(wait)
		a.mu.Unlock()
		if a.OnRefused != nil {
			a.OnRefused()
		}
		a.Logger.Warn("operator token refused", "request_id", requestID(c), "client", c.RealIP(), "failures", n)
		sleep(wait)
		// The wait is over once slept: a shortened Sleep (tests) shortens
		// the slow-down with it.
		a.mu.Lock()
		if end := time.Now(); end.Before(f.until) {
			f.until = end
		}
		a.mu.Unlock()
		return errUnauthorized
	}
}

// forgetSome keeps the failures map under maxSlowedAddrs: it forgets the
// addresses not slowed down now, or all of them when that frees under a
// tenth (a spray), so a scan happens at most once per maxSlowedAddrs/10 new
// addresses. a.mu is held.
func (a *Admin) forgetSome(now time.Time) {
	if a.failures == nil {
		a.failures = map[string]*tokenFailures{}
	}
	if len(a.failures) < maxSlowedAddrs {
		return
	}
	for k, f := range a.failures {
		if !now.Before(f.until) {
			delete(a.failures, k)
		}
	}
	if len(a.failures) > maxSlowedAddrs*9/10 {
		clear(a.failures)
	}
}

type roomStatsBody struct {
	Waiting           int64 `json:"waiting"`
	Admitted          int64 `json:"admitted"`
	AdmittedTotal     int64 `json:"admitted_total"`
	AdmittedPerMinute int64 `json:"admitted_per_minute"`
	OldestWaitS       int64 `json:"oldest_wait_s"`
}

type roomBody struct {
	Room   string         `json:"room"`
	Config queue.Config   `json:"config"`
	Stats  *roomStatsBody `json:"stats,omitempty"`
}

func (a *Admin) listRooms(c echo.Context) error {
	ctx := c.Request().Context()
	rooms, err := a.Store.Rooms(ctx)
	if err != nil {
		return err
	}
	out := make([]roomBody, 0, len(rooms))
	for _, r := range rooms {
		st, err := a.Store.Stats(ctx, r.Room)
		if err != nil {
			continue // deleted since the listing
		}
		out = append(out, roomBody{Room: r.Room, Config: r.Config, Stats: &roomStatsBody{
			Waiting: st.Waiting, Admitted: st.Admitted, AdmittedTotal: st.AdmittedTotal,
			AdmittedPerMinute: st.AdmittedLastMinute, OldestWaitS: int64(st.OldestWait.Seconds()),
		}})
	}
	return c.JSON(http.StatusOK, out)
}

func (a *Admin) putRoom(c echo.Context) error {
	room := c.Param("room")
	if !queue.ValidRoomID(room) {
		return queue.ErrInvalidRoom
	}
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	if err := checkContentType(c, raw); err != nil {
		return err
	}
	if strings.TrimSpace(string(raw)) == "" {
		raw = []byte("{}")
	}
	patch, err := queue.DecodeConfigPatch(raw)
	if err != nil {
		return err
	}
	cfg, created, err := a.Store.PutRoom(c.Request().Context(), room, patch)
	if err != nil {
		return err
	}
	a.Logger.Info("room config put", "request_id", requestID(c), "room", room, "created", created)
	return c.JSON(createdStatus(created), roomBody{Room: room, Config: cfg})
}

func (a *Admin) deleteRoom(c echo.Context) error {
	if err := a.Store.DeleteRoom(c.Request().Context(), c.Param("room")); err != nil {
		return err
	}
	a.Logger.Info("room deleted", "request_id", requestID(c), "room", c.Param("room"))
	return c.NoContent(http.StatusNoContent)
}
