// Command booking is the protected site behind the waiting room: the booking
// API and the booking page of docs/API.md ("Booking API"). Every call needs an
// entry token that waitroom signed (checked against waitroom's JWKS) for an
// admission that is still live (checked in the room's Redis).
//
// Configuration comes from flags, each of which mirrors an environment
// variable; a flag given on the command line wins. Run with --help for the
// list and the defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/internal/ratelimit"
	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "booking:", err)
		os.Exit(1)
	}
}

// shutdownTimeout bounds the graceful shutdown after SIGTERM or SIGINT.
const shutdownTimeout = 10 * time.Second

// errUsage marks a command line that could not be parsed (already reported).
var errUsage = errors.New("usage")

// config is the command's configuration, from flags and environment.
type config struct {
	addr         string
	jwksURL      string
	redisURL     string
	clusterAddrs string
	// sentinel* and redisPassword: see redisconn.Vars.
	sentinelAddrs, sentinelMaster, sentinelPassword, redisPassword string
	adminToken                                                     string
	waitroomURL                                                    string
	issuer                                                         string
	audience                                                       string
	holdTTL                                                        time.Duration
	maxPerVisitor                                                  int
	seatsMaxAge                                                    time.Duration
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
// environment variable it mirrors. --help lists every flag with its
// variable and default (a secret's value is never printed).
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("booking", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := map[string]string{} // flag name -> environment variable
	str := func(p *string, name, envName, def, usage string) {
		fs.StringVar(p, name, def, usage+" (env "+envName+")")
		env[name] = envName
	}
	str(&c.addr, "addr", "BOOKING_ADDR", ":8081", "listen address")
	str(&c.jwksURL, "jwks-url", "BOOKING_JWKS_URL", "http://127.0.0.1:8080/.well-known/jwks.json", "where waitroom publishes the entry-token keys")
	str(&c.redisURL, "redis-url", "REDIS_URL", "", "Redis, redis://[:password@]host:port/db or rediss://…; required unless -redis-cluster-addrs is set")
	str(&c.clusterAddrs, "redis-cluster-addrs", "REDIS_CLUSTER_ADDRS", "", "host:port,host:port,… of a Redis Cluster; user, password and TLS still come from -redis-url if set")
	str(&c.sentinelAddrs, "redis-sentinel-addrs", "REDIS_SENTINEL_ADDRS", "", "host:port,host:port,… of Redis Sentinels: use the primary they name instead, and follow its failovers")
	str(&c.sentinelMaster, "redis-sentinel-master", "REDIS_SENTINEL_MASTER", "", "the primary's name in the Sentinels' configuration; required with -redis-sentinel-addrs")
	str(&c.sentinelPassword, "redis-sentinel-password", "REDIS_SENTINEL_PASSWORD", "", "password of the Sentinels themselves; unset: none")
	str(&c.redisPassword, "redis-password", "REDIS_PASSWORD", "", "password of the Redis servers; overrides -redis-url's; unset: -redis-url's")
	str(&c.adminToken, "admin-token", "WAITROOM_ADMIN_TOKEN", "", "operator bearer token for PUT /api/admin/events/{room}/seats; required")
	str(&c.waitroomURL, "waitroom-url", "BOOKING_WAITROOM_URL", "", "waitroom's base URL, where /rooms/{room} sends a visitor back to the line; default: the origin of -jwks-url")
	str(&c.issuer, "token-issuer", "BOOKING_TOKEN_ISSUER", entrytoken.DefaultIssuer, "required iss of entry tokens")
	str(&c.audience, "token-audience", "BOOKING_TOKEN_AUDIENCE", entrytoken.DefaultAudience, "required aud of entry tokens")
	fs.DurationVar(&c.holdTTL, "hold-ttl", booking.DefaultHoldTTL, "how long a hold lasts before it frees itself, 1s–24h (env BOOKING_HOLD_TTL)")
	env["hold-ttl"] = "BOOKING_HOLD_TTL"
	fs.IntVar(&c.maxPerVisitor, "max-per-visitor", booking.DefaultMaxPerVisitor, "most seats one visitor may hold or book at once, 1–100 (env BOOKING_MAX_PER_VISITOR)")
	env["max-per-visitor"] = "BOOKING_MAX_PER_VISITOR"
	fs.DurationVar(&c.seatsMaxAge, "seats-max-age", defaultSeatsMaxAge, "how old a seat list answered from this process's snapshot may be, 0–10s; 0 reads Redis every time; a visitor's own changes show at once (env BOOKING_SEATS_MAX_AGE)")
	env["seats-max-age"] = "BOOKING_SEATS_MAX_AGE"
	fs.Float64Var(&c.rate, "rate", defaultRate, "visitors' API requests per second allowed per client address (token bucket), checked before the token and Redis; 0: no limit (env BOOKING_RATE)")
	env["rate"] = "BOOKING_RATE"
	fs.IntVar(&c.burst, "burst", defaultBurst, "burst of visitors' API requests per client address (env BOOKING_BURST)")
	env["burst"] = "BOOKING_BURST"
	fs.BoolVar(&c.trustProxy, "trust-proxy", false, "take the client address from X-Forwarded-For (only behind your own proxy) (env BOOKING_TRUST_PROXY)")
	env["trust-proxy"] = "BOOKING_TRUST_PROXY"
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: booking [flags]\n\nServes the booking API and page of waitroom. Each flag mirrors an environment variable; a flag on the command line wins.\n\n")
		fs.PrintDefaults()
	}

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "booking: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return c, errUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, envName := range env {
		if v := getenv(envName); v != "" && !given[name] {
			if err := fs.Set(name, v); err != nil {
				return c, fmt.Errorf("%s=%q: %w", envName, v, err)
			}
		}
	}
	return c, c.validate()
}

// redis is the Redis deployment the settings name.
func (c *config) redis() redisconn.Config {
	return redisconn.Config{URL: c.redisURL, ClusterAddrs: c.clusterAddrs, SentinelAddrs: c.sentinelAddrs,
		SentinelMaster: c.sentinelMaster, SentinelPassword: c.sentinelPassword, Password: c.redisPassword}
}

func (c *config) validate() error {
	switch {
	case !c.redis().Configured():
		return errors.New("REDIS_URL, REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS is required")
	case c.adminToken == "":
		return errors.New("WAITROOM_ADMIN_TOKEN is required (it guards the seat-map route)")
	case c.jwksURL == "":
		return errors.New("BOOKING_JWKS_URL must not be empty")
	// Checked here because booking.Options reads 0 as "the default".
	case c.holdTTL < booking.MinHoldTTL || c.holdTTL > booking.MaxHoldTTL:
		return fmt.Errorf("BOOKING_HOLD_TTL must be between %s and %s, got %s", booking.MinHoldTTL, booking.MaxHoldTTL, c.holdTTL)
	case c.maxPerVisitor < 1 || c.maxPerVisitor > booking.MaxMaxPerVisitor:
		return fmt.Errorf("BOOKING_MAX_PER_VISITOR must be between 1 and %d, got %d", booking.MaxMaxPerVisitor, c.maxPerVisitor)
	case c.seatsMaxAge < 0 || c.seatsMaxAge > booking.MaxSeatsMaxAge:
		return fmt.Errorf("BOOKING_SEATS_MAX_AGE must be between 0 and %s, got %s", booking.MaxSeatsMaxAge, c.seatsMaxAge)
	case c.rate < 0 || math.IsNaN(c.rate) || math.IsInf(c.rate, 0):
		return fmt.Errorf("BOOKING_RATE must be a number ≥ 0, got %v", c.rate)
	case c.burst < 1:
		return fmt.Errorf("BOOKING_BURST must be at least 1, got %d", c.burst)
	}
	if c.waitroomURL == "" {
		u, err := url.Parse(c.jwksURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("BOOKING_JWKS_URL %q is not an absolute URL", c.jwksURL)
		}
		c.waitroomURL = u.Scheme + "://" + u.Host
	}
	c.waitroomURL = strings.TrimSuffix(c.waitroomURL, "/")
	return nil
}

// run serves until ctx ends, then shuts down gracefully within
// shutdownTimeout. Logs go to stdout as JSON, one object a line.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))

	redisconn.LogTo(log)
	rdb, err := cfg.redis().Open()
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
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("booking listening", "addr", ln.Addr().String(), "jwks_url", cfg.jwksURL,
		"hold_ttl", cfg.holdTTL.String(), "max_per_visitor", cfg.maxPerVisitor, "seats_max_age", cfg.seatsMaxAge.String(), "redis_cluster", cfg.clusterAddrs != "",
		"rate", cfg.rate, "burst", cfg.burst, "trust_proxy", cfg.trustProxy)

	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if err := q.Ping(pctx); err != nil {
		// Not fatal: requests answer 503 until Redis is back, and /readyz says so.
		log.Warn("redis unreachable at start", "error", err.Error())
	}
	cancel()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
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
