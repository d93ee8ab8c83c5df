package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/internal/settings"
	"github.com/waitroom/waitroom/pkg/queue"
)

// Config is everything cmd/waitroom reads from flags and the environment.
// A flag wins over its environment variable, which wins over the default.
type Config struct {
	Addr string
	// Redis is the deployment REDIS_URL, REDIS_CLUSTER_ADDRS or
	// REDIS_SENTINEL_* name; none: standalone.
	Redis redisconn.Config
	// JoinWaitReplicas > 0: a join is acknowledged only once that many
	// replicas have it (WAIT), within JoinWaitTimeout.
	JoinWaitReplicas int
	JoinWaitTimeout  time.Duration
	// HistoryRetention is how long each room's sale history is kept.
	HistoryRetention time.Duration
	AdminToken       string
	SigningKey       string
	PreviousKeys     string
	Issuer           string
	Audience         string
	JoinRate         float64
	JoinBurst        int
	// StatusRate and StatusBurst limit status reads and leaves per client
	// address; StatusRate 0: no limit.
	StatusRate  float64
	StatusBurst int
	// SocketRate and SocketBurst limit WebSocket upgrades per client
	// address; SocketRate 0: no limit.
	SocketRate  float64
	SocketBurst int
	// SocketsPerAddr caps the sockets open at once per client address; 0:
	// no cap.
	SocketsPerAddr int
	// PublicURL is where visitors reach the waiting room
	// (https://tickets.example.com), "" when not given.
	PublicURL string
	// CookieSecure says when cookies carry Secure: always when PublicURL is
	// https unless set, else per request.
	CookieSecure httpapi.CookieSecure
	// CORSOrigins may call /api/rooms/* from their pages; none: no CORS.
	CORSOrigins  []string
	TrustProxy   bool
	LogLevel     slog.Level
	BookingHold  time.Duration
	BookingLimit int
	// BookingRate and BookingBurst limit the booking API's requests per
	// client address (standalone); BookingRate 0: no limit.
	BookingRate  float64
	BookingBurst int
	// ShutdownGrace is how long /readyz answers 503 before the listener
	// closes, so a load balancer stops sending new visitors here first.
	ShutdownGrace time.Duration
	// AutoPipeline batches concurrent joins and status requests into shared
	// Redis round trips.
	AutoPipeline bool
	// PprofAddr, when set, serves net/http/pprof there (keep it on loopback).
	PprofAddr string
	// UserSecret (HS256, ≥ 32 bytes) and UserJWKSURL (RS256, ES256, EdDSA)
	// verify the user tokens that protected sites sign; neither: no user
	// token is accepted.
	UserSecret  string
	UserJWKSURL string
	// UserAudience and UserIssuer, when set, are required in user tokens.
	UserAudience string
	UserIssuer   string
	// PowKey is the proof-of-work key every instance shares (hex or base64,
	// ≥ 32 bytes); unset: one kept in Redis.
	PowKey string
	// Upstream, when set, is the site that gateway mode protects.
	Upstream *url.URL
	// GatewayPrefix is where waitroom's routes live on the protected host.
	GatewayPrefix string
	// AdminAddr, when set, is the only listener of the operator API,
	// /admin and /metrics.
	AdminAddr string
}

// Standalone reports whether no Redis was configured: the whole product then
// runs in one process on the embedded store.
func (c Config) Standalone() bool { return !c.Redis.Configured() }

const about = `waitroom: the virtual waiting room (waiting-room API, sockets, pages, operator API).
With no REDIS_URL it runs standalone: the whole product in one process on an embedded store.`

// declare puts every setting of waitroom on a Set (internal/settings), in
// the order -help and README's table list them; config reads them once
// parsed, and checks them.
func declare(getenv func(string) string) (*settings.Set, func() (Config, error)) {
	s := settings.New("waitroom", about, getenv)
	addr := s.String("addr", "WAITROOM_ADDR", ":8080", "listen address")
	redisCfg := redisconn.Declare(s, "redis://[:password@]host:port/db or rediss://…; unset (and no Cluster or Sentinel): standalone mode (embedded store, nothing on disk)")
	joinWaitReplicas := s.Int("join-wait-replicas", "WAITROOM_JOIN_WAIT_REPLICAS", 0, "a join is acknowledged only once this many replicas have it (Redis WAIT); 0: off, a join is acknowledged once the primary has it")
	joinWaitTimeout := s.Duration("join-wait-timeout", "WAITROOM_JOIN_WAIT_TIMEOUT", 500*time.Millisecond, "with -join-wait-replicas: how long a join waits for the replicas before it answers 503, 1ms–10s")
	adminToken := s.String("admin-token", "WAITROOM_ADMIN_TOKEN", "", "operator bearer token; required with Redis; standalone: random, printed once")
	signingKey := s.String("signing-key", "WAITROOM_SIGNING_KEY", "", "path to the Ed25519 entry-token key (PKCS #8 PEM); standalone: generated")
	previousKeys := s.String("previous-keys", "WAITROOM_PREVIOUS_KEYS", "", "comma-separated paths of previous signing keys, still published in the JWKS while rotating")
	issuer := s.String("issuer", "WAITROOM_ISSUER", "waitroom", "entry-token iss")
	audience := s.String("audience", "WAITROOM_AUDIENCE", "booking", "entry-token aud")
	joinRate := s.Float("join-rate", "WAITROOM_JOIN_RATE", 50, "joins per second allowed per client address (token bucket); 0: no limit")
	joinBurst := s.Int("join-burst", "WAITROOM_JOIN_BURST", 500, "burst of joins per client address (a whole office or carrier NAT at once)")
	statusRate := s.Float("status-rate", "WAITROOM_STATUS_RATE", 20, "status reads (a ticket's status, a room's info) and leaves per second allowed per client address (one token bucket); 0: no limit")
	statusBurst := s.Int("status-burst", "WAITROOM_STATUS_BURST", 200, "burst of status reads and leaves per client address")
	socketRate := s.Float("socket-rate", "WAITROOM_SOCKET_RATE", 50, "WebSocket upgrades per second allowed per client address (token bucket); 0: no limit")
	socketBurst := s.Int("socket-burst", "WAITROOM_SOCKET_BURST", 500, "burst of WebSocket upgrades per client address")
	socketsPerAddr := s.Int("sockets-per-addr", "WAITROOM_SOCKETS_PER_ADDR", 2000, "WebSockets open at once per client address; 0: no limit")
	corsOrigins := s.List("cors-origins", "WAITROOM_CORS_ORIGINS", "", "comma-separated origins (https://shop.example.com) whose pages may call /api/rooms/* and open its sockets; unset: no CORS")
	publicURL := s.String("public-url", "WAITROOM_PUBLIC_URL", "", "the URL visitors reach the waiting room at (https://tickets.example.com); when https, cookies are Secure unless -cookie-secure says otherwise")
	cookieSecure := s.String("cookie-secure", "WAITROOM_COOKIE_SECURE", "", "true: every cookie waitroom sets is Secure (behind a proxy that ends TLS); false: none is; unset or auto: true when -public-url is https, else per request (TLS or X-Forwarded-Proto: https)")
	trustProxy := s.Bool("trust-proxy", "WAITROOM_TRUST_PROXY", false, "take the client address from X-Forwarded-For (only behind your own proxy)")
	logLevel := s.Level("log-level", "WAITROOM_LOG_LEVEL", slog.LevelInfo, "debug, info, warn or error (each request is logged at debug)")
	shutdownGrace := s.Duration("shutdown-grace", "WAITROOM_SHUTDOWN_GRACE", 2*time.Second, "on SIGTERM, how long /readyz answers 503 before the listener closes, 0–5s (the whole shutdown stays under 10 s)")
	autoPipeline := s.Bool("autopipeline", "WAITROOM_AUTOPIPELINE", true, "batch concurrent joins and status requests into shared Redis round trips (go-redis auto-pipelining)")
	pprofAddr := s.String("pprof-addr", "WAITROOM_PPROF_ADDR", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060; never a public one); unset: off")
	userSecret := s.String("user-secret", "WAITROOM_USER_SECRET", "", "HS256 secret (at least 32 bytes) that protected sites sign user tokens with; unset: none")
	userJWKSURL := s.String("user-jwks-url", "WAITROOM_USER_JWKS_URL", "", "JWKS of the keys (RS256, ES256, EdDSA) that sign user tokens, e.g. an OpenID Connect provider's; unset: none")
	userAudience := s.String("user-audience", "WAITROOM_USER_AUDIENCE", "", "required aud of user tokens; unset: not checked")
	userIssuer := s.String("user-issuer", "WAITROOM_USER_ISSUER", "", "required iss of user tokens; unset: not checked")
	powKey := s.String("pow-key", "WAITROOM_POW_KEY", "", "proof-of-work key shared by every instance (hex or base64, at least 32 bytes); unset: one kept in Redis")
	historyRetention := s.Duration("history-retention", "WAITROOM_HISTORY_RETENTION", queue.DefaultHistoryRetention, "how long each room's sale history is kept in Redis, 1h–30d (the admitter takes the same variable)")
	upstream := s.String("upstream", "WAITROOM_UPSTREAM", "", "gateway mode: the site (http://shop:8000) this server proxies and protects by the rooms' routes; unset: off")
	gatewayPrefix := s.String("gateway-prefix", "WAITROOM_GATEWAY_PREFIX", "/_waitroom", "where waitroom's own routes live on the protected host (gateway mode and forward auth)")
	adminAddr := s.String("admin-addr", "WAITROOM_ADMIN_ADDR", "", "serve the operator API, /admin and /metrics only on this address (e.g. 127.0.0.1:9090); unset: on the main listener")
	bookingHold := s.Duration("booking-hold", "BOOKING_HOLD_TTL", 5*time.Minute, "standalone: how long a seat hold lasts, 1s–24h")
	bookingLimit := s.Int("booking-limit", "BOOKING_MAX_PER_VISITOR", 4, "standalone: seats held or booked per visitor")
	bookingRate := s.Float("booking-rate", "BOOKING_RATE", 20, "standalone: booking API requests per second allowed per client address (token bucket); 0: no limit")
	bookingBurst := s.Int("booking-burst", "BOOKING_BURST", 100, "standalone: burst of booking API requests per client address")

	return s, func() (Config, error) {
		c := Config{
			Addr: *addr, Redis: redisCfg(), JoinWaitReplicas: *joinWaitReplicas, JoinWaitTimeout: *joinWaitTimeout, AdminToken: *adminToken,
			SigningKey: *signingKey, PreviousKeys: *previousKeys, Issuer: *issuer, Audience: *audience,
			JoinRate: *joinRate, JoinBurst: *joinBurst, StatusRate: *statusRate, StatusBurst: *statusBurst,
			SocketRate: *socketRate, SocketBurst: *socketBurst, SocketsPerAddr: *socketsPerAddr,
			TrustProxy: *trustProxy, LogLevel: *logLevel, ShutdownGrace: *shutdownGrace, AutoPipeline: *autoPipeline,
			PprofAddr: *pprofAddr, UserSecret: *userSecret, UserJWKSURL: *userJWKSURL, UserAudience: *userAudience,
			UserIssuer: *userIssuer, PowKey: *powKey, GatewayPrefix: *gatewayPrefix, AdminAddr: *adminAddr, HistoryRetention: *historyRetention,
			BookingHold: *bookingHold, BookingLimit: *bookingLimit, BookingRate: *bookingRate, BookingBurst: *bookingBurst,
		}
		for name, r := range map[string]float64{"join-rate": c.JoinRate, "status-rate": c.StatusRate, "socket-rate": c.SocketRate, "booking-rate": c.BookingRate} {
			if r < 0 {
				return c, s.Errorf(name, "must be a number ≥ 0, got %v", r)
			}
		}
		for name, n := range map[string]int{"join-burst": c.JoinBurst, "status-burst": c.StatusBurst, "socket-burst": c.SocketBurst,
			"booking-burst": c.BookingBurst, "booking-limit": c.BookingLimit} {
			if n < 1 {
				return c, s.Errorf(name, "must be an integer ≥ 1, got %d", n)
			}
		}
		if c.HistoryRetention < time.Hour || c.HistoryRetention > 30*24*time.Hour {
			return c, s.Errorf("history-retention", "must be a duration from 1h to 720h, got %s", c.HistoryRetention)
		}
		if c.JoinWaitReplicas < 0 {
			return c, s.Errorf("join-wait-replicas", "must be an integer ≥ 0, got %d", c.JoinWaitReplicas)
		}
		if c.JoinWaitTimeout < time.Millisecond || c.JoinWaitTimeout > 10*time.Second {
			return c, s.Errorf("join-wait-timeout", "must be a duration from 1ms to 10s, got %s", c.JoinWaitTimeout)
		}
		if c.SocketsPerAddr < 0 {
			return c, s.Errorf("sockets-per-addr", "must be an integer ≥ 0, got %d", c.SocketsPerAddr)
		}
		if c.ShutdownGrace < 0 || c.ShutdownGrace > 5*time.Second {
			return c, s.Errorf("shutdown-grace", "must be a duration from 0 to 5s, got %s", c.ShutdownGrace)
		}
		if c.BookingHold < time.Second || c.BookingHold > 24*time.Hour {
			return c, s.Errorf("booking-hold", "must be a duration from 1s to 24h, got %s", c.BookingHold)
		}
		var err error
		if c.CORSOrigins, err = parseOrigins(*corsOrigins); err != nil {
			return c, s.Errorf("cors-origins", "%v", err)
		}
		if c.PublicURL, err = parsePublicURL(*publicURL); err != nil {
			return c, s.Errorf("public-url", "%v", err)
		}
		if c.CookieSecure, err = parseCookieSecure(*cookieSecure, c.PublicURL); err != nil {
			return c, s.Errorf("cookie-secure", "%v", err)
		}
		if c.Upstream, err = parseUpstream(*upstream); err != nil {
			return c, s.Errorf("upstream", "%v", err)
		}
		if p := c.GatewayPrefix; !strings.HasPrefix(p, "/") || len(p) < 2 || strings.HasSuffix(p, "/") || path.Clean(p) != p {
			return c, s.Errorf("gateway-prefix", "must be a path like /_waitroom, got %q", p)
		}
		if !c.Standalone() && c.AdminToken == "" {
			return c, s.Errorf("admin-token", "is required when REDIS_URL, REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS is set")
		}
		return c, nil
	}
}

// parseConfig reads args and the environment (getenv). -help prints every
// flag with its variable and default to out and returns flag.ErrHelp.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	s, config := declare(getenv)
	if err := s.Parse(args, out); err != nil {
		return Config{}, err
	}
	return config()
}

// printHelp writes the -help text.
func printHelp(out io.Writer) {
	s, _ := declare(func(string) string { return "" })
	s.PrintHelp(out)
}

// parseOrigins reads WAITROOM_CORS_ORIGINS: a comma list of origins, each
// scheme://host[:port] and nothing more ("*" is refused: CORS opens to
// exactly the sites named).
func parseOrigins(origins []string) ([]string, error) {
	var out []string
	for _, o := range origins {
		if o = httpapi.NormalizeOrigin(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(u.Host, "*") {
			return nil, fmt.Errorf("wants origins like https://shop.example.com, got %q", o)
		}
		out = append(out, o)
	}
	return out, nil
}

// parsePublicURL reads WAITROOM_PUBLIC_URL: an absolute http(s) URL, maybe
// with a path, and nothing else (no user, query or fragment).
func parsePublicURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsFunc(s, unicode.IsSpace) {
		return "", fmt.Errorf("wants a URL like https://tickets.example.com, got %q", s)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// parseUpstream reads WAITROOM_UPSTREAM: an http(s) URL of the site, with
// no query or fragment; nil when unset.
func parseUpstream(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("upstream: want a URL like http://shop:8000, got %q", s)
	}
	return u, nil
}

// parseCookieSecure reads WAITROOM_COOKIE_SECURE: true, false, or unset
// ("auto"), which is true when the public URL is https.
func parseCookieSecure(s, publicURL string) (httpapi.CookieSecure, error) {
	if s == "" || s == "auto" {
		if strings.HasPrefix(strings.ToLower(publicURL), "https://") {
			return httpapi.CookieSecureAlways, nil
		}
		return httpapi.CookieSecureAuto, nil
	}
	on, err := strconv.ParseBool(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("wants true, false or auto, got %q", s)
	case on:
		return httpapi.CookieSecureAlways, nil
	}
	return httpapi.CookieSecureNever, nil
}
