package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/waitroom/waitroom/internal/ratelimit"
)

// MaxBodyBytes is the largest request body accepted (docs/API.md: 8 KiB).
const MaxBodyBytes = 8 << 10

// The Content-Security-Policy of every answer, around its connect-src.
const (
	cspHead = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"
	cspTail = "; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

// cspHost is a Host that may be copied into the policy as a CSP host-source:
// DNS labels or an IPv4 address, and a port (an IPv6 literal is no valid
// host-source; anything odd stays out of the header).
var cspHost = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)*(:[0-9]{1,5})?$`)

// contentSecurityPolicy keeps pages to their own origin: no inline script,
// no CDN, and sockets only back to host, the one the page came from. CSP3
// lets 'self' match the same origin's ws: and wss:, older browsers do not,
// so a plain host is named as well.
func contentSecurityPolicy(host string) string {
	host = strings.ToLower(host)
	if len(host) > 260 || !cspHost.MatchString(host) {
		return cspHead + cspTail
	}
	return cspHead + " ws://" + host + " wss://" + host + cspTail
}

// NewEcho returns an echo instance with what every waitroom server shares:
// the error handler of docs/API.md, a request id on every request and log line,
// panic recovery, the 8 KiB body limit and the security headers.
func NewEcho(log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = ErrorHandler(log)
	// The client address is the TCP peer unless a trusted proxy is
	// configured (see TrustProxy): X-Forwarded-For is trivially forged.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(requestIDs)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic in handler", "request_id", requestID(c), "route", c.Path(), "error", err.Error())
			return err
		},
	}))
	e.Use(accessLog(log))
	e.Use(bodyLimit)
	e.Use(securityHeaders)
	return e
}

// ServerOptions are the limits of NewServer's http.Server; a zero field
// takes its default.
type ServerOptions struct {
	// ReadTimeout bounds reading a whole request, body included. Default 15s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the answer. Default 15s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long. Default 60s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request headers; past it net/http answers
	// 431. Default 16 KiB.
	MaxHeaderBytes int
}

// NewServer is the http.Server every waitroom binary serves h with: every
// timeout set (a slow client never holds a connection for good), headers
// read within 5 s, and net/http's own complaints logged as warnings.
func NewServer(h http.Handler, log *slog.Logger, opt ServerOptions) *http.Server {
	or := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	if opt.MaxHeaderBytes == 0 {
		opt.MaxHeaderBytes = 16 << 10
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       or(opt.ReadTimeout, 15*time.Second),
		WriteTimeout:      or(opt.WriteTimeout, 15*time.Second),
		IdleTimeout:       or(opt.IdleTimeout, 60*time.Second),
		MaxHeaderBytes:    opt.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// ServeUntil serves srv on ln until ctx ends, and returns nil then (the
// caller shuts srv down), or the error that stopped serving before.
func ServeUntil(ctx context.Context, srv *http.Server, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// TrustProxy makes the client address the one X-Forwarded-For names, when
// the request comes from a proxy in a private or loopback range.
func TrustProxy(e *echo.Echo) {
	e.IPExtractor = echo.ExtractIPFromXFFHeader()
}

// clientKey is the key of the request's client address in every
// per-address limit: the address, or its /64 for IPv6 (ratelimit.AddrKey).
func clientKey(c echo.Context) string { return ratelimit.AddrKey(c.RealIP()) }

// requestIDs gives every request an id, the one it came with in
// X-Request-Id or a new one, answered in X-Request-Id and named in its log
// lines (as echo's RequestID middleware, minus its random draw and the
// context map it would fill per request).
func requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if id == "" {
			id = newRequestID()
		}
		c.Response().Header()[echo.HeaderXRequestID] = []string{id}
		return next(c)
	}
}

// requestIDBase makes request ids unique across processes; a counter makes
// them unique within one. They only tie log lines together: nothing needs
// them unguessable.
var (
	requestIDBase = func() string {
		var b [10]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	requestIDSeq atomic.Uint64
)

// newRequestID is 32 hexadecimal digits, as long as echo's ids.
func newRequestID() string {
	var b [32]byte
	copy(b[:], requestIDBase)
	n := requestIDSeq.Add(1)
	for i := len(b) - 1; i >= len(requestIDBase); i-- {
		b[i] = "0123456789abcdef"[n&15]
		n >>= 4
	}
	return string(b[:])
}

func requestID(c echo.Context) string {
	if v := c.Response().Header()[echo.HeaderXRequestID]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// servedStatus is the status of a request a handler returned err for: the
// error's, which ErrorHandler writes after the middleware, or the one written.
func servedStatus(c echo.Context, err error) int {
	if err != nil {
		return toAPIError(err).Status
	}
	return c.Response().Status
}

// accessLog writes one line per request with its request id. It logs the
// route pattern, never the path: a path may carry a ticket.
func accessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			status := servedStatus(c, err)
			level := slog.LevelDebug
			if status >= 500 {
				level = slog.LevelWarn
			}
			ctx := c.Request().Context()
			if !log.Enabled(ctx, level) {
				return err
			}
			log.LogAttrs(ctx, level, "request",
				slog.String("request_id", requestID(c)),
				slog.String("method", c.Request().Method),
				slog.String("route", c.Path()),
				slog.Int("status", status),
				slog.Duration("duration", time.Since(start)))
			return err
		}
	}
}

// routeBodyLimits are the routes that may take more than MaxBodyBytes, by
// "METHOD pattern", with the error they answer past it: only the operator's
// seat map (100 000 seats are about 1 MB).
var routeBodyLimits = map[string]struct {
	limit int64
	err   *Error
}{
	http.MethodPut + " " + SeatMapRoute: {SeatMapMaxBodyBytes, errSeatMapTooLarge},
}

// bodyLimit refuses bodies over the route's limit (MaxBodyBytes unless
// routeBodyLimits says otherwise): at once from Content-Length, or as soon
// as a chunked body passes the limit. echo runs e.Use middleware after
// routing, so the route pattern is known here.
func bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body == http.NoBody {
			return next(c) // nothing to bound (a GET, a POST without a body)
		}
		limit, tooLarge := int64(MaxBodyBytes), errBodyTooLarge
		if req.Method != http.MethodGet {
			if rl, ok := routeBodyLimits[req.Method+" "+c.Path()]; ok {
				limit, tooLarge = rl.limit, rl.err
			}
		}
		if req.ContentLength > limit {
			return tooLarge
		}
		// The net/http writer itself, not echo's wrapper: past the limit,
		// MaxBytesReader then tells net/http to close the connection
		// rather than read on through a body that may never end.
		req.Body = http.MaxBytesReader(c.Response().Writer, req.Body, limit)
		err := next(c)
		if tooLarge != errBodyTooLarge && errors.Is(err, errBodyTooLarge) {
			return tooLarge
		}
		return err
	}
}

// The constant security headers, shared by every answer: net/http only
// reads a header's values, and a Set or Add replaces or grows the slice
// (its capacity is its length), never writing into it.
var (
	hdrDeny      = []string{"DENY"}
	hdrNoReferer = []string{"no-referrer"}
	hdrNoSniff   = []string{"nosniff"}
)

// lastCSP is the policy of the Host seen last: nearly every request of a
// site names the same Host, so the policy is built once, not per request,
// and its header value shared like the constant ones.
var lastCSP atomic.Pointer[hostCSP]

type hostCSP struct {
	host string
	hdr  []string
}

func cspFor(host string) []string {
	if p := lastCSP.Load(); p != nil && p.host == host {
		return p.hdr
	}
	p := &hostCSP{host: host, hdr: []string{contentSecurityPolicy(host)}}
	lastCSP.Store(p)
	return p.hdr
}

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h["Content-Security-Policy"] = cspFor(c.Request().Host)
		h["X-Frame-Options"] = hdrDeny
		h["Referrer-Policy"] = hdrNoReferer
		h["X-Content-Type-Options"] = hdrNoSniff
		return next(c)
	}
}

// corsPrefix is the part of the site CORS may open: the visitors' API.
const corsPrefix = "/api/rooms/"

// corsOrigins is a set of origins allowed to call the visitors' API from
// their pages, as the browser sends them (scheme://host[:port]).
type corsOrigins map[string]bool

func newCORSOrigins(origins []string) corsOrigins {
	if len(origins) == 0 {
		return nil
	}
	set := corsOrigins{}
	for _, o := range origins {
		set[NormalizeOrigin(o)] = true
	}
	return set
}

// NormalizeOrigin is an origin as a browser writes it in the Origin header:
// lower case, no trailing slash.
func NormalizeOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
}

// cors answers CORS on /api/rooms/* for exactly the configured origins:
// preflights get the methods and header the API uses, answers get
// Access-Control-Allow-Origin naming the origin (never "*", never with
// credentials: the JSON body carries the ticket). Every other origin and
// route gets no CORS header at all, which browsers read as "no".
func (set corsOrigins) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if !strings.HasPrefix(req.URL.Path, corsPrefix) {
			return next(c)
		}
		h := c.Response().Header()
		h.Add(echo.HeaderVary, echo.HeaderOrigin)
		origin := req.Header.Get(echo.HeaderOrigin)
		if origin == "" || !set[origin] {
			return next(c)
		}
		h.Set(echo.HeaderAccessControlAllowOrigin, origin)
		if req.Method == http.MethodOptions && req.Header.Get(echo.HeaderAccessControlRequestMethod) != "" {
			h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestMethod)
			h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestHeaders)
			h.Set(echo.HeaderAccessControlAllowMethods, "GET, POST, DELETE")
			h.Set(echo.HeaderAccessControlAllowHeaders, "Content-Type")
			h.Set(echo.HeaderAccessControlMaxAge, "600")
			return c.NoContent(http.StatusNoContent)
		}
		h.Set(echo.HeaderAccessControlExposeHeaders, "Retry-After")
		return next(c)
	}
}
