// Command waitroom serves the waiting room: the visitors' API and live
// positions over WebSocket, the waiting and operator pages, the operator API
// and the entry-token JWKS. With no REDIS_URL it runs standalone: the whole
// product (admitter and booking API included) in one process on an embedded
// in-memory store.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/embedded"
	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/hub"
	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/internal/pacer"
	"github.com/waitroom/waitroom/internal/pow"
	"github.com/waitroom/waitroom/internal/ratelimit"
	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/internal/settings"
	"github.com/waitroom/waitroom/internal/usertoken"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

func main() { settings.Main("waitroom", run) }

// run parses the configuration and runs the program until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	return NewMain(cfg, stdout, stderr).Run(ctx)
}

// shutdownTimeout bounds the whole shutdown: SIGTERM to exit within 10 s.
const shutdownTimeout = 9 * time.Second

// Main is the assembled program. Run starts it and blocks until ctx ends;
// tests run it on port :0 and read Addr.
type Main struct {
	cfg    Config
	stdout io.Writer
	log    *slog.Logger

	ready    chan struct{}
	addr     string
	adminTok string
	draining atomic.Bool

	adminAddr string
}

// NewMain returns a program for cfg that prints to stdout (the one-time
// operator token) and logs JSON to stderr.
func NewMain(cfg Config, stdout, stderr io.Writer) *Main {
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	return &Main{cfg: cfg, stdout: stdout, log: log, ready: make(chan struct{})}
}

// Addr waits until the server listens and returns its address.
func (m *Main) Addr() string {
	<-m.ready
	return m.addr
}

// AdminToken is the operator token in force (the generated one standalone).
func (m *Main) AdminToken() string {
	<-m.ready
	return m.adminTok
}

// Run serves until ctx ends, then shuts down: /readyz turns 503 at once, the
// listener closes, sockets get "going away", the tick in flight finishes.
func (m *Main) Run(ctx context.Context) error {
	cfg, log := m.cfg, m.log
	if cfg.Standalone() {
		log.Info("waitroom standalone: embedded in-memory store, in-process admitter and booking API; nothing is kept on disk")
	}
	redisconn.LogTo(log)
	rdb, closeStore, err := m.openStore()
	if err != nil {
		return err
	}
	defer closeStore()
	store := queue.New(rdb, queue.Options{Logger: log, AutoPipeline: cfg.AutoPipeline,
		WaitReplicas: cfg.JoinWaitReplicas, WaitTimeout: cfg.JoinWaitTimeout, HistoryRetention: cfg.HistoryRetention})
	met := metrics.New()
	rdb.AddHook(met.RedisHook())
	met.Rooms(store)

	signer, err := m.signer()
	if err != nil {
		return err
	}
	m.adminTok = cfg.AdminToken
	if cfg.Standalone() {
		if m.adminTok == "" {
			m.adminTok = randomToken()
			// Printed once, to stdout and not the log: logs keep no secrets.
			fmt.Fprintf(m.stdout, "operator token (standalone, valid until exit): %s\n", m.adminTok)
		}
		if err := m.createDemo(ctx, store); err != nil {
			return err
		}
	}

	appCtx, cancelApp := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelApp()
	h := hub.New(store, hub.Options{
		Logger: log,
		OnPush: met.OnPush,
		Sign: func(room, subject, id string, exp time.Time) (string, error) {
			return signer.Sign(entrytoken.Claims{Room: room, Subject: subject, ID: id, ExpiresAt: exp})
		},
	})
	met.SocketsOpen(h.Sockets)
	e := httpapi.NewEcho(log)
	if cfg.TrustProxy {
		httpapi.TrustProxy(e)
	}
	admin := &httpapi.Admin{Store: store, Token: m.adminTok, Logger: log, OnRefused: met.AdminRefused.Inc}
	adminSrv, err := m.registerOperator(e, admin, met)
	if err != nil {
		return err
	}
	checker, err := m.registerForwardAuth(e, store, signer)
	if err != nil {
		return err
	}
	users, err := m.userVerifier()
	if err != nil {
		return err
	}
	powKey, err := pow.SharedKey(ctx, rdb, cfg.PowKey)
	if err != nil {
		return fmt.Errorf("proof-of-work key: %w", err)
	}
	(&httpapi.Waitroom{
		Store:          store,
		Sockets:        h,
		Signer:         signer,
		Users:          users,
		Puzzles:        &pow.Puzzles{Key: powKey},
		TrustProxy:     cfg.TrustProxy,
		JoinLimit:      ratelimit.New(cfg.JoinRate, cfg.JoinBurst, nil),
		StatusLimit:    ratelimit.New(cfg.StatusRate, cfg.StatusBurst, nil),
		SocketLimit:    ratelimit.New(cfg.SocketRate, cfg.SocketBurst, nil),
		SocketsPerAddr: ratelimit.NewConcurrent(cfg.SocketsPerAddr),
		CORSOrigins:    cfg.CORSOrigins,
		CookieSecure:   cfg.CookieSecure,
		Draining:       &m.draining,
		SocketContext:  appCtx,
		Logger:         log,
		Metrics:        met,
	}).Register(e)

	var wg sync.WaitGroup
	if cfg.Standalone() {
		if err := m.registerBooking(ctx, e, rdb, store, signer, admin, met); err != nil {
			return err
		}
		p := pacer.NewLocal(store, pacer.LocalOptions{Options: pacer.Options{Logger: log, OnTick: met.OnTick}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Run(appCtx)
		}()
	}

	if cfg.PprofAddr != "" {
		if err := servePprof(cfg.PprofAddr, log); err != nil {
			return err
		}
	}

	front, err := m.front(appCtx, &wg, e, store, checker)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	srv := httpapi.NewServer(front, log, httpapi.ServerOptions{})
	m.addr = ln.Addr().String()
	close(m.ready)
	log.Info("listening", "addr", m.addr, "standalone", cfg.Standalone(), "kid", signer.KeyID())

	if err := httpapi.ServeUntil(ctx, srv, ln); err != nil {
		return err
	}

	log.Info("shutting down", "grace", cfg.ShutdownGrace.String())
	m.draining.Store(true)
	// Keep serving, with /readyz saying 503, so the load balancer takes this
	// instance out before the listener closes.
	time.Sleep(cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout-cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "error", err.Error())
	}
	if adminSrv != nil {
		_ = adminSrv.Shutdown(sctx)
	}
	if err := h.Shutdown(sctx); err != nil {
		log.Warn("socket shutdown", "error", err.Error())
	}
	cancelApp() // the pacer finishes the tick in flight
	wg.Wait()
	log.Info("stopped")
	return nil
}

// openStore connects to Redis, or starts the embedded store standalone.
func (m *Main) openStore() (redis.UniversalClient, func(), error) {
	if !m.cfg.Standalone() {
		rdb, err := m.cfg.Redis.Open()
		if err != nil {
			return nil, nil, err
		}
		return rdb, func() { _ = rdb.Close() }, nil
	}
	emb, err := embedded.Start()
	if err != nil {
		return nil, nil, err
	}
	rdb := emb.Client()
	return rdb, func() { _ = rdb.Close(); emb.Close() }, nil
}

// signer loads the signing key (and the previous ones, still published), or
// generates one standalone.
func (m *Main) signer() (*entrytoken.Signer, error) {
	var key ed25519.PrivateKey
	var err error
	switch {
	case m.cfg.SigningKey != "":
		key, err = entrytoken.LoadPrivateKey(m.cfg.SigningKey)
	case m.cfg.Standalone():
		key, err = entrytoken.GenerateKey()
	default:
		err = errors.New("WAITROOM_SIGNING_KEY is required when REDIS_URL or REDIS_CLUSTER_ADDRS is set (make one with scripts/gen-signing-key.sh)")
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	var prev []ed25519.PublicKey
	for _, p := range strings.Split(m.cfg.PreviousKeys, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, err := entrytoken.LoadPrivateKey(p)
		if err != nil {
			return nil, fmt.Errorf("previous signing key: %w", err)
		}
		prev = append(prev, k.Public().(ed25519.PublicKey))
	}
	return entrytoken.NewSigner(key, prev, entrytoken.SignerOptions{Issuer: m.cfg.Issuer, Audience: m.cfg.Audience}), nil
}

// userVerifier checks the user tokens of protected sites, or is nil when no
// key is configured (then every user token is refused).
func (m *Main) userVerifier() (httpapi.UserVerifier, error) {
	if m.cfg.UserSecret == "" && m.cfg.UserJWKSURL == "" {
		return nil, nil
	}
	v, err := usertoken.New(usertoken.Options{
		Secret:   []byte(m.cfg.UserSecret), // the raw bytes, as any JWT library signs with them
		JWKSURL:  m.cfg.UserJWKSURL,
		Audience: m.cfg.UserAudience,
		Issuer:   m.cfg.UserIssuer,
	})
	if err != nil {
		return nil, fmt.Errorf("user tokens: %w", err)
	}
	return v, nil
}

// createDemo makes standalone's room demo as docs/API.md describes it.
func (m *Main) createDemo(ctx context.Context, store *queue.Store) error {
	mode := queue.ModeQueueAll
	capacity, batch, interval := 5, 2, 3000
	_, _, err := store.PutRoom(ctx, "demo", queue.ConfigPatch{Mode: &mode, Capacity: &capacity, BatchSize: &batch, IntervalMS: &interval})
	if err != nil {
		return fmt.Errorf("create demo room: %w", err)
	}
	return nil
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// servePprof serves the profiler on its own listener, never on the public
// one: profiles show internals.
func servePprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn("pprof listening", "addr", ln.Addr().String())
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}
