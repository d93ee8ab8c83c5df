package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// chrome is the whole product standalone on a free port, as `go run
// ./cmd/waitroom` runs it, with a Chromium tab; its HTTP helpers act as
// the other visitors and the operator.
type chrome struct {
	t    *testing.T
	m    *Main
	base string
	ctx  context.Context // the tab
}

// setupChrome starts the product and Chromium, which ends in a minute.
func setupChrome(t *testing.T) *chrome {
	t.Helper()
	return setupChromeWithin(t, 60*time.Second)
}

// setupChromeWithin is setupChrome with the browser's timeout and options
// of browsertest.Chromium.
func setupChromeWithin(t *testing.T, timeout time.Duration, opts ...chromedp.ExecAllocatorOption) *chrome {
	t.Helper()
	m, _ := standalone(t, io.Discard)
	return &chrome{t: t, m: m, base: "http://" + m.Addr(), ctx: browsertest.Chromium(t, timeout, opts...)}
}

// do runs the steps in the tab; text reads an element's text, trimmed.
func (c *chrome) do(steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	browsertest.Do(c.t, c.ctx, steps...)
}

func (c *chrome) text(sel string) string {
	c.t.Helper()
	return strings.TrimSpace(browsertest.Get(c.t, c.ctx, chromedp.Text(sel)))
}

// eval evaluates js in the tab; on a failure the test fails naming js.
func (c *chrome) eval(js string) string {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](js))
	require.NoError(c.t, err, js)
	return v
}

// putDemo changes the demo room's config through the operator API.
func (c *chrome) putDemo(body string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, c.base+"/api/admin/rooms/demo", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.m.AdminToken())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	resp.Body.Close()
	require.Equal(c.t, http.StatusOK, resp.StatusCode)
}

// getJSON decodes what GET path answers into v, with the operator's token
// when asAdmin.
func (c *chrome) getJSON(path string, asAdmin bool, v any) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	if asAdmin {
		req.Header.Set("Authorization", "Bearer "+c.m.AdminToken())
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	require.NoError(c.t, json.NewDecoder(resp.Body).Decode(v), path)
}

// join joins demo over HTTP as another visitor and returns the ticket.
func (c *chrome) join() string {
	c.t.Helper()
	resp, err := http.Post(c.base+"/api/rooms/demo/tickets", "application/json", nil)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	require.Equal(c.t, http.StatusCreated, resp.StatusCode)
	var st struct {
		Ticket string `json:"ticket"`
	}
	require.NoError(c.t, json.NewDecoder(resp.Body).Decode(&st))
	return st.Ticket
}

// state is the state of another visitor's ticket.
func (c *chrome) state(ticket string) string {
	c.t.Helper()
	var st struct {
		State string `json:"state"`
	}
	c.getJSON("/api/rooms/demo/tickets/"+ticket, false, &st)
	return st.State
}

// signIn signs the operator in on the operator page.
func (c *chrome) signIn() {
	c.t.Helper()
	c.do(chromedp.Navigate(c.base+"/admin"), chromedp.WaitVisible("#token"), chromedp.SendKeys("#token", c.m.AdminToken()),
		chromedp.Click("#signin-button"), chromedp.WaitVisible("#r-demo-title"))
}

// waitFor waits until the tab's address ends with suffix.
func (c *chrome) waitFor(suffix string, within time.Duration, msg string) {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		loc, err := chromedp.Run(c.ctx, chromedp.Location())
		return err == nil && strings.HasSuffix(loc, suffix)
	}, within, 100*time.Millisecond, msg)
}

// requireSocketLive waits until the page's socket is open (its indicator
// says "Live"): the policy's connect-src let it through.
func requireSocketLive(t *testing.T, ctx context.Context) {
	t.Helper()
	require.Eventually(t, func() bool {
		conn, err := chromedp.Run(ctx, chromedp.Text("#conn-text"))
		return err == nil && strings.Contains(strings.ToLower(conn), "live")
	}, 10*time.Second, 100*time.Millisecond, "the page's socket connects")
}

func TestBrowserVisitorWaitsSeesPositionIsAdmittedAndLandsOnTargetWithToken(t *testing.T) {
	c := setupChrome(t)
	// Paused until the refresh is checked: on a loaded machine a tick (every
	// 3 s) could otherwise admit the visitor before the page is reloaded.
	c.putDemo(`{"paused":true}`)

	c.do(chromedp.Navigate(c.base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting"))
	requireSocketLive(t, c.ctx)
	require.Equal(t, "1", c.text("#position"), "first in the demo line")
	require.Contains(t, c.text("#ahead"), "0")

	// A refresh keeps the place (the ticket is in the HttpOnly cookie).
	c.do(chromedp.Reload(), chromedp.WaitVisible("#view-waiting"))
	require.Equal(t, "1", c.text("#position"))

	// demo ticks every 3 s: the page follows target_url once admitted.
	c.putDemo(`{"paused":false}`)
	c.waitFor("/booking/demo", 20*time.Second, "admitted and sent to target_url")

	// The token came in the fragment, which the booking page moved into the
	// tab's sessionStorage: no cookie holds it, and the address bar is clean.
	cookies := c.eval("document.cookie")
	require.NotContains(t, cookies, "wr_entry", "no cookie carries the entry token")
	require.NotContains(t, cookies, "wr_demo=", "the ticket cookie is HttpOnly")
	token := c.eval(`sessionStorage.getItem("wr_entry_demo") || ""`)
	require.NotEmpty(t, token, "the entry token is in the booking tab's storage")

	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{JWKSURL: c.base + "/.well-known/jwks.json"})
	require.NoError(t, err)
	claims, err := v.Verify(context.Background(), token, "demo")
	require.NoError(t, err)
	require.Equal(t, "demo", claims.Room)
}

func TestBrowserSecondTabShowsTheSamePlace(t *testing.T) {
	c := setupChrome(t)
	// Hold the demo line still: nobody is admitted while paused.
	c.putDemo(`{"paused":true}`)
	for i := 0; i < 3; i++ { // others ahead
		c.join()
	}

	c.do(chromedp.Navigate(c.base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting"))
	first := c.text("#position")
	tab, cancel := chromedp.NewContext(c.ctx) // same browser, same cookies
	defer cancel()
	browsertest.Do(t, tab, chromedp.Navigate(c.base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting"))
	second := strings.TrimSpace(browsertest.Get(t, tab, chromedp.Text("#position")))
	require.Equal(t, "4", first)
	require.Equal(t, first, second)
}

func TestBrowserVisitorBehindAProxyThatBlocksWebSocketsStillGetsIn(t *testing.T) {
	c := setupChrome(t)
	target, err := url.Parse(c.base)
	require.NoError(t, err)
	// A proxy like many corporate ones: plain HTTP passes, upgrades do not.
	rp := httputil.NewSingleHostReverseProxy(target)
	refused := make(chan struct{}, 100)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			select {
			case refused <- struct{}{}:
			default:
			}
			http.Error(w, "websockets are not allowed here", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	c.do(chromedp.Navigate(proxy.URL+"/rooms/demo"), chromedp.WaitVisible("#view-waiting"))
	require.Eventually(t, func() bool { return len(refused) > 0 }, 10*time.Second, 50*time.Millisecond,
		"the page tried its socket and the proxy refused it")
	require.Eventually(t, func() bool {
		conn, err := chromedp.Run(c.ctx, chromedp.Text("#conn-text"))
		return err == nil && !strings.Contains(strings.ToLower(conn), "live")
	}, 10*time.Second, 100*time.Millisecond, "the indicator does not claim a live connection")
	c.waitFor("/booking/demo", 25*time.Second, "admitted through status polling alone")
}

// The whole product in one process, as `go run ./cmd/waitroom` runs it: a
// visitor waits, is admitted, holds and books a seat, checks out, and the
// freed place goes to the next visitor in line.
func TestBrowserEndToEndWaitBookCheckOutAndTheNextVisitorGetsThePlace(t *testing.T) {
	c := setupChrome(t)
	// demo: capacity 5, batch 2; tick every second to keep the test short,
	// and hold the line still (paused) while it is set up.
	c.putDemo(`{"interval_ms":1000,"paused":true}`)
	for i := 0; i < 4; i++ { // four visitors ahead
		c.join()
	}
	c.do(chromedp.Navigate(c.base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting"))
	requireSocketLive(t, c.ctx)
	require.Equal(t, "5", c.text("#position"))
	next := c.join() // sixth: capacity 5 keeps them waiting
	c.putDemo(`{"paused":false}`)

	// Admitted by the in-process admitter, the page goes on to booking.
	c.do(chromedp.WaitVisible(`button.seat[data-seat="A1"]`))
	loc := browsertest.Get(t, c.ctx, chromedp.Location())
	require.True(t, strings.HasSuffix(loc, "/booking/demo"), loc)
	require.Contains(t, c.text("#map-summary"), "100 of 100 seats available")

	// Hold A1, confirm it.
	c.do(
		chromedp.Click(`button.seat[data-seat="A1"]`),
		chromedp.WaitVisible(`#holds button[data-action="book"]`),
		chromedp.Click(`#holds button[data-action="book"]`),
		chromedp.WaitVisible(`#bookings button[data-action="cancel"]`),
	)
	require.Contains(t, c.text("#bookings"), "Seat A1")

	// The line is full until the checkout.
	time.Sleep(1500 * time.Millisecond)
	require.Equal(t, "waiting", c.state(next), "capacity 5 is taken")

	c.do(
		chromedp.Click("#checkout"), chromedp.WaitVisible("#checkout-yes"),
		chromedp.Click("#checkout-yes"), chromedp.WaitVisible("#view-done"),
	)
	require.Contains(t, c.text("#view-done"), "Seat A1")

	require.Eventually(t, func() bool { return c.state(next) == "admitted" },
		5*time.Second, 100*time.Millisecond, "the freed place goes to the next visitor at the next tick")
}
