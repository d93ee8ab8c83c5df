package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// roomInfo reads GET /api/rooms/{room}.
func chromeRoomInfo(t *testing.T, base, room string) (admitted int64) {
	t.Helper()
	resp, err := http.Get(base + "/api/rooms/" + room)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Admitted int64 `json:"admitted"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.Admitted
}

func TestBrowserOperatorSignsInAndRetunesThePaceLive(t *testing.T) {
	m, base := chromeStandalone(t)
	ctx := browsertest.Chromium(t, 60*time.Second)
	card := `article[aria-labelledby="r-demo-title"] `

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin"),
		chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", m.AdminToken()),
		chromedp.Click("#signin-button"),
		chromedp.WaitVisible("#r-demo-title"),
	))
	// The token lives in sessionStorage only.
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie + "|" + JSON.stringify(localStorage)`))
	require.NoError(t, err)
	require.NotContains(t, stored, m.AdminToken())

	// Pause from the page: the room stops admitting.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(card+`[data-part="pause"]`)))
	require.Eventually(t, func() bool { return getConfig(t, m, base).Paused }, 5*time.Second, 50*time.Millisecond)
	for i := 0; i < 12; i++ {
		resp, err := http.Post(base+"/api/rooms/demo/tickets", "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
	}
	time.Sleep(3500 * time.Millisecond) // more than one demo interval
	require.Zero(t, chromeRoomInfo(t, base, "demo"), "paused: nobody admitted")

	// Retune: 4 per tick, every second, no capacity limit; then resume.
	for field, v := range map[string]string{"batch_size": "4", "interval_ms": "1000", "capacity": "0"} {
		// Select-all-and-type, as a person would: replace the value, then the
		// input and change events the page listens to.
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const el = document.getElementById("r-demo-`+field+`");
			el.focus(); el.value = "`+v+`"; el.dispatchEvent(new Event("input", {bubbles: true}));
			el.dispatchEvent(new Event("change", {bubbles: true})); return true })()`))
		require.NoError(t, err)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(card+`[data-part="save"]`)))
	require.Eventually(t, func() bool {
		c := getConfig(t, m, base)
		return c.BatchSize == 4 && c.IntervalMS == 1000 && c.Capacity == 0
	}, 5*time.Second, 50*time.Millisecond, "the change reached the server")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(card+`[data-part="resume"]`)))

	// The pace follows by the next tick: admissions come 4 at a time.
	seen := map[int64]bool{}
	require.Eventually(t, func() bool {
		n := chromeRoomInfo(t, base, "demo")
		seen[n] = true
		return n >= 8
	}, 6*time.Second, 20*time.Millisecond)
	for n := range seen {
		require.Zero(t, n%4, "admitted counts move in steps of the new batch size: saw %d", n)
	}

	// The page shows the new figures.
	require.Eventually(t, func() bool {
		txt, err := chromedp.Run(ctx, chromedp.Text(card+`[data-part="admitted"]`))
		return err == nil && !strings.HasPrefix(strings.TrimSpace(txt), "0")
	}, 5*time.Second, 100*time.Millisecond)
	bs, err := chromedp.Run(ctx, chromedp.Value("#r-demo-batch_size"))
	require.NoError(t, err)
	require.Equal(t, "4", bs)
}

type adminConfig struct {
	Capacity   int  `json:"capacity"`
	BatchSize  int  `json:"batch_size"`
	IntervalMS int  `json:"interval_ms"`
	Paused     bool `json:"paused"`
}

func getConfig(t *testing.T, m *Main, base string) adminConfig {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/admin/rooms", nil)
	req.Header.Set("Authorization", "Bearer "+m.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var rooms []struct {
		Room   string      `json:"room"`
		Config adminConfig `json:"config"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rooms))
	for _, r := range rooms {
		if r.Room == "demo" {
			return r.Config
		}
	}
	t.Fatal("demo not listed")
	return adminConfig{}
}
