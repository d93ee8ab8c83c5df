package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// The waiting page against the real server: the language it picks, the
// room's own words set on the operator page, and leaving the line.

// chromeTry evaluates js in the tab, for polling: during a navigation it may fail.
func chromeTry(ctx context.Context, js string) string {
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		return ""
	}
	return v
}

func chromeText(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	require.NoError(t, err, js)
	return v
}

// putDemo changes the demo room's config through the operator API.
func putDemo(t *testing.T, m *Main, base string, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/api/admin/rooms/demo", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.AdminToken())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestBrowserAKoreanVisitorGetsTheKoreanPageAndTheirSwitchIsRemembered(t *testing.T) {
	m, base := chromeStandalone(t)
	putDemo(t, m, base, `{"paused":true}`)
	ctx := browsertest.Chromium(t, 60*time.Second)
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"}})
	require.NoError(t, err)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting")))
	require.Equal(t, "ko", chromeText(t, ctx, `document.documentElement.lang`))
	require.Equal(t, "줄을 서 있습니다", chromeText(t, ctx, `document.getElementById('heading').textContent`))
	require.Equal(t, "내 앞에 0명, 다음 차례입니다!", chromeText(t, ctx, `document.getElementById('ahead').textContent`))
	require.Eventually(t, func() bool {
		return chromeTry(ctx, `document.getElementById('conn-text').textContent`) == "실시간"
	}, 10*time.Second, 100*time.Millisecond, "the socket is live")

	// The visitor prefers English: the switch, then every later visit.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`#lang-switch a[data-lang="en"]`)))
	require.Eventually(t, func() bool {
		return chromeTry(ctx, `document.documentElement.lang`) == "en"
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#view-waiting")))
	require.Equal(t, "1", strings.TrimSpace(chromeText(t, ctx, `document.getElementById('position').textContent`)), "the switch keeps the place")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting")))
	require.Equal(t, "en", chromeText(t, ctx, `document.documentElement.lang`), "the server remembers the choice over Accept-Language")
	require.Equal(t, "You're in line", chromeText(t, ctx, `document.getElementById('heading').textContent`))
}

func TestBrowserTheOperatorSetsTheRoomsWordsAndVisitorsSeeThemAsText(t *testing.T) {
	m, base := chromeStandalone(t)
	putDemo(t, m, base, `{"paused":true}`)
	title := "Spring <b>concert</b> 봄 콘서트"
	message := "<img src=x onerror=alert(1)>\nDoors open at 7."
	ctx := browsertest.Chromium(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin"),
		chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", m.AdminToken()),
		chromedp.Click("#signin-button"),
		chromedp.WaitVisible("#r-demo-title"),
	))
	// The title's control is r-<room>-room_title: r-<room>-title is the card's heading.
	set, _ := json.Marshal(map[string]string{"room_title": title, "message": message})
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const v = `+string(set)+`;
		for (const [k, value] of Object.entries(v)) { const el = document.getElementById("r-demo-" + k);
			el.focus(); el.value = value; el.dispatchEvent(new Event("input", {bubbles: true})); }
		return true })()`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`article[aria-labelledby="r-demo-title"] [data-part="save"]`)))
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/api/rooms/demo")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var info struct{ Title, Message string }
		_ = json.NewDecoder(resp.Body).Decode(&info)
		return info.Title == title && info.Message == message
	}, 5*time.Second, 50*time.Millisecond, "GET /api/rooms/demo answers what the operator saved; the page said %q",
		chromeText(t, ctx, `document.querySelector('article[aria-labelledby="r-demo-title"] [data-part="save-status"]').textContent`))

	visitor, cancel := chromedp.NewContext(ctx)
	defer cancel()
	require.NoError(t, chromedp.Do(visitor, chromedp.Navigate(base+"/rooms/demo?lang=en"), chromedp.WaitVisible("#room-message")))
	require.Equal(t, title, chromeText(t, visitor, `document.querySelector('h1').textContent`))
	require.Equal(t, message, chromeText(t, visitor, `document.getElementById('room-message').textContent`))
	require.Equal(t, "0", chromeText(t, visitor, `String(document.querySelectorAll('main img, main b').length)`), "no markup from the room's words")
	require.Contains(t, chromeText(t, visitor, `document.title`), title)
}

func TestBrowserLeavingTheLineGivesThePlaceUpOnTheServer(t *testing.T) {
	m, base := chromeStandalone(t)
	putDemo(t, m, base, `{"paused":true}`)
	waiting := func() float64 {
		resp, err := http.Get(base + "/api/rooms/demo")
		require.NoError(t, err)
		defer resp.Body.Close()
		var info struct{ Waiting float64 }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
		return info.Waiting
	}
	ctx := browsertest.Chromium(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/rooms/demo?lang=en"), chromedp.WaitVisible("#view-waiting")))
	requireSocketLive(t, ctx)
	require.EqualValues(t, 1, waiting())
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#leave"), chromedp.WaitVisible("#leave-yes"),
		chromedp.Click("#leave-yes"), chromedp.WaitVisible("#view-ended")))
	require.Equal(t, "You left the line", chromeText(t, ctx, `document.getElementById('heading').textContent`))
	require.EqualValues(t, 0, waiting(), "the place is gone from the line")

	// Changed their mind: a new place, at the back.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#rejoin"), chromedp.WaitVisible("#view-waiting")))
	require.EqualValues(t, 1, waiting())
}
