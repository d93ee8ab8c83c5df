package main

import (
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
)

func TestBrowserOperatorSeesTheSaleHistoryAfterAReloadAndDownloadsItsCSV(t *testing.T) {
	m, base := chromeStandalone(t)
	for range 6 {
		resp, err := http.Post(base+"/api/rooms/demo/tickets", "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	ctx := browsertest.Chromium(t, 90*time.Second, chromedp.WindowSize(1280, 900))
	card := `article[aria-labelledby="r-demo-title"] `
	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+strconv.Quote(card+sel)+`) || {}).textContent || ''`))
		require.NoError(t, err)
		return strings.TrimSpace(s)
	}
	shows := func(what string) {
		t.Helper()
		require.Eventually(t, func() bool { return text(`[data-sum="arrived"]`) == "6" }, 20*time.Second, 100*time.Millisecond,
			"%s: the summary counts the six arrivals (shows %q)", what, text(`[data-sum="arrived"]`))
	}

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin"),
		chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", m.AdminToken()),
		chromedp.Click("#signin-button"),
		chromedp.WaitVisible("#r-demo-title"),
	))
	shows("signed in")
	// A tick of the demo room (every 3 s) admits two.
	require.Eventually(t, func() bool {
		n, _ := strconv.Atoi(text(`[data-sum="admitted"]`))
		return n >= 2
	}, 20*time.Second, 100*time.Millisecond, "admissions show within a refresh")

	// The history comes from the server: a reload shows it all again, in
	// the range chosen before the reload.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const el = document.getElementById('r-demo-history-range');
		el.value = '1h'; el.dispatchEvent(new Event('change')); return true })()`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#r-demo-title")))
	shows("after a reload")
	rng, err := chromedp.Run(ctx, chromedp.Value(`#r-demo-history-range`))
	require.NoError(t, err)
	require.Equal(t, "1h", rng)

	// Each chart has its data behind a disclosure, as a table.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(card+`.history-chart details summary`)))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector(`+strconv.Quote(card+`.history-chart details tbody`)+`).rows.length`))
	require.NoError(t, err)
	require.Positive(t, rows)
	require.NotEmpty(t, text(`.history-chart .chart-summary`))
	for _, v := range browsertest.Serious(browsertest.Axe(t, ctx)) {
		t.Errorf("axe: %s", v)
	}

	// The button downloads the range as CSV: the same arrivals.
	dir := t.TempDir()
	_, err = chromedp.CallBrowser(ctx, browser.SetDownloadBehavior,
		browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(card+`[data-part="history-csv"]`)))
	file := filepath.Join(dir, "demo-history.csv")
	require.Eventually(t, func() bool { _, err := os.Stat(file); return err == nil }, 10*time.Second, 50*time.Millisecond)
	var records [][]string
	require.Eventually(t, func() bool {
		f, err := os.Open(file)
		if err != nil {
			return false
		}
		defer f.Close()
		records, err = csv.NewReader(f).ReadAll()
		return err == nil && len(records) > 1
	}, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, "arrived", records[0][1])
	sum := 0
	for _, r := range records[1:] {
		n, err := strconv.Atoi(r[1])
		require.NoError(t, err)
		sum += n
	}
	require.Equal(t, 6, sum)
}
