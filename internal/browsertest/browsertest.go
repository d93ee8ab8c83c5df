// Package browsertest starts the machine's real headless Chromium for the
// tests that drive the pages (chromedp). There is one set of flags for every
// such test: no sandbox (the tests run as root), no GPU, no background
// networking, a profile of the test's own.
package browsertest

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// Chromium starts Chromium for the test and returns the context of its
// first tab; chromedp.NewContext on it opens more tabs of the same browser
// (same cookies). With timeout > 0 the browser and every action on it end
// that long after the start; with 0 they live as long as the test. opts come
// after the defaults and so override them (the default window, 390×844, is a
// phone's). It fails, never skips, when Chromium is missing: scripts/test.sh
// installs it.
func Chromium(t testing.TB, timeout time.Duration, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found on PATH: install it (Debian: apt-get install chromium), or run scripts/test.sh")
	}
	all := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	}, opts...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	cancelTimeout := context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancelTimeout = context.WithTimeout(ctx, timeout)
	}
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	// The first action starts the browser and ties it to ctx.
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	return ctx
}

// Do runs the steps in the tab; an error fails the test.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// Get runs the action in the tab and returns what it read, such as
// chromedp.Text or chromedp.Location; an error fails the test.
func Get[T any](t testing.TB, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// Try evaluates js in the tab for a test that polls: "" while it fails, as
// it may during a navigation.
func Try(ctx context.Context, js string) string {
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		return ""
	}
	return v
}
