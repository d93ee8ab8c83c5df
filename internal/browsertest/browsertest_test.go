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

func TestChromiumLoadsAPageInAPhoneSizedWindow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>t</title><p id="p">hello</p>`))
	}))
	defer srv.Close()

	ctx := browsertest.Chromium(t, 30*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.WaitVisible("#p")))
	text, err := chromedp.Run(ctx, chromedp.Text("#p"))
	require.NoError(t, err)
	require.Equal(t, "hello", text)
	// Headless Chromium widens a window to at least 500 px; the height shows
	// the phone's window.
	height, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.outerHeight"))
	require.NoError(t, err)
	require.Equal(t, 844, height)
}

func TestAnOptionOverridesTheDefaultWindow(t *testing.T) {
	ctx := browsertest.Chromium(t, 0, chromedp.WindowSize(1100, 900))
	size, err := chromedp.Run(ctx, chromedp.Evaluate[[]int]("[window.outerWidth, window.outerHeight]"))
	require.NoError(t, err)
	require.Equal(t, []int{1100, 900}, size)
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'")
		if r.URL.Path == "/bad" {
			_, _ = w.Write([]byte(bad))
			return
		}
		_, _ = w.Write([]byte(good))
	}))
	defer srv.Close()

	ctx := browsertest.Chromium(t, 60*time.Second)
	require.NoError(t, browsertest.Emulate(ctx, browsertest.Phone))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/bad")))
	var ids []string
	for _, v := range browsertest.Serious(browsertest.Axe(t, ctx)) {
		ids = append(ids, v.ID)
	}
	require.ElementsMatch(t, []string{"image-alt", "button-name"}, ids, "under a CSP that allows no injected script")
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.innerWidth"))
	require.NoError(t, err)
	require.Equal(t, 390, width, "a phone's width")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/good")))
	require.Empty(t, browsertest.Axe(t, ctx))
}
