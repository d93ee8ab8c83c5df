package browsertest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// pages serves each path's page as HTML under a policy that lets only the
// site's own scripts run; "" is the page of every other path.
func pages(t *testing.T, byPath map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'")
		page, ok := byPath[r.URL.Path]
		if !ok {
			page = byPath[""]
		}
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestChromiumLoadsAPageInAPhoneSizedWindow(t *testing.T) {
	site := pages(t, map[string]string{"": `<!doctype html><title>t</title><p id="p">hello</p>`})
	ctx := browsertest.Chromium(t, 30*time.Second)
	browsertest.Do(t, ctx, chromedp.Navigate(site), chromedp.WaitVisible("#p"))
	require.Equal(t, "hello", browsertest.Get(t, ctx, chromedp.Text("#p")))
	require.Equal(t, "hello", browsertest.Try(ctx, `document.getElementById("p").textContent`))
	// Headless Chromium widens a window to at least 500 px; the height shows
	// the phone's window.
	require.Equal(t, 844, browsertest.Get(t, ctx, chromedp.Evaluate[int]("window.outerHeight")))
}

func TestAnOptionOverridesTheDefaultWindow(t *testing.T) {
	ctx := browsertest.Chromium(t, 0, chromedp.WindowSize(1100, 900))
	require.Equal(t, []int{1100, 900}, browsertest.Get(t, ctx, chromedp.Evaluate[[]int]("[window.outerWidth, window.outerHeight]")))
}

func TestATimeoutEndsTheBrowsersActions(t *testing.T) {
	ctx := browsertest.Chromium(t, 8*time.Second) // room for a slow start
	<-ctx.Done()
	err := chromedp.Do(ctx, chromedp.Navigate("about:blank"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestAxeFindsWhatIsBrokenOnAPageAndNothingOnAGoodOne(t *testing.T) {
	bad := `<!doctype html><html lang="en"><meta name="viewport" content="width=device-width"><title>t</title><main><img src="data:,"><button></button></main></html>`
	good := `<!doctype html><html lang="en"><title>t</title><main><h1>Hello</h1><button>Go</button></main></html>`
	site := pages(t, map[string]string{"/bad": bad, "": good})

	ctx := browsertest.Chromium(t, 60*time.Second)
	require.NoError(t, browsertest.Emulate(ctx, browsertest.Phone))
	browsertest.Do(t, ctx, chromedp.Navigate(site+"/bad"))
	var ids []string
	for _, v := range browsertest.Serious(browsertest.Axe(t, ctx)) {
		ids = append(ids, v.ID)
	}
	require.ElementsMatch(t, []string{"image-alt", "button-name"}, ids, "under a CSP that allows no injected script")
	require.Equal(t, 390, browsertest.Get(t, ctx, chromedp.Evaluate[int]("window.innerWidth")), "a phone's width")

	browsertest.Do(t, ctx, chromedp.Navigate(site+"/good"))
	require.Empty(t, browsertest.Axe(t, ctx))
}
