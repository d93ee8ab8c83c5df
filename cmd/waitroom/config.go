package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/waitroom/waitroom/internal/httpapi"
)

// Config is everything cmd/waitroom reads from flags and the environment.
// A flag wins over its environment variable, which wins over the default.
type Config struct {
	Addr         string
	RedisURL     string
	ClusterAddrs string
	AdminToken   string
	SigningKey   string
	PreviousKeys string
	Issuer       string
	Audience     string
	JoinRate     float64
	JoinBurst    int
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
	BookingHold  string
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
func (c Config) Standalone() bool { return c.RedisURL == "" && c.ClusterAddrs == "" }

// setting is one row of --help and of README's table.
type setting struct {
	flag, env, def, usage string
}

var settings = []setting{
	{"addr", "WAITROOM_ADDR", ":8080", "listen address"},
	{"redis-url", "REDIS_URL", "", "redis://[:password@]host:port/db or rediss://…; unset: standalone mode (embedded store, nothing on disk)"},
	{"redis-cluster-addrs", "REDIS_CLUSTER_ADDRS", "", "host:port,host:port,…: use a Redis Cluster instead"},
	{"admin-token", "WAITROOM_ADMIN_TOKEN", "", "operator bearer token; required with Redis; standalone: random, printed once"},
	{"signing-key", "WAITROOM_SIGNING_KEY", "", "path to the Ed25519 entry-token key (PKCS #8 PEM); standalone: generated"},
	{"previous-keys", "WAITROOM_PREVIOUS_KEYS", "", "comma-separated paths of previous signing keys, still published in the JWKS while rotating"},
	{"issuer", "WAITROOM_ISSUER", "waitroom", "entry-token iss"},
	{"audience", "WAITROOM_AUDIENCE", "booking", "entry-token aud"},
	{"join-rate", "WAITROOM_JOIN_RATE", "50", "joins per second allowed per client address (token bucket); 0: no limit"},
	{"join-burst", "WAITROOM_JOIN_BURST", "500", "burst of joins per client address (a whole office or carrier NAT at once)"},
	{"status-rate", "WAITROOM_STATUS_RATE", "20", "status reads (a ticket's status, a room's info) and leaves per second allowed per client address (one token bucket); 0: no limit"},
	{"status-burst", "WAITROOM_STATUS_BURST", "200", "burst of status reads and leaves per client address"},
	{"socket-rate", "WAITROOM_SOCKET_RATE", "50", "WebSocket upgrades per second allowed per client address (token bucket); 0: no limit"},
	{"socket-burst", "WAITROOM_SOCKET_BURST", "500", "burst of WebSocket upgrades per client address"},
	{"sockets-per-addr", "WAITROOM_SOCKETS_PER_ADDR", "2000", "WebSockets open at once per client address; 0: no limit"},
	{"cors-origins", "WAITROOM_CORS_ORIGINS", "", "comma-separated origins (https://shop.example.com) whose pages may call /api/rooms/* and open its sockets; unset: no CORS"},
	{"public-url", "WAITROOM_PUBLIC_URL", "", "the URL visitors reach the waiting room at (https://tickets.example.com); when https, cookies are Secure unless -cookie-secure says otherwise"},
	{"cookie-secure", "WAITROOM_COOKIE_SECURE", "", "true: every cookie waitroom sets is Secure (behind a proxy that ends TLS); false: none is; unset: true when -public-url is https, else per request (TLS or X-Forwarded-Proto: https)"},
	{"trust-proxy", "WAITROOM_TRUST_PROXY", "false", "take the client address from X-Forwarded-For (only behind your own proxy)"},
	{"log-level", "WAITROOM_LOG_LEVEL", "info", "debug, info, warn or error (each request is logged at debug)"},
	{"shutdown-grace", "WAITROOM_SHUTDOWN_GRACE", "2s", "on SIGTERM, how long /readyz answers 503 before the listener closes (the whole shutdown stays under 10 s)"},
	{"autopipeline", "WAITROOM_AUTOPIPELINE", "true", "batch concurrent joins and status requests into shared Redis round trips (go-redis auto-pipelining)"},
	{"pprof-addr", "WAITROOM_PPROF_ADDR", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060; never a public one); unset: off"},
	{"user-secret", "WAITROOM_USER_SECRET", "", "HS256 secret (at least 32 bytes) that protected sites sign user tokens with; unset: none"},
	{"user-jwks-url", "WAITROOM_USER_JWKS_URL", "", "JWKS of the keys (RS256, ES256, EdDSA) that sign user tokens, e.g. an OpenID Connect provider's; unset: none"},
	{"user-audience", "WAITROOM_USER_AUDIENCE", "", "required aud of user tokens; unset: not checked"},
	{"user-issuer", "WAITROOM_USER_ISSUER", "", "required iss of user tokens; unset: not checked"},
	{"pow-key", "WAITROOM_POW_KEY", "", "proof-of-work key shared by every instance (hex or base64, at least 32 bytes); unset: one kept in Redis"},
	{"upstream", "WAITROOM_UPSTREAM", "", "gateway mode: the site (http://shop:8000) this server proxies and protects by the rooms' routes; unset: off"},
	{"gateway-prefix", "WAITROOM_GATEWAY_PREFIX", "/_waitroom", "where waitroom's own routes live on the protected host (gateway mode and forward auth)"},
	{"admin-addr", "WAITROOM_ADMIN_ADDR", "", "serve the operator API, /admin and /metrics only on this address (e.g. 127.0.0.1:9090); unset: on the main listener"},
	{"booking-hold", "BOOKING_HOLD_TTL", "5m", "standalone: how long a seat hold lasts"},
	{"booking-limit", "BOOKING_MAX_PER_VISITOR", "4", "standalone: seats held or booked per visitor"},
	{"booking-rate", "BOOKING_RATE", "20", "standalone: booking API requests per second allowed per client address (token bucket); 0: no limit"},
	{"booking-burst", "BOOKING_BURST", "100", "standalone: burst of booking API requests per client address"},
}

// parseConfig reads args and the environment (getenv). --help prints every
// flag with its variable and default and returns flag.ErrHelp.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("waitroom", flag.ContinueOnError)
	fs.SetOutput(out)
	vals := map[string]*string{}
	for _, s := range settings {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		vals[s.flag] = fs.String(s.flag, v, s.usage)
	}
	fs.Usage = func() { printHelp(out) }
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	get := func(k string) string { return strings.TrimSpace(*vals[k]) }
	c := Config{
		Addr:         get("addr"),
		RedisURL:     get("redis-url"),
		ClusterAddrs: get("redis-cluster-addrs"),
		AdminToken:   get("admin-token"),
		SigningKey:   get("signing-key"),
		PreviousKeys: get("previous-keys"),
		Issuer:       get("issuer"),
		Audience:     get("audience"),
		BookingHold:  get("booking-hold"),
		PprofAddr:    get("pprof-addr"),
		UserSecret:   get("user-secret"),
		UserJWKSURL:  get("user-jwks-url"),
		UserAudience: get("user-audience"),
		UserIssuer:   get("user-issuer"),
		PowKey:       get("pow-key"),
		AdminAddr:    get("admin-addr"),
	}
	var err error
	if c.JoinRate, err = parseRate("join-rate", get("join-rate")); err != nil {
		return c, err
	}
	if c.JoinBurst, err = strconv.Atoi(get("join-burst")); err != nil || c.JoinBurst < 1 {
		return c, fmt.Errorf("join-burst: want an integer ≥ 1, got %q", get("join-burst"))
	}
	if c.StatusRate, err = parseRate("status-rate", get("status-rate")); err != nil {
		return c, err
	}
	if c.StatusBurst, err = strconv.Atoi(get("status-burst")); err != nil || c.StatusBurst < 1 {
		return c, fmt.Errorf("status-burst: want an integer ≥ 1, got %q", get("status-burst"))
	}
	if c.SocketRate, err = parseRate("socket-rate", get("socket-rate")); err != nil {
		return c, err
	}
	if c.SocketBurst, err = strconv.Atoi(get("socket-burst")); err != nil || c.SocketBurst < 1 {
		return c, fmt.Errorf("socket-burst: want an integer ≥ 1, got %q", get("socket-burst"))
	}
	if c.SocketsPerAddr, err = strconv.Atoi(get("sockets-per-addr")); err != nil || c.SocketsPerAddr < 0 {
		return c, fmt.Errorf("sockets-per-addr: want an integer ≥ 0, got %q", get("sockets-per-addr"))
	}
	if c.CORSOrigins, err = parseOrigins(get("cors-origins")); err != nil {
		return c, err
	}
	if c.PublicURL, err = parsePublicURL(get("public-url")); err != nil {
		return c, err
	}
	if c.CookieSecure, err = parseCookieSecure(get("cookie-secure"), c.PublicURL); err != nil {
		return c, err
	}
	if c.Upstream, err = parseUpstream(get("upstream")); err != nil {
		return c, err
	}
	if c.GatewayPrefix = get("gateway-prefix"); !strings.HasPrefix(c.GatewayPrefix, "/") || len(c.GatewayPrefix) < 2 ||
		strings.HasSuffix(c.GatewayPrefix, "/") || path.Clean(c.GatewayPrefix) != c.GatewayPrefix {
		return c, fmt.Errorf("gateway-prefix: want a path like /_waitroom, got %q", c.GatewayPrefix)
	}
	if c.AutoPipeline, err = strconv.ParseBool(get("autopipeline")); err != nil {
		return c, fmt.Errorf("autopipeline: want true or false, got %q", get("autopipeline"))
	}
	if c.TrustProxy, err = strconv.ParseBool(get("trust-proxy")); err != nil {
		return c, fmt.Errorf("trust-proxy: want true or false, got %q", get("trust-proxy"))
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("log-level"))); err != nil {
		return c, fmt.Errorf("log-level: %w", err)
	}
	if c.ShutdownGrace, err = time.ParseDuration(get("shutdown-grace")); err != nil || c.ShutdownGrace < 0 || c.ShutdownGrace > 5*time.Second {
		return c, fmt.Errorf("shutdown-grace: want a duration from 0 to 5s, got %q", get("shutdown-grace"))
	}
	if c.BookingLimit, err = strconv.Atoi(get("booking-limit")); err != nil || c.BookingLimit < 1 {
		return c, fmt.Errorf("booking-limit: want an integer ≥ 1, got %q", get("booking-limit"))
	}
	if c.BookingRate, err = parseRate("booking-rate", get("booking-rate")); err != nil {
		return c, err
	}
	if c.BookingBurst, err = strconv.Atoi(get("booking-burst")); err != nil || c.BookingBurst < 1 {
		return c, fmt.Errorf("booking-burst: want an integer ≥ 1, got %q", get("booking-burst"))
	}
	if !c.Standalone() && c.AdminToken == "" {
		return c, fmt.Errorf("WAITROOM_ADMIN_TOKEN is required when REDIS_URL or REDIS_CLUSTER_ADDRS is set")
	}
	return c, nil
}

func printHelp(out io.Writer) {
	fmt.Fprintln(out, "waitroom: the virtual waiting room (waiting-room API, sockets, pages, operator API).")
	fmt.Fprintln(out, "With no REDIS_URL it runs standalone: the whole product in one process on an embedded store.")
	fmt.Fprintln(out, "\nflag / environment variable (default): meaning")
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(out, "  -%s / %s (%s)\n      %s\n", s.flag, s.env, def, s.usage)
	}
}

// parseHold reads BOOKING_HOLD_TTL.
func parseHold(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return 0, fmt.Errorf("booking-hold: want a duration from 1s to 24h, got %q", s)
	}
	return d, nil
}

// parseOrigins reads WAITROOM_CORS_ORIGINS: a comma list of origins, each
// scheme://host[:port] and nothing more ("*" is refused: CORS opens to
// exactly the sites named).
func parseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = httpapi.NormalizeOrigin(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(u.Host, "*") {
			return nil, fmt.Errorf("cors-origins: want origins like https://shop.example.com, got %q", o)
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
		return "", fmt.Errorf("public-url: want a URL like https://tickets.example.com, got %q", s)
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
		return 0, fmt.Errorf("cookie-secure: want true, false or auto, got %q", s)
	case on:
		return httpapi.CookieSecureAlways, nil
	}
	return httpapi.CookieSecureNever, nil
}

// parseRate reads a rate of a token bucket: a finite number ≥ 0 (NaN or
// Inf would refuse every request).
func parseRate(name, s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, fmt.Errorf("%s: want a number ≥ 0, got %q", name, s)
	}
	return r, nil
}
