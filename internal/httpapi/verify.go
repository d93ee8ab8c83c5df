package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/internal/gateway"
	"github.com/waitroom/waitroom/pkg/queue"
)

// ForwardAuth serves forward auth for a proxy the site already runs (nginx
// auth_request, Caddy forward_auth, Traefik ForwardAuth), and the entry
// cookie that the waiting page sets on the protected host once admitted
// (docs/API.md, "Gateway: protecting any site").
type ForwardAuth struct {
	Checker *gateway.Checker
	// Prefix is where the waiting page lives on the protected host.
	// Default gateway.DefaultPrefix.
	Prefix string
	// CookieSecure says when the entry cookie carries Secure.
	CookieSecure CookieSecure
	// TrustProxy: the Host a visitor's browser used may arrive as
	// X-Forwarded-Host (behind your own proxy only).
	TrustProxy bool
}

// Register adds GET /api/rooms/{room}/verify (and /verify/{room}, which is
// <prefix>/verify/{room} on the protected host) and POST
// /api/rooms/{room}/entry.
func (f *ForwardAuth) Register(e *echo.Echo) {
	if f.Prefix == "" {
		f.Prefix = gateway.DefaultPrefix
	}
	e.GET("/api/rooms/:room/verify", f.verify)
	e.GET("/verify/:room", f.verify)
	e.POST("/api/rooms/:room/entry", f.entry)
}

// verify answers 200 with the X-Waitroom-* headers for a live entry; else a
// page load is sent to the waiting page (302, or 401 with ?status=401 for
// nginx, whose auth_request passes on only 2xx, 401 and 403) and anything
// else gets 403 admission_required, both with the waiting page in Location.
func (f *ForwardAuth) verify(c echo.Context) error {
	room := c.Param("room")
	if !queue.ValidRoomID(room) {
		return queue.ErrInvalidRoom
	}
	r := c.Request()
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	entry, err := f.Checker.FromRequest(r.Context(), r, room)
	if err == nil {
		f.Checker.Pass(r.Context(), entry)
		entry.SetHeaders(h)
		return c.NoContent(http.StatusOK)
	}
	if !errors.Is(err, gateway.ErrAdmissionRequired) {
		return err
	}
	method := firstHeader(r.Header, "X-Forwarded-Method", "X-Original-Method")
	if method == "" {
		method = http.MethodGet
	}
	h.Set("Location", gateway.WaitingPage(f.Prefix, room, firstHeader(r.Header, "X-Forwarded-Uri", "X-Original-URI")))
	switch {
	case !gateway.Navigation(strings.ToUpper(method), r.Header):
		return errAdmissionRequired
	case c.QueryParam("status") == "401":
		e := *errAdmissionRequired
		e.Status = http.StatusUnauthorized
		return &e
	}
	return c.NoContent(http.StatusFound)
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// entry sets the entry cookie of room for a live entry token, so the
// gateway or the site's proxy lets the visitor through. Only a page of
// this host may ask.
func (f *ForwardAuth) entry(c echo.Context) error {
	room := c.Param("room")
	if !queue.ValidRoomID(room) {
		return queue.ErrInvalidRoom
	}
	r := c.Request()
	if !sameOrigin(r) && !(f.TrustProxy && sameForwardedOrigin(r)) {
		return errForbiddenOrigin
	}
	var body struct {
		EntryToken string `json:"entry_token"`
	}
	if err := readJSON(c, &body); err != nil {
		return err
	}
	if body.EntryToken == "" {
		return apiErr(http.StatusBadRequest, "invalid_body", `The body must be {"entry_token":"<jwt>"}.`)
	}
	e, err := f.Checker.Check(r.Context(), room, body.EntryToken)
	if err != nil {
		return err
	}
	f.CookieSecure.SetCookie(c, &http.Cookie{
		Name:     gateway.EntryCookie(room),
		Value:    body.EntryToken,
		Path:     "/",
		MaxAge:   max(1, int(time.Until(e.Expires).Seconds())),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusNoContent)
}

func sameForwardedOrigin(r *http.Request) bool {
	origin, fh := r.Header.Get("Origin"), r.Header.Get("X-Forwarded-Host")
	_, host, ok := strings.Cut(origin, "://")
	return ok && fh != "" && strings.EqualFold(host, fh)
}
