package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/internal/gateway"
	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// registerForwardAuth serves forward auth and the entry cookie, in every
// mode, and returns the entry checker they share with the gateway.
func (m *Main) registerForwardAuth(e *echo.Echo, store *queue.Store, signer *entrytoken.Signer) (*gateway.Checker, error) {
	verifier, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return signer.JWKS(), nil },
		Issuer:    m.cfg.Issuer,
		Audience:  m.cfg.Audience,
	})
	if err != nil {
		return nil, fmt.Errorf("entry verifier: %w", err)
	}
	checker, err := gateway.NewChecker(gateway.CheckerOptions{Verifier: verifier, Store: store})
	if err != nil {
		return nil, err
	}
	(&httpapi.ForwardAuth{Checker: checker, Prefix: m.cfg.GatewayPrefix, CookieSecure: m.cfg.CookieSecure,
		TrustProxy: m.cfg.TrustProxy}).Register(e)
	return checker, nil
}

// registerOperator serves the operator API, /admin and /metrics on e, or,
// with WAITROOM_ADMIN_ADDR, on a listener of their own (returned, to be
// shut down with the main one). It returns the echo that serves operator
// routes, for the other operator calls (the seat map).
func (m *Main) registerOperator(e *echo.Echo, admin *httpapi.Admin, met *metrics.Metrics) (*echo.Echo, *http.Server, error) {
	if m.cfg.AdminAddr == "" {
		httpapi.Instrument(e, met)
		admin.Register(e)
		return e, nil, nil
	}
	httpapi.CountRequests(e, met)
	ae := httpapi.NewEcho(m.log)
	if m.cfg.TrustProxy {
		httpapi.TrustProxy(ae)
	}
	httpapi.Instrument(ae, met)
	admin.Register(ae)
	ae.GET("/static/*", echo.WrapHandler(e)) // the operator page's assets
	ae.GET("/rooms/:room", m.publicWaitingPage)
	ln, err := net.Listen("tcp", m.cfg.AdminAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("admin listen %s: %w", m.cfg.AdminAddr, err)
	}
	m.adminAddr = ln.Addr().String()
	srv := httpapi.NewServer(ae, m.log, httpapi.ServerOptions{})
	go func() { _ = srv.Serve(ln) }()
	m.log.Info("operator listening", "addr", m.adminAddr)
	return ae, srv, nil
}

// publicWaitingPage sends the operator page's link to a room's waiting page
// (rooms/{room} on the operator listener) to where visitors see that page:
// under WAITROOM_PUBLIC_URL, else on the main listener's port of the host the
// operator came to; in gateway mode under the prefix.
func (m *Main) publicWaitingPage(c echo.Context) error {
	room := c.Param("room")
	if !queue.ValidRoomID(room) {
		return echo.ErrNotFound
	}
	base := strings.TrimSuffix(m.cfg.PublicURL, "/")
	if base == "" {
		host := c.Request().Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		_, port, _ := net.SplitHostPort(m.Addr())
		base = c.Scheme() + "://" + net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	if prefix := m.gatewayPrefix(); m.cfg.Upstream != nil && !strings.HasSuffix(base, prefix) {
		base += prefix
	}
	loc := base + "/rooms/" + room
	if q := c.QueryString(); q != "" {
		loc += "?" + q
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, loc)
}

// gatewayPrefix is where waitroom's routes live on a protected host.
func (m *Main) gatewayPrefix() string {
	if m.cfg.GatewayPrefix == "" {
		return gateway.DefaultPrefix
	}
	return m.cfg.GatewayPrefix
}

// front is what the main listener serves: in gateway mode the proxy in front
// of the site (run refreshes its routes until ctx ends), else waitroom
// itself, at the root and under the prefix alike.
func (m *Main) front(ctx context.Context, wg *sync.WaitGroup, e *echo.Echo, store *queue.Store, checker *gateway.Checker) (http.Handler, error) {
	if m.cfg.Upstream == nil {
		prefix := m.gatewayPrefix()
		strip := http.StripPrefix(prefix, e)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := r.URL.Path; strings.HasPrefix(p, prefix+"/") {
				strip.ServeHTTP(w, r)
				return
			}
			e.ServeHTTP(w, r)
		}), nil
	}
	g, err := gateway.New(gateway.Options{
		Upstream:   m.cfg.Upstream,
		Prefix:     m.cfg.GatewayPrefix,
		App:        e,
		Checker:    checker,
		Rooms:      store,
		WriteError: httpapi.WriteError(m.log),
		TrustProxy: m.cfg.TrustProxy,
		Logger:     m.log,
	})
	if err != nil {
		return nil, err
	}
	if err := g.Refresh(ctx); err != nil {
		return nil, err
	}
	stopFloor := heapFloor(gatewayHeapFloor)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stopFloor()
		g.Run(ctx)
	}()
	m.log.Info("gateway mode", "upstream", m.cfg.Upstream.Redacted(), "prefix", m.cfg.GatewayPrefix)
	return g, nil
}

// AdminAddr is the operator listener's address, "" without one.
func (m *Main) AdminAddr() string {
	<-m.ready
	return m.adminAddr
}
