package main

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// The whole flow in Chromium through the gateway: a protected page sends the
// visitor to the waiting page, the visitor waits, gets in, lands on the page
// they asked for, and checks out at the site, which ends the admission.
func TestBrowserThroughTheGatewayWaitGetInSeeTheSiteAndCheckOut(t *testing.T) {
	g := setupGateway(t)
	ctx := browsertest.Chromium(t, 60*time.Second)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(g.base+"/shop/item?id=7"), chromedp.WaitVisible("#view-waiting")))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, g.base+"/_waitroom/rooms/shop?return="+url.QueryEscape("/shop/item?id=7"), loc)
	requireSocketLive(t, ctx)

	g.tick("shop")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#page")))
	loc, err = chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, g.base+"/shop/item?id=7", loc, "back to the same path and query")
	page, err := chromedp.Run(ctx, chromedp.Text("#page"))
	require.NoError(t, err)
	require.Equal(t, "Shop page /shop/item?id=7", strings.TrimSpace(page))
	sub, err := chromedp.Run(ctx, chromedp.Text("#sub"))
	require.NoError(t, err)
	require.NotEmpty(t, strings.TrimSpace(sub), "the site saw X-Waitroom-Sub")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#checkout"), chromedp.WaitVisible("#thanks")))
	stats, err := g.store.Stats(g.ctx, "shop")
	require.NoError(t, err)
	require.Zero(t, stats.Admitted, "the site's checkout freed the place")

	// The admission is over: the protected page sends the visitor back to the line.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(g.base+"/shop/item?id=7"), chromedp.WaitVisible("#view-waiting")))
}

// A ?return= that leads off this host is ignored: the admitted visitor goes
// to the room's target instead.
func TestBrowserThroughTheGatewayAReturnToAnotherOriginIsIgnored(t *testing.T) {
	g := setupGateway(t)
	ctx := browsertest.Chromium(t, 60*time.Second)
	for i, ret := range []string{"https://evil.example/x", "//evil.example/x", `/\evil.example/x`, "/\t/evil.example/x"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(g.base+"/_waitroom/rooms/shop?return="+url.QueryEscape(ret)),
			chromedp.WaitVisible("#view-waiting")), ret)
		requireSocketLive(t, ctx)
		g.tick("shop")
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#page")), ret)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(loc, g.base+"/shop/welcome"), "%q led to %s", ret, loc)
		if i < 3 {
			require.NoError(t, chromedp.Do(ctx, chromedp.Click("#checkout"), chromedp.WaitVisible("#thanks")))
		}
	}
}
