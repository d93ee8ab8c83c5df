// Command booking is the protected site behind the waiting room: the booking
// API and the booking page of docs/API.md ("Booking API"). Every call needs an
// entry token that waitroom signed (checked against waitroom's JWKS) for an
// admission that is still live (checked in the room's Redis).
//
// Configuration comes from flags, each of which mirrors an environment
// variable (internal/settings); a flag given on the command line wins. Run
// with -help for the list and the defaults.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/internal/ratelimit"
	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/internal/settings"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

func main() { settings.Main("booking", run) }

// shutdownTimeout bounds the graceful shutdown after SIGTERM or SIGINT.
const shutdownTimeout = 10 * time.Second

// config is the command's configuration, from flags and environment.
type config struct {
	addr          string
	jwksURL       string
	redis         redisconn.Config
	adminToken    string
	waitroomURL   string
	issuer        string
	audience      string
	holdTTL       time.Duration
	maxPerVisitor int
	seatsMaxAge   time.Duration
	// rate and burst limit the visitors' API requests per client address;
	// rate 0: no limit.
	rate       float64
	burst      int
	trustProxy bool
}

// The default limit per client address: the booking page makes a request
// every few seconds and a burst at each click, so 20/s with bursts of 100
// leaves room for an office or a carrier NAT behind one address.
const (
	defaultRate  = 20
	defaultBurst = 100
)

// defaultSeatsMaxAge lets the seat list come from a snapshot this old: the
// booking page polls every few seconds, so a quarter second is unseen, and
// it spares Redis a read per request (see booking.Options.SeatsMaxAge).
const defaultSeatsMaxAge = 250 * time.Millisecond

// parseConfig reads flags from args, and for each flag not given there the
// environment variable it mirrors (internal/settings). -help lists every
// flag with its variable and default (a secret's value is never printed).
func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	s := settings.New("booking", "Serves the booking API and page of waitroom.", getenv)
	addr := s.String("addr", "BOOKING_ADDR", ":8081", "listen address")
	jwksURL := s.String("jwks-url", "BOOKING_JWKS_URL", "http://127.0.0.1:8080/.well-known/jwks.json", "where waitroom publishes the entry-token keys")
	redisCfg := redisconn.Declare(s, "Redis, redis://[:password@]host:port/db or rediss://…; required unless -redis-cluster-addrs or -redis-sentinel-addrs is set")
	adminToken := s.String("admin-token", "WAITROOM_ADMIN_TOKEN", "", "operator bearer token for PUT /api/admin/events/{room}/seats; required")
	waitroomURL := s.String("waitroom-url", "BOOKING_WAITROOM_URL", "", "waitroom's base URL, where /rooms/{room} sends a visitor back to the line; default: the origin of -jwks-url")
	issuer := s.String("token-issuer", "BOOKING_TOKEN_ISSUER", entrytoken.DefaultIssuer, "required iss of entry tokens")
	audience := s.String("token-audience", "BOOKING_TOKEN_AUDIENCE", entrytoken.DefaultAudience, "required aud of entry tokens")
	holdTTL := s.Duration("hold-ttl", "BOOKING_HOLD_TTL", booking.DefaultHoldTTL, "how long a hold lasts before it frees itself, 1s–24h")
	maxPerVisitor := s.Int("max-per-visitor", "BOOKING_MAX_PER_VISITOR", booking.DefaultMaxPerVisitor, "most seats one visitor may hold or book at once, 1–100")
	seatsMaxAge := s.Duration("seats-max-age", "BOOKING_SEATS_MAX_AGE", defaultSeatsMaxAge, "how old a seat list answered from this process's snapshot may be, 0–10s; 0 reads Redis every time; a visitor's own changes show at once")
	rate := s.Float("rate", "BOOKING_RATE", defaultRate, "visitors' API requests per second allowed per client address (token bucket), checked before the token and Redis; 0: no limit")
	burst := s.Int("burst", "BOOKING_BURST", defaultBurst, "burst of visitors' API requests per client address")
	trustProxy := s.Bool("trust-proxy", "BOOKING_TRUST_PROXY", false, "take the client address from X-Forwarded-For (only behind your own proxy)")
	if err := s.Parse(args, stdout); err != nil {
		return config{}, err
	}
	c := config{addr: *addr, jwksURL: *jwksURL, redis: redisCfg(), adminToken: *adminToken,
		waitroomURL: *waitroomURL, issuer: *issuer, audience: *audience, holdTTL: *holdTTL, maxPerVisitor: *maxPerVisitor,
		seatsMaxAge: *seatsMaxAge, rate: *rate, burst: *burst, trustProxy: *trustProxy}
	return c, c.validate(s)
}

func (c *config) validate(s *settings.Set) error {
	switch {
	case !c.redis.Configured():
		return s.Errorf("redis-url", "or REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS is required")
	case c.adminToken == "":
		return s.Errorf("admin-token", "is required (it guards the seat-map route)")
	case c.jwksURL == "":
		return s.Errorf("jwks-url", "must not be empty")
	// Checked here because booking.Options reads 0 as "the default".
	case c.holdTTL < booking.MinHoldTTL || c.holdTTL > booking.MaxHoldTTL:
		return s.Errorf("hold-ttl", "must be between %s and %s, got %s", booking.MinHoldTTL, booking.MaxHoldTTL, c.holdTTL)
	case c.maxPerVisitor < 1 || c.maxPerVisitor > booking.MaxMaxPerVisitor:
		return s.Errorf("max-per-visitor", "must be between 1 and %d, got %d", booking.MaxMaxPerVisitor, c.maxPerVisitor)
	case c.seatsMaxAge < 0 || c.seatsMaxAge > booking.MaxSeatsMaxAge:
		return s.Errorf("seats-max-age", "must be between 0 and %s, got %s", booking.MaxSeatsMaxAge, c.seatsMaxAge)
	case c.rate < 0:
		return s.Errorf("rate", "must be a number ≥ 0, got %v", c.rate)
	case c.burst < 1:
		return s.Errorf("burst", "must be at least 1, got %d", c.burst)
	}
	if c.waitroomURL == "" {
		u, err := url.Parse(c.jwksURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return s.Errorf("jwks-url", "%q is not an absolute URL", c.jwksURL)
		}
		c.waitroomURL = u.Scheme + "://" + u.Host
	}
	c.waitroomURL = strings.TrimSuffix(c.waitroomURL, "/")
	return nil
}

// run serves until ctx ends, then shuts down gracefully within
// shutdownTimeout. Logs go to stdout as JSON, one object a line.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))

	redisconn.LogTo(log)
	rdb, err := cfg.redis.Open()
	if err != nil {
		return err
	}
	defer rdb.Close()
	met := metrics.New()
	rdb.AddHook(met.RedisHook())
	q := queue.New(rdb, queue.Options{Logger: log})
	seats, err := booking.New(rdb, booking.Options{HoldTTL: cfg.holdTTL, MaxPerVisitor: cfg.maxPerVisitor, SeatsMaxAge: cfg.seatsMaxAge})
	if err != nil {
		return err
	}
	verifier, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		JWKSURL: cfg.jwksURL, Issuer: cfg.issuer, Audience: cfg.audience,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	})
	if err != nil {
		return err
	}

	var draining atomic.Bool
	e := httpapi.NewEcho(log)
	if cfg.trustProxy {
		httpapi.TrustProxy(e)
	}
	httpapi.Instrument(e, met)
	admin := &httpapi.Admin{Store: q, Token: cfg.adminToken, Logger: log, OnRefused: met.AdminRefused.Inc}
	(&httpapi.Booking{Seats: seats, Queue: q, Verifier: verifier, Logger: log, Metrics: met,
		Limit: ratelimit.New(cfg.rate, cfg.burst, nil)}).Register(e, admin.RequireToken)
	httpapi.RegisterHealth(e, q, &draining)
	// The booking page links back to the line at /rooms/{room}. Behind one
	// proxy that path reaches waitroom; when the booking server is reached
	// directly, send the visitor on.
	e.GET("/rooms/:room", func(c echo.Context) error {
		room := c.Param("room")
		if !queue.ValidRoomID(room) {
			return queue.ErrInvalidRoom
		}
		return c.Redirect(http.StatusFound, cfg.waitroomURL+"/rooms/"+room)
	})

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	// A seat map may be 4 MiB: more time to read it than the default.
	srv := httpapi.NewServer(e, log, httpapi.ServerOptions{ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10})
	log.Info("booking listening", "addr", ln.Addr().String(), "jwks_url", cfg.jwksURL,
		"hold_ttl", cfg.holdTTL.String(), "max_per_visitor", cfg.maxPerVisitor, "seats_max_age", cfg.seatsMaxAge.String(), "redis", cfg.redis.Where(),
		"rate", cfg.rate, "burst", cfg.burst, "trust_proxy", cfg.trustProxy)

	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if err := q.Ping(pctx); err != nil {
		// Not fatal: requests answer 503 until Redis is back, and /readyz says so.
		log.Warn("redis unreachable at start", "error", err.Error())
	}
	cancel()

	if err := httpapi.ServeUntil(ctx, srv, ln); err != nil {
		return err
	}
	draining.Store(true)
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
