package main

import (
	"encoding/csv"
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

// The operator page in Chromium against the real server.

func TestBrowserOperatorSignsInAndRetunesThePaceLive(t *testing.T) {
	c := setupChrome(t)
	card := `article[aria-labelledby="r-demo-title"] `

	c.signIn()
	// The token lives in sessionStorage only.
	require.NotContains(t, c.eval(`document.cookie + "|" + JSON.stringify(localStorage)`), c.m.AdminToken())

	// Pause from the page: the room stops admitting.
	c.do(chromedp.Click(card + `[data-part="pause"]`))
	require.Eventually(t, func() bool { return c.config().Paused }, 5*time.Second, 50*time.Millisecond)
	for i := 0; i < 12; i++ {
		c.join()
	}
	time.Sleep(3500 * time.Millisecond) // more than one demo interval
	require.Zero(t, c.admitted(), "paused: nobody admitted")

	// Retune: 4 per tick, every second, no capacity limit; then resume.
	for field, v := range map[string]string{"batch_size": "4", "interval_ms": "1000", "capacity": "0"} {
		// Select-all-and-type, as a person would: replace the value, then the
		// input and change events the page listens to.
		browsertest.Get(t, c.ctx, chromedp.Evaluate[bool](`(() => { const el = document.getElementById("r-demo-`+field+`");
			el.focus(); el.value = "`+v+`"; el.dispatchEvent(new Event("input", {bubbles: true}));
			el.dispatchEvent(new Event("change", {bubbles: true})); return true })()`))
	}
	c.do(chromedp.Click(card + `[data-part="save"]`))
	require.Eventually(t, func() bool {
		cfg := c.config()
		return cfg.BatchSize == 4 && cfg.IntervalMS == 1000 && cfg.Capacity == 0
	}, 5*time.Second, 50*time.Millisecond, "the change reached the server")
	c.do(chromedp.Click(card + `[data-part="resume"]`))

	// The pace follows by the next tick: admissions come 4 at a time.
	seen := map[int64]bool{}
	require.Eventually(t, func() bool {
		n := c.admitted()
		seen[n] = true
		return n >= 8
	}, 6*time.Second, 20*time.Millisecond)
	for n := range seen {
		require.Zero(t, n%4, "admitted counts move in steps of the new batch size: saw %d", n)
	}

	// The page shows the new figures.
	require.Eventually(t, func() bool {
		txt, err := chromedp.Run(c.ctx, chromedp.Text(card+`[data-part="admitted"]`))
		return err == nil && !strings.HasPrefix(strings.TrimSpace(txt), "0")
	}, 5*time.Second, 100*time.Millisecond)
	require.Equal(t, "4", browsertest.Get(t, c.ctx, chromedp.Value("#r-demo-batch_size")))
}

func TestBrowserOperatorSeesTheSaleHistoryAfterAReloadAndDownloadsItsCSV(t *testing.T) {
	c := setupChromeWithin(t, 90*time.Second, chromedp.WindowSize(1280, 900))
	for range 6 {
		c.join()
	}
	card := `article[aria-labelledby="r-demo-title"] `
	text := func(sel string) string {
		return strings.TrimSpace(c.eval(`(document.querySelector(` + strconv.Quote(card+sel) + `) || {}).textContent || ''`))
	}
	shows := func(what string) {
		t.Helper()
		require.Eventually(t, func() bool { return text(`[data-sum="arrived"]`) == "6" }, 20*time.Second, 100*time.Millisecond,
			"%s: the summary counts the six arrivals (shows %q)", what, text(`[data-sum="arrived"]`))
	}

	c.signIn()
	shows("signed in")
	// A tick of the demo room (every 3 s) admits two.
	require.Eventually(t, func() bool {
		n, _ := strconv.Atoi(text(`[data-sum="admitted"]`))
		return n >= 2
	}, 20*time.Second, 100*time.Millisecond, "admissions show within a refresh")

	// The history comes from the server: a reload shows it all again, in
	// the range chosen before the reload.
	browsertest.Get(t, c.ctx, chromedp.Evaluate[bool](`(() => { const el = document.getElementById('r-demo-history-range');
		el.value = '1h'; el.dispatchEvent(new Event('change')); return true })()`))
	c.do(chromedp.Reload(), chromedp.WaitVisible("#r-demo-title"))
	shows("after a reload")
	require.Equal(t, "1h", browsertest.Get(t, c.ctx, chromedp.Value(`#r-demo-history-range`)))

	// Each chart has its data behind a disclosure, as a table.
	c.do(chromedp.Click(card + `.history-chart details summary`))
	rows := browsertest.Get(t, c.ctx, chromedp.Evaluate[int](`document.querySelector(`+strconv.Quote(card+`.history-chart details tbody`)+`).rows.length`))
	require.Positive(t, rows)
	require.NotEmpty(t, text(`.history-chart .chart-summary`))
	for _, v := range browsertest.Serious(browsertest.Axe(t, c.ctx)) {
		t.Errorf("axe: %s", v)
	}

	// The button downloads the range as CSV: the same arrivals.
	dir := t.TempDir()
	_, err := chromedp.CallBrowser(c.ctx, browser.SetDownloadBehavior,
		browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
	require.NoError(t, err)
	c.do(chromedp.Click(card + `[data-part="history-csv"]`))
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

type adminConfig struct {
	Capacity   int  `json:"capacity"`
	BatchSize  int  `json:"batch_size"`
	IntervalMS int  `json:"interval_ms"`
	Paused     bool `json:"paused"`
}

// config is the demo room's config, from the operator API.
func (c *chrome) config() adminConfig {
	c.t.Helper()
	var rooms []struct {
		Room   string      `json:"room"`
		Config adminConfig `json:"config"`
	}
	c.getJSON("/api/admin/rooms", true, &rooms)
	for _, r := range rooms {
		if r.Room == "demo" {
			return r.Config
		}
	}
	c.t.Fatal("demo not listed")
	return adminConfig{}
}

// admitted is how many the demo room has admitted, from GET /api/rooms/demo.
func (c *chrome) admitted() int64 {
	c.t.Helper()
	var body struct {
		Admitted int64 `json:"admitted"`
	}
	c.getJSON("/api/rooms/demo", false, &body)
	return body.Admitted
}
