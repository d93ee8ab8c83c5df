package main

import (
	"context"
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

// chromeStandalone runs the whole product standalone on a free port, as
// `go run ./cmd/waitroom` would, and returns its base URL.
func chromeStandalone(t *testing.T) (*Main, string) {
	t.Helper()
	m, _ := standalone(t, io.Discard)
	return m, "http://" + m.Addr()
}

func TestBrowserVisitorWaitsSeesPositionIsAdmittedAndLandsOnTargetWithToken(t *testing.T) {
	m, base := chromeStandalone(t)
	ctx := browsertest.Chromium(t, 60*time.Second)
	// Paused until the refresh is checked: on a loaded machine a tick (every
	// 3 s) could otherwise admit the visitor before the page is reloaded.
	putDemo(t, m, base, `{"paused":true}`)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting")))
	requireSocketLive(t, ctx)
	position, err := chromedp.Run(ctx, chromedp.Text("#position"))
	require.NoError(t, err)
	require.Equal(t, "1", strings.TrimSpace(position), "first in the demo line")
	ahead, err := chromedp.Run(ctx, chromedp.Text("#ahead"))
	require.NoError(t, err)
	require.Contains(t, ahead, "0")

	// A refresh keeps the place (the ticket is in the HttpOnly cookie).
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#view-waiting")))
	position, err = chromedp.Run(ctx, chromedp.Text("#position"))
	require.NoError(t, err)
	require.Equal(t, "1", strings.TrimSpace(position))

	// demo ticks every 3 s: the page follows target_url once admitted.
	putDemo(t, m, base, `{"paused":false}`)
	require.Eventually(t, func() bool {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		return err == nil && strings.HasSuffix(loc, "/booking/demo")
	}, 20*time.Second, 100*time.Millisecond, "admitted and sent to target_url")

	// The token came in the fragment, which the booking page moved into the
	// tab's sessionStorage: no cookie holds it, and the address bar is clean.
	cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie"))
	require.NoError(t, err)
	require.NotContains(t, cookies, "wr_entry", "no cookie carries the entry token")
	require.NotContains(t, cookies, "wr_demo=", "the ticket cookie is HttpOnly")
	token, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("wr_entry_demo") || ""`))
	require.NoError(t, err)
	require.NotEmpty(t, token, "the entry token is in the booking tab's storage")

	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{JWKSURL: base + "/.well-known/jwks.json"})
	require.NoError(t, err)
	claims, err := v.Verify(context.Background(), token, "demo")
	require.NoError(t, err)
	require.Equal(t, "demo", claims.Room)
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

func TestBrowserSecondTabShowsTheSamePlace(t *testing.T) {
	m, base := chromeStandalone(t)
	// Hold the demo line still: nobody is admitted while paused.
	req, _ := http.NewRequest(http.MethodPut, base+"/api/admin/rooms/demo", strings.NewReader(`{"paused":true}`))
	req.Header.Set("Authorization", "Bearer "+m.AdminToken())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for i := 0; i < 3; i++ { // others ahead
		resp, err := http.Post(base+"/api/rooms/demo/tickets", "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
	}

	ctx := browsertest.Chromium(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting")))
	first, err := chromedp.Run(ctx, chromedp.Text("#position"))
	require.NoError(t, err)
	tab, cancel := chromedp.NewContext(ctx) // same browser, same cookies
	defer cancel()
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting")))
	second, err := chromedp.Run(tab, chromedp.Text("#position"))
	require.NoError(t, err)
	require.Equal(t, "4", strings.TrimSpace(first))
	require.Equal(t, first, second)
}

func TestBrowserVisitorBehindAProxyThatBlocksWebSocketsStillGetsIn(t *testing.T) {
	_, base := chromeStandalone(t)
	target, err := url.Parse(base)
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

	ctx := browsertest.Chromium(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(proxy.URL+"/rooms/demo"), chromedp.WaitVisible("#view-waiting")))
	require.Eventually(t, func() bool { return len(refused) > 0 }, 10*time.Second, 50*time.Millisecond,
		"the page tried its socket and the proxy refused it")
	require.Eventually(t, func() bool {
		conn, err := chromedp.Run(ctx, chromedp.Text("#conn-text"))
		return err == nil && !strings.Contains(strings.ToLower(conn), "live")
	}, 10*time.Second, 100*time.Millisecond, "the indicator does not claim a live connection")
	require.Eventually(t, func() bool {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		return err == nil && strings.HasSuffix(loc, "/booking/demo")
	}, 25*time.Second, 100*time.Millisecond, "admitted through status polling alone")
}
