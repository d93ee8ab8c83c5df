package main

import (
	"encoding/json"
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

func TestBrowserAKoreanVisitorGetsTheKoreanPageAndTheirSwitchIsRemembered(t *testing.T) {
	c := setupChrome(t)
	c.putDemo(`{"paused":true}`)
	_, err := chromedp.Call(c.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"}})
	require.NoError(t, err)

	c.do(chromedp.Navigate(c.base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting"))
	require.Equal(t, "ko", c.eval(`document.documentElement.lang`))
	require.Equal(t, "줄을 서 있습니다", c.eval(`document.getElementById('heading').textContent`))
	require.Equal(t, "내 앞에 0명, 다음 차례입니다!", c.eval(`document.getElementById('ahead').textContent`))
	require.Eventually(t, func() bool {
		return browsertest.Try(c.ctx, `document.getElementById('conn-text').textContent`) == "실시간"
	}, 10*time.Second, 100*time.Millisecond, "the socket is live")

	// The visitor prefers English: the switch, then every later visit.
	c.do(chromedp.Click(`#lang-switch a[data-lang="en"]`))
	require.Eventually(t, func() bool {
		return browsertest.Try(c.ctx, `document.documentElement.lang`) == "en"
	}, 10*time.Second, 50*time.Millisecond)
	c.do(chromedp.WaitVisible("#view-waiting"))
	require.Equal(t, "1", strings.TrimSpace(c.eval(`document.getElementById('position').textContent`)), "the switch keeps the place")
	c.do(chromedp.Navigate(c.base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting"))
	require.Equal(t, "en", c.eval(`document.documentElement.lang`), "the server remembers the choice over Accept-Language")
	require.Equal(t, "You're in line", c.eval(`document.getElementById('heading').textContent`))
}

func TestBrowserTheOperatorSetsTheRoomsWordsAndVisitorsSeeThemAsText(t *testing.T) {
	c := setupChrome(t)
	c.putDemo(`{"paused":true}`)
	title := "Spring <b>concert</b> 봄 콘서트"
	message := "<img src=x onerror=alert(1)>\nDoors open at 7."
	c.signIn()
	// The title's control is r-<room>-room_title: r-<room>-title is the card's heading.
	set, _ := json.Marshal(map[string]string{"room_title": title, "message": message})
	browsertest.Get(t, c.ctx, chromedp.Evaluate[bool](`(() => { const v = `+string(set)+`;
		for (const [k, value] of Object.entries(v)) { const el = document.getElementById("r-demo-" + k);
			el.focus(); el.value = value; el.dispatchEvent(new Event("input", {bubbles: true})); }
		return true })()`))
	c.do(chromedp.Click(`article[aria-labelledby="r-demo-title"] [data-part="save"]`))
	require.Eventually(t, func() bool {
		var info struct{ Title, Message string }
		c.getJSON("/api/rooms/demo", false, &info)
		return info.Title == title && info.Message == message
	}, 5*time.Second, 50*time.Millisecond, "GET /api/rooms/demo answers what the operator saved; the page said %q",
		c.eval(`document.querySelector('article[aria-labelledby="r-demo-title"] [data-part="save-status"]').textContent`))

	tab, cancel := chromedp.NewContext(c.ctx)
	defer cancel()
	visitor := &chrome{t: t, m: c.m, base: c.base, ctx: tab}
	visitor.do(chromedp.Navigate(c.base+"/rooms/demo?lang=en"), chromedp.WaitVisible("#room-message"))
	require.Equal(t, title, visitor.eval(`document.querySelector('h1').textContent`))
	require.Equal(t, message, visitor.eval(`document.getElementById('room-message').textContent`))
	require.Equal(t, "0", visitor.eval(`String(document.querySelectorAll('main img, main b').length)`), "no markup from the room's words")
	require.Contains(t, visitor.eval(`document.title`), title)
}

func TestBrowserLeavingTheLineGivesThePlaceUpOnTheServer(t *testing.T) {
	c := setupChrome(t)
	c.putDemo(`{"paused":true}`)
	waiting := func() float64 {
		var info struct{ Waiting float64 }
		c.getJSON("/api/rooms/demo", false, &info)
		return info.Waiting
	}
	c.do(chromedp.Navigate(c.base+"/rooms/demo?lang=en"), chromedp.WaitVisible("#view-waiting"))
	requireSocketLive(t, c.ctx)
	require.EqualValues(t, 1, waiting())
	c.do(chromedp.Click("#leave"), chromedp.WaitVisible("#leave-yes"),
		chromedp.Click("#leave-yes"), chromedp.WaitVisible("#view-ended"))
	require.Equal(t, "You left the line", c.eval(`document.getElementById('heading').textContent`))
	require.EqualValues(t, 0, waiting(), "the place is gone from the line")

	// Changed their mind: a new place, at the back.
	c.do(chromedp.Click("#rejoin"), chromedp.WaitVisible("#view-waiting"))
	require.EqualValues(t, 1, waiting())
}
