package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/web"
)

// The room's own words, as an operator might type them: the message is
// HTML that must show as text.
const (
	fakeTitle   = "Spring <b>concert</b>"
	fakeMessage = "<img src=x onerror=alert(1)>\nSecond line of the message"
)

// roomBundle serves the pages as the real server does (web.Page picks the
// language) around a small fake of the visitor's API whose behaviour the
// room's name chooses: "loading" never answers the join, "prequeue" is in
// the pre-queue, "admitted" is let in at once, "expired-<reason>" ends with
// that reason, "drop" loses its socket, "turn" is admitted on b.admit;
// any other room waits at position 5.
type roomBundle struct {
	t     *testing.T
	base  string
	ctx   context.Context
	admit chan struct{} // closed: room "turn" is admitted
	done  chan struct{} // closed at the end: hanging handlers return
	delay chan struct{} // while open, static/i18n/ko.js is held back (when slowKorean)

	slowKorean bool
	mu         sync.Mutex
	deleted    []string // tickets the page gave up
}

func setupRoom(t *testing.T) *roomBundle {
	t.Helper()
	b := &roomBundle{t: t, admit: make(chan struct{}), done: make(chan struct{}), delay: make(chan struct{})}
	mux := http.NewServeMux()
	files := http.StripPrefix("/static/", http.FileServerFS(web.Files()))
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		if b.slowKorean && r.URL.Path == "/static/i18n/ko.js" {
			select {
			case <-b.delay:
			case <-b.done:
			}
		}
		files.ServeHTTP(w, r)
	})
	serve := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, err := web.Page(w, r, name)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(body)
		}
	}
	mux.HandleFunc("GET /rooms/{room}", serve(web.RoomPage))
	mux.HandleFunc("GET /booking/{room}", serve(web.BookingPage))
	mux.HandleFunc("GET /admin", serve(web.AdminPage))
	mux.HandleFunc("GET /landed", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `<!doctype html><html lang="en"><title>landed</title><p id="landed">landed</p></html>`)
	})
	// Where the admitted page goes in the axe run: it never answers, so
	// the admitted view stays on screen.
	mux.HandleFunc("GET /hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-b.done:
		}
	})
	b.registerAPI(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "+
			"img-src 'self' data:; connect-src 'self' ws://"+r.Host+"; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(b.done) }) // runs first: hanging handlers let go, then the server closes
	b.base = srv.URL
	b.ctx = browsertest.Chromium(t, 0)
	return b
}

func (b *roomBundle) registerAPI(mux *http.ServeMux) {
	reply := func(w http.ResponseWriter, code int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
	status := func(room string) string {
		if room == "prequeue" {
			opens := time.Now().Add(2*time.Hour + 5*time.Minute).UTC().Format(time.RFC3339)
			return `{"ticket":"t1","room":"prequeue","state":"prequeue","position":null,"waiting":12,"opens_at":"` + opens + `"}`
		}
		return `{"ticket":"t1","room":"` + room + `","state":"waiting","position":5,"ahead":4,"waiting":40,"eta_seconds":150}`
	}
	mux.HandleFunc("POST /api/rooms/{room}/tickets", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("room") == "loading" {
			select {
			case <-r.Context().Done():
			case <-b.done:
			}
			return
		}
		reply(w, http.StatusCreated, status(r.PathValue("room")))
	})
	mux.HandleFunc("GET /api/rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		title, message := fakeTitle, fakeMessage
		if r.PathValue("room") == "screenshot" { // the README's example room
			title, message = "Spring Festival 2027 · 봄 페스티벌", "1인 4매까지 예매할 수 있습니다.\nUp to 4 tickets per person."
		}
		info, _ := json.Marshal(map[string]any{"room": r.PathValue("room"), "state": "open", "waiting": 40, "admitted": 5,
			"capacity": 5, "admitted_per_minute": 12, "title": title, "message": message})
		reply(w, http.StatusOK, string(info))
	})
	mux.HandleFunc("GET /api/rooms/{room}/tickets/t1", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, status(r.PathValue("room")))
	})
	mux.HandleFunc("DELETE /api/rooms/{room}/tickets/t1", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.deleted = append(b.deleted, r.PathValue("room")+"/t1")
		b.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	dropped := false
	mux.HandleFunc("GET /api/rooms/{room}/ws", func(w http.ResponseWriter, r *http.Request) {
		room := r.PathValue("room")
		b.mu.Lock()
		refuse := room == "drop" && dropped
		dropped = dropped || room == "drop"
		b.mu.Unlock()
		if refuse { // the line to the server is down: only status polls get through
			reply(w, http.StatusServiceUnavailable, `{"error":{"code":"unavailable","message":"test"}}`)
			return
		}
		testproc.ServeSocket(w, r, func(ws *websocket.Conn) {
			send := func(msg string) { _ = ws.WriteMessage(websocket.TextMessage, []byte(msg)) }
			admitted := func(target string) string {
				return `{"type":"admitted","entry_token":"` + fakeJWT(time.Now().Add(10*time.Minute)) + `","expires_at":"` +
					time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339) + `","target_url":"` + target + `"}`
			}
			switch {
			case room == "admitted":
				send(admitted("/hang"))
			case strings.HasPrefix(room, "expired-"):
				reason := strings.ReplaceAll(strings.TrimPrefix(room, "expired-"), "-", "_")
				send(`{"type":"expired","reason":"` + reason + `"}`)
				return
			case room == "prequeue":
				send(`{"type":"prequeue","waiting":12,"opens_at":"` + time.Now().Add(2*time.Hour+5*time.Minute).UTC().Format(time.RFC3339) + `"}`)
			default:
				send(`{"type":"position","position":5,"ahead":4,"waiting":40,"eta_seconds":150}`)
			}
			if room == "drop" {
				time.Sleep(300 * time.Millisecond)
				return
			}
			closed := testproc.Record(ws).Done() // closed when the page hangs up
			var admit <-chan struct{}
			if room == "turn" {
				admit = b.admit
			}
			select {
			case <-admit:
				send(admitted("/landed"))
				<-closed
			case <-closed:
			case <-b.done:
			}
		})
	})

	// The booking page's calls, for its accessibility check.
	seats := `[{"seat":"A1","state":"available","mine":false},{"seat":"A2","state":"held","mine":false},` +
		`{"seat":"A3","state":"booked","mine":false},{"seat":"A4","state":"held","mine":true},{"seat":"B1","state":"booked","mine":true}]`
	mux.HandleFunc("GET /api/events/{room}/seats", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, seats) })
	mux.HandleFunc("GET /api/events/{room}/holds", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, `[{"seat":"A4","held_until":"`+time.Now().Add(4*time.Minute).UTC().Format(time.RFC3339)+`"}]`)
	})
	mux.HandleFunc("GET /api/events/{room}/bookings", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, `[{"seat":"B1","booking_id":"bk-123"}]`)
	})
	mux.HandleFunc("GET /api/admin/rooms/x/history", fakeHistory)
	// The operator page's room list.
	mux.HandleFunc("GET /api/admin/rooms", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+operatorToken {
			reply(w, http.StatusUnauthorized, `{"error":{"code":"unauthorized","message":"test"}}`)
			return
		}
		cfg, _ := json.Marshal(map[string]any{"capacity": 5, "batch_size": 3, "interval_ms": 1000, "session_ttl_s": 600,
			"mode": "queue_all", "abandon_after_s": 120, "target_url": "/booking/x", "opens_at": nil, "paused": false,
			"pow_work": 0, "require_user": false, "title": fakeTitle, "message": fakeMessage})
		reply(w, http.StatusOK, `[{"room":"x","config":`+string(cfg)+
			`,"stats":{"waiting":2,"admitted":1,"admitted_total":1,"admitted_per_minute":1,"oldest_wait_s":4}}]`)
	})
}

// open loads path with Accept-Language set to lang ("" for the browser's own).
func (b *roomBundle) open(path, acceptLanguage string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	headers := network.Headers{}
	if acceptLanguage != "" {
		headers["Accept-Language"] = acceptLanguage
	}
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers})
	require.NoError(b.t, err)
	require.NoError(b.t, chromedp.Do(ctx, chromedp.Navigate(b.base+path)))
}

func (b *roomBundle) wait(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second) // room for a machine busy with other tests
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

func (b *roomBundle) text(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.TextContent(sel))
	require.NoError(b.t, err)
	return strings.TrimSpace(v)
}

func (b *roomBundle) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	require.NoError(b.t, err, js)
	return v
}

// eventually waits until js (an expression giving a string) gives want.
func (b *roomBundle) eventually(js, want, msg string) {
	b.t.Helper()
	var got string
	require.Eventually(b.t, func() bool {
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
		got = v
		return err == nil && v == want
	}, 15*time.Second, 50*time.Millisecond, "%s: last %q", msg, got)
}

// setWindow minimizes the tab's window (the page becomes hidden, as a tab
// in the background is) or brings it back.
func (b *roomBundle) setWindow(state browser.WindowState) {
	b.t.Helper()
	w, err := chromedp.CallBrowser(b.ctx, browser.GetWindowForTarget,
		browser.GetWindowForTargetParams{TargetID: chromedp.FromContext(b.ctx).Target.TargetID})
	require.NoError(b.t, err)
	_, err = chromedp.CallBrowser(b.ctx, browser.SetWindowBounds,
		browser.SetWindowBoundsParams{WindowID: w.WindowID, Bounds: &browser.Bounds{WindowState: state}})
	require.NoError(b.t, err)
}

func TestAKoreanBrowserGetsTheKoreanPageAndNothingPaintsBeforeItsWords(t *testing.T) {
	b := setupRoom(t)
	b.slowKorean = true // hold ko.js back: the page must stay blank meanwhile
	b.open("/rooms/waiting", "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7")
	require.Equal(t, "ko", b.eval(`document.documentElement.lang`), "the server chose Korean from Accept-Language")
	require.Equal(t, "hidden", b.eval(`getComputedStyle(document.body).visibility`), "nothing paints before the words are in")
	require.Empty(t, b.eval(`document.body.innerText.trim()`), "no English in the page while it waits")
	close(b.delay)
	b.wait(chromedp.WaitVisible("#view-waiting"))
	require.Equal(t, "visible", b.eval(`getComputedStyle(document.body).visibility`))
	require.Equal(t, "줄을 서 있습니다", b.text("#heading"))
	require.Equal(t, "내 앞에 4명", b.text("#ahead"))
	require.Equal(t, "대기 5번 · "+fakeTitle, b.eval(`document.title`))
	require.Equal(t, "1분에 12명", b.text("#rate"))
	require.True(t, strings.HasPrefix(b.text("#eta"), "약 "), b.text("#eta"))
	require.Contains(t, b.text("#eta-clock"), "쯤", "the entry time as a clock time, in Korean")

	// An English browser gets English from the same address.
	b.slowKorean = false
	b.open("/rooms/waiting", "en-GB,en;q=0.9")
	b.wait(chromedp.WaitVisible("#view-waiting"))
	require.Equal(t, "en", b.eval(`document.documentElement.lang`))
	require.Equal(t, "You're in line", b.text("#heading"))
	require.Equal(t, "4 people ahead of you", b.text("#ahead"))
	require.Equal(t, "12 people a minute", b.text("#rate"))
	require.Equal(t, "about 3 min", b.text("#eta"), "150 s, rounded")
}

func TestTheLanguageSwitchChangesThePageAndIsRemembered(t *testing.T) {
	b := setupRoom(t)
	b.open("/rooms/waiting", "en")
	b.wait(chromedp.WaitVisible(`#lang-switch a[data-lang="ko"]`))
	require.Equal(t, "한국어", b.text(`#lang-switch a[data-lang="ko"]`), "each language named in itself")
	require.Equal(t, "true", b.eval(`document.querySelector('#lang-switch a[data-lang="en"]').getAttribute('aria-current')`))
	b.wait(chromedp.Click(`#lang-switch a[data-lang="ko"]`))
	b.eventually(`document.documentElement.lang`, "ko", "the switch reloads the page in Korean")
	b.wait(chromedp.WaitVisible("#view-waiting"))
	require.Equal(t, "줄을 서 있습니다", b.text("#heading"))
	require.Equal(t, "언어", b.eval(`document.getElementById('lang-switch').getAttribute('aria-label')`))

	// Remembered: the same browser, English Accept-Language, no ?lang=.
	b.open("/rooms/waiting", "en")
	b.wait(chromedp.WaitVisible("#view-waiting"))
	require.Equal(t, "ko", b.eval(`document.documentElement.lang`))
	b.open("/booking/waiting", "en")
	b.wait(chromedp.WaitVisible("#view-ended"))
	require.Equal(t, "ko", b.eval(`document.documentElement.lang`), "the other pages follow the choice")
	require.Equal(t, "대기실로 돌아가기", b.text("#back-to-line"))
}

func TestTheRoomsTitleAndMessageShowAsTextNeverAsHTML(t *testing.T) {
	b := setupRoom(t)
	b.open("/rooms/waiting", "en")
	b.wait(chromedp.WaitVisible("#room-message"))
	require.Equal(t, fakeTitle, b.text("h1"))
	require.Equal(t, fakeMessage, b.eval(`document.getElementById('room-message').textContent`))
	require.Equal(t, "0", b.eval(`String(document.querySelectorAll('img, b').length)`), "no element came from the room's words")
	require.Contains(t, b.eval(`document.getElementById('room-message').innerText`), "<img src=x onerror=alert(1)>\nSecond line",
		"shown as typed, line break kept")
}

// notificationSpy records every Notification the page makes, then lets the
// real one show.
const notificationSpy = `(() => {
	const Real = window.Notification;
	window.__notes = [];
	window.Notification = class extends Real {
		constructor(title, options) { super(title, options); window.__notes.push({title, body: options && options.body}); }
	};
})()`

// spyOnNotifications lets the page notify and records, in window.__notes,
// what it shows.
func (b *roomBundle) spyOnNotifications() {
	b.t.Helper()
	_, err := chromedp.CallBrowser(b.ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: b.base})
	require.NoError(b.t, err)
	_, err = chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: notificationSpy})
	require.NoError(b.t, err)
}

func TestAdmittedInAHiddenTabTheVisitorWhoAskedIsNotifiedChimedAndTitled(t *testing.T) {
	b := setupRoom(t)
	b.spyOnNotifications()
	b.open("/rooms/turn", "en")
	b.wait(chromedp.WaitVisible("#view-waiting"), chromedp.Click("#notify"))
	b.eventually(`document.getElementById('notify').getAttribute('aria-pressed')`, "true", "the call is on")
	require.Equal(t, "We'll notify you", b.text("#notify"))

	b.setWindow(browser.WindowStateMinimized)
	b.eventually(`document.visibilityState`, "hidden", "the tab is in the background")
	close(b.admit)
	b.eventually(`document.title`, "It's your turn — "+fakeTitle, "the tab's title calls the visitor")
	b.eventually(`JSON.stringify(window.__notes)`,
		`[{"title":"It's your turn!","body":"Come back to `+fakeTitle+` now: your time to book has started."}]`, "one notification")
	b.eventually(`document.documentElement.dataset.chimed || ''`, "true", "the chime played")
	loc := browsertest.Get(t, b.ctx, chromedp.Location())
	require.True(t, strings.HasSuffix(loc, "/rooms/turn"), "the page waits for the visitor: %s", loc)

	b.setWindow(browser.WindowStateNormal)
	b.wait(chromedp.WaitVisible("#landed"))
}

func TestAdmittedInAHiddenTabWithoutTheAskOnlyTheTitleChanges(t *testing.T) {
	b := setupRoom(t)
	b.spyOnNotifications()
	b.open("/rooms/turn", "ko")
	b.wait(chromedp.WaitVisible("#view-waiting"))
	b.setWindow(browser.WindowStateMinimized)
	b.eventually(`document.visibilityState`, "hidden", "the tab is in the background")
	close(b.admit)
	b.eventually(`document.title`, "입장 차례입니다 — "+fakeTitle, "the title changes all the same")
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, "[]", b.eval(`JSON.stringify(window.__notes)`), "no notification nobody asked for")
	require.Empty(t, b.eval(`document.documentElement.dataset.chimed || ''`), "no sound")
}

func TestLeavingTheLineAsksFirstThenGivesThePlaceUp(t *testing.T) {
	b := setupRoom(t)
	b.open("/rooms/waiting", "en")
	b.wait(chromedp.WaitVisible("#view-waiting"), chromedp.Click("#leave"), chromedp.WaitVisible("#leave-confirm"))
	require.Equal(t, "leave-no", b.eval(`document.activeElement.id`), "focus on the safe choice")
	b.wait(chromedp.Click("#leave-no"), chromedp.WaitNotVisible("#leave-confirm"), chromedp.WaitVisible("#leave"))
	b.mu.Lock()
	require.Empty(t, b.deleted, "staying changes nothing")
	b.mu.Unlock()

	b.wait(chromedp.Click("#leave"), chromedp.WaitVisible("#leave-yes"), chromedp.Click("#leave-yes"), chromedp.WaitVisible("#view-ended"))
	b.mu.Lock()
	require.Equal(t, []string{"waiting/t1"}, b.deleted, "DELETE /api/rooms/{room}/tickets/{ticket}")
	b.mu.Unlock()
	require.Equal(t, "You left the line", b.text("#heading"))
	require.Equal(t, "Join the line again", b.text("#rejoin"))
	require.True(t, b.eval(`String(document.getElementById('turn-tools').hidden)`) == "true")
}

func TestEveryExpiryIsSaidInPlainWordsWithARejoinWhereItHelps(t *testing.T) {
	b := setupRoom(t)
	for _, c := range []struct {
		reason, heading string
		rejoin          bool
	}{
		{"left", "You left the line", true},
		{"abandoned", "Your place was released", true},
		{"no_show", "Your turn went to the next person", true},
		{"admission_ended", "Your booking time has ended", true},
		{"room_deleted", "This waiting room has closed", false},
	} {
		b.open("/rooms/expired-"+strings.ReplaceAll(c.reason, "_", "-"), "en")
		b.wait(chromedp.WaitVisible("#view-ended"))
		require.Equal(t, c.heading, b.text("#heading"), c.reason)
		require.NotEmpty(t, b.text("#ended-message"), c.reason)
		require.Equal(t, fmt.Sprint(!c.rejoin), b.eval(`String(document.getElementById('rejoin').hidden)`), c.reason)
	}
}

func TestWhenTheSocketDropsThePageSaysSoAndHowOldItsNewsIs(t *testing.T) {
	b := setupRoom(t)
	b.open("/rooms/drop", "en")
	b.wait(chromedp.WaitVisible("#view-waiting"), chromedp.WaitVisible("#conn-age"))
	require.Contains(t, b.text("#conn-text"), "Connection lost")
	require.Regexp(t, `^last update (now|\d+ seconds? ago)$`, b.text("#conn-age"))
	time.Sleep(2200 * time.Millisecond)
	require.Regexp(t, `^last update (now|\d+ seconds? ago)$`, b.text("#conn-age"), "still said, as polls come in")
	require.Equal(t, "5", b.text("#position"), "the place is still shown")
}

func TestEveryLanguageHasEveryMessageOfEnglish(t *testing.T) {
	b := setupRoom(t)
	b.open("/rooms/waiting", "en")
	b.wait(chromedp.WaitVisible("#view-waiting"))
	langs := web.Languages()
	require.Equal(t, []string{"en", "ko"}, langs)
	for _, lang := range langs[1:] {
		missing, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
			const en = (await import('/static/i18n/en.js')).default;
			const other = (await import('/static/i18n/%s.js')).default;
			const bad = Object.keys(en).filter((k) => !(k in other));
			bad.push(...Object.keys(other).filter((k) => !(k in en)).map((k) => 'extra ' + k));
			bad.push(...Object.entries(other).filter(([, v]) => v && typeof v === 'object' && !('other' in v)).map(([k]) => 'no other form ' + k));
			return bad.join(', ');
		})()`, lang), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		require.Empty(t, missing, lang)
	}
}

// The accessibility check: axe-core in Chromium against every state of the
// waiting page, the booking page and the operator page, in every language,
// at a phone's and a desktop's width. Serious and critical findings fail.
func TestNoPageHasSeriousAccessibilityViolationsInAnyStateLanguageOrWidth(t *testing.T) {
	b := setupRoom(t)
	type check struct {
		name, path, ready string
		signIn            bool
	}
	checks := []check{
		{"waiting page, loading", "/rooms/loading", "#view-loading", false},
		{"waiting page, pre-queue", "/rooms/prequeue", "#view-prequeue", false},
		{"waiting page, waiting", "/rooms/waiting", "#view-waiting", false},
		{"waiting page, admitted", "/rooms/admitted", "#view-admitted", false},
		{"waiting page, expired", "/rooms/expired-abandoned", "#view-ended", false},
		{"booking page", "/booking/x", `button.seat[data-seat="A1"]`, false},
		{"operator page", "/admin", "#r-x-title", true},
	}
	var report []string
	for _, lang := range web.Languages() {
		for _, vp := range []browsertest.Viewport{browsertest.Phone, browsertest.Desktop} {
			require.NoError(t, browsertest.Emulate(b.ctx, vp))
			for _, c := range checks {
				name := fmt.Sprintf("%s, %s, %s", c.name, lang, vp.Name)
				b.wait(chromedp.Navigate("about:blank")) // a fresh load, not only a new fragment
				url := c.path + "?lang=" + lang
				if strings.HasPrefix(c.path, "/booking/") {
					url += "#wr_entry=" + fakeJWT(time.Now().Add(10*time.Minute))
				}
				b.open(url, "")
				if c.signIn { // once per tab: the tab keeps the token after that
					b.eventually(`document.documentElement.classList.contains('i18n-ready') ? 'ready' : ''`, "ready", "the operator page started")
					if b.eval(`String(document.getElementById('view-signin').hidden)`) == "false" {
						b.wait(chromedp.SendKeys("#token", operatorToken), chromedp.Click("#signin-button"))
					}
				}
				t.Log("checking", name)
				b.wait(chromedp.WaitVisible(c.ready))
				require.Equal(t, lang, b.eval(`document.documentElement.lang`), name)
				time.Sleep(200 * time.Millisecond) // announcements and timers settle
				found := browsertest.Axe(t, b.ctx)
				counts := map[string]int{}
				for _, v := range found {
					counts[v.Impact]++
				}
				report = append(report, fmt.Sprintf("%-40s critical %d, serious %d, moderate %d, minor %d", name,
					counts["critical"], counts["serious"], counts["moderate"], counts["minor"]))
				for _, v := range browsertest.Serious(found) {
					t.Errorf("%s: %s", name, v)
				}
				for _, v := range found {
					if v.Impact != "serious" && v.Impact != "critical" {
						t.Logf("%s: %s", name, v)
					}
				}
			}
		}
	}
	t.Log("axe-core violations by impact:\n" + strings.Join(report, "\n"))
}

// TestScreenshotsOfTheWaitingPage writes docs/screenshots/waiting-<lang>.png
// at a phone's width, as README shows them. Only with WAITROOM_SCREENSHOTS=1.
func TestScreenshotsOfTheWaitingPage(t *testing.T) {
	if os.Getenv("WAITROOM_SCREENSHOTS") != "1" {
		t.Skip("set WAITROOM_SCREENSHOTS=1 to write docs/screenshots")
	}
	b := setupRoom(t)
	require.NoError(t, browsertest.Emulate(b.ctx, browsertest.Viewport{Width: 390, Height: 1200, Mobile: true}))
	for _, lang := range web.Languages() {
		b.open("/rooms/screenshot?lang="+lang, "")
		b.wait(chromedp.WaitVisible("#view-waiting"), chromedp.WaitVisible("#room-message"))
		time.Sleep(800 * time.Millisecond) // the progress bar's transition
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		out := filepath.Join("..", "docs", "screenshots", "waiting-"+lang+".png")
		require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
		require.NoError(t, os.WriteFile(out, png, 0o644))
		t.Logf("wrote %s (%d bytes)", out, len(png))
	}
}
