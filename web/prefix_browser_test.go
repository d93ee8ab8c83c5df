package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
	"github.com/waitroom/waitroom/internal/pow"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/web"
)

// prefix is where gateway mode puts every waitroom route (docs/API.md, "Gateway").
const prefix = "/_waitroom"

// operatorToken is what the fake operator API accepts.
const operatorToken = "operator-token"

// prefixBundle serves the pages under prefix, as gateway mode does, around
// small fakes of the first API calls each page makes, with the real policy;
// a Chromium tab records every request it makes and everything that failed.
type prefixBundle struct {
	t      *testing.T
	base   string // http://127.0.0.1:port
	ctx    context.Context
	master []byte
	entry  string        // the entry token the fake socket hands over
	admit  chan struct{} // closed: the fake socket admits the visitor

	mu       sync.Mutex
	served   []string        // method and path of every request, as the server saw them
	refused  map[string]bool // URLs the fakes refused on purpose
	urls     map[network.RequestID]string
	asked    []string // every URL the tab asked for, sockets included
	failures []string // failed loads, HTTP errors, console errors, exceptions
}

func setupPrefix(t *testing.T) *prefixBundle {
	t.Helper()
	b := &prefixBundle{
		t:       t,
		master:  []byte("0123456789abcdef0123456789abcdef"),
		entry:   fakeJWT(time.Now().Add(10 * time.Minute)),
		admit:   make(chan struct{}),
		refused: map[string]bool{},
		urls:    map[network.RequestID]string{},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web.Files())))
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.ServeFileFS(w, r, web.Files(), name) }
	}
	mux.HandleFunc("GET /rooms/x", page(web.RoomPage))
	mux.HandleFunc("GET /booking/x", page(web.BookingPage))
	mux.HandleFunc("GET /admin", page(web.AdminPage))
	b.registerFakes(mux)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			// The site's icon, which Chromium asks for by itself: not the page's doing.
			w.WriteHeader(http.StatusNoContent)
			return
		}
		b.mu.Lock()
		b.served = append(b.served, r.Method+" "+r.URL.Path)
		b.mu.Unlock()
		// The policy pkg/httpapi sends, with this host's sockets.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "+
			"img-src 'self' data:; connect-src 'self' ws://"+r.Host+" wss://"+r.Host+
			"; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		if !strings.HasPrefix(r.URL.Path, prefix+"/") {
			http.NotFound(w, r) // the protected site's, not ours
			return
		}
		http.StripPrefix(prefix, mux).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	b.base = srv.URL

	b.ctx = browsertest.Chromium(t, 0)
	require.NoError(t, chromedp.Listen(b.ctx, b.record))
	return b
}

// record keeps what the tab asks for and what goes wrong. It runs on the
// event loop, so it only takes notes.
func (b *prefixBundle) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fail := func(format string, args ...any) { b.failures = append(b.failures, fmt.Sprintf(format, args...)) }
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if strings.HasSuffix(e.Request.URL, "/favicon.ico") {
			return
		}
		b.urls[e.RequestID] = e.Request.URL
		b.asked = append(b.asked, e.Request.URL)
	case *network.EventWebSocketCreated:
		b.asked = append(b.asked, e.URL)
	case *network.EventResponseReceived:
		if e.Response.Status >= 400 && !b.refused[e.Response.URL] {
			fail("HTTP %d for %s", e.Response.Status, e.Response.URL)
		}
	case *network.EventLoadingFailed:
		// A request cut short by leaving the page is no failure.
		if !e.Canceled {
			fail("%s: %s %s", b.urls[e.RequestID], e.ErrorText, e.BlockedReason)
		}
	case *log.EventEntryAdded:
		// The network's own line for a refusal the fake meant is no failure either.
		if e.Entry.Level == log.EntryLevelError && !(e.Entry.Source == log.EntrySourceNetwork && b.refused[e.Entry.URL]) {
			fail("console (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			fail("console.error called")
		}
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		desc := ""
		if d.Exception != nil {
			desc = d.Exception.Description
		}
		fail("exception: %s %s %s", d.Text, desc, d.URL)
	}
}

func (b *prefixBundle) open(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, chromedp.Navigate(b.base+path)))
}

// wait runs actions such as WaitVisible; when they time out it says what
// went wrong in the tab meanwhile.
func (b *prefixBundle) wait(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, actions...)
	b.mu.Lock()
	failures := slices.Clone(b.failures)
	b.mu.Unlock()
	require.NoError(b.t, err, "in the tab: %v", failures)
}

func (b *prefixBundle) attr(sel, name string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](
		fmt.Sprintf(`document.querySelector(%q).getAttribute(%q) || ""`, sel, name)))
	require.NoError(b.t, err)
	return v
}

func (b *prefixBundle) text(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Text(sel))
	require.NoError(b.t, err)
	return strings.TrimSpace(v)
}

// requireAllUnderThePrefix checks that the page loaded cleanly and asked for
// nothing outside the prefix, and that its first API call went to
// prefix/api/. It starts the record afresh for the next page.
func (b *prefixBundle) requireAllUnderThePrefix(wantFirstAPI string) {
	b.t.Helper()
	time.Sleep(300 * time.Millisecond) // let the last events of the page arrive
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(b.t, b.failures, "the page and its modules load without errors")
	pages := b.base + prefix + "/"
	sockets := "ws" + strings.TrimPrefix(b.base, "http") + prefix + "/"
	for _, u := range b.asked {
		if strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "about:") {
			continue
		}
		require.True(b.t, strings.HasPrefix(u, pages) || strings.HasPrefix(u, sockets), "the tab asked for %s, outside %s", u, prefix)
	}
	for _, s := range b.served {
		_, path, _ := strings.Cut(s, " ")
		require.True(b.t, strings.HasPrefix(path, prefix+"/"), "the server was asked for %s, outside %s", s, prefix)
	}
	first := ""
	for _, s := range b.served {
		if strings.Contains(s, "/api/") {
			first = s
			break
		}
	}
	if wantFirstAPI == anyFirstAPI { // the page's first calls are made at once, in no set order
		require.NotEmpty(b.t, first, "the page called the API")
	} else if strings.HasSuffix(wantFirstAPI, "/") { // one of several calls made at once, in no set order
		require.True(b.t, strings.HasPrefix(first, wantFirstAPI), "the page's first API call: %s", first)
	} else {
		require.Equal(b.t, wantFirstAPI, first, "the page's first API call")
	}
	b.asked, b.served = nil, nil
}

// anyFirstAPI: the page makes its first API calls at once, in no set order.
const anyFirstAPI = "*"

func TestUnderAPrefixTheWaitingPageSolvesJoinsGoesLiveAndSendsTheAdmittedToBookingThere(t *testing.T) {
	b := setupPrefix(t)
	b.open(prefix + "/rooms/x")
	b.wait(chromedp.WaitVisible("#view-waiting"))
	require.Eventually(t, func() bool {
		conn, err := chromedp.Run(b.ctx, chromedp.Text("#conn-text"))
		return err == nil && conn == "Live"
	}, 10*time.Second, 50*time.Millisecond, "the socket under the prefix is open")
	require.Equal(t, "1", b.text("#position"))
	b.mu.Lock()
	served := strings.Join(b.served, "\n")
	asked := strings.Join(b.asked, "\n")
	b.mu.Unlock()
	require.Contains(t, served, "GET "+prefix+"/static/pow-worker.js", "the puzzle's worker is found next to pow.js")
	require.Contains(t, asked, "ws"+strings.TrimPrefix(b.base, "http")+prefix+"/api/rooms/x/ws?ticket=t1")
	// The join and the room's info (its title and message) go out together.
	require.Contains(t, served, "POST "+prefix+"/api/rooms/x/tickets")
	b.requireAllUnderThePrefix(anyFirstAPI)

	// Admitted with no target_url of its own: the page's default target is
	// the booking page under the same prefix.
	close(b.admit)
	b.wait(chromedp.WaitVisible(`button.seat[data-seat="A1"]`))
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, b.base+prefix+"/booking/x", loc, "no ?return=: the room's target")
	b.requireAllUnderThePrefix("POST " + prefix + "/api/rooms/x/entry") // the entry cookie first, then the booking page's calls
}

func TestUnderAPrefixTheBookingPageLoadsAndLinksBackToTheLineThere(t *testing.T) {
	b := setupPrefix(t)
	b.open(prefix + "/booking/x")
	b.wait(chromedp.WaitVisible("#view-ended"))
	require.Equal(t, prefix+"/rooms/x", b.attr("#back-to-line", "href"), "no token: back to the line, under the prefix")
	b.requireAllUnderThePrefix("") // nothing to ask without a token

	b.wait(chromedp.Navigate("about:blank")) // a fresh load, not only a new fragment
	b.open(prefix + "/booking/x#wr_entry=" + b.entry)
	b.wait(chromedp.WaitVisible(`button.seat[data-seat="A1"]`))
	require.Equal(t, prefix+"/rooms/x", b.attr("#done-back", "href"))
	b.requireAllUnderThePrefix("GET " + prefix + "/api/events/x/") // seats, holds and bookings at once
}

func TestUnderAPrefixTheOperatorPageSignsInAndLinksToTheWaitingPageThere(t *testing.T) {
	b := setupPrefix(t)
	b.open(prefix + "/admin")
	b.wait(chromedp.WaitVisible("#token"), chromedp.SendKeys("#token", operatorToken),
		chromedp.Click("#signin-button"), chromedp.WaitVisible("#r-x-title"))
	require.Equal(t, prefix+"/rooms/x", b.attr(`article[aria-labelledby="r-x-title"] [data-part="page-link"]`, "href"))
	require.Equal(t, "Waiting page "+prefix+"/rooms/x", b.text(`article[aria-labelledby="r-x-title"] [data-part="page-link"]`))
	batch, err := chromedp.Run(b.ctx, chromedp.Value("#r-x-batch_size"))
	require.NoError(t, err)
	require.Equal(t, "3", batch, "the room's config is shown")
	require.Equal(t, "2", b.text(`article[aria-labelledby="r-x-title"] [data-part="waiting"]`))
	b.requireAllUnderThePrefix("GET " + prefix + "/api/admin/rooms")
}

// registerFakes adds the first calls each page makes: the waiting page's
// join (which asks for work first), puzzle, status, socket and entry cookie; the booking
// page's seat map; the operator page's room list.
func (b *prefixBundle) registerFakes(mux *http.ServeMux) {
	reply := func(w http.ResponseWriter, code int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
	status := `{"ticket":"t1","room":"x","state":"waiting","position":1,"ahead":0,"waiting":1,"eta_seconds":null}`
	mux.HandleFunc("POST /api/rooms/x/tickets", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Pow string `json:"pow"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 8192)).Decode(&body)
		if _, err := pow.Verify(b.master, "x", body.Pow, time.Now()); err != nil {
			b.mu.Lock()
			b.refused[b.base+prefix+r.URL.RequestURI()] = true
			b.mu.Unlock()
			reply(w, http.StatusForbidden, `{"error":{"code":"pow_required","message":"test"}}`)
			return
		}
		reply(w, http.StatusCreated, status)
	})
	mux.HandleFunc("GET /api/rooms/x/challenge", func(w http.ResponseWriter, r *http.Request) {
		ch, err := pow.NewChallenge(b.master, "x", 2000, time.Now())
		if err != nil {
			reply(w, http.StatusInternalServerError, `{"error":{"code":"internal","message":"test"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ch)
	})
	mux.HandleFunc("GET /api/rooms/x", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, `{"room":"x","state":"open","waiting":1,"admitted":0,"capacity":5,"admitted_per_minute":0,"title":"","message":""}`)
	})
	mux.HandleFunc("POST /api/rooms/x/entry", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent) // the entry cookie of the protected host
	})
	mux.HandleFunc("GET /api/rooms/x/tickets/t1", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, status)
	})
	mux.HandleFunc("GET /api/rooms/x/ws", func(w http.ResponseWriter, r *http.Request) {
		testproc.ServeSocket(w, r, func(ws *websocket.Conn) {
			closed := testproc.Record(ws).Done() // closed when the page hangs up
			_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"position","position":1,"ahead":0,"waiting":1,"eta_seconds":null}`))
			select {
			case <-b.admit:
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"admitted","entry_token":"`+b.entry+`"}`))
				<-closed
			case <-closed:
			}
		})
	})

	booking := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+b.entry {
				reply(w, http.StatusUnauthorized, `{"error":{"code":"invalid_token","message":"test"}}`)
				return
			}
			reply(w, http.StatusOK, body)
		}
	}
	mux.HandleFunc("GET /api/events/x/seats", booking(`[{"seat":"A1","state":"available","mine":false},{"seat":"A2","state":"booked","mine":false}]`))
	mux.HandleFunc("GET /api/events/x/holds", booking(`[]`))
	mux.HandleFunc("GET /api/events/x/bookings", booking(`[]`))

	mux.HandleFunc("GET /api/admin/rooms/x/history", fakeHistory)
	mux.HandleFunc("GET /api/admin/rooms", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+operatorToken {
			reply(w, http.StatusUnauthorized, `{"error":{"code":"unauthorized","message":"test"}}`)
			return
		}
		reply(w, http.StatusOK, `[{"room":"x","config":{"capacity":5,"batch_size":3,"interval_ms":1000,`+
			`"session_ttl_s":600,"mode":"queue_all","abandon_after_s":120,"target_url":"/booking/x","opens_at":null,`+
			`"paused":false,"pow_work":0,"require_user":false},`+
			`"stats":{"waiting":2,"admitted":1,"admitted_total":1,"admitted_per_minute":1,"oldest_wait_s":4}}]`)
	})
}

// fakeJWT has the shape of an entry token and an exp, which is all the
// booking page reads from it; the fake booking API checks nothing else.
func fakeJWT(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"EdDSA","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"room":"x","exp":%d}`, exp.Unix()))) + "." + enc([]byte("not-a-signature"))
}
